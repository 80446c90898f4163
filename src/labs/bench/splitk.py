"""What split-K decoding costs: the merge's bytes, the SMs it fills, and the softmax's exponentials.

Taught in chapter 8, "When does it pay?" (splitting the context). Framework-free.

Split-K ("flash-decoding") cuts each sequence's S cached tokens into K chunks that run as separate
programs. Each (sequence, chunk) program leaves, for each of the H heads, its unnormalised output
(d_c values), its running maximum and its running sum, in FP32 (b_p = 4 bytes); a second pass reads
them back and merges them into the output that eq. (R3) already counts. The merge adds

    Q_merge = 2 B K H (d_c + 2) b_p                 (the partials written once, read once)   (M1)

bytes, zero for K = 1. Against the cache that eq. (R3) reads,

    Q_merge / Q_cache = 2 K H (d_c + 2) b_p / (S (d_c + d_h^R) b_cache),                    (M2)

independent of the batch: the merge moves as many bytes as the cache once a chunk holds fewer than
2 H (d_c + 2) b_p / ((d_c + d_h^R) b_cache) tokens (457 for V3's attention and a BF16 cache).

Splitting pays because a step of B sequences, Hb heads per program, launches P = B (H / Hb) K
programs, and a device of N SMs runs them in ceil(P / N) waves. The model assumes that a kernel
draws the device's FLOP/s and bandwidth in proportion to the SMs it keeps busy, so the step takes

    t(K) = t_R1 * N ceil(P / N) / P  +  Q_merge / bandwidth                                 (M3)

with t_R1 the roofline bound (R1) of eqs. (R2, R3). The softmax computes one exponential per
score, B H S per step, and the merge B H K more (one rescaling weight per chunk and head):  (M4)

The H / Hb programs of one (sequence, chunk) read the same slice of the cache. Whether L2 serves
all but the first of those reads depends on whether they run in one wave (`cache_read_waves`,
eq. M5): the grid's order decides it.
"""

from __future__ import annotations

import math

import numpy as np

from labs.bench.checks import check_decode_shape, check_element_bytes
from labs.bench.roofline import _mla_decode_work, _roofline
from labs.common.validate import divisible, finite_result, real_number, size

__all__ = [
    "best_splits",
    "cache_read_waves",
    "softmax_exps",
    "split_decode_seconds",
    "split_merge_bytes",
]

MAX_SMS = 2**12  # streaming multiprocessors of one device: more is a typo


def _split_args(batch, context, splits, heads, latent, rope):
    """The decode's sizes and a split count that leaves every chunk at least one token."""
    batch, context, heads, latent, rope = check_decode_shape(batch, context, heads, latent, rope)
    splits = size("splits", splits, maximum=context, why="a chunk holds at least one token")
    return batch, context, splits, heads, latent, rope


def split_merge_bytes(
    batch: int,
    context: int,
    splits: int,
    heads: int = 128,
    latent: int = 512,
    rope: int = 64,
    cache_bytes: float = 2,
    partial_bytes: float = 4,
) -> dict[str, float]:
    """The merge's traffic (eqs. M1, M2) beside the decode step's (eq. R3); V3's widths by default.

    Args:
        batch, context: sequences B and cached tokens S of each.
        splits: chunks K per sequence, 1 (no merge) to `context`.
        heads, latent, rope: H, d_c and d_h^R.
        cache_bytes, partial_bytes: bytes of a cache element (BF16: 2) and of a partial (FP32: 4).

    Returns a dict: "decode_bytes" (eq. R3, BF16 queries and an FP32 output), "cache_bytes" (its
    cache term), "merge_bytes" (M1), "merge_fraction" (the merge's share of all the bytes) and
    "merge_to_cache" (M2).
    """
    batch, context, splits, heads, latent, rope = _split_args(
        batch, context, splits, heads, latent, rope
    )
    b_cache, b_p = check_element_bytes(cache_bytes=cache_bytes, partial_bytes=partial_bytes)
    return _split_merge_bytes(batch, context, splits, heads, latent, rope, b_cache, b_p)


def _split_merge_bytes(b, s, k, h, c, r, b_cache, b_p) -> dict[str, float]:
    """Eqs. (M1) and (M2) beside (R3)."""
    _, decode = _mla_decode_work(b, s, h, c, r, b_cache, 2, 4)  # (R3)
    cache = b * s * (c + r) * b_cache  # (R3)'s cache term
    merge = 2 * b * k * h * (c + 2) * b_p if k > 1 else 0  # (M1): write, then read, the partials
    return {
        "decode_bytes": decode,
        "cache_bytes": cache,
        "merge_bytes": merge,
        "merge_fraction": merge / (decode + merge),
        "merge_to_cache": merge / cache,  # (M2)
    }


def split_decode_seconds(
    batch: int,
    context: int,
    splits: int,
    *,
    sms: int,
    peak_tflops: float,
    memory_gbs: float,
    heads_per_program: int = 128,
    heads: int = 128,
    latent: int = 512,
    rope: int = 64,
) -> float:
    """Modelled seconds of one split decode step and its merge (eq. M3), BF16 cache, FP32 partials.

    Args:
        batch, context, splits: B, S and K, as in `split_merge_bytes`.
        sms: the device's streaming multiprocessors N.
        peak_tflops, memory_gbs: its BF16 peak and bandwidth.
        heads_per_program: heads Hb of one program (a divisor of `heads`).
        heads, latent, rope: H, d_c and d_h^R (V3's by default).
    """
    batch, context, splits, heads, latent, rope = _split_args(
        batch, context, splits, heads, latent, rope
    )
    sms = size("sms", sms, maximum=MAX_SMS, why="streaming multiprocessors of one device")
    peak_tflops = real_number("peak_tflops", peak_tflops, positive=True)
    memory_gbs = real_number("memory_gbs", memory_gbs, positive=True)
    peak, bandwidth = finite_result(
        "the peaks in FLOP/s and B/s",
        (peak_tflops * 1e12, memory_gbs * 1e9),
        inputs={"peak_tflops": peak_tflops, "memory_gbs": memory_gbs},
    )
    hb = size("heads_per_program", heads_per_program, maximum=heads, why="at most all the heads")
    divisible("heads", heads, hb, "heads_per_program")
    return _split_decode_seconds(
        batch, context, splits, sms, peak, bandwidth, hb, heads, latent, rope
    )


def _split_decode_seconds(b, s, k, n, peak, bandwidth, hb, h, c, r) -> float:
    """Eq. (M3): the roofline bound stretched by the SMs left idle, plus the merge's bytes."""
    flops, nbytes = _mla_decode_work(b, s, h, c, r, 2, 2, 4)  # (R2), (R3)
    programs = b * (h // hb) * k
    occupancy = programs / (n * math.ceil(programs / n))  # busy share of the SMs, over the waves
    merge = _split_merge_bytes(b, s, k, h, c, r, 2, 4)["merge_bytes"]
    return _roofline(flops, nbytes, peak, bandwidth).seconds / occupancy + merge / bandwidth


def best_splits(
    batch: int,
    context: int,
    *,
    sms: int,
    peak_tflops: float,
    memory_gbs: float,
    heads_per_program: int = 128,
    max_splits: int = 1024,
) -> int:
    """The split count K in 1..min(max_splits, context) that eq. (M3) makes fastest (the smallest
    such K on a tie), for V3's attention widths; arguments as in `split_decode_seconds`."""
    context = size("context", context, maximum=2**24, why="positions beyond 2**24")
    max_splits = size("max_splits", max_splits, maximum=2**16, why="a search, not a sweep")
    times = [
        split_decode_seconds(
            batch,
            context,
            k,
            sms=sms,
            peak_tflops=peak_tflops,
            memory_gbs=memory_gbs,
            heads_per_program=heads_per_program,
        )
        for k in range(1, min(max_splits, context) + 1)
    ]
    return int(np.argmin(times)) + 1


def cache_read_waves(
    batch: int,
    head_blocks: int,
    splits: int,
    *,
    programs_per_wave: int,
    head_block_first: bool = True,
) -> float:
    """How many waves read each (sequence, split)'s slice of the cache, averaged (eq. M5).

    A decode grid holds B (H / Hb) K programs, `head_blocks` = H / Hb of them per (sequence, split),
    all reading the same slice. A GPU is assumed to start them in the order of their linear index,
    the grid's first axis fastest, `programs_per_wave` at a time (the SMs times the programs that
    fit one SM). If L2 serves a slice to the programs of one wave but not across waves, a slice is
    read from HBM once per wave that holds its programs:

        with the head block first, (Hb-block, sequence, split): 1 + (H / Hb - gcd(H / Hb, W)) / W
            for B K a multiple of W (a group of H / Hb programs straddles a wave's end or not)
        with the sequence first, (sequence, Hb-block, split): up to H / Hb, once B K >= W

    Args:
        batch, head_blocks, splits: B, H / Hb and K.
        programs_per_wave: W.
        head_block_first: the grid's order (True: head blocks on the first axis).
    """
    batch = size("batch", batch, maximum=2**16, why="sequences of one step")
    head_blocks = size("head_blocks", head_blocks, maximum=2**12, why="blocks of heads")
    splits = size("splits", splits, maximum=2**16, why="chunks of one context")
    programs_per_wave = size(
        "programs_per_wave", programs_per_wave, maximum=2**20, why="programs of one wave"
    )
    if not isinstance(head_block_first, bool):
        raise TypeError(f"head_block_first must be a bool, got {type(head_block_first).__name__}")
    if batch * head_blocks * splits > 2**24:
        raise ValueError(
            f"batch x head_blocks x splits must be at most 2**24 programs, got "
            f"{batch * head_blocks * splits}"
        )
    hblk, seq, k = np.meshgrid(
        np.arange(head_blocks), np.arange(batch), np.arange(splits), indexing="ij"
    )
    if head_block_first:
        index = hblk + head_blocks * (seq + batch * k)
    else:
        index = seq + batch * (hblk + head_blocks * k)
    waves = index // programs_per_wave  # (H / Hb, B, K)
    distinct = 1 + (np.diff(np.sort(waves, axis=0), axis=0) > 0).sum(axis=0)  # per (b, k)
    return float(distinct.mean())


def softmax_exps(batch: int, context: int, heads: int = 128, splits: int = 1) -> int:
    """Exponentials of one decode step (eq. M4): one per score, B H S, and B H K in the merge when
    the context is split (K > 1)."""
    batch, context, splits, heads, _, _ = _split_args(batch, context, splits, heads, 1, 0)
    return batch * heads * context + (batch * heads * splits if splits > 1 else 0)


def _decode_partials(q_lat, q_r, c_kv, k_r, scale, splits):
    """One sequence's split decode in NumPy: per chunk, the unnormalised output, max and sum.
    q_lat (H, C), q_r (H, R), c_kv (S, C), k_r (S, R) -> acc (K, H, C), m (K, H), l (K, H)."""
    chunks = np.array_split(np.arange(c_kv.shape[0]), splits)
    acc, m, l = [], [], []  # noqa: E741
    for rows in chunks:
        s = (q_lat @ c_kv[rows].T + q_r @ k_r[rows].T) * scale  # (H, S_k) scores
        m_k = s.max(axis=1)  # (H,)
        p = np.exp(s - m_k[:, None])  # (H, S_k), one exponential per score
        acc.append(p @ c_kv[rows])  # (H, C)
        m.append(m_k)
        l.append(p.sum(axis=1))
    return np.stack(acc), np.stack(m), np.stack(l)


def _merge_partials(acc, m, l):  # noqa: E741
    """Merge the chunks: each rescaled to the global max, then one normalisation. -> (H, C)."""
    w = np.exp(m - m.max(axis=0))  # (K, H): the merge's K H exponentials
    return (w[..., None] * acc).sum(axis=0) / (w * l).sum(axis=0)[:, None]
