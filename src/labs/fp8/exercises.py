"""Chapter 2 exercises, with their instant checks.

Every expected value below is worked out by hand from the bit layout (eqs. 1-2) or the
accumulator rule, or follows from how the input tensor is built (the granularity decision), and
is written as a literal: none is produced by the package's own code.
"""

from __future__ import annotations

import numpy as np

from labs.common.exercises import Case, CheckReport, Exercise, check
from labs.fp8.experiments import gradient_like, heavy_tailed_activations

__all__ = [
    "CHOOSE_GRANULARITY",
    "DECODE_E4M3",
    "PROMOTED_SUM",
    "check_choose_granularity",
    "check_decode_e4m3",
    "check_promoted_sum",
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

PROMOTED_SUM = Exercise(
    name="promoted_sum",
    signature="promoted_sum(values: np.ndarray, bits: int, promote_every: int | None) -> float",
    cases=(
        Case(
            (np.ones(32, dtype=np.float32), 4, None),
            16.0,
            "32 ones, 4-bit accumulator, never promoted",
            "16 + 1 = 17 = 10001b needs 5 bits: truncated to 4 bits it is 16 again, so the "
            "sum sticks at 16. Round the running sum after every addition "
            "(labs.fp8.round_significand(x, bits) does it).",
        ),
        Case(
            (np.ones(32, dtype=np.float32), 4, 8),
            32.0,
            "32 ones, 4-bit accumulator, promoted every 8",
            "every 8 values, add the running sum to a float32 total and restart it from 0.",
        ),
        Case(
            (np.array([1024, 1, 1, 1, 1], dtype=np.float32), 10, None),
            1024.0,
            "1024 then four ones, 10 bits, never promoted",
            "1025 needs 11 significant bits; with 10 the 1 is dropped every time.",
        ),
        Case(
            (np.array([1024, 1, 1, 1, 1], dtype=np.float32), 10, 1),
            1028.0,
            "1024 then four ones, 10 bits, promoted after every value",
            "promoting after each value means the float32 total does every addition.",
        ),
        Case(
            (np.ones(20, dtype=np.float32), 4, 8),
            20.0,
            "20 ones, promoted every 8: groups of 8, 8 and 4",
            "a last, partial group must be added to the total too.",
        ),
    ),
)


def check_decode_e4m3(fn) -> CheckReport:
    """Run the public cases of the E4M3 decoding exercise against `fn`."""
    return check(fn, DECODE_E4M3)


def check_choose_granularity(fn) -> CheckReport:
    """Run the public cases of the granularity decision exercise against `fn`."""
    return check(fn, CHOOSE_GRANULARITY)


def check_promoted_sum(fn) -> CheckReport:
    """Run the public cases of the promoted accumulation exercise against `fn`."""
    return check(fn, PROMOTED_SUM)
