"""When does FP8 pay? A cost model of one linear layer's GEMM, y (M, N) = x (M, K) @ w (K, N).

BF16: the GEMM reads x and w and writes y, and takes the longer of its compute and its memory
time (a roofline):

    t_bf16 = max(2 M N K / P_bf16,  2 (M K + K N + M N) / B)                                   (6)

FP8: before the GEMM, a quantisation pass reads x and w in BF16 and writes them in FP8 (3 bytes
per element moved, scales negligible); then the GEMM reads 1-byte inputs:

    t_fp8 = 3 (M K + K N) / B  +  max(2 M N K / P_fp8,  (M K + K N + 2 M N) / B)               (7)

P are the tensor-core peaks and B the memory bandwidth, from the facts registry. A GPU without
FP8 tensor cores (P_fp8 = None, a T4) can still store FP8 but must widen it before a 16-bit GEMM:
its FP8 time is the quantisation pass plus the 16-bit GEMM, never less than t_bf16. A fused
quantisation (inside the previous kernel's epilogue) removes most of the first term of (7);
the model is the unfused, pessimistic case.

Taught in chapter 2, "When does FP8 pay?".
"""

from __future__ import annotations

import math

from labs.common import validate

__all__ = ["crossover_size", "linear_layer_times"]

MAX_DIM = 2**24  # a GEMM side beyond this is a typo (2**72 flops)


def _check_peaks(bf16_tflops, fp8_tflops, memory_gbs) -> tuple:
    bf16 = validate.real_number("bf16_tflops", bf16_tflops, positive=True)
    fp8 = (
        None
        if fp8_tflops is None
        else validate.real_number("fp8_tflops", fp8_tflops, positive=True)
    )
    return bf16, fp8, validate.real_number("memory_gbs", memory_gbs, positive=True)


def linear_layer_times(m, k, n, *, bf16_tflops, fp8_tflops, memory_gbs) -> dict:
    """Eqs. (6) and (7): the modelled seconds of an (M, K) @ (K, N) GEMM in BF16 and in FP8.

    Args:
        m, k, n: GEMM sizes, 1..2**24. bf16_tflops, fp8_tflops: dense tensor-core peaks
            (fp8_tflops=None: no FP8 tensor cores). memory_gbs: memory bandwidth in GB/s.

    Returns:
        dict(bf16, fp8, quantize): seconds; fp8 includes its quantisation pass `quantize`.
    """
    m, k, n = (
        validate.size(name, v, maximum=MAX_DIM) for name, v in zip("mkn", (m, k, n), strict=True)
    )
    return _linear_layer_times(m, k, n, *_check_peaks(bf16_tflops, fp8_tflops, memory_gbs))


def _linear_layer_times(m, k, n, bf16_tflops, fp8_tflops, memory_gbs) -> dict:
    """Eqs. (6) and (7) in seconds."""
    flops, bandwidth = 2.0 * m * n * k, memory_gbs * 1e9
    t_bf16 = max(flops / (bf16_tflops * 1e12), 2.0 * (m * k + k * n + m * n) / bandwidth)  # (6)
    t_quant = 3.0 * (m * k + k * n) / bandwidth  # read BF16, write FP8
    if fp8_tflops is None:  # widened back to 16 bits: the BF16 GEMM after the pass
        return {"bf16": t_bf16, "fp8": t_quant + t_bf16, "quantize": t_quant}
    t_gemm = max(flops / (fp8_tflops * 1e12), (m * k + k * n + 2.0 * m * n) / bandwidth)  # (7)
    return {"bf16": t_bf16, "fp8": t_quant + t_gemm, "quantize": t_quant}


def crossover_size(*, bf16_tflops, fp8_tflops, memory_gbs) -> float:
    """The smallest square GEMM size n (M = K = N = n) from which FP8 is faster than BF16 under
    eqs. (6)-(7), found by bisection on log n; inf where FP8 never pays (no FP8 tensor cores,
    or an FP8 peak no higher than the BF16 one)."""
    return _crossover_size(*_check_peaks(bf16_tflops, fp8_tflops, memory_gbs))


def _crossover_size(bf16_tflops, fp8_tflops, memory_gbs) -> float:
    """Bisection between n = 1 and 2**24 on t_fp8(n) < t_bf16(n) (one crossing: the saving
    grows like n^3, the quantisation pass like n^2)."""

    def pays(n: float) -> bool:
        t = _linear_layer_times(n, n, n, bf16_tflops, fp8_tflops, memory_gbs)
        return t["fp8"] < t["bf16"]

    if fp8_tflops is None or not pays(float(MAX_DIM)):
        return math.inf
    lo, hi = 0.0, math.log2(MAX_DIM)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if pays(2.0**mid) else (mid, hi)
    return 2.0**hi
