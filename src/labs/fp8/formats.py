"""The two 8-bit floating-point formats, and a bit-exact NumPy codec for them.

An FP8 number is 1 sign bit, `e` exponent bits and `m` mantissa bits. A code with exponent field
E > 0 is a *normal* number, a code with E = 0 a *subnormal* one:

    normal:     (-1)^s * 2^(E - bias) * (1 + M / 2^m)                                        (1)
    subnormal:  (-1)^s * 2^(1 - bias) * (M / 2^m)                                            (2)

E5M2 follows IEEE 754: the all-ones exponent holds infinities (M = 0) and NaNs (M != 0), so its
largest finite value is 1.75 * 2^15 = 57344. E4M3 is the "fn" variant (finite, no infinities):
only S.1111.111 is NaN, which frees the other all-ones-exponent codes and lifts its largest value
to 1.75 * 2^8 = 448 (Micikevicius et al. 2022, Table 1; OCP OFP8 spec).

Overflow. A value whose rounded magnitude exceeds the largest finite value has no code, and
libraries disagree on what to do: ml_dtypes (and JAX) give NaN for E4M3 and inf for E5M2. torch's
eager cast gave NaN for E4M3 in most 2.x releases (and on older Colab images) and clamps to +-448
only since pytorch/pytorch#178817 (2026); E5M2 gives inf. `encode` makes the choice explicit:

* `saturate=True` (the default, what training recipes want): clamp to +-max. Infinite inputs clamp
  too. NaN stays NaN.
* `saturate=False`: the ml_dtypes behaviour: NaN for E4M3, +-inf for E5M2.

Rounding is round-to-nearest, ties-to-even, computed exactly in float64 (every float32 and every
FP8 value is exact there, and the quotient by a power of two is exact). A float64 input is rounded
once, directly; ml_dtypes up to 0.6 rounds float64 to float32 first (0.7 rounds once), so on a
float64 that lies within a float32 rounding of an FP8 tie the two can differ by one code (float32
input: always identical).

Shapes: `*s` any shape. Taught in chapter 2, "The idea: what eight bits can hold" and "The code:
a bit-exact codec".
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, UInt8

from labs.common import validate
from labs.fp8 import checks
from labs.fp8.config import (
    BF16_MANTISSA_BITS,
    E4M3,
    E5M2,
    FORMATS,
    FP8Format,
    format_by_name,
)

__all__ = [
    "BF16_MANTISSA_BITS",
    "bit_string",
    "E4M3",
    "E5M2",
    "FORMATS",
    "FP8Format",
    "decode",
    "encode",
    "format_by_name",
    "round_to_bfloat16",
    "round_to_format",
]


def round_to_format(x, fmt, saturate: bool = True) -> np.ndarray:
    """Round `x` to the nearest value of `fmt` (ties to even), returned as float64.

    Args:
        x: real numbers, any shape. NaN and +-inf are allowed and follow the overflow rule.
        fmt: E4M3 or E5M2 (or its name).
        saturate: True clamps overflow to +-max; False gives NaN (E4M3) or +-inf (E5M2).

    Returns:
        float64 array of the shape of `x` holding values of `fmt` (or NaN / +-inf).
    """
    x, fmt = checks.check_real("x", x), format_by_name(fmt)
    return _round_to_format(x, fmt, checks.check_saturate(saturate))


def _round_to_format(x: Float[np.ndarray, "*s"], fmt: FP8Format, saturate: bool):
    """Round to the nearest value of `fmt`, ties to even, in float64."""
    mag = np.abs(x)
    finite = np.isfinite(mag)
    safe = np.where(finite & (mag > 0), mag, 1.0)
    _, frexp_exp = np.frexp(safe)  # exact: safe = f * 2^frexp_exp with f in [0.5, 1)
    exponent = frexp_exp - 1
    # The spacing of representable numbers in this binade (subnormals share the lowest one).
    quantum_exp = np.maximum(exponent, fmt.min_exponent) - fmt.mantissa_bits
    rounded = np.ldexp(np.rint(np.ldexp(safe, -quantum_exp)), quantum_exp)  # rint: ties to even
    rounded = np.where(mag > 0, rounded, 0.0)
    overflow = ~finite | (rounded > fmt.max_finite)
    if saturate:
        rounded = np.where(overflow, fmt.max_finite, rounded)
    else:
        rounded = np.where(overflow, np.inf if fmt.has_infinity else np.nan, rounded)
    out = np.copysign(rounded, x)
    return np.where(np.isnan(x), np.nan, out)


def encode(x, fmt, saturate: bool = True) -> np.ndarray:
    """Encode real numbers as FP8 codes, bit-exact with ml_dtypes (round-to-nearest-even).

    Args:
        x: real numbers, any shape (float32/float64/ints). NaN is allowed and encodes as NaN.
        fmt: E4M3 or E5M2 (or its name).
        saturate: overflow rule, see the module docstring. With saturate=False the codes equal
            `x.astype(ml_dtypes.float8_e4m3fn).view(np.uint8)` (resp. float8_e5m2).

    Returns:
        uint8 array of the shape of `x`.
    """
    x, fmt = checks.check_real("x", x), format_by_name(fmt)
    return _encode(x, fmt, checks.check_saturate(saturate))


def _encode(x: Float[np.ndarray, "*s"], fmt: FP8Format, saturate: bool) -> UInt8[np.ndarray, "*s"]:
    """Eqs. (1) and (2) inverted, on the rounded value."""
    value = _round_to_format(x, fmt, saturate)
    sign = np.signbit(x).astype(np.uint8) << 7  # -0.0 keeps its sign, as in ml_dtypes
    mag = np.abs(value)
    finite = np.isfinite(mag)
    safe = np.where(finite & (mag > 0), mag, 1.0)
    _, frexp_exp = np.frexp(safe)
    exponent = frexp_exp - 1
    normal = exponent >= fmt.min_exponent
    m = fmt.mantissa_bits
    # eq. (1) inverted: E = exponent + bias, M = (mag / 2^exponent - 1) * 2^m
    normal_bits = ((exponent + fmt.bias) << m) + np.rint(
        (np.ldexp(safe, -exponent) - 1.0) * 2**m
    ).astype(np.int64)
    # eq. (2) inverted: E = 0, M = mag / 2^(min_exponent - m)
    subnormal_bits = np.rint(np.ldexp(safe, m - fmt.min_exponent)).astype(np.int64)
    bits = np.where(normal, normal_bits, subnormal_bits)
    bits = np.where(mag == 0, 0, bits)
    bits = np.where(np.isinf(mag), (2**fmt.exponent_bits - 1) << m, bits)
    bits = np.where(np.isnan(mag), fmt.nan_code, bits)
    return (bits.astype(np.uint8) | sign).astype(np.uint8)


def decode(codes, fmt) -> np.ndarray:
    """The float32 value of each FP8 code (eqs. 1 and 2), NaN and +-inf included.

    Args:
        codes: uint8 array (or Python ints in 0..255), any shape.
        fmt: E4M3 or E5M2 (or its name).
    """
    return _decode(checks.check_codes("codes", codes), format_by_name(fmt))


def _decode(codes: UInt8[np.ndarray, "*s"], fmt: FP8Format) -> Float[np.ndarray, "*s"]:
    """Look each code up in the table of eqs. (1) and (2)."""
    return fmt.values[codes.astype(np.int64)].astype(np.float32)


def round_to_bfloat16(x) -> np.ndarray:
    """Round float32 values to bfloat16 (nearest, ties to even), returned as float32.

    bfloat16 is the top half of a float32: keep the upper 16 bits after adding half of the
    dropped part (plus one if the kept part is odd, for ties to even). NaN stays NaN.
    """
    return _round_to_bfloat16(validate.array("x", x, finite=False))


def _round_to_bfloat16(x: Float[np.ndarray, "*s"]) -> Float[np.ndarray, "*s"]:
    """Keep the upper 16 bits of the float32 pattern, rounded to nearest even."""
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    lsb = (bits >> 16) & 1
    rounded = ((bits + 0x7FFF + lsb) & 0xFFFF0000).astype(np.uint32)
    out = rounded.view(np.float32)
    return np.where(np.isnan(x), np.float32(np.nan), out)


def bit_string(code, fmt) -> str:
    """The bits of an FP8 code grouped as sign, exponent, mantissa: "0 0111 000" for E4M3 1.0."""
    code, fmt = integer_code("code", code), format_by_name(fmt)
    bits = f"{code:08b}"
    return f"{bits[0]} {bits[1 : 1 + fmt.exponent_bits]} {bits[1 + fmt.exponent_bits :]}"


def integer_code(name: str, value) -> int:
    """A single FP8 code 0..255 (for widgets and exercises)."""
    value = validate.integer(name, value, minimum=0)
    if value > 255:
        raise ValueError(f"{name} must be an FP8 code in 0..255, got {value}")
    return value
