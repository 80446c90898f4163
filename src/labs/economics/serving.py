"""A roofline ceiling on the decode rate of one deployment unit.

Taught in chapter 7, "Self-host or call an API? The break-even" ("A ceiling for the two-node
unit").

The ceiling is a roofline for decoding, an upper bound and not an estimate. In one decoding step
every sequence of the batch gains one token. The step reads each weight of the unit from HBM at
least once (true once the batch touches every expert) and each sequence's attention cache once,
and it does at least 2 FLOPs per active parameter per sequence plus the attention's FLOPs over
every cached token. The batch is at most what the memory left over by the weights can hold. The
unit's rate, batch over step time, rises with the batch, so the ceiling is reached with the
memory full of cache. Everything a real server adds (activations, communication between nodes,
the prompts it must read, kernels below the peak) only lowers the rate; speculative decoding,
which can emit more than one token per sequence per step, is outside the bound and must be
allowed for by the caller.

With the memory full of cache, the cache bytes a step reads and the attention FLOPs it does are
both fixed by the memory's size, so the attention's share of the compute roof is the cache's
FLOPs per byte over the chip's ridge (peak over bandwidth), whatever the context.
"""

from __future__ import annotations

import math
from types import MappingProxyType

from labs.common.validate import integer, real_number

__all__ = ["decode_ceiling", "mla_decode_flops_per_cached_token"]


def mla_decode_flops_per_cached_token(
    *, n_heads: int, kv_lora_rank: int, rope_head_dim: int, n_layers: int = 1
) -> int:
    """FLOPs one query token spends on one cached token in MLA's absorbed decode, all layers.

    With W_UK absorbed into the query and W_UV applied after the weighted sum, each head scores
    the cached latent and RoPE key (kv_lora_rank + rope_head_dim values) and sums the latents
    (kv_lora_rank values), 2 FLOPs per multiply-add: 2 n_heads (2 d_c + d_h^R) per layer. The
    projections themselves are per query token and belong to the 2 FLOPs per active parameter.
    """
    heads = integer("n_heads", n_heads, minimum=1, maximum=10**5)
    d_c = integer("kv_lora_rank", kv_lora_rank, minimum=1, maximum=10**6)
    d_r = integer("rope_head_dim", rope_head_dim, minimum=0, maximum=10**6)
    layers = integer("n_layers", n_layers, minimum=1, maximum=10**5)
    return _mla_decode_flops_per_cached_token(heads, d_c, d_r, layers)


def _mla_decode_flops_per_cached_token(heads: int, d_c: int, d_r: int, layers: int) -> int:
    """2 h (d_c + d_R) for the scores, 2 h d_c for the weighted sum of latents, per layer."""
    return 2 * heads * ((d_c + d_r) + d_c) * layers


def decode_ceiling(
    *,
    nodes_per_unit: int,
    weight_bytes: float,
    cache_bytes_per_token: float,
    context_tokens: float,
    active_params: float,
    attention_flops_per_token: float,
    gpu_memory_gb: float,
    gpu_memory_gbs: float,
    gpu_peak_tflops: float,
    attention_peak_tflops: float | None = None,
    gpus_per_node: int = 8,
) -> MappingProxyType:
    """The most output tokens a second per node that one decoding unit can produce.

    Args:
        nodes_per_unit: nodes in the unit (the weights are spread over all of them).
        weight_bytes: bytes of the model's weights, all held in the unit's memory.
        cache_bytes_per_token: attention-cache bytes per token of context, all layers together.
        context_tokens: the average context a sequence holds in its cache (and reads per step).
        active_params: parameters active per token (2 FLOPs each per generated token).
        attention_flops_per_token: attention FLOPs per cached token of context, all layers
            together, per generated token (e.g. `mla_decode_flops_per_cached_token`); 0 leaves
            attention out.
        gpu_memory_gb, gpu_memory_gbs: one GPU's HBM capacity (GB) and bandwidth (GB/s).
        gpu_peak_tflops: one GPU's dense peak in TFLOP/s, at the precision of the weights.
        attention_peak_tflops: one GPU's dense peak for the attention, at the precision its
            products run in (None: gpu_peak_tflops).
        gpus_per_node: GPUs per node.

    Returns:
        {"sequences": the largest batch the memory left over holds (0 if none fits),
        "memory_step_s": the time to read the weights and that batch's cache,
        "attention_step_s": the time for the attention's FLOPs at its peak,
        "compute_step_s": that plus the weights' FLOPs at their peak, "step_s": the larger of
        memory and compute, "binds": "memory", "compute" or "no room",
        "tokens_per_s_per_node": the ceiling}.
    """
    args = (
        integer("nodes_per_unit", nodes_per_unit, minimum=1, maximum=10**5),
        integer("gpus_per_node", gpus_per_node, minimum=1, maximum=64),
        real_number("weight_bytes", weight_bytes, positive=True, maximum=1e18),
        real_number("cache_bytes_per_token", cache_bytes_per_token, positive=True, maximum=1e9),
        real_number("context_tokens", context_tokens, minimum=1.0, maximum=1e9),
        real_number("active_params", active_params, positive=True, maximum=1e15),
        real_number(
            "attention_flops_per_token", attention_flops_per_token, nonnegative=True, maximum=1e15
        ),
        real_number("gpu_memory_gb", gpu_memory_gb, positive=True, maximum=1e6),
        real_number("gpu_memory_gbs", gpu_memory_gbs, positive=True, maximum=1e9),
        real_number("gpu_peak_tflops", gpu_peak_tflops, positive=True, maximum=1e9),
    )
    attention_tflops = args[-1]
    if attention_peak_tflops is not None:
        attention_tflops = real_number(
            "attention_peak_tflops", attention_peak_tflops, positive=True, maximum=1e9
        )
    return _decode_ceiling(*args, attention_tflops)


def _decode_ceiling(
    nodes, gpus, weights, cache, context, active, attn, mem_gb, mem_gbs, tflops, attn_tflops
):
    """Batch from the left-over memory; step = max(bytes / bandwidth, FLOPs / peak)."""
    n_gpus = nodes * gpus
    per_sequence = cache * context  # bytes one sequence holds, and reads each step
    sequences = max(0, math.floor((n_gpus * mem_gb * 1e9 - weights) / per_sequence))
    memory_s = (weights + sequences * per_sequence) / (n_gpus * mem_gbs * 1e9)
    attention_s = sequences * context * attn / (n_gpus * attn_tflops * 1e12)  # every cached token
    compute_s = 2.0 * active * sequences / (n_gpus * tflops * 1e12) + attention_s
    step_s = max(memory_s, compute_s)
    binds = "no room" if sequences == 0 else ("memory" if memory_s >= compute_s else "compute")
    return MappingProxyType(
        {
            "sequences": sequences,
            "memory_step_s": memory_s,
            "attention_step_s": attention_s,
            "compute_step_s": compute_s,
            "step_s": step_s,
            "binds": binds,
            "tokens_per_s_per_node": sequences / step_s / nodes,
        }
    )
