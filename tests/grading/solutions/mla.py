"""Reference solutions of chapter 3's exercises."""

import numpy as np


def cache_bytes_per_token(
    kind,
    n_layers,
    n_kv_heads,
    head_dim,
    kv_lora_rank=0,
    rope_head_dim=0,
    fp8_tile=0,
):
    def stored(n):  # one cached vector of n elements
        return 2 * n if fp8_tile == 0 else n + 4 * -(-n // fp8_tile)

    if kind == "mla":  # one latent per token; the RoPE key stays BF16
        per_layer = stored(kv_lora_rank) + 2 * rope_head_dim
    else:  # a key and a value per KV head
        per_layer = 2 * n_kv_heads * stored(head_dim)
    return n_layers * per_layer


def repeat_kv(k, n_heads):
    return np.repeat(k, n_heads // k.shape[1], axis=1)


def absorbed_scores(q, w_uk, c_kv):
    q_latent = np.einsum("chd,hd->hc", w_uk, q)  # W^UK_h^T q_h, per head
    return q_latent @ c_kv.T


def decode_bound(config, tensor_parallel, peak_flops_per_s, peak_bytes_per_s):
    per_device = config.n_heads / tensor_parallel
    latent = config.kind == "mla"
    if latent:  # absorbed: scores over d_c + d_h^R, weighted latents over d_c; BF16 cache
        cached = config.rope_head_dim + config.kv_lora_rank
        work = 2 * per_device * (cached + config.kv_lora_rank)
        traffic = 2 * cached
    else:  # keys and values of the device's KV heads, BF16
        groups = max(1.0, config.n_kv_heads / tensor_parallel)
        work = 4 * per_device * config.head_dim
        traffic = 4 * groups * config.head_dim
    intensity, balance = work / traffic, peak_flops_per_s / peak_bytes_per_s
    return "compute" if intensity > balance else "memory"
