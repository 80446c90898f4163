"""Chapter 2 exercises, with their instant checks.

Every expected value below is worked out by hand from the bit layout (eqs. 1-2), the scale rule
(eq. 3) or the accumulator rule, and written as a literal: none is produced by the package's own
code.
"""

from __future__ import annotations

import numpy as np

from labs.common.exercises import Case, CheckReport, Exercise, check

__all__ = [
    "DECODE_E4M3",
    "PROMOTED_SUM",
    "TILE_SCALES",
    "check_decode_e4m3",
    "check_promoted_sum",
    "check_tile_scales",
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
    ),
)


def _matrix(rows) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32)


TILE_SCALES = Exercise(
    name="tile_scales",
    signature="tile_scales(x: np.ndarray, block: int) -> np.ndarray",
    cases=(
        Case(
            (_matrix([[1, 2, 3, 4, 5, 6, 7, 8]]), 4),
            np.array([[4 / 448, 8 / 448]]),
            "one row, two tiles of 4",
            "scale = max |x| over the tile / 448, one per 1 x block tile: shape (rows, cols/block)",
        ),
        Case(
            (_matrix([[-896, 1, 2, 3], [0.5, -0.25, 0.125, 0.0]]), 4),
            np.array([[2.0], [0.5 / 448]]),
            "negative values: the max is of |x|",
            "use the absolute value: -896 has |x| = 896, so the scale is 896 / 448 = 2.",
        ),
        Case(
            (_matrix([[0, 0, 3, -6], [1, 1, 0, 0]]), 2),
            np.array([[1.0, 6 / 448], [1 / 448, 1.0]]),
            "a tile of zeros",
            "a tile of zeros would get scale 0 and a division by zero later: give it scale 1.",
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


def check_tile_scales(fn) -> CheckReport:
    """Run the public cases of the per-tile scale exercise against `fn`."""
    return check(fn, TILE_SCALES)


def check_promoted_sum(fn) -> CheckReport:
    """Run the public cases of the promoted accumulation exercise against `fn`."""
    return check(fn, PROMOTED_SUM)
