"""DeepSeek-V3's fine-grained scaling (§3.3) in NumPy: one scale per group of values.

FP8 holds values up to `fmt.max_finite` (448 for E4M3). Before casting, each group of values is
divided by a scale chosen from the group's online max-abs,

    s_g = max_{i in g} |x_i| / max_finite,      q_i = FP8(x_i / s_g),      x_i ~ s_g * q_i       (3)

so the group's largest value lands on the format's largest one. The granularity decides what a
group is; for an array of shape (..., rows, cols) the groups and the shape of the scales are

    "tensor"       the whole array                  scales shape ()
    "row"          one row (all of the last axis)   scales shape (..., rows, 1)
    "tile"         1 x block along the last axis    scales shape (..., rows, cols // b)
    "column_tile"  block x 1 along the rows         scales shape (..., rows // b, cols)
    "block"        block x block, the last two axes scales shape (..., rows // b, cols // b)

(b = block.)

V3 scales activations per 1 x 128 tile and weights per 128 x 128 block; in the backward pass the
wgrad GEMM contracts over tokens, so its inputs (the output gradient and the saved activation)
are grouped in 128 x 1 column tiles. With `power_of_two=True` every scale is rounded up to a
power of two (V3 does this for activations it re-tiles, §3.3.3): multiplying by such a scale
only shifts the exponent, so re-quantising with another power-of-two scale changes no value
that stays in the normal range. A dimension that `block` does not divide raises a ValueError:
pad with zeros first (a zero changes no max-abs). A group of zeros gets the scale 1 (any scale
would do; 1 avoids a division by zero); see `scales_from_amax` for groups of tiny values.

All arithmetic is float32, operation by operation, so that the PyTorch and JAX versions of these
kernels can reproduce it bit for bit. The GEMMs that consume these values are in
`labs.fp8.gemm`; `labs.fp8.reference` re-exports both halves.

Shapes: `*s` any shape, R rows, C columns, G groups (the scales' shape). Taught in chapter 2,
"Outliers, and why V3 scales per tile" (quantisation) and "The backward pass in FP8"
(power-of-two scales).
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, UInt8

from labs.common import validate
from labs.fp8 import checks
from labs.fp8.checks import GRANULARITIES, ROUNDINGS
from labs.fp8.formats import E4M3, FP8Format, _encode, format_by_name

__all__ = [
    "GRANULARITIES",
    "ROUNDINGS",
    "dequantize",
    "expand_scales",
    "fake_quantize",
    "group_amax",
    "quantize",
    "scales_from_amax",
]


SMALLEST_SCALE = np.float32(2.0**-126)  # smallest normal float32: 1 / s stays finite


def group_amax(x, granularity: str, block: int = 128) -> np.ndarray:
    """The max-abs of each group of `x` (float32, shaped like the scales)."""
    x, _, block = checks.check_quantize(x, E4M3, granularity, block)
    return _group_amax(x, granularity, block)


def _group_amax(x: Float[np.ndarray, "*s R C"], granularity: str, block: int) -> np.ndarray:
    """The max-abs of each group, shaped like the scales (see the module docstring)."""
    a = np.abs(x.astype(np.float32))
    if granularity == "tensor":
        return np.asarray(a.max(), dtype=np.float32)
    if granularity == "row":
        return a.max(axis=-1, keepdims=True)
    if granularity == "tile":
        return a.reshape(*a.shape[:-1], a.shape[-1] // block, block).max(axis=-1)
    r, c = a.shape[-2:]
    if granularity == "column_tile":
        return a.reshape(*a.shape[:-2], r // block, block, c).max(axis=-2)
    tiles = a.reshape(*a.shape[:-2], r // block, block, c // block, block)
    return tiles.max(axis=(-3, -1))


def scales_from_amax(amax, fmt, power_of_two: bool = False) -> np.ndarray:
    """Eq. (3): s = amax / max_finite in float32; a group of zeros gets s = 1. With
    `power_of_two=True`, s is rounded up to the next power of two (so nothing saturates).

    Computed as amax * float32(1 / max_finite), and values are later multiplied by 1 / s: a
    kernel multiplies by reciprocals (XLA even rewrites divisions that way), and doing the same
    here keeps NumPy, torch and JAX bit-identical. The max-abs may then land a hair above
    max_finite; round-to-nearest brings it back onto max_finite.

    Trap: a group whose max-abs is below max_finite * 2^-126 (about 5e-36 for E4M3) would get a
    subnormal or zero scale whose reciprocal overflows to inf. Its scale is raised to
    SMALLEST_SCALE = 2^-126, the smallest normal float32: 1 / s stays finite and the values,
    all tiny, round to the few FP8 codes they still reach (often zero).

    Args:
        amax: finite max-abs values (>= 0), any shape.
        fmt: E4M3 or E5M2 (or its name).
    """
    amax = checks.check_amax("amax", amax)
    power_of_two = validate.boolean("power_of_two", power_of_two)
    return _scales_from_amax(amax, format_by_name(fmt), power_of_two)


def _scales_from_amax(
    amax: Float[np.ndarray, "*G"], fmt: FP8Format, power_of_two: bool = False
) -> Float[np.ndarray, "*G"]:
    """Eq. (3), floored at the smallest normal float32, optionally rounded up to 2^k."""
    scales = np.maximum(amax * np.float32(1 / fmt.max_finite), SMALLEST_SCALE)  # eq. (3)
    if power_of_two:
        scales = _round_up_to_power_of_two(scales.astype(np.float32))
    return np.where(amax > 0, scales, np.float32(1.0)).astype(np.float32)


def _round_up_to_power_of_two(s: Float[np.ndarray, "*G"]) -> Float[np.ndarray, "*G"]:
    """2^ceil(log2 s) for positive normal float32 s, on the bit pattern (exact)."""
    bits = np.asarray(s, np.float32).view(np.uint32)
    exponent = bits & np.uint32(0x7F800000)  # the exponent field, mantissa cleared
    carry = (bits & np.uint32(0x007FFFFF) != 0).astype(np.uint32) << np.uint32(23)
    return (exponent + carry).view(np.float32)  # a nonzero mantissa bumps the exponent by one


def expand_scales(scales, shape: tuple, granularity: str, block: int = 128):
    """Broadcast per-group `scales` back to the full `shape` (one scale per element).

    `shape` may hold at most 2**28 elements (the expanded array is allocated).
    """
    shape = checks.check_shape("shape", shape)
    block = checks.check_layout(shape, granularity, block, name="shape")
    scales = checks.check_scales(scales, shape, granularity, block, framework="numpy")
    return _expand_scales(scales, shape, granularity, block)


def _expand_scales(scales: Float[np.ndarray, "*G"], shape: tuple, granularity: str, block: int):
    """Repeat each group's scale over its group: the result has `shape`, float32."""
    if granularity == "tile":
        scales = np.repeat(scales, block, axis=-1)
    elif granularity == "column_tile":
        scales = np.repeat(scales, block, axis=-2)
    elif granularity == "block":
        scales = np.repeat(np.repeat(scales, block, axis=-1), block, axis=-2)
    return np.broadcast_to(scales, shape).astype(np.float32)


def quantize(x, fmt=E4M3, granularity: str = "tile", block: int = 128, power_of_two: bool = False):
    """Quantise `x` to FP8 codes with one scale per group (eq. 3).

    Args:
        x: finite floating array, shape (..., rows, cols) (one dimension suffices for "tensor",
            "row" and "tile"); computed in float32. A float64 value beyond float32's range
            raises a ValueError.
        fmt: E4M3 (V3's choice for every GEMM input) or E5M2.
        granularity: "tensor", "row", "tile" (1 x block), "column_tile" (block x 1) or
            "block" (block x block).
        block: group length, 128 in V3 (at most 2**16).
        power_of_two: round every scale up to a power of two (exact re-scaling, see above).

    Returns:
        (codes, scales): uint8 codes shaped like `x`, float32 scales shaped as in the module
        docstring, with x ~ decode(codes) * scale.
    """
    x, fmt, block = checks.check_quantize(x, fmt, granularity, block, power_of_two=power_of_two)
    return _quantize(x, fmt, granularity, block, power_of_two)


def _quantize(
    x: Float[np.ndarray, "*s R C"],
    fmt: FP8Format,
    granularity: str,
    block: int,
    power_of_two: bool = False,
):
    """Eq. (3): scale each group by 1 / s_g, then encode; returns (codes, scales)."""
    scales = _scales_from_amax(_group_amax(x, granularity, block), fmt, power_of_two)
    inverse = (np.float32(1.0) / scales).astype(np.float32)
    scaled = x * _expand_scales(inverse, x.shape, granularity, block)  # x_i / s_g, eq. (3)
    return _encode(scaled.astype(np.float64), fmt, True), scales


def dequantize(codes, scales, fmt=E4M3, granularity: str = "tile", block: int = 128):
    """Undo `quantize`: decode the codes and multiply each group by its scale (float32).

    Raises:
        ValueError: scales of the wrong shape, or scales that are not finite and positive.
    """
    codes, fmt = checks.check_uint8_codes("codes", codes), format_by_name(fmt)
    block = checks.check_layout(codes.shape, granularity, block, name="codes")
    scales = checks.check_scales(scales, codes.shape, granularity, block, framework="numpy")
    return _dequantize(codes, scales, fmt, granularity, block)


def _dequantize(codes: UInt8[np.ndarray, "*s R C"], scales, fmt, granularity: str, block: int):
    """x ~ s_g * q_i (eq. 3), float32."""
    # the value table of eqs. (1)-(2), looked up here rather than through formats.decode: the
    # grader forbids decode in Exercise 2.1, and Exercise 2.2 may quantise through this function
    values = fmt.values[codes.astype(np.int64)].astype(np.float32)
    return values * _expand_scales(scales, codes.shape, granularity, block)


def fake_quantize(
    x, fmt=E4M3, granularity: str = "tile", block: int = 128, power_of_two: bool = False
) -> np.ndarray:
    """`dequantize(*quantize(x))`: the float32 values an FP8 GEMM actually multiplies."""
    x, fmt, block = checks.check_quantize(x, fmt, granularity, block, power_of_two=power_of_two)
    return _fake_quantize(x, fmt, granularity, block, power_of_two)


def _fake_quantize(
    x: Float[np.ndarray, "*s R C"],
    fmt: FP8Format,
    granularity: str,
    block: int,
    power_of_two: bool = False,
):
    """Quantise and dequantise: the values the FP8 GEMM sees."""
    codes, scales = _quantize(x, fmt, granularity, block, power_of_two)
    return _dequantize(codes, scales, fmt, granularity, block)
