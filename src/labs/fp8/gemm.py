"""DeepSeek-V3's FP8 GEMMs (§3.3) in NumPy: promoted accumulation, forward and backward.

Accumulation. V3 reports that the H800 tensor cores keep only about 14 bits when they add FP8
products, and promotes the partial sum into an FP32 register on the CUDA cores every N_C = 128
elements of K. `limited_sum` models that: a running sum rounded to `accumulator_bits` significant
bits after every addition, flushed into a float32 total every `promote_every` elements.

GEMMs. `fp8_matmul` and `linear_backward` quantise their operands with the groups of
`labs.fp8.group_scaling` (eq. 3 there) along the contraction axis, then multiply. All arithmetic
is float32, operation by operation, so that the PyTorch and JAX versions of these kernels can
reproduce it bit for bit; `labs.fp8.reference` re-exports this module.

Shapes: `*s` any shape, K the contraction axis, M and N the other GEMM axes. Taught in chapter 2,
"Accumulation: 14 bits are not enough for long sums" (the accumulator) and "The backward pass in
FP8" (`linear_backward`).
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from labs.fp8 import checks
from labs.fp8.formats import E4M3, FP8Format
from labs.fp8.group_scaling import _fake_quantize

__all__ = [
    "fp8_matmul",
    "limited_sum",
    "linear_backward",
    "round_significand",
]


def round_significand(x, bits: int, rounding: str = "truncate") -> np.ndarray:
    """Round float32 values to `bits` significant bits (the implicit leading 1 included).

    "truncate" drops the low bits (round toward zero, what an adder that cannot hold them does);
    "nearest" rounds to nearest, ties to even. Works on the float32 bit pattern, so it is exact.

    Args:
        x: finite floating values, any shape (computed in float32).
        bits: 1..24 (float32 holds 24 significant bits).
        rounding: "truncate" or "nearest".
    """
    x, bits = checks.check_round(x, bits, rounding)
    return _round_significand(x, bits, rounding)


def _round_significand(x: Float[np.ndarray, "*s"], bits: int, rounding: str):
    """Clear (or round away) the low 24 - bits bits of the float32 pattern."""
    shift = 24 - bits
    if shift == 0:
        return x.astype(np.float32, copy=True)
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    keep = np.uint64(0xFFFFFFFF ^ ((1 << shift) - 1))
    if rounding == "nearest":
        lsb = (u >> np.uint64(shift)) & np.uint64(1)
        u = u + np.uint64((1 << (shift - 1)) - 1) + lsb
    return (u & keep).astype(np.uint32).view(np.float32)


def limited_sum(
    values,
    accumulator_bits: int = 14,
    promote_every: int | None = 128,
    rounding: str = "truncate",
) -> np.ndarray:
    """Sum `values` along the last axis in a limited-precision accumulator, promoted to float32.

    Each value is added to a running sum that keeps `accumulator_bits` significant bits; every
    `promote_every` values the running sum is added into a float32 total and restarts from zero
    (V3's promotion to CUDA cores, N_C = 128). `promote_every=None` never promotes.

    Args:
        values: finite floating array, shape (..., K), e.g. the K products of a dot product.
        accumulator_bits: 2..24. promote_every: >= 1 or None. rounding: "truncate"/"nearest".

    Returns:
        float32 array of shape (...).
    """
    bits, promote_every, rounding = checks.check_accumulation(
        accumulator_bits, promote_every, rounding
    )
    values = checks.check_float("values", values)
    return _limited_sum(values, bits, promote_every, rounding)


def _limited_sum(
    values: Float[np.ndarray, "*s K"], bits: int, promote_every: int | None, rounding: str
) -> Float[np.ndarray, "*s"]:
    """A `bits`-bit running sum, flushed into a float32 total every `promote_every` values."""
    total = np.zeros(values.shape[:-1], dtype=np.float32)
    running = np.zeros_like(total)
    for k in range(values.shape[-1]):
        running = _round_significand(running + values[..., k], bits, rounding)
        if promote_every is not None and (k + 1) % promote_every == 0:
            total, running = total + running, np.zeros_like(running)  # promotion to FP32
    return total + running


def fp8_matmul(
    a,
    b,
    a_granularity: str = "tile",
    b_granularity: str = "block",
    accumulate: str = "fp32",
    accumulator_bits: int = 14,
    promote_every: int | None = 128,
    *,
    fmt=E4M3,
    block: int = 128,
    rounding: str = "truncate",
) -> np.ndarray:
    """A @ B the way DeepSeek-V3 computes an FP8 GEMM (§3.3), NumPy reference.

    Both inputs are quantised with groups that run along the contraction axis K: `a` (M, K) by
    rows or 1 x block tiles of its last axis, `b` (K, N) through its transpose, so "tile" means
    block x 1 columns of b and "block" block x block blocks. The products are then summed either
    in float32 (`accumulate="fp32"`) or in the limited accumulator of `limited_sum`
    (`accumulate="limited"`). As a simplification the scales are folded into the values before
    accumulating (V3 applies them at promotion). Rounding to b significant bits commutes with a
    power-of-two scale only, so the individual rounding errors differ from V3's, but their
    relative size does not. The limited path holds all M * N * K products at once and loops
    over K in Python: it is meant for the small matrices of the experiments (M * N * K is
    capped at 2**24).

    Args:
        a: float array (M, K). b: float array (K, N).

    Returns:
        float32 array (M, N).
    """
    a, b, fmt, block = checks.check_fp8_matmul(
        a, b, a_granularity, b_granularity, accumulate, block, fmt, framework="numpy"
    )
    checks.check_accumulation(accumulator_bits, promote_every, rounding)
    return _fp8_matmul(
        a,
        b,
        a_granularity,
        b_granularity,
        accumulate,
        accumulator_bits,
        promote_every,
        fmt=fmt,
        block=block,
        rounding=rounding,
    )


def _fp8_matmul(
    a: Float[np.ndarray, "M K"],
    b: Float[np.ndarray, "K N"],
    a_granularity: str,
    b_granularity: str,
    accumulate: str,
    accumulator_bits: int,
    promote_every: int | None,
    *,
    fmt: FP8Format,
    block: int,
    rounding: str,
) -> Float[np.ndarray, "M N"]:
    """Fake-quantise both operands along K, multiply, sum in FP32 or the limited accumulator."""
    a_hat = _fake_quantize(a, fmt, a_granularity, block)
    b_hat = _fake_quantize(b.T, fmt, b_granularity, block).T
    if accumulate == "fp32":
        return np.matmul(a_hat, b_hat, dtype=np.float32)
    products = a_hat[:, None, :] * b_hat.T[None, :, :]  # (M, N, K), exact float32 products
    return _limited_sum(products, accumulator_bits, promote_every, rounding)


def linear_backward(x, weight, grad_output, fmt=E4M3, block: int = 128) -> tuple:
    """The two backward GEMMs of a linear layer y = x W^T the way V3 runs them in FP8 (§3.3).

        dgrad:  dx = Q_tile(dy) Q_block(W)                   (contraction over out_features)
        wgrad:  dW = Q_column_tile(dy)^T Q_column_tile(x)    (contraction over tokens)

    Every Q is `fake_quantize` in `fmt` (E4M3 in V3) with groups of `block` along the
    contraction axis; products are summed in float32.

    Args:
        x: float array (M, in_features), the layer's input. weight: (out_features, in_features).
        grad_output: (M, out_features), dL/dy. M, in_features and out_features must be
            multiples of `block` (pad with zeros first: a zero row adds nothing to dW).

    Returns:
        (grad_x (M, in_features), grad_weight (out_features, in_features)), float32.
    """
    x, weight, grad_output, fmt, block = checks.check_linear_backward(
        x, weight, grad_output, fmt, block, framework="numpy"
    )
    return _linear_backward(x, weight, grad_output, fmt, block)


def _linear_backward(
    x: Float[np.ndarray, "M I"],
    weight: Float[np.ndarray, "O I"],
    dy: Float[np.ndarray, "M O"],
    fmt: FP8Format,
    block: int,
) -> tuple:
    """dgrad from 1 x block tiles of dy and blocks of W; wgrad from block x 1 column tiles."""
    dy_tiles = _fake_quantize(dy, fmt, "tile", block)  # (M, O), groups along O
    dx = np.matmul(dy_tiles, _fake_quantize(weight, fmt, "block", block), dtype=np.float32)  # (5)
    dy_columns = _fake_quantize(dy, fmt, "column_tile", block)  # (M, O), groups along M
    x_columns = _fake_quantize(x, fmt, "column_tile", block)  # (M, I), groups along M
    return dx, np.matmul(dy_columns.T, x_columns, dtype=np.float32)  # (5)
