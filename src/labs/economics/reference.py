"""The one kernel chapter 7 measures, a matrix multiply, as a NumPy reference with its FLOP count,
a timer and the size below which it is memory-bound. Taught in chapter 7, "Measure it yourself: a
matrix multiply against the peak" and "When does it pay?".

`labs.economics.torch` and `labs.economics.jax` time the same product on an accelerator.

Axes: M rows of x, K the inner size, N columns of w.
"""

from __future__ import annotations

import time

import numpy as np
from jaxtyping import Float

from labs.economics.checks import check_ridge
from labs.economics.matmul_checks import check_flop_sizes, check_matmul, check_timer

__all__ = ["matmul", "matmul_flops", "matmul_ridge_size", "measure_matmul_tflops"]


def matmul_flops(m: int, k: int, n: int) -> int:
    """FLOPs of an (m, k) @ (k, n) product: m * n dot products of length k, a multiply and an
    add each, so 2 m k n. The "2" in 6ND is this 2. Python ints: the count cannot overflow."""
    m, k, n = check_flop_sizes(m, k, n)
    return 2 * m * k * n


def matmul_ridge_size(peak_tflops: float, memory_gbs: float, bytes_per_element: float) -> float:
    """The size n□* below which an (n, n) @ (n, n) product is bound by memory, not arithmetic.

    The product does 2 n^3 FLOPs and moves at least 3 n^2 b bytes (read x and w, write y, b bytes
    per element), an arithmetic intensity of 2 n / (3 b) FLOPs per byte. A chip that delivers Phi
    FLOP/s from B bytes/s of memory keeps its arithmetic busy only above Phi / B FLOPs per byte
    (the ridge of the roofline model), so n□* = 3 b (Phi / B) / 2 (the square marks a square
    product's side). Taught in chapter 7, "When does it pay?".

    Args:
        peak_tflops: the dense peak, TFLOP/s (> 0).
        memory_gbs: the memory bandwidth, GB/s (> 0).
        bytes_per_element: bytes of one matrix element (> 0; 2 for BF16/FP16, 4 for FP32).

    Returns:
        n□* as a float (a size, not rounded).
    """
    peak, bandwidth, nbytes = check_ridge(peak_tflops, memory_gbs, bytes_per_element)
    return _matmul_ridge_size(peak, bandwidth, nbytes)


def _matmul_ridge_size(peak_tflops: float, memory_gbs: float, nbytes: float) -> float:
    """n□* = 3 b (Phi / B) / 2: intensity 2 n / (3 b) equals the ridge Phi / B."""
    ridge = peak_tflops * 1e12 / (memory_gbs * 1e9)  # FLOPs per byte
    return 1.5 * nbytes * ridge


def matmul(x, w) -> np.ndarray:
    """The reference product y = x @ w.

    Args:
        x: (m, k) floating array, the activations.
        w: (k, n) floating array, the weights.

    Returns:
        (m, n) array in the dtype NumPy promotes the two to.
    """
    x, w = check_matmul(x, w, framework="numpy")
    return _matmul(x, w)


def _matmul(x: Float[np.ndarray, "M K"], w: Float[np.ndarray, "K N"]) -> Float[np.ndarray, "M N"]:
    """y = x @ w: 2 M K N FLOPs."""
    return x @ w


def measure_matmul_tflops(n: int = 512, dtype=np.float32, repeats: int = 5, seed: int = 0):
    """Time an (n, n) @ (n, n) NumPy product; return the best achieved TFLOP/s over `repeats`.

    The achieved figure divided by a chip's peak is its utilisation on this one kernel: the
    ceiling for the MFU of a whole training run on that chip. `n` is capped at 16,384 (an n x n
    matrix of 2**28 elements) and `repeats` at 1,000, so that a typo cannot hang the machine;
    `seed` lies in [0, 2**32).
    """
    n, dtype, repeats, seed = check_timer(n, dtype, repeats, seed, framework="numpy")
    return _measure_matmul_tflops(n, dtype, repeats, seed)


def _measure_matmul_tflops(n: int, dtype: np.dtype, repeats: int, seed: int) -> float:
    """Best-of-`repeats` TFLOP/s of an (n, n) @ (n, n) product, after a warm-up."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n)).astype(dtype)
    w = rng.standard_normal((n, n)).astype(dtype)
    _matmul(x, w)  # warm-up
    best = min(_timed(lambda: _matmul(x, w)) for _ in range(repeats))
    return 2 * n * n * n / best / 1e12  # matmul_flops(n, n, n) per second, in TFLOP/s


def _timed(fn) -> float:
    """Seconds one call of `fn` takes (at least 1 ns)."""
    start = time.perf_counter()
    fn()
    return max(time.perf_counter() - start, 1e-9)
