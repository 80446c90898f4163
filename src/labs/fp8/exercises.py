"""Chapter 2 exercises, with their instant checks.

Every expected value below is worked out by hand from the bit layout (eqs. 1-2) or the
accumulator rule (eq. 4a), or follows from how the input tensor is built (the granularity
decision), and is written as a literal: none is produced by the package's own code.
"""

from __future__ import annotations

import numpy as np

from labs.common.exercises import Case, CheckReport, Exercise, check
from labs.fp8.experiments import gradient_like, heavy_tailed_activations

__all__ = [
    "CHOOSE_GRANULARITY",
    "DECODE_E4M3",
    "V3_ACCUMULATE",
    "check_choose_granularity",
    "check_decode_e4m3",
    "check_v3_accumulate",
]

DECODE_E4M3 = Exercise(
    name="decode_e4m3",
    signature="decode_e4m3(code: int) -> float",
    cases=(
        Case(
            (0x38,),
            1.0,
            "0x38 = 0 0111 000, the number 1",
            "exponent field 7 minus bias 7 is 0; the value is 2**0 * (1 + 0/8).",
        ),
        Case(
            (0xC4,),
            -3.0,
            "0xC4 = 1 1000 100, a negative normal number",
            "the first bit is the sign; 1000 is exponent 8 - 7 = 1; 100 adds 4/8.",
        ),
        Case(
            (0x7E,),
            448.0,
            "0x7E = 0 1111 110, the largest finite value",
            "E4M3 has no infinities: exponent field 15 is an ordinary exponent (8).",
        ),
        Case(
            (0x08,),
            0.015625,
            "0x08 = 0 0001 000, the smallest normal number 2**-6",
            "the smallest normal exponent is 1 - 7 = -6.",
        ),
        Case(
            (0x01,),
            0.001953125,
            "0x01 = 0 0000 001, the smallest subnormal 2**-9",
            "exponent field 0 means subnormal: 2**(1 - bias) * (M / 8), no implicit 1.",
        ),
        Case(
            (0x05,),
            0.009765625,
            "0x05 = 0 0000 101, a subnormal",
            "subnormal: 2**-6 * (5 / 8); the exponent is 1 - bias, not 0 - bias.",
        ),
        Case(
            (0x7F,),
            float("nan"),
            "0x7F = 0 1111 111, the NaN code",
            "S.1111.111 is the only NaN of E4M3 (return float('nan')).",
        ),
        Case(
            (0xFF,),
            float("nan"),
            "0xFF = 1 1111 111, the NaN code with the sign bit set",
            "the sign bit does not matter: S.1111.111 is NaN for S = 0 and S = 1 (no -inf).",
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
        ),
        Case(
            (gradient_like(256, 256, decades=8.0, seed=0), 0.05),
            "row",
            "rows (tokens) spanning 8 decades of magnitude, budget 5%",
            "one scale per tensor flushes the small rows to zero (E4M3 spans about 5.4 decades): "
            "look at flushed_to_zero, not only at relative_rms; one scale per row fixes it.",
        ),
        Case(
            (heavy_tailed_activations(256, 1024, 1e-4, 1e5, seed=0), 0.005),
            "tile",
            "one value in 10,000 is 100,000 times larger, budget 0.5%",
            "about one row in ten holds an outlier, so per-row scaling flushes about 1% of the "
            "values; 1 x 128 tiles confine each outlier to 128 values.",
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
        ),
        Case(
            (np.array([4.0, -1.5], dtype=np.float32), 2, 2),
            2.0,
            "4 and -1.5 in one group, 2 bits",
            "the step is 2**(3 - 2) = 2; a sign-fill right shift floors toward minus infinity, "
            "so -1.5 becomes -2 (np.floor), not 0 (a cut toward zero): 4 - 2 = 2.",
        ),
        Case(
            (np.full(3, 1.5, dtype=np.float32), 2, 3),
            4.0,
            "three values 1.5 in one group, 2 bits",
            "the aligned terms sum to 4.5 = 100.1b exactly, but the register holds 2 bits too: "
            "floor the group's sum to `bits` significant bits, 4.0.",
        ),
        Case(
            (np.ones(5, dtype=np.float32), 3, 2),
            5.0,
            "five ones, 3 bits, groups of 2, 2 and 1",
            "a last, shorter group must be summed too: 2, 4, then 4 + 1 = 5 = 101b.",
        ),
    ),
)


def check_decode_e4m3(fn) -> CheckReport:
    """Run the public cases of the E4M3 decoding exercise against `fn`."""
    return check(fn, DECODE_E4M3)


def check_choose_granularity(fn) -> CheckReport:
    """Run the public cases of the granularity decision exercise against `fn`."""
    return check(fn, CHOOSE_GRANULARITY)


def check_v3_accumulate(fn) -> CheckReport:
    """Run the public cases of the aligned accumulator exercise (V3 §3.5.2) against `fn`."""
    return check(fn, V3_ACCUMULATE)
