"""When does FP8 pay? A cost model of one linear layer's GEMM, y (M, N) = x (M, K) @ w (K, N).

BF16: the GEMM reads x and w and writes y, and takes the longer of its compute and its memory
time (a roofline):

    t_bf16 = max(2 M N K / P_bf16,  2 (M K + K N + M N) / B)                                   (6)

FP8: before the GEMM, a quantisation pass reads x and w in BF16 and writes them in FP8 (3 bytes
per element moved, scales negligible); then the GEMM reads 1-byte inputs:

    t_fp8 = 3 (M K + K N) / B  +  max(2 M N K / P_fp8,  (M K + K N + 2 M N) / B)               (7)

P are the tensor-core peaks and B the memory bandwidth, from the facts registry. A GPU without
FP8 tensor cores (P_fp8 = None, a T4) can still store FP8 but must widen it before a 16-bit GEMM:
its FP8 time is the quantisation pass plus the 16-bit GEMM, never less than t_bf16 (the model
gives no credit to an FP8 weight widened inside the GEMM, a weight-only format).

Two layout options change eq. (7), both off by default (the unfused case V3 describes for Hopper,
§3.5.2: the activation read in BF16, written back in FP8 and read again by the GEMM; pessimistic
only about the weight's pass and the ordering, optimistic about the GEMM, which gets the full ratio
of the peaks with promotion and scaling free):

* `weight_in_fp8`: the weight is stored in FP8 once, as a served model's is, and as in training,
  where each FP8 copy is quantised once per optimiser step and serves that step's micro-batches
  (V3's DualPipe keeps two copies, each serving about half of them, about 1.0 million tokens per
  expert; chapter 2); the pass converts the activation only, 3 M K bytes instead of 3 (M K + K N).
* `overlap_pass`: the pass runs beside the GEMM (on other multiprocessors, or pipelined
  with it) instead of before it, so its bytes share the GEMM's bandwidth; it still moves
  all of them (a producer that wrote FP8 directly, saving them, is not modelled):

    t_fp8 = max(2 M N K / P_fp8,  (Q_pass + M K + K N + 2 M N) / B)                            (7')

  where Q_pass is the pass's bytes. Overlap saves time only where the FP8 GEMM is compute-bound:
  a memory-bound GEMM has no idle bandwidth to hide the pass in.

A training step runs three GEMMs per linear layer (`training_step_times`): Fprop y = x W
(contracting K), Dgrad dx = dy W^T (contracting N) and Wgrad dW = x^T dy (contracting the M
tokens). Each reads its two inputs and writes its output: y and dx in BF16, dW in FP32 in both
recipes (V3 keeps weight gradients in FP32, §3.3.3). FP8 adds the per-token passes of V3's
recipe, which no weight copy amortises (§3.5.2, "Support for Online Quantization" and "Support
for Transposed GEMM Operations"): x quantised to 1x128 tiles for Fprop (3 M K bytes), its FP8
copy read back and re-tiled into 128x1 tiles for Wgrad (2 M K), and dy quantised twice, per
1x128 tile for Dgrad and per 128x1 tile for Wgrad (3 M N each). The weight's 128x128 blocks serve
Fprop and Dgrad merely transposed, so it needs one pass of 3 K N, none when stored in FP8:

    t_bf16 = sum over the GEMMs g of max(2 M N K / P_bf16,  bytes16_g / B)
    t_fp8  = (5 M K + 6 M N [+ 3 K N]) / B  +  sum over g of max(2 M N K / P_fp8,  bytes8_g / B) (8)

    bytes16: Fprop 2 (M K + K N + M N), Dgrad 2 (M N + K N + M K), Wgrad 2 (M K + M N) + 4 K N
    bytes8:  Fprop M K + K N + 2 M N,   Dgrad M N + K N + 2 M K,   Wgrad M K + M N + 4 K N

Taught in chapter 2, "When does FP8 pay?"; chapter 8 ("When does it pay?") uses the layouts.
"""

from __future__ import annotations

import math

from labs.common import validate

__all__ = ["crossover_size", "linear_layer_times", "training_step_times"]

MAX_DIM = 2**24  # a GEMM side beyond this is a typo (2**72 flops)


def _check_peaks(bf16_tflops, fp8_tflops, memory_gbs) -> tuple:
    bf16 = validate.real_number("bf16_tflops", bf16_tflops, positive=True)
    fp8 = (
        None
        if fp8_tflops is None
        else validate.real_number("fp8_tflops", fp8_tflops, positive=True)
    )
    return bf16, fp8, validate.real_number("memory_gbs", memory_gbs, positive=True)


def _check_layout(weight_in_fp8, overlap_pass) -> tuple[bool, bool]:
    return (
        validate.boolean("weight_in_fp8", weight_in_fp8),
        validate.boolean("overlap_pass", overlap_pass),
    )


def linear_layer_times(
    m,
    k,
    n,
    *,
    bf16_tflops,
    fp8_tflops,
    memory_gbs,
    weight_in_fp8: bool = False,
    overlap_pass: bool = False,
) -> dict:
    """Eqs. (6) and (7): the modelled seconds of an (M, K) @ (K, N) GEMM in BF16 and in FP8.

    Args:
        m, k, n: GEMM sizes, 1..2**24. bf16_tflops, fp8_tflops: dense tensor-core peaks
            (fp8_tflops=None: no FP8 tensor cores). memory_gbs: memory bandwidth in GB/s.
        weight_in_fp8: the weight is already stored in FP8; only the activation is quantised.
        overlap_pass: the quantisation pass shares the GEMM's time and bandwidth (eq. 7')
            instead of running before it.

    Returns:
        dict(bf16, fp8, quantize): seconds; fp8 includes its quantisation pass, whose time on
        its own is `quantize` (hidden in part or whole when `overlap_pass`).
    """
    m, k, n = (
        validate.size(name, v, maximum=MAX_DIM) for name, v in zip("mkn", (m, k, n), strict=True)
    )
    peaks = _check_peaks(bf16_tflops, fp8_tflops, memory_gbs)
    return _linear_layer_times(m, k, n, *peaks, *_check_layout(weight_in_fp8, overlap_pass))


def _linear_layer_times(
    m, k, n, bf16_tflops, fp8_tflops, memory_gbs, weight_in_fp8=False, overlap_pass=False
) -> dict:
    """Eqs. (6), (7) and (7') in seconds."""
    flops, bandwidth = 2.0 * m * n * k, memory_gbs * 1e9
    t_bf16 = max(flops / (bf16_tflops * 1e12), 2.0 * (m * k + k * n + m * n) / bandwidth)  # (6)
    pass_bytes = 3.0 * (m * k if weight_in_fp8 else m * k + k * n)  # read BF16, write FP8
    if fp8_tflops is None:  # widened back to 16 bits: the BF16 GEMM after the pass
        compute_s, gemm_bytes = flops / (bf16_tflops * 1e12), 2.0 * (m * k + k * n + m * n)
    else:
        compute_s, gemm_bytes = flops / (fp8_tflops * 1e12), m * k + k * n + 2.0 * m * n
    if overlap_pass:  # (7'): one roofline for the pass and the GEMM together
        t_fp8 = max(compute_s, (pass_bytes + gemm_bytes) / bandwidth)
    else:  # (7): the pass, then the GEMM
        t_fp8 = pass_bytes / bandwidth + max(compute_s, gemm_bytes / bandwidth)
    return {"bf16": t_bf16, "fp8": t_fp8, "quantize": pass_bytes / bandwidth}


def training_step_times(
    m,
    k,
    n,
    *,
    bf16_tflops,
    fp8_tflops,
    memory_gbs,
    weight_in_fp8: bool = False,
) -> dict:
    """Eq. (8): the modelled seconds of one linear layer's training step on M tokens, its Fprop,
    Dgrad and Wgrad GEMMs with x (M, K), W (K, N) and dy (M, N), in BF16 and in V3's FP8 recipe.

    Args:
        m, k, n: sizes, 1..2**24 (m: the tokens of one micro-batch). bf16_tflops, fp8_tflops:
            dense tensor-core peaks (fp8_tflops=None: no FP8 tensor cores, the GEMMs run in 16
            bits after the passes). memory_gbs: memory bandwidth in GB/s.
        weight_in_fp8: the weight's FP8 copy exists already (quantised once per optimiser step,
            shared by many micro-batches); otherwise one pass of 3 K N bytes serves Fprop and Dgrad.

    Returns:
        dict(bf16, fp8, quantize): seconds for the three GEMMs; fp8 includes its quantisation
        passes, whose time on its own is `quantize`.
    """
    m, k, n = (
        validate.size(name, v, maximum=MAX_DIM) for name, v in zip("mkn", (m, k, n), strict=True)
    )
    peaks = _check_peaks(bf16_tflops, fp8_tflops, memory_gbs)
    return _training_step_times(m, k, n, *peaks, validate.boolean("weight_in_fp8", weight_in_fp8))


def _training_step_times(m, k, n, bf16_tflops, fp8_tflops, memory_gbs, weight_in_fp8=False) -> dict:
    """Eq. (8) in seconds: Fprop, Dgrad and Wgrad, each a roofline, plus FP8's passes."""
    flops, bandwidth = 2.0 * m * n * k, memory_gbs * 1e9  # the same FLOPs in each GEMM
    mk, kn, mn = float(m * k), float(k * n), float(m * n)
    bytes16 = (2 * (mk + kn + mn), 2 * (mn + kn + mk), 2 * (mk + mn) + 4 * kn)  # dW in FP32
    bytes8 = (mk + kn + 2 * mn, mn + kn + 2 * mk, mk + mn + 4 * kn)  # FP8 in, BF16/FP32 out
    t_bf16 = sum(max(flops / (bf16_tflops * 1e12), b / bandwidth) for b in bytes16)
    # x: 1x128 tiles (3 M K), re-tiled 128x1 from FP8 (2 M K); dy: both tilings (2 x 3 M N)
    pass_bytes = 5 * mk + 6 * mn + (0.0 if weight_in_fp8 else 3 * kn)
    if fp8_tflops is None:  # widened back to 16 bits: the BF16 GEMMs after the passes
        t_fp8 = pass_bytes / bandwidth + t_bf16
    else:
        compute_s = flops / (fp8_tflops * 1e12)
        t_fp8 = pass_bytes / bandwidth + sum(max(compute_s, b / bandwidth) for b in bytes8)
    return {"bf16": t_bf16, "fp8": t_fp8, "quantize": pass_bytes / bandwidth}


def crossover_size(
    *,
    bf16_tflops,
    fp8_tflops,
    memory_gbs,
    weight_in_fp8: bool = False,
    overlap_pass: bool = False,
) -> float:
    """The smallest square GEMM size n (M = K = N = n) from which FP8 is faster than BF16 under
    eqs. (6)-(7') with the given layout (see `linear_layer_times`), found by bisection on log n;
    inf where FP8 never pays (no FP8 tensor cores, or an FP8 peak no higher than the BF16 one)."""
    peaks = _check_peaks(bf16_tflops, fp8_tflops, memory_gbs)
    return _crossover_size(*peaks, *_check_layout(weight_in_fp8, overlap_pass))


def _crossover_size(
    bf16_tflops, fp8_tflops, memory_gbs, weight_in_fp8=False, overlap_pass=False
) -> float:
    """Bisection between n = 1 and 2**24 on t_fp8(n) < t_bf16(n) (one crossing: FP8 loses while
    the BF16 GEMM is memory-bound, its pass costing bytes; past that the saving grows like n^3,
    the pass like n^2)."""
    layout = (weight_in_fp8, overlap_pass)

    def pays(n: float) -> bool:
        t = _linear_layer_times(n, n, n, bf16_tflops, fp8_tflops, memory_gbs, *layout)
        return t["fp8"] < t["bf16"]

    if fp8_tflops is None or not pays(float(MAX_DIM)):
        return math.inf
    lo, hi = 0.0, math.log2(MAX_DIM)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if pays(2.0**mid) else (mid, hi)
    return 2.0**hi
