"""DeepSeek-V3's FP8 GEMM recipe (§3.3) in NumPy: fine-grained scaling and promoted accumulation.

Scaling. FP8 holds values up to `fmt.max_finite` (448 for E4M3). Before casting, each group of
values is divided by a scale chosen from the group's online max-abs,

    s_g = max_{i in g} |x_i| / max_finite,      q_i = FP8(x_i / s_g),      x_i ~ s_g * q_i       (3)

so the group's largest value lands on the format's largest one. The granularity decides what a
group is; for an array of shape (..., rows, cols) the groups and the shape of the scales are

    "tensor"  the whole array                      scales shape ()
    "row"     one row (all of the last axis)       scales shape (..., rows, 1)
    "tile"    1 x block along the last axis        scales shape (..., rows, cols // block)
    "block"   block x block, the last two axes     scales shape (..., rows // block, cols // block)

V3 scales activations per 1 x 128 tile and weights per 128 x 128 block. A dimension that `block`
does not divide raises a ValueError: pad with zeros first (a zero changes no max-abs). A group of
zeros gets the scale 1 (any scale would do; 1 avoids a division by zero); see `scales_from_amax`
for groups of tiny values.

Accumulation. V3 reports that the H800 tensor cores keep only about 14 bits when they add FP8
products, and promotes the partial sum into an FP32 register on the CUDA cores every N_C = 128
elements of K. `limited_sum` models that: a running sum rounded to `accumulator_bits` significant
bits after every addition, flushed into a float32 total every `promote_every` elements.

All arithmetic is float32, operation by operation, so that the PyTorch and JAX versions of these
kernels can reproduce it bit for bit.
"""

from __future__ import annotations

import numpy as np

from labs.common.validate import float_array, integer, one_of
from labs.fp8.formats import E4M3, decode, encode, format_by_name

__all__ = [
    "GRANULARITIES",
    "ROUNDINGS",
    "dequantize",
    "expand_scales",
    "fake_quantize",
    "fp8_matmul",
    "group_amax",
    "limited_sum",
    "quantize",
    "round_significand",
    "scales_from_amax",
]

GRANULARITIES = ("tensor", "row", "tile", "block")
SMALLEST_SCALE = np.float32(2.0**-126)  # smallest normal float32: 1 / s stays finite
ROUNDINGS = ("truncate", "nearest")


def check_layout(shape: tuple, granularity: str, block) -> int:
    """Validate `granularity` and `block` against `shape`; returns `block` as an int."""
    one_of("granularity", granularity, GRANULARITIES)
    block = integer("block", block, minimum=1)
    if len(shape) < 1:
        raise ValueError(f"x must have at least one dimension, got shape {shape}")
    if granularity == "tile" and shape[-1] % block:
        raise ValueError(
            f"granularity 'tile' needs the last dimension to be a multiple of block={block}, "
            f"got shape {shape}; pad with zeros to a multiple of {block} first"
        )
    if granularity == "block":
        if len(shape) < 2:
            raise ValueError(f"granularity 'block' needs at least 2 dimensions, got {shape}")
        if shape[-1] % block or shape[-2] % block:
            raise ValueError(
                f"granularity 'block' needs the last two dimensions to be multiples of "
                f"block={block}, got shape {shape}; pad with zeros first"
            )
    return block


def scales_shape(shape: tuple, granularity: str, block: int) -> tuple:
    """The shape of the scales of an array of `shape` (see the module docstring)."""
    block = check_layout(shape, granularity, block)
    if granularity == "tensor":
        return ()
    if granularity == "row":
        return (*shape[:-1], 1)
    if granularity == "tile":
        return (*shape[:-1], shape[-1] // block)
    return (*shape[:-2], shape[-2] // block, shape[-1] // block)


def group_amax(x: np.ndarray, granularity: str, block: int = 128) -> np.ndarray:
    """The max-abs of each group of `x` (float32, shaped like the scales)."""
    block = check_layout(x.shape, granularity, block)
    a = np.abs(x.astype(np.float32))
    if granularity == "tensor":
        return np.asarray(a.max(), dtype=np.float32)
    if granularity == "row":
        return a.max(axis=-1, keepdims=True)
    if granularity == "tile":
        return a.reshape(*a.shape[:-1], a.shape[-1] // block, block).max(axis=-1)
    r, c = a.shape[-2:]
    tiles = a.reshape(*a.shape[:-2], r // block, block, c // block, block)
    return tiles.max(axis=(-3, -1))


def scales_from_amax(amax: np.ndarray, fmt) -> np.ndarray:
    """Eq. (3): s = amax / max_finite in float32; a group of zeros gets s = 1.

    Computed as amax * float32(1 / max_finite), and values are later multiplied by 1 / s: a
    kernel multiplies by reciprocals (XLA even rewrites divisions that way), and doing the same
    here keeps NumPy, torch and JAX bit-identical. The max-abs may then land a hair above
    max_finite; round-to-nearest brings it back onto max_finite.

    Trap: a group whose max-abs is below max_finite * 2^-126 (about 5e-36 for E4M3) would get a
    subnormal or zero scale whose reciprocal overflows to inf. Its scale is raised to
    SMALLEST_SCALE = 2^-126, the smallest normal float32: 1 / s stays finite and the values,
    all tiny, round to the few FP8 codes they still reach (often zero).
    """
    fmt = format_by_name(fmt)
    amax = np.asarray(amax, dtype=np.float32)
    scales = np.maximum(amax * np.float32(1 / fmt.max_finite), SMALLEST_SCALE)
    return np.where(amax > 0, scales, np.float32(1.0)).astype(np.float32)


def expand_scales(scales: np.ndarray, shape: tuple, granularity: str, block: int = 128):
    """Broadcast per-group `scales` back to the full `shape` (one scale per element)."""
    expected = scales_shape(shape, granularity, block)
    scales = np.asarray(scales)
    if scales.shape != expected:
        raise ValueError(
            f"scales must have shape {expected} for granularity {granularity!r}, block={block} "
            f"and data of shape {shape}; got {scales.shape}"
        )
    if granularity == "tile":
        scales = np.repeat(scales, block, axis=-1)
    elif granularity == "block":
        scales = np.repeat(np.repeat(scales, block, axis=-1), block, axis=-2)
    return np.broadcast_to(scales, shape).astype(np.float32)


def quantize(x, fmt=E4M3, granularity: str = "tile", block: int = 128):
    """Quantise `x` to FP8 codes with one scale per group (eq. 3).

    Args:
        x: finite floating array, shape (..., rows, cols) (one dimension suffices for "tensor",
            "row" and "tile"); computed in float32.
        fmt: E4M3 (V3's choice for every GEMM input) or E5M2.
        granularity: "tensor", "row", "tile" (1 x block) or "block" (block x block).
        block: group length, 128 in V3.

    Returns:
        (codes, scales): uint8 codes shaped like `x`, float32 scales shaped as in the module
        docstring, with x ~ decode(codes) * scale.
    """
    fmt = format_by_name(fmt)
    x = float_array("x", x, min_ndim=1).astype(np.float32)
    scales = scales_from_amax(group_amax(x, granularity, block), fmt)
    inverse = (np.float32(1.0) / scales).astype(np.float32)
    scaled = x * expand_scales(inverse, x.shape, granularity, block)
    return encode(scaled, fmt, saturate=True), scales


def dequantize(codes, scales, fmt=E4M3, granularity: str = "tile", block: int = 128):
    """Undo `quantize`: decode the codes and multiply each group by its scale (float32).

    Raises:
        ValueError: scales of the wrong shape, or scales that are not finite and positive.
    """
    fmt = format_by_name(fmt)
    codes = np.asarray(codes)
    if codes.dtype != np.uint8:
        raise TypeError(f"codes must be a uint8 array of FP8 codes, got dtype {codes.dtype}")
    scales = float_array("scales", scales, finite=False)
    if not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        raise ValueError("scales must be finite and > 0; got a NaN, an inf, a zero or less")
    return decode(codes, fmt) * expand_scales(scales, codes.shape, granularity, block)


def fake_quantize(x, fmt=E4M3, granularity: str = "tile", block: int = 128) -> np.ndarray:
    """`dequantize(*quantize(x))`: the float32 values an FP8 GEMM actually multiplies."""
    fmt = format_by_name(fmt)
    codes, scales = quantize(x, fmt, granularity, block)
    return dequantize(codes, scales, fmt, granularity, block)


def round_significand(x, bits: int, rounding: str = "truncate") -> np.ndarray:
    """Round float32 values to `bits` significant bits (the implicit leading 1 included).

    "truncate" drops the low bits (round toward zero, what an adder that cannot hold them does);
    "nearest" rounds to nearest, ties to even. Works on the float32 bit pattern, so it is exact.
    """
    bits = integer("bits", bits, minimum=1)
    if bits > 24:
        raise ValueError(f"bits must be <= 24 (float32 holds 24 significant bits), got {bits}")
    one_of("rounding", rounding, ROUNDINGS)
    x = np.asarray(x, dtype=np.float32)
    shift = 24 - bits
    if shift == 0:
        return x.copy()
    u = x.view(np.uint32).astype(np.uint64)
    keep = np.uint64(0xFFFFFFFF ^ ((1 << shift) - 1))
    if rounding == "nearest":
        lsb = (u >> np.uint64(shift)) & np.uint64(1)
        u = u + np.uint64((1 << (shift - 1)) - 1) + lsb
    return (u & keep).astype(np.uint32).view(np.float32)


def check_accumulation(accumulator_bits, promote_every, rounding) -> tuple:
    """Validate the accumulator model's arguments (shared by the three frameworks)."""
    bits = integer("accumulator_bits", accumulator_bits, minimum=2)
    if bits > 24:
        raise ValueError(f"accumulator_bits must be <= 24 (float32's 24 bits), got {bits}")
    if promote_every is not None:
        promote_every = integer("promote_every", promote_every, minimum=1)
    one_of("rounding", rounding, ROUNDINGS)
    return bits, promote_every, rounding


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
        values: floating array, shape (..., K), e.g. the K products of a dot product.

    Returns:
        float32 array of shape (...).
    """
    bits, promote_every, rounding = check_accumulation(accumulator_bits, promote_every, rounding)
    values = float_array("values", values, min_ndim=1).astype(np.float32)
    total = np.zeros(values.shape[:-1], dtype=np.float32)
    running = np.zeros_like(total)
    for k in range(values.shape[-1]):
        running = round_significand(running + values[..., k], bits, rounding)
        if promote_every is not None and (k + 1) % promote_every == 0:
            total, running = total + running, np.zeros_like(running)
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
    over K in Python: it is meant for the small matrices of the experiments.

    Args:
        a: float array (M, K). b: float array (K, N).

    Returns:
        float32 array (M, N).
    """
    a = float_array("a", a, min_ndim=2)
    b = float_array("b", b, min_ndim=2)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"a and b must be (M, K) and (K, N) matrices, got {a.shape} and {b.shape}")
    one_of("accumulate", accumulate, ("fp32", "limited"))
    check_accumulation(accumulator_bits, promote_every, rounding)
    a_hat = fake_quantize(a, fmt, a_granularity, block)
    b_hat = fake_quantize(b.T, fmt, b_granularity, block).T
    if accumulate == "fp32":
        return np.matmul(a_hat, b_hat, dtype=np.float32)
    products = a_hat[:, None, :] * b_hat.T[None, :, :]  # (M, N, K), exact float32 products
    return limited_sum(products, accumulator_bits, promote_every, rounding)
