"""Chapter 8 exercises, with their instant checks.

8.2 `combine_splits`: the last step of flash-decoding, merging the (acc, m, l) that the split-K
    chunks of one sequence leave into the attention output, as `labs.mla.pallas` must.
8.3 `choose_precision` (a decision): BF16 or FP8 for one GEMM on one device, with the weight
    stored in FP8 or quantised on the fly, by the cost model of `labs.fp8.cost`.
8.4 `cache_bound` (a prediction, then a function): memory- or compute-bound, one absorbed MLA
    decode step whose cache stores a given number of bytes per token (FP8: 656, BF16: 1152).
(The notebook's 8.1 is a prediction that a cell then computes; it has no check here.)

Expected values are computed by brute force here (8.2: the softmax over the whole context with
explicit loops, sharing no code with the kernel) or worked by hand (8.3: the arithmetic is in the
comments, in microseconds, with each device's registry figures written out; 8.4: FLOPs and bytes
worked by hand in the comments).
"""

from __future__ import annotations

import math

import numpy as np

from labs.bench.roofline import DevicePeaks
from labs.common.exercises import Case, CheckReport, Exercise, check

# --- 8.2 ---------------------------------------------------------------------------------------


def _attention_brute_force(scores: np.ndarray, values: np.ndarray) -> np.ndarray:
    """softmax(scores[h]) @ values for every head, in float64, one loop per sum."""
    heads, tokens = scores.shape
    out = np.zeros((heads, values.shape[1]))
    for h in range(heads):
        top = max(scores[h])
        weights = [math.exp(scores[h, j] - top) for j in range(tokens)]
        total = sum(weights)
        for j in range(tokens):
            out[h] += weights[j] / total * values[j]
    return out


def _partials(scores: np.ndarray, values: np.ndarray, bounds: tuple[int, ...]):
    """(acc, m, l) of each chunk [bounds[k], bounds[k + 1]) of the tokens, each summed under its
    own maximum; a chunk with no token leaves m = -inf, l = 0, acc = 0."""
    heads, latent, chunks = scores.shape[0], values.shape[1], len(bounds) - 1
    acc = np.zeros((chunks, heads, latent))
    m = np.full((chunks, heads), -np.inf)
    l = np.zeros((chunks, heads))  # noqa: E741 - the paper's name for the running sum
    for k in range(chunks):
        for h in range(heads):
            tokens = range(bounds[k], bounds[k + 1])
            if not tokens:
                continue
            m[k, h] = max(scores[h, j] for j in tokens)
            for j in tokens:
                p = math.exp(scores[h, j] - m[k, h])
                l[k, h] += p
                acc[k, h] += p * values[j]
    return acc, m, l


def _split_case(bounds, heads, latent, label, hint="", *, seed=0, offset=0.0, spread=1.0) -> Case:
    """Scores (heads, tokens) around `offset`, values (tokens, latent), cut at `bounds`."""
    rng = np.random.default_rng(seed)
    scores = offset + spread * rng.standard_normal((heads, bounds[-1]))
    values = rng.standard_normal((bounds[-1], latent))
    return Case(
        args=_partials(scores, values, tuple(bounds)),
        expected=_attention_brute_force(scores, values),
        label=label,
        hint=hint,
        rtol=1e-9,
        atol=1e-12,
    )


COMBINE_SPLITS = Exercise(
    name="combine_splits",
    signature=(
        "combine_splits(acc: np.ndarray (K, H, C), m: np.ndarray (K, H), l: np.ndarray (K, H)) "
        "-> np.ndarray (H, C)"
    ),
    cases=(
        _split_case(
            (0, 3, 5),
            1,
            2,
            "two chunks of 3 and 2 tokens, one head, latent width 2",
            "each chunk's acc and l were summed under its own maximum m_k: rescale both by "
            "exp(m_k - M), M the largest of the m_k, add them up over the chunks, and divide the "
            "summed acc by the summed l once, at the end (normalising each chunk and averaging "
            "weighs a short chunk like a long one).",
            seed=1,
            spread=2.0,
        ),
        _split_case(
            (0, 4, 9, 12),
            4,
            8,
            "three chunks, 4 heads, latent width 8",
            "every head has its own maxima: M is the max over the chunks (axis 0) for each head, "
            "and the answer has shape (H, C).",
            seed=2,
        ),
        _split_case(
            (0, 6, 10),
            2,
            4,
            "scores near 1000: exp(m) alone overflows",
            "exp(1000) is inf in float64; only ever exponentiate differences m_k - M, which are "
            "at most 0.",
            seed=3,
            offset=1000.0,
        ),
        _split_case(
            (0, 5, 5, 9),
            3,
            4,
            "the middle chunk holds no token (m = -inf, l = 0)",
            "an empty chunk weighs exp(-inf - M) = 0; it must not turn the answer into NaN.",
            seed=4,
        ),
        _split_case(
            (0, 0, 0, 7),
            2,
            3,
            "the first two chunks hold no token: a short sequence in a long batch",
            "merging chunk by chunk meets -inf - (-inf) = NaN when two empty chunks meet: take "
            "the largest maximum over all chunks first.",
            seed=5,
        ),
        _split_case((0, 6), 2, 5, "one chunk: nothing to merge", "acc / l, head by head.", seed=6),
    ),
)


def check_combine_splits(fn) -> CheckReport:
    """Run the public cases of exercise 8.2 against `fn`."""
    return check(fn, COMBINE_SPLITS)


# --- 8.3 ---------------------------------------------------------------------------------------
# Dense peaks as the facts registry holds them (TFLOP/s, GB/s): written out, so that the expected
# choices below are worked from these very numbers.
H100 = DevicePeaks("H100 SXM", 3350.0, 989.5, 1979.0)  # B = 3.35e12 bytes/s
H200 = DevicePeaks("H200 SXM", 4800.0, 989.5, 1979.0)  # B = 4.8e12 bytes/s
A100 = DevicePeaks("A100 SXM", 2039.0, 312.0, None)  # no FP8 tensor cores

# Eq. (6): t_bf16 = max(2MNK / P_bf16, 2(MK + KN + MN) / B). Eq. (7), the pass before the GEMM:
# t_fp8 = 3(MK [+ KN unless the weight is in FP8]) / B + max(2MNK / P_fp8, (MK + KN + 2MN) / B).
# V3's expert GEMM at decode: M = 32 tokens, K = 7168, N = 2048: MK = 229,376, KN = 14,680,064,
# MN = 65,536, 2MNK = 939,524,096 FLOPs.
CHOOSE_PRECISION = Exercise(
    name="choose_precision",
    signature=(
        "choose_precision(m: int, k: int, n: int, peaks: DevicePeaks, weight_in_fp8: bool) "
        "-> str ('fp8' or 'bf16')"
    ),
    cases=(
        Case(
            # bf16: max(0.95 us, 29,949,952 B / B = 8.94 us) = 8.94 us.
            # fp8: 688,128 B (pass) + max(0.47 us, 15,040,512 B) = 0.21 + 4.49 = 4.70 us.
            args=(32, 7168, 2048, H100, True),
            expected="fp8",
            label="V3's expert GEMM at decode (32 tokens, 7168 x 2048), FP8 weight, H100",
            hint="at decode the GEMM is memory-bound: FP8 pays by halving the weight's bytes, "
            "not by its FLOPs. Compare the two modelled times (labs.fp8.cost."
            "linear_layer_times), not the compute alone.",
        ),
        Case(
            # fp8: the pass also converts the weight: 3 x 14,909,440 B = 13.35 us, plus 4.49 us
            # = 17.84 us against 8.94 us.
            args=(32, 7168, 2048, H100, False),
            expected="bf16",
            label="the same GEMM with the weight quantised on the fly, H100",
            hint="a weight still in BF16 must be read and converted every call: pass "
            "weight_in_fp8 on to the model.",
        ),
        Case(
            # n = 512: bf16 memory-bound, 6 n^2 = 1,572,864 B = 0.47 us; fp8 7 n^2 B (3 pass,
            # 1 + 1 inputs, 2 output; its compute 0.14 us hides) = 0.55 us.
            args=(512, 512, 512, H100, True),
            expected="bf16",
            label="a square GEMM of 512, FP8 weight, H100",
            hint="FP8 does not always pay: while both GEMMs are memory-bound the activation's "
            "pass adds bytes (7 n^2 against 6 n^2).",
        ),
        Case(
            # n = 4096: bf16 compute-bound, 138.9 us; fp8: 15.0 us of pass + max(69.5, 20.0) us.
            args=(4096, 4096, 4096, H100, True),
            expected="fp8",
            label="a square GEMM of 4096, FP8 weight, H100",
            hint="a large GEMM is compute-bound and the FP8 tensor cores are twice as fast.",
        ),
        Case(
            # n = 900 on an H100: bf16 max(1.47, 1.45) = 1.47 us; fp8 7 x 810,000 B = 1.69 us.
            args=(900, 900, 900, H100, True),
            expected="bf16",
            label="a square GEMM of 900, FP8 weight, H100",
            hint="just below the H100's crossover (n about 1034): the pass still costs more "
            "than the FP8 tensor cores save.",
        ),
        Case(
            # n = 900 on an H200: bf16 max(1.47, 1.01) = 1.47 us; fp8 0.51 us of pass +
            # max(0.74, 0.68) us = 1.24 us.
            args=(900, 900, 900, H200, True),
            expected="fp8",
            label="the same GEMM of 900 on an H200",
            hint="the H200 has the H100's arithmetic with 4.8 TB/s: the BF16 GEMM turns "
            "compute-bound sooner, so FP8 pays sooner. Use the peaks you are given.",
        ),
        Case(
            # no FP8 tensor cores: the FP8 path is the pass plus the 16-bit GEMM.
            args=(4096, 7168, 2048, A100, True),
            expected="bf16",
            label="prefill (4096 tokens, 7168 x 2048) on an A100, which has no FP8 units",
            hint="peaks.fp8_tflops is None on a device without FP8 tensor cores: the model "
            "(linear_layer_times with fp8_tflops=None) says FP8 never pays there.",
        ),
        Case(
            # n = 1600, both quantised: bf16 max(8,192,000,000 FLOPs = 8.28 us, 15,360,000 B =
            # 4.59 us) = 8.28 us; fp8, pass first: 15,360,000 B = 4.59 us + max(4.14 us,
            # 10,240,000 B = 3.06 us) = 8.72 us. Beside the GEMM it would be max(4.14, 25,600,000 B
            # = 7.64) = 7.64 us: fp8.
            args=(1600, 1600, 1600, H100, False),
            expected="bf16",
            label="a square GEMM of 1600, both operands quantised on the fly, H100",
            hint="chapter 2's layout crosses at n = 1772 with the pass first, 1477 with it beside "
            "the GEMM.",
            mistakes=(
                (
                    "fp8",
                    "FP8 wins here only if the quantisation pass runs beside the GEMM "
                    "(overlap_pass=True: 7.64 us against BF16's 8.28). The exercise runs the pass "
                    "before the GEMM, the model's default: 4.59 us of pass, then 4.14 us of FP8 "
                    "GEMM, 8.72 us. Leave overlap_pass at False.",
                ),
            ),
        ),
        Case(
            # M = 16, K = 7168, N = 32 = 2M, weight in FP8, both memory-bound: bf16 moves
            # 2(MK + KN + MN) = 689,152 B; fp8 3MK + MK + KN + 2MN = 689,152 B: the same 0.21 us.
            args=(16, 7168, 32, H100, True),
            expected="bf16",
            label="16 tokens through a 7168 x 32 FP8 weight, H100: the two times tie",
            hint="FP8 must be strictly faster to be chosen.",
            mistakes=(
                (
                    "fp8",
                    "the two modelled times are equal here (both paths move 689,152 bytes, "
                    "memory-bound): a tie is not strictly faster, so BF16 stays. Compare with <, "
                    "not <=.",
                ),
            ),
        ),
    ),
)


def check_choose_precision(fn) -> CheckReport:
    """Run the public cases of exercise 8.3 against `fn`."""
    return check(fn, CHOOSE_PRECISION)


# --- 8.4 ---------------------------------------------------------------------------------------
# One absorbed decode step (eqs. R2, R3 of chapter 8): F = 2BHS(d_c + d_h^R) + 2BHSd_c FLOPs;
# Q = BS * bytes_per_token + 2BH(d_c + d_h^R) (BF16 queries) + 4BHd_c (FP32 output) bytes.
# V3: d_c = 512, d_h^R = 64, so F = 2176 BHS and the queries and outputs take 3200 BH bytes.
# Ridges (BF16 peak / bandwidth): H100 989.5 / 3.35 = 295.37, H200 989.5 / 4.8 = 206.15.
CACHE_BOUND = Exercise(
    name="cache_bound",
    signature=(
        "cache_bound(batch: int, context: int, heads: int, latent: int, rope: int, "
        "bytes_per_token: float, peaks: DevicePeaks) -> str ('memory' or 'compute')"
    ),
    cases=(
        Case(
            # F = 2176 * 64 * 128 * 16384 = 292,057,776,128; Q = 64 * 16384 * 656 + 3200 * 64 *
            # 128 = 714,080,256: 409.0 FLOPs per byte > 295.37.
            args=(64, 16384, 128, 512, 64, 656.0, H100),
            expected="compute",
            label="V3's decode with the FP8 cache (656 bytes per token), batch 64, 16K, H100",
            hint="656 bytes per token leave about 278,528 / 656 = 425 FLOPs per byte at long "
            "contexts, above the H100's ridge of 295. bytes_per_token is per token: "
            "mla_decode_work takes bytes per element, bytes_per_token / (latent + rope).",
            mistakes=(
                (
                    "memory",
                    "'memory' means the intensity fell below the ridge. Two slips do that here: "
                    "the cache counted at 2 bytes per element (1152 bytes per token, 237 FLOPs "
                    "per byte) instead of bytes_per_token / (latent + rope), or the ridge taken "
                    "from the FP8 peak (1979 / 3.35 = 591). The step computes in BF16 on the FP8 "
                    "cache: 409 FLOPs per byte against 989.5 / 3.35 = 295, so take "
                    "peaks.bf16_tflops.",
                ),
            ),
        ),
        Case(
            # Q = 64 * 16384 * 1152 + 26,214,400 = 1,234,173,952: 236.6 < 295.37.
            args=(64, 16384, 128, 512, 64, 1152.0, H100),
            expected="memory",
            label="the same step with the BF16 cache (1152 bytes per token), H100",
            hint="with 1152 bytes per token the intensity is about 237 FLOPs per byte, below "
            "the ridge: compare F / Q with peak FLOP/s / peak bytes/s, both from `peaks`.",
        ),
        Case(
            # half the heads: F = 146,028,888,064; Q = 687,865,856 + 13,107,200 = 700,973,056:
            # 208.3 < 295.37.
            args=(64, 16384, 64, 512, 64, 656.0, H100),
            expected="memory",
            label="64 heads per GPU (tensor parallelism over two), FP8 cache, H100",
            hint="the FLOPs grow with the heads that share the cache, the cache's bytes do not: "
            "halving the heads halves the intensity.",
        ),
        Case(
            # the same 208.3 FLOPs per byte > 206.15.
            args=(64, 16384, 64, 512, 64, 656.0, H200),
            expected="compute",
            label="the same step on an H200 (4.8 TB/s)",
            hint="the H200's ridge is 206, not 295: take the ridge from the peaks you are given.",
        ),
        Case(
            # F = 2176 * 128 * 64 = 17,825,792; Q = 64 * 656 + 3200 * 128 = 451,584: 39.5.
            args=(1, 64, 128, 512, 64, 656.0, H100),
            expected="memory",
            label="one sequence of 64 cached tokens, FP8 cache, H100",
            hint="at a short context the queries (BF16) and the output (FP32) weigh more than "
            "the cache: count their bytes too (mla_decode_work does), not only the cache's.",
        ),
        Case(
            # F = 2176 * 128 * 1024 = 285,212,672; Q = 1024 * 656 + 3200 * 128 = 1,081,344:
            # 263.8 < 295.37. With a BF16 output Q = 671,744 + 2176 * 128 = 950,272: 300.1.
            args=(1, 1024, 128, 512, 64, 656.0, H100),
            expected="memory",
            label="one sequence of 1024 cached tokens, FP8 cache, H100: the output's bytes decide",
            hint="the output is FP32, 4 bytes per element, as mla_decode_work counts it by "
            "default.",
            mistakes=(
                (
                    "compute",
                    "with a BF16 output (2 bytes) this step would cross the ridge (300 FLOPs per "
                    "byte); the output is FP32 (4 bytes: out_bytes=4, mla_decode_work's default), "
                    "which leaves it at 264, memory-bound.",
                ),
            ),
        ),
    ),
)


def check_cache_bound(fn) -> CheckReport:
    """Run the public cases of exercise 8.4 against `fn`."""
    return check(fn, CACHE_BOUND)
