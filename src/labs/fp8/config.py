"""The two FP8 formats as data: bit widths, bias, and the value of every code they imply.

A code with exponent field E > 0 is worth (-1)^s * 2^(E - bias) * (1 + M / 2^m)   (1)
and with E = 0 (subnormal)            (-1)^s * 2^(1 - bias) * (M / 2^m)            (2)
(see `labs.fp8.formats`, which rounds and encodes real numbers into these formats).

E4M3 and E5M2 are built from the facts registry with their field names; FORMATS is read-only.
Taught in chapter 2, "The idea: what eight bits can hold".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from jaxtyping import Float

from labs.common import validate
from labs.common.facts import fact

__all__ = ["BF16_MANTISSA_BITS", "E4M3", "E5M2", "FORMATS", "FP8Format", "format_by_name"]


@dataclass(frozen=True, kw_only=True)
class FP8Format:
    """An 8-bit floating-point format: bit widths, bias and the limits they imply.

    Attributes:
        name: "E4M3" or "E5M2".
        exponent_bits, mantissa_bits: field widths; 1 + exponent_bits + mantissa_bits = 8.
        bias: exponent bias (7 for E4M3, 15 for E5M2).
        has_infinity: True for IEEE-like E5M2; False for E4M3 ("fn": finite, one NaN per sign).

    Keyword-only: `FP8Format(name="E4M3", exponent_bits=4, mantissa_bits=3, bias=7,
    has_infinity=False)`. The fields are checked: exponent_bits in 1..6, mantissa_bits in 1..6
    with 1 + exponent_bits + mantissa_bits = 8, bias in 0..2**exponent_bits - 1.
    """

    name: str
    exponent_bits: int
    mantissa_bits: int
    bias: int
    has_infinity: bool
    _values: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate.text("name", self.name)
        e = validate.integer("exponent_bits", self.exponent_bits, minimum=1, maximum=6)
        m = validate.integer("mantissa_bits", self.mantissa_bits, minimum=1, maximum=6)
        if 1 + e + m != 8:
            raise ValueError(f"exponent_bits + mantissa_bits must be 7, got {e} + {m}")
        validate.integer("bias", self.bias, minimum=0, maximum=2**e - 1)
        validate.boolean("has_infinity", self.has_infinity)
        object.__setattr__(self, "_values", _value_table(self))

    @property
    def max_exponent(self) -> int:
        """Largest unbiased exponent of a finite number."""
        top = 2**self.exponent_bits - 1  # the all-ones field
        return (top - 1 if self.has_infinity else top) - self.bias

    @property
    def max_finite(self) -> float:
        """Largest finite value: 448 for E4M3, 57344 for E5M2."""
        m = self.mantissa_bits
        # E4M3fn: the all-ones mantissa at the top exponent is NaN, so the largest is 1.110 * 2^8.
        top_mantissa = 2**m - 1 if self.has_infinity else 2**m - 2
        return float((1 + top_mantissa / 2**m) * 2.0**self.max_exponent)

    @property
    def min_exponent(self) -> int:
        """Smallest unbiased exponent of a normal number, 1 - bias."""
        return 1 - self.bias

    @property
    def min_normal(self) -> float:
        """Smallest positive normal value, 2^(1 - bias)."""
        return 2.0**self.min_exponent

    @property
    def min_subnormal(self) -> float:
        """Smallest positive value, 2^(1 - bias - mantissa_bits)."""
        return 2.0 ** (self.min_exponent - self.mantissa_bits)

    @property
    def nan_code(self) -> int:
        """The positive NaN code ml_dtypes produces (0x7F for E4M3, 0x7E for E5M2)."""
        return 0x7E if self.has_infinity else 0x7F

    @property
    def values(self) -> np.ndarray:
        """The value of each of the 256 codes as float64 (a read-only table)."""
        return self._values

    @property
    def overflow_boundary(self) -> tuple[float, bool]:
        """(midpoint, tie_overflows): magnitudes above the midpoint between max_finite and the
        next binade step round past max_finite; at the midpoint itself ties-to-even overflows
        only when max_finite's mantissa is odd (E5M2's 1.11, not E4M3's 1.110)."""
        midpoint = self.max_finite + 2.0 ** (self.max_exponent - self.mantissa_bits - 1)
        top_mantissa = 2**self.mantissa_bits - (1 if self.has_infinity else 2)
        return midpoint, bool(top_mantissa % 2)

    @property
    def epsilon(self) -> float:
        """Distance from 1 to the next representable value, 2^-mantissa_bits."""
        return 2.0**-self.mantissa_bits

    def __str__(self) -> str:
        return (
            f"{self.name}: 1 sign, {self.exponent_bits} exponent, {self.mantissa_bits} mantissa "
            f"bits, bias {self.bias}, max {self.max_finite:g}, min normal {self.min_normal:g}, "
            f"min subnormal {self.min_subnormal:g}"
        )


def _value_table(fmt: FP8Format) -> Float[np.ndarray, 256]:
    """Eqs. (1) and (2) applied to every code 0..255."""
    codes = np.arange(256)
    m_bits = fmt.mantissa_bits
    sign = np.where(codes >> 7, -1.0, 1.0)
    exp_field = (codes >> m_bits) & (2**fmt.exponent_bits - 1)
    mantissa = (codes & (2**m_bits - 1)).astype(np.float64)
    normal = np.ldexp(1.0 + mantissa / 2**m_bits, exp_field - fmt.bias)
    subnormal = np.ldexp(mantissa / 2**m_bits, fmt.min_exponent)
    values = sign * np.where(exp_field > 0, normal, subnormal)
    top = exp_field == 2**fmt.exponent_bits - 1
    if fmt.has_infinity:
        values[top & (mantissa == 0)] = sign[top & (mantissa == 0)] * np.inf
        nan = top & (mantissa != 0)
    else:
        nan = top & (mantissa == 2**m_bits - 1)
    values[nan] = np.copysign(np.nan, sign[nan])  # NaN codes keep their sign bit
    values.setflags(write=False)
    return values


E4M3 = FP8Format(**fact("fp8_e4m3_format").value)
E5M2 = FP8Format(**fact("fp8_e5m2_format").value)
FORMATS = validate.read_only({"E4M3": E4M3, "E5M2": E5M2})

# bfloat16 keeps float32's 8 exponent bits and 7 of its 23 mantissa bits.
BF16_MANTISSA_BITS = 7


def format_by_name(fmt) -> FP8Format:
    """`fmt` itself if it is an FP8Format, the format named "E4M3"/"E5M2" otherwise."""
    if isinstance(fmt, FP8Format):
        return fmt
    if isinstance(fmt, str) and fmt.upper() in FORMATS:
        return FORMATS[fmt.upper()]
    raise TypeError(f"fmt must be E4M3, E5M2 or one of the names 'E4M3', 'E5M2'; got {fmt!r}")
