"""Hidden cases of chapter 2. Expected values worked by hand from the bit layout, the scale rule
and the accumulator rule (the arithmetic is beside each case)."""

import numpy as np

from labs.common.exercises import Case

HIDDEN = {
    "decode_e4m3": (
        Case((0xFE,), -448.0, "0xFE = 1 1111 110, the most negative finite value"),
        Case((0x80,), -0.0, "0x80, negative zero"),
        Case((0x87,), -(2.0**-6) * 7 / 8, "0x87 = 1 0000 111, the largest negative subnormal"),
        Case((0x4B,), 2.0**2 * (1 + 3 / 8), "0x4B = 0 1001 011 = 5.5"),
        Case((0xFF,), float("nan"), "0xFF = 1 1111 111, the negative NaN code"),
    ),
    "tile_scales": (
        Case(
            (np.array([[448.0, -1.0, 0.0, 0.0, 0.0, 0.0]], np.float32), 2),
            np.array([[1.0, 1.0, 1.0]]),
            "a tile at 448 and two tiles of zeros",
        ),
        Case(
            (np.arange(-12, 12, dtype=np.float32).reshape(3, 8), 8),
            np.array([[12 / 448], [4 / 448], [11 / 448]]),
            "one tile of 8 per row",
        ),
    ),
    "promoted_sum": (
        # 64 ones, 3 bits, promoted every 4: each group of 4 reaches 4 exactly; 16 groups = 64.
        Case((np.ones(64, dtype=np.float32), 3, 4), 64.0, "64 ones, 3 bits, promoted every 4"),
        # 3 bits never promoted: 1, 2, 3, 4, 5, 6, 7, 8, then 8 + 1 = 9 = 1001b -> 8: stuck at 8.
        Case((np.ones(64, dtype=np.float32), 3, None), 8.0, "64 ones, 3 bits, never promoted"),
    ),
}
FORBIDDEN = {
    "decode_e4m3": ("labs.fp8.formats.decode",),
    "tile_scales": ("labs.fp8.reference.scales_from_amax", "labs.fp8.reference.group_amax"),
    "promoted_sum": ("labs.fp8.reference.limited_sum",),
}
