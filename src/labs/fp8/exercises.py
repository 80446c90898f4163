"""Chapter 2 exercises, with their instant checks.

Every expected value below is worked out by hand from the bit layout (eqs. 1-2, with the bias
and special values of the OCP 8-bit specification, Tables 1 and 2, for 2.1) or the accumulator
rule (eq. 4a), or follows from how the input tensor is built (the granularity decision), and is
written as a literal: none is produced by the package's own code.
"""

from __future__ import annotations

import numpy as np

from labs.common.exercises import Case, CheckReport, Exercise, check
from labs.fp8.experiments import gradient_like, heavy_tailed_activations

__all__ = [
    "CHOOSE_GRANULARITY",
    "DECODE_FLOAT",
    "V3_ACCUMULATE",
    "check_choose_granularity",
    "check_decode_float",
    "check_v3_accumulate",
]

_NAN = float("nan")
_INF = float("inf")
_FN_TOP = (
    "your answer treats the top exponent field as IEEE's specials (infinity or NaN). Without "
    "infinities (E4M3, OCP Table 2) the top exponent field is an ordinary exponent; only the "
    "all-ones mantissa under it is NaN."
)
_IEEE_TOP = (
    "your answer decodes the top exponent field as an ordinary exponent. With infinities (E5M2 "
    "and IEEE 754) it is reserved: mantissa 0 is infinity, any other mantissa is NaN."
)
_BIAS_E4M3 = (
    "your answer is right for bias 7, E4M3's. The bias depends on the exponent width: find the "
    "rule that gives E4M3's 7 and E5M2's 15 (OCP Table 1), and apply it to exponent_bits."
)
_SUBNORMAL_EXP = (
    "your subnormal is half the true value: a subnormal's exponent is 1 - bias (the smallest "
    "normal exponent), not 0 - bias, so the subnormals continue the normal numbers' grid."
)
_NONE_MET = (
    "your function found no granularity within the budget, and {0!r} is within it on both "
    "measures of quantization_error. Did you measure in E4M3, quantization_error(x, "
    '"E4M3", g)? E5M2, with one mantissa bit fewer, rounds about twice as coarsely (and if you '
    "meant to return a granularity, is a `return` missing?)"
)
_FINEST = (
    "'tile' fits, but so does a coarser granularity, and the exercise asks for the coarsest: try "
    "'tensor', then 'row', then 'tile', in that order, and return the first that fits."
)
_SUBNORMAL_ONE = (
    "your subnormal has an implicit 1: with exponent field 0 the value is "
    "2**(1 - bias) * M / 2**mantissa_bits, with no leading 1."
)

# (code, exponent_bits, mantissa_bits, infinities): every expected value is worked by hand from
# eqs. (1)-(2), the bias 2**(e-1) - 1 and the two special-value conventions (arithmetic beside
# each case); none comes from the package's code.
DECODE_FLOAT = Exercise(
    name="decode_float",
    signature=(
        "decode_float(code: int, exponent_bits: int, mantissa_bits: int, infinities: bool) -> float"
    ),
    cases=(
        Case(
            (0x38, 4, 3, False),
            1.0,  # 0 0111 000: 2**(7 - 7) * (1 + 0/8)
            "E4M3 0x38 = 0 0111 000, the number 1",
            "E4M3's bias is 7: exponent field 7 is 2**0.",
        ),
        Case(
            (0xC4, 4, 3, False),
            -3.0,  # 1 1000 100: -2**(8 - 7) * (1 + 4/8)
            "E4M3 0xC4 = 1 1000 100, a negative normal number",
            "the top bit is the sign; 1000 is exponent 8 - 7 = 1; 100 adds 4/8.",
        ),
        Case(
            (0x7E, 4, 3, False),
            448.0,  # 0 1111 110: 2**(15 - 7) * (1 + 6/8)
            "E4M3 0x7E = 0 1111 110, without infinities",
            "without infinities the top exponent field 15 is an ordinary exponent (8).",
            mistakes=((_NAN, _FN_TOP),),
        ),
        Case(
            (0x7F, 4, 3, False),
            _NAN,  # 0 1111 111: the one NaN pattern of each sign
            "E4M3 0x7F = 0 1111 111, without infinities",
            "without infinities, one pattern per sign is kept for NaN: the top exponent field "
            "with the all-ones mantissa.",
            mistakes=((480.0, "your answer decodes S.1111.111 as 2**8 * 1.875 = 480: " + _FN_TOP),),
        ),
        Case(
            (0x01, 4, 3, False),
            2.0**-9,  # 0 0000 001: 2**(1 - 7) * 1/8
            "E4M3 0x01 = 0 0000 001, the smallest subnormal",
            "exponent field 0 means subnormal: eq. (2).",
            mistakes=((2.0**-10, _SUBNORMAL_EXP), (2.0**-6 * 9 / 8, _SUBNORMAL_ONE)),
        ),
        Case(
            (0x3C, 5, 2, True),
            1.0,  # 0 01111 00: 2**(15 - 15)
            "E5M2 0x3C = 0 01111 00, with infinities",
            "E5M2 has 5 exponent bits, so a different bias from E4M3's.",
            mistakes=((256.0, _BIAS_E4M3),),  # 2**(15 - 7)
        ),
        Case(
            (0x7C, 5, 2, True),
            _INF,  # 0 11111 00
            "E5M2 0x7C = 0 11111 00, with infinities",
            "with infinities the top exponent field is reserved for infinity and NaN.",
            mistakes=((65536.0, _IEEE_TOP),),  # 2**(31 - 15)
        ),
        Case(
            (0xFC, 5, 2, True),
            -_INF,  # 1 11111 00
            "E5M2 0xFC = 1 11111 00, with infinities",
            "infinity has a sign too: the sign bit applies to the infinity pattern as to any "
            "other value.",
            mistakes=(
                (-65536.0, _IEEE_TOP),  # -2**(31 - 15)
                (_INF, "your answer is +inf: the sign bit is set, so this code is -inf."),
            ),
        ),
        Case(
            (0xFE, 5, 2, True),
            _NAN,  # 1 11111 10
            "E5M2 0xFE = 1 11111 10, with infinities",
            "with infinities, every nonzero mantissa under the top exponent field is NaN.",
            mistakes=(
                (-98304.0, _IEEE_TOP),  # -2**16 * (1 + 2/4)
                (
                    -_INF,
                    "your answer is -inf: only mantissa 0 under the top exponent is "
                    "infinity; the other mantissas are NaN.",
                ),
            ),
        ),
        Case(
            (0x01, 5, 2, True),
            2.0**-16,  # 0 00000 01: 2**(1 - 15) * 1/4
            "E5M2 0x01 = 0 00000 01, the smallest subnormal",
            "eq. (2) with E5M2's bias and 2 mantissa bits.",
            mistakes=(
                (
                    2.0**-17,
                    _SUBNORMAL_EXP.replace(
                        "not 0 - bias,",
                        "not 0 - bias (or, the same number here: your fraction is M / 8, not "
                        "M / 2**mantissa_bits),",
                    ),
                ),
                (2.0**-14 * 5 / 4, _SUBNORMAL_ONE),
            ),
        ),
        Case(
            (0x2A, 3, 4, True),
            0.8125,  # 0 010 1010: 2**(2 - 3) * (1 + 10/16)
            "E3M4 0x2A = 0 010 1010, a format with 4 mantissa bits",
            "the fraction is M / 2**mantissa_bits, and the bias follows from exponent_bits.",
            mistakes=(
                (1.125, "your fraction is M / 8: it is M / 2**mantissa_bits (here 16)."),
                (2.0**-5 * 26 / 16, _BIAS_E4M3),
            ),
        ),
        Case(
            (0xC000, 5, 10, True),
            -2.0,  # 1 10000 0000000000: float16's -2
            "a 16-bit code, 0xC000 with 5 exponent and 10 mantissa bits (IEEE float16)",
            "the sign is the bit above the exponent field: bit exponent_bits + mantissa_bits.",
        ),
    ),
)


def _normal(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((256, 256)).astype(np.float32)


# The inputs come from the package's generators; the answers are reasoned from how each tensor
# is built (see each case's description), not computed by the package.
CHOOSE_GRANULARITY = Exercise(
    name="choose_granularity",
    signature="choose_granularity(x: np.ndarray, budget: float) -> str | None",
    cases=(
        Case(
            (_normal(0), 0.05),
            "tensor",
            "standard normal values, budget 5%",
            "with no outliers and a narrow range, one scale per tensor keeps every value: E4M3's "
            "own rounding (about 2.6%) is the only error, below the budget.",
            mistakes=((None, _NONE_MET.format("tensor")), ("tile", _FINEST)),
        ),
        Case(
            (gradient_like(256, 256, decades=8.0, seed=0), 0.05),
            "row",
            "rows (tokens) spanning 8 decades of magnitude, budget 5%",
            "one scale per tensor flushes the small rows to zero (E4M3 spans about 5.4 decades): "
            "look at flushed_to_zero, not only at relative_rms; one scale per row fixes it.",
            mistakes=((None, _NONE_MET.format("row")), ("tile", _FINEST)),
        ),
        Case(
            (heavy_tailed_activations(256, 1024, 1e-3, 1e5, seed=0), 0.05),
            "tile",
            "one value in 1,000 is 100,000 times larger, budget 5%",
            "flushing decides it: E4M3's rounding (about 2.6%) fits the budget at every "
            "granularity, but a value 100,000 times larger sets its group's scale and flushes "
            "the group's small values. Most rows of 1,024 hold one, so per-row scaling flushes "
            "about 12% of the values; only about one 1 x 128 tile in eight holds one, so tiles "
            "flush about 2%.",
            mistakes=((None, _NONE_MET.format("tile")),),
        ),
        Case(
            (_normal(0), 0.01),
            None,
            "standard normal values, budget 1%",
            "no granularity beats E4M3's own rounding error (about 2.6%): return None.",
        ),
    ),
)

V3_ACCUMULATE = Exercise(
    name="v3_accumulate",
    signature="v3_accumulate(values: np.ndarray, bits: int, group: int) -> float",
    cases=(
        Case(
            (np.full(4, 0.75, dtype=np.float32), 2, 4),
            3.0,
            "four values 0.75 in one group of 4, 2 bits",
            "the group's largest value, 0.75, sets the exponent (0.75 < 2**0), so the grid step "
            "is 2**(0 - 2) = 0.25 and 0.75 is kept exactly: 3.0. Align the whole group (and the "
            "running sum) to one exponent; do not round after each addition (that gives 2.0).",
        ),
        Case(
            (np.ones(64, dtype=np.float32), 4, 4),
            16.0,
            "64 ones, 4 bits, groups of 4",
            "4, 8, 12, 16; then the running sum 16 sets the exponent (16 < 2**5), the step is "
            "2**(5 - 4) = 2 and every 1 is truncated to 0: the sum sticks at 16. The running sum "
            "takes part in each group's alignment.",
            mistakes=(
                (
                    32.0,
                    "your answer kept each 1: either you rounded it to the nearest step (np.rint) "
                    "where the shift drops the bits below the step, or your alignment exponent is "
                    "one too small (floor(log2(max)) puts the max in [2**e, 2**(e+1)); the rule "
                    "here is |t| < 2**e, np.frexp's e), which keeps one bit too many.",
                ),
            ),
        ),
        Case(
            (np.array([4.0, -1.5], dtype=np.float32), 2, 2),
            2.0,
            "4 and -1.5 in one group, 2 bits",
            "the step is 2**(3 - 2) = 2; a sign-fill right shift floors toward minus infinity, "
            "so -1.5 becomes -2 (np.floor), not 0 (a cut toward zero): 4 - 2 = 2.",
            mistakes=(
                (
                    4.0,
                    "your answer cut -1.5 toward zero, to 0 (np.trunc or int()): a sign-fill "
                    "right shift floors toward minus infinity, so -1.5 becomes -2.",
                ),
            ),
        ),
        Case(
            (np.array([4.0, 1.5], dtype=np.float32), 2, 2),
            4.0,
            "4 and 1.5 in one group, 2 bits",
            "floor, not round: the step is 2**(3 - 2) = 2 and a right shift drops the bits below "
            "it, so 1.5 becomes 0 (np.floor), not 2 (np.rint): 4 + 0 = 4.",
            mistakes=(
                (
                    6.0,
                    "your answer rounded 1.5 to the nearest step, 2: the shift that aligns V3's "
                    "terms drops the bits below the step, so 1.5 becomes 0.",
                ),
            ),
        ),
        Case(
            (np.full(3, 1.5, dtype=np.float32), 2, 3),
            4.0,
            "three values 1.5 in one group, 2 bits",
            "the aligned terms sum to 4.5 = 100.1b exactly, but the register holds 2 bits too: "
            "floor the group's sum to `bits` significant bits, 4.0.",
        ),
        Case(
            (np.array([1.5, 1.5, 0.5], dtype=np.float32), 2, 3),
            3.0,
            "1.5, 1.5 and 0.5 in one group, 2 bits",
            "the terms are kept exactly (the step is 2**(1 - 2) = 0.5) and sum to 3.5 = 11.1b; the "
            "register holds 2 bits and is floored too, so 3.5 becomes 3.",
            mistakes=(
                (
                    4.0,
                    "your register rounds to nearest: 3.5 = 11.1b floored to 2 significant bits "
                    "is 3, not 4; the register truncates as the aligned terms do.",
                ),
            ),
        ),
        Case(
            (np.array([-1.5, -1.5, -0.5], dtype=np.float32), 2, 3),
            -4.0,
            "-1.5, -1.5 and -0.5 in one group, 2 bits",
            "the terms sum to -3.5 exactly; floored to 2 significant bits toward minus infinity, "
            "as the register is, that is -4.",
            mistakes=(
                (
                    -3.0,
                    "your register cuts toward zero: it is floored like the aligned terms, toward "
                    "minus infinity, so -3.5 becomes -4, not -3.",
                ),
            ),
        ),
        Case(
            (np.ones(5, dtype=np.float32), 3, 2),
            5.0,
            "five ones, 3 bits, groups of 2, 2 and 1",
            "a last, shorter group must be summed too: 2, 4, then 4 + 1 = 5 = 101b.",
        ),
    ),
)


def check_decode_float(fn) -> CheckReport:
    """Run the public cases of exercise 2.1 (decode a code of any float format) against `fn`."""
    return check(fn, DECODE_FLOAT)


def check_choose_granularity(fn) -> CheckReport:
    """Run the public cases of the granularity decision exercise against `fn`."""
    return check(fn, CHOOSE_GRANULARITY)


def check_v3_accumulate(fn) -> CheckReport:
    """Run the public cases of the aligned accumulator exercise (V3 §3.5.2) against `fn`."""
    return check(fn, V3_ACCUMULATE)
