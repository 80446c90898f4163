"""What limits attention: FLOPs and bytes of one layer, absorption's cost, a latent cache's bytes.

Taught in chapter 3, "What limits decoding: arithmetic intensity and the roofline",
"Absorption as DeepSeek's inference code does it", "Prefill against decode" and "An FP8 latent
cache". Framework-free: counts are Python ints (they cannot overflow), byte counts floats.

Conventions. A multiply-add counts as 2 FLOPs. Only the attention core is counted (the scores
q.k and the weighted sum of values), not the projections that make q, k and v from the tokens,
with one exception said where it applies (naive MLA decode must rebuild keys and values). Write
n_h query heads, n_g KV heads, d_h head dim, d_c latent, d_h^R RoPE dim, S = `context`, and
d_qk, d_v for the widths a score and a value have in each form:

    form             d_qk            d_v     cache elements per token
    MHA/GQA/MQA      d_h             d_h     2 n_g d_h
    MLA naive        d_h + d_h^R     d_h     d_c + d_h^R
    MLA absorbed     d_c + d_h^R     d_c     d_c + d_h^R

One query against one key in one head costs 2 d_qk FLOPs (the score) + 2 d_v (its share of the
weighted sum): 2 (d_qk + d_v). So

    decode  (one new query per sequence, S keys):     FLOPs = 2 n_h S (d_qk + d_v)       (C1)
    prefill (S queries, causal: S (S + 1) / 2 pairs): FLOPs = n_h S (S + 1) (d_qk + d_v) (C2)

and the cache is read once per decode step, written once by a prefill:
bytes = S * (cache elements per token) * bits / 8 (C3). Absorbed MLA decode is therefore
2 n_h S (d_c + d_h^R) + 2 n_h S d_c FLOPs for S (d_c + d_h^R) bits / 8 bytes: every head reads
the same latent, which is why its FLOPs per byte grow with n_h (about 2 n_h in BF16).

Naive MLA decode keeps only the latent in the cache, so every step rebuilds the S keys and values
from it (eqs. 10-11, as `labs.mla.reference` does): 2 S d_c (2 n_h d_h) more FLOPs (C4). In a
prefill each key is built once, like any projection, and is not counted.
"""

from __future__ import annotations

import math

from labs.common.validate import boolean, divisible, one_of, real_number, size
from labs.mla.cache_size import MAX_BITS, kv_cache_bytes_per_token
from labs.mla.checks import MAX_POSITION, check_config, check_mla_config
from labs.mla.config import AttentionConfig

__all__ = [
    "PHASES",
    "absorption_costs",
    "attention_flops_and_bytes",
    "max_batch_throughput",
    "mla_cache_bytes_per_layer",
    "roofline_seconds",
]

PHASES = ("decode", "prefill")
MAX_BATCH = 2**20  # a million sequences at once is a typo, not a serving batch


def attention_flops_and_bytes(
    config: AttentionConfig,
    phase: str,
    context: int,
    batch: int = 1,
    absorbed: bool = True,
    bits_per_element: float = 16,
) -> tuple[int, float]:
    """(FLOPs, KV-cache bytes) of one layer's attention core, eqs. (C1)-(C4) of the module.

    Args:
        config: the layer's AttentionConfig (MHA, GQA, MQA or MLA).
        phase: "decode" (one new query per sequence attends to `context` cached tokens, the cache
            read once) or "prefill" (`context` tokens attend causally to each other, the cache
            written once).
        context: tokens S attended to, 1 to 2**24.
        batch: sequences, 1 to 2**20.
        absorbed: for MLA, the absorbed form (scores and values on the latent) or the naive one
            (per-head keys and values up-projected); ignored for the other kinds.
        bits_per_element: bits of one cached element (16: BF16; at most 64).

    Returns:
        (FLOPs as an int, bytes as a float).
    """
    config = check_config(config)
    phase = one_of("phase", phase, PHASES)
    context = size("context", context, maximum=MAX_POSITION, why="positions beyond 2**24")
    batch = size("batch", batch, maximum=MAX_BATCH, why="a million sequences at once is a typo")
    absorbed = boolean("absorbed", absorbed)
    bits = real_number("bits_per_element", bits_per_element, positive=True, maximum=MAX_BITS)
    return _attention_flops_and_bytes(config, phase, context, batch, absorbed, bits)


def _widths(config: AttentionConfig, absorbed: bool) -> tuple[int, int, int]:
    """(d_qk, d_v, cache elements per token) of the table in the module docstring."""
    if config.kind != "mla":
        return config.head_dim, config.head_dim, 2 * config.n_kv_heads * config.head_dim
    cached = config.kv_lora_rank + config.rope_head_dim  # c^KV and k^R
    if absorbed:
        return config.kv_lora_rank + config.rope_head_dim, config.kv_lora_rank, cached
    return config.head_dim + config.rope_head_dim, config.head_dim, cached


def _attention_flops_and_bytes(
    config: AttentionConfig, phase: str, context: int, batch: int, absorbed: bool, bits: float
) -> tuple[int, float]:
    """Eqs. (C1)-(C4)."""
    d_qk, d_v, cached = _widths(config, absorbed)
    h, s = config.n_heads, context
    if phase == "decode":
        flops = 2 * h * s * (d_qk + d_v)  # (C1)
        if config.kind == "mla" and not absorbed:
            flops += 2 * s * config.kv_lora_rank * 2 * h * config.head_dim  # (C4)
    else:
        flops = h * s * (s + 1) * (d_qk + d_v)  # (C2): S (S + 1) / 2 pairs, 2 (d_qk + d_v) each
    return batch * flops, batch * s * cached * bits / 8  # (C3)


def mla_cache_bytes_per_layer(
    config: AttentionConfig,
    latent_bits: float = 16,
    rope_bits: float = 16,
    scale_bits: float = 0,
    scale_tile: int = 128,
) -> float:
    """Bytes one token occupies in one layer's MLA cache, each part at its own width.

    latent: d_c elements at `latent_bits`; RoPE key: d_h^R elements at `rope_bits`; and, when
    `scale_bits` > 0, one scale per `scale_tile` latent elements (ceil(d_c / tile) scales).
    FlashMLA's FP8 cache (the format of its DeepSeek-V3.2-Exp sparse decoding kernels; its dense
    V3 kernel reads BF16): 512 E4M3 values (8 bits) + 4 FP32 scales (tile 128) + 64 BF16 RoPE
    values = 512 + 16 + 128 = 656 bytes. Widths at most 64 bits.
    """
    config = check_mla_config(config)
    latent_bits = real_number("latent_bits", latent_bits, positive=True, maximum=MAX_BITS)
    rope_bits = real_number("rope_bits", rope_bits, positive=True, maximum=MAX_BITS)
    scale_bits = real_number("scale_bits", scale_bits, minimum=0, maximum=MAX_BITS)
    scale_tile = size("scale_tile", scale_tile, maximum=config.kv_lora_rank, why="one per latent")
    return _mla_cache_bytes_per_layer(config, latent_bits, rope_bits, scale_bits, scale_tile)


def _mla_cache_bytes_per_layer(config, latent_bits, rope_bits, scale_bits, scale_tile) -> float:
    """d_c latent_bits + d_h^R rope_bits + ceil(d_c / tile) scale_bits, in bytes."""
    scales = math.ceil(config.kv_lora_rank / scale_tile) if scale_bits else 0
    bits = config.kv_lora_rank * latent_bits + config.rope_head_dim * rope_bits
    return (bits + scales * scale_bits) / 8


def absorption_costs(config: AttentionConfig) -> dict[str, dict[str, int]]:
    """Parameters of one layer and FLOPs per token of absorption, factored against merged.

    Query side: factored keeps W^UQ (d_c' x n_h d_h) and W^UK (d_c x n_h d_h) and applies W^UK to
    each head's q^C; merged multiplies them into one (d_c', n_h, d_c) matrix. Output side:
    factored keeps W^UV (d_c x n_h d_h) and W^O (n_h d_h x d), applying W^UV to each head's
    attended latent; merged holds W^UV_i W^O_i as (n_h, d_c, d). Without query compression
    d_c' = d. FLOPs are those of one token through these matrices (2 per multiply-add).

    Returns:
        {"factored": {...}, "merged": {...}}, each with "query_params", "output_params",
        "query_flops" and "output_flops".
    """
    return _absorption_costs(check_mla_config(config))


def _absorption_costs(config: AttentionConfig) -> dict[str, dict[str, int]]:
    """Matrix sizes of both forms; FLOPs = 2 x the multiply-adds of one token."""
    h, d, c, m = config.n_heads, config.head_dim, config.kv_lora_rank, config.d_model
    q = config.q_lora_rank or m  # c^Q is h_t itself without query compression
    factored = {
        "query_params": q * h * d + c * h * d,  # W^UQ and W^UK
        "output_params": c * h * d + h * d * m,  # W^UV and W^O
        "query_flops": 2 * (q * h * d + h * d * c),  # c^Q W^UQ, then q^C_i W^UK_i^T per head
        "output_flops": 2 * (h * c * d + h * d * m),  # o_i W^UV_i per head, then W^O
    }
    merged = {
        "query_params": q * h * c,  # W^UQ_i^T W^UK_i for every head
        "output_params": h * c * m,  # W^UV_i W^O_i for every head
        "query_flops": 2 * q * h * c,
        "output_flops": 2 * h * c * m,
    }
    return {"factored": factored, "merged": merged}


def roofline_seconds(
    flops: float, nbytes: float, peak_flops_per_s: float, peak_bytes_per_s: float
) -> float:
    """The roofline's lower bound on time: max(FLOPs / peak FLOP/s, bytes / peak bytes/s).

    The work is compute-bound when its arithmetic intensity (FLOPs per byte) exceeds the device's
    ridge point peak_flops_per_s / peak_bytes_per_s, memory-bound below it.
    """
    flops = real_number("flops", flops, minimum=0)
    nbytes = real_number("nbytes", nbytes, minimum=0)
    peak_flops_per_s = real_number("peak_flops_per_s", peak_flops_per_s, positive=True)
    peak_bytes_per_s = real_number("peak_bytes_per_s", peak_bytes_per_s, positive=True)
    return max(flops / peak_flops_per_s, nbytes / peak_bytes_per_s)


def max_batch_throughput(
    config: AttentionConfig,
    *,
    context: int,
    memory_bytes: float,
    weight_bytes: float,
    active_params: float,
    peak_flops_per_s: float,
    peak_bytes_per_s: float,
    bits_per_element: float = 16,
    tensor_parallel: int = 1,
) -> dict[str, float]:
    """The largest decode batch that fits in memory, and its throughput on the roofline.

    `memory_bytes` and the peaks are the totals of a group of devices (a node). Every sequence
    holds `context` cached tokens. With `tensor_parallel` = 1 (data-parallel attention) each
    sequence runs on one device and its cache is held once. With p > 1 the attention heads are
    split over p devices, and a device keeps whole the KV heads its query heads read: MLA's latent
    (shared by all heads) and MQA's one KV head sit on all p devices, GQA's n_g KV heads are split
    when p <= n_g and copied p / n_g times otherwise. Each copy is stored and read. The batch is the
    most sequences whose copies fit beside the weights: floor((memory_bytes - weight_bytes) /
    (copies x one sequence's cache)). One decode
    step reads every weight once (shared by the batch; a mixture of experts at a large batch
    touches all of them) and every sequence's cache, and computes 2 FLOPs per active parameter
    per sequence plus the attention core of every layer (eq. C1, absorbed for MLA; split over the
    devices, not repeated). Activations, fragmentation, communication and the prompt's prefill are
    left out, so the figures are upper bounds. `tensor_parallel` must divide n_heads and, for
    GQA, divide n_kv_heads or be a multiple of it.

    Returns:
        {"batch": the largest batch, "step_seconds": the roofline's time of one step,
        "tokens_per_s": batch / step_seconds, "core_flop_share": the attention core's share of
        the step's FLOPs}.
    """
    config = check_config(config)
    context = size("context", context, maximum=MAX_POSITION, why="positions beyond 2**24")
    memory_bytes = real_number("memory_bytes", memory_bytes, positive=True)
    weight_bytes = real_number("weight_bytes", weight_bytes, nonnegative=True)
    active_params = real_number("active_params", active_params, nonnegative=True)
    peak_flops_per_s = real_number("peak_flops_per_s", peak_flops_per_s, positive=True)
    peak_bytes_per_s = real_number("peak_bytes_per_s", peak_bytes_per_s, positive=True)
    bits = real_number("bits_per_element", bits_per_element, positive=True, maximum=MAX_BITS)
    tensor_parallel = size(
        "tensor_parallel",
        tensor_parallel,
        maximum=config.n_heads,
        why="one head per device at most",
    )
    divisible("n_heads", config.n_heads, tensor_parallel, "tensor_parallel")
    if (
        config.kind == "gqa"
        and config.n_kv_heads % tensor_parallel
        and (tensor_parallel % config.n_kv_heads)
    ):
        # otherwise a device's query heads straddle KV-head groups unevenly and _cache_copies
        # undercounts (12 heads, 4 KV heads, TP 6: the devices hold 8 KV heads, 2 copies, not 1.5)
        raise ValueError(
            f"tensor_parallel must divide n_kv_heads or be a multiple of it, got "
            f"{tensor_parallel} and n_kv_heads {config.n_kv_heads}"
        )
    per_sequence = (
        kv_cache_bytes_per_token(config, bits) * context * _cache_copies(config, tensor_parallel)
    )
    if memory_bytes < weight_bytes + per_sequence:
        raise ValueError(
            f"memory_bytes must hold the weights (weight_bytes={weight_bytes:.4g}) and one "
            f"sequence's cache ({per_sequence:.4g} bytes), {weight_bytes + per_sequence:.4g} in "
            f"all, got {memory_bytes:.4g}"
        )
    batch = min(int((memory_bytes - weight_bytes) // per_sequence), MAX_BATCH)
    return _max_batch_throughput(
        config,
        context,
        batch,
        weight_bytes,
        active_params,
        per_sequence,
        bits,
        peak_flops_per_s,
        peak_bytes_per_s,
    )


def _cache_copies(config: AttentionConfig, tensor_parallel: int) -> float:
    """How many devices hold each sequence's cache: KV heads are never split, only copied."""
    kv_heads = 1 if config.kind == "mla" else config.n_kv_heads  # the latent serves every head
    return tensor_parallel / min(tensor_parallel, kv_heads)


def _max_batch_throughput(
    config, context, batch, weight_bytes, active_params, per_sequence, bits, peak_f, peak_b
) -> dict[str, float]:
    """One step at the largest batch: the roofline over weights + caches and FLOPs."""
    core, _ = _attention_flops_and_bytes(config, "decode", context, batch, True, bits)
    core *= config.n_layers  # (C1) in every layer
    flops = core + 2 * active_params * batch
    seconds = max(flops / peak_f, (weight_bytes + batch * per_sequence) / peak_b)
    return {
        "batch": batch,
        "step_seconds": seconds,
        "tokens_per_s": batch / seconds,
        "core_flop_share": core / flops,
    }
