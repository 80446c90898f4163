"""The size of the KV cache, eq. (T1) of DeepSeek-V2, Table 1.

Taught in chapter 3, "The idea: generation reads the whole cache for every token".

Per token and per layer, an attention layer that generates text must keep

    MHA: 2 n_h d_h    GQA: 2 n_g d_h    MQA: 2 d_h    MLA: d_c + d_h^R                    (T1)

elements in its KV cache: a key and a value per KV head, or, for MLA, one latent vector c^KV of
size d_c and one RoPE key k^R of size d_h^R shared by all heads. Counts are Python ints, so they
cannot overflow; byte counts are floats (bits per element may be fractional).
"""

from __future__ import annotations

from labs.common.validate import integer, real_number
from labs.mla.checks import check_config, check_mla_config
from labs.mla.config import AttentionConfig

__all__ = [
    "equivalent_gqa_groups",
    "kv_cache_bytes",
    "kv_cache_bytes_per_token",
    "kv_cache_elements_per_layer",
    "kv_cache_elements_per_token",
]

MAX_BITS = 64  # no number format stores more bits per element


def kv_cache_elements_per_layer(config: AttentionConfig) -> int:
    """Cached elements per token in one layer, eq. (T1): 2 n_g d_h, or d_c + d_h^R for MLA."""
    return _kv_cache_elements_per_layer(check_config(config))


def _kv_cache_elements_per_layer(config: AttentionConfig) -> int:
    """Eq. (T1)."""
    if config.kind == "mla":
        return config.kv_lora_rank + config.rope_head_dim  # c^KV and the shared k^R
    return 2 * config.n_kv_heads * config.head_dim  # one key and one value per KV head


def kv_cache_elements_per_token(config: AttentionConfig) -> int:
    """Cached elements per token, summed over all `n_layers` layers (eq. T1 times l)."""
    return _kv_cache_elements_per_layer(check_config(config)) * config.n_layers


def kv_cache_bytes_per_token(config: AttentionConfig, bits_per_element: float = 16) -> float:
    """Bytes of KV cache per token over all layers, at `bits_per_element` (16: BF16/FP16; at
    most 64)."""
    bits = real_number("bits_per_element", bits_per_element, positive=True, maximum=MAX_BITS)
    return kv_cache_elements_per_token(config) * bits / 8


def kv_cache_bytes(
    config: AttentionConfig, tokens: int, batch: int = 1, bits_per_element: float = 16
) -> float:
    """Bytes of KV cache for `batch` sequences of `tokens` tokens each."""
    tokens = integer("tokens", tokens, minimum=0)
    batch = integer("batch", batch, minimum=1)
    return kv_cache_bytes_per_token(config, bits_per_element) * tokens * batch


def equivalent_gqa_groups(config: AttentionConfig) -> float:
    """The number of GQA groups n_g whose cache equals this MLA config's (DeepSeek-V2, Table 1).

    GQA caches 2 n_g d_h elements per layer, MLA d_c + d_h^R, so n_g = (d_c + d_h^R) / (2 d_h).
    """
    config = check_mla_config(config)
    return (config.kv_lora_rank + config.rope_head_dim) / (2 * config.head_dim)
