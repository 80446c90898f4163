"""The check cases of chapter 8's kernels ("An MLA decode kernel", "An FP8 block-scaled GEMM
kernel"): random inputs, their NumPy answers, the tolerances on a CPU and on a GPU, and how far a
negative control must miss.

The notebook and `tests/bench/test_cases.py` use the same cases, so the test can check, in NumPy
alone, that each control misses by enough at the GPU's looser tolerances too.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []  # internal: the chapter's check cases, not an API

# Errors are relative to max |output|. Decode: float32 against a float64 reference; a GPU's dot
# products round float32 inputs to TF32 (10 bits of mantissa), hence the looser "compiled" one.
DECODE_TOL = {"interpret": 1e-5, "compiled": 5e-3}
# GEMM: float32 against float32 where the kernel is interpreted (the scales enter the sum at
# another point); FP8 tensor cores keep about 14 bits of each K-block's partial sum (V3 §3.3).
GEMM_TOL = {"interpret": 1e-5, "fp8_units": 2e-3}
# A control must miss by this many times the worst measured error, and by half as many times the
# tolerance: a bar set by the run itself, with a floor when the errors are tiny.
CONTROL_FACTOR = 20
# The decode check's heads per program: all of `paged_case`'s 16 heads in one program, then 8 per
# program. A TPU takes a block of heads only in multiples of 8 (Mosaic's rule for a block's
# second-to-last dimension), so 8 is the smallest split that runs on every device the chapter
# runs on (tests/bench/test_check_cases_lower.py lowers both for a TPU).
CHECK_HEADS_PER_PROGRAM = (None, 8)


def control_bar(errors: list[float], tol: float) -> float:
    """How far a negative control must miss: max(20 * worst error, 10 * tolerance)."""
    return max(CONTROL_FACTOR * max(errors), CONTROL_FACTOR / 2 * tol)


def attention_numpy(q_lat, q_r, c_kv, k_r, length, scale):
    """Reference: all heads score the latent cache; softmax; weighted latent (float64)."""
    s = (q_lat @ c_kv[:length].T + q_r @ k_r[:length].T) * scale
    p = np.exp(s - s.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)) @ c_kv[:length]


def paged_case(seed, lengths=(37, 100, 64), block=16, heads=16, latent=64, rope=16, short=0):
    """Random queries and caches, the caches scattered over a shuffled pool of pages; the answer
    attends to `short` tokens fewer than `lengths` (0: the right answer)."""
    rng = np.random.default_rng(seed)
    n = -(-max(lengths) // block)  # pages per sequence
    q_lat = rng.standard_normal((len(lengths), heads, latent)) / 4
    q_r = rng.standard_normal((len(lengths), heads, rope)) / 4
    c_kv = rng.standard_normal((len(lengths), n * block, latent))
    k_r = rng.standard_normal((len(lengths), n * block, rope))
    table = rng.permutation(len(lengths) * n + 3)[: len(lengths) * n].reshape(len(lengths), n)
    pool_c = np.zeros((len(lengths) * n + 3, block, latent))
    pool_r = np.zeros((len(lengths) * n + 3, block, rope))
    for b in range(len(lengths)):
        for i in range(n):
            pool_c[table[b, i]] = c_kv[b, i * block : (i + 1) * block]
            pool_r[table[b, i]] = k_r[b, i * block : (i + 1) * block]
    f32 = lambda x: x.astype(np.float32)  # noqa: E731
    kernel_args = dict(
        q_latent=f32(q_lat),
        q_rope=f32(q_r),
        c_kv=f32(pool_c),
        k_rope=f32(pool_r),
        block=block,
        block_table=table.astype(np.int32),
    )
    want = np.stack(
        [
            attention_numpy(q_lat[b], q_r[b], c_kv[b], k_r[b], n_b - short, 0.1)
            for b, n_b in enumerate(lengths)
        ]
    )
    return kernel_args, np.array(lengths, np.int32), want


def gemm_case(seed, m=200, k=512, n=256, outlier=300.0):
    """A random activation with one outlier, and a weight of unit-scale columns (float32)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
    a[0, 1] = outlier  # an activation outlier: it sets its own tile's scale, and the tensor's
    return a, b


def unpromoted_case(a, b, block=128):
    """The promotion skipped: V3's FP8 codes and scales, but the products of all K-blocks summed
    first and scaled once, by the first K-block's scales (float64). It is the kernel's error when
    it picks one K-block's scale for every K-block, the step its mask over the scales gets right;
    the GEMM check's second negative control."""
    from labs.fp8.pallas import quantize_operands  # JAX: imported only by the GEMM check

    a_q, a_scales, b_q, b_scales = (
        np.asarray(x).astype(np.float64) for x in quantize_operands(a, b, block)
    )
    first = a_scales[:, :1] * np.repeat(b_scales[:1], block, axis=1)  # (M, 1) * (1, N)
    return (a_q @ b_q) * first


def rel_error(got, want) -> float:
    """max |got - want| / max |want|, in float64."""
    return float(np.abs(np.asarray(got, np.float64) - want).max() / np.abs(want).max())
