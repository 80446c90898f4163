"""Chapter 3, Multi-head Latent Attention: the KV cache, from MHA to MLA.

Framework-free: the configuration and presets (`labs.mla.config`), the cache formulas of
DeepSeek-V2's Table 1 (`labs.mla.cache_size`), the cost model of decoding and prefill (FLOPs,
bytes, absorption's cost, a mixed-width latent cache: `labs.mla.cost`) and the NumPy forward
passes (`labs.mla.reference`). `labs.mla.torch` and `labs.mla.jax` hold the same attention in each
framework; `labs.mla.checks` the argument checks all of them share.
"""

from labs.mla.cache_size import (
    equivalent_gqa_groups,
    kv_cache_bytes,
    kv_cache_bytes_per_token,
    kv_cache_elements_per_layer,
    kv_cache_elements_per_token,
)
from labs.mla.config import (
    DEEPSEEK_67B,
    DEEPSEEK_V2,
    DEEPSEEK_V3,
    KINDS,
    LLAMA2_70B,
    PRESETS,
    AttentionConfig,
)
from labs.mla.cost import (
    absorption_costs,
    attention_flops_and_bytes,
    max_batch_throughput,
    mla_cache_bytes_per_layer,
    roofline_seconds,
)
from labs.mla.reference import (
    KVCache,
    absorb_weights,
    apply_rope,
    attention,
    decode,
    init_params,
    new_cache,
)

__all__ = [
    "DEEPSEEK_67B",
    "DEEPSEEK_V2",
    "DEEPSEEK_V3",
    "KINDS",
    "LLAMA2_70B",
    "PRESETS",
    "AttentionConfig",
    "KVCache",
    "absorb_weights",
    "absorption_costs",
    "apply_rope",
    "attention",
    "attention_flops_and_bytes",
    "decode",
    "equivalent_gqa_groups",
    "init_params",
    "kv_cache_bytes",
    "kv_cache_bytes_per_token",
    "kv_cache_elements_per_layer",
    "kv_cache_elements_per_token",
    "max_batch_throughput",
    "mla_cache_bytes_per_layer",
    "new_cache",
    "roofline_seconds",
]
