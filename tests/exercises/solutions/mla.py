"""Reference solutions of chapter 3's exercises."""

import numpy as np


def kv_cache_elements(kind, n_layers, n_kv_heads, head_dim, kv_lora_rank=0, rope_head_dim=0):
    if kind == "mla":
        return n_layers * (kv_lora_rank + rope_head_dim)
    return n_layers * 2 * n_kv_heads * head_dim


def repeat_kv(k, n_heads):
    return np.repeat(k, n_heads // k.shape[1], axis=1)


def absorbed_scores(q, w_uk, c_kv):
    q_latent = np.einsum("chd,hd->hc", w_uk, q)  # W^UK_h^T q_h, per head
    return q_latent @ c_kv.T
