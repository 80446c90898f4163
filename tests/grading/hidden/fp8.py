"""Hidden cases of chapter 2. Expected values worked by hand from the bit layout and the
accumulator rule, or reasoned from how the granularity exercise's tensors are built (the
arithmetic is beside each case)."""

import numpy as np

from labs.common.exercises import Case
from labs.fp8 import channel_outlier_activations, gradient_like, heavy_tailed_activations

HIDDEN = {
    # (code, exponent_bits, mantissa_bits, infinities); bias 2**(e-1) - 1
    "decode_float": (
        Case((0xFE, 4, 3, False), -448.0, "E4M3 0xFE = 1 1111 110: -2**8 * 1.75"),
        Case((0x80, 4, 3, False), -0.0, "E4M3 0x80, negative zero"),
        Case((0x87, 4, 3, False), -(2.0**-6) * 7 / 8, "E4M3 0x87 = 1 0000 111, subnormal"),
        Case((0xFF, 4, 3, False), float("nan"), "E4M3 0xFF = 1 1111 111, NaN"),
        Case((0xFC, 5, 2, True), float("-inf"), "E5M2 0xFC = 1 11111 00, -inf"),
        Case((0x7D, 5, 2, True), float("nan"), "E5M2 0x7D = 0 11111 01, NaN"),
        Case((0x04, 5, 2, True), 2.0**-14, "E5M2 0x04 = 0 00001 00, smallest normal"),
        Case((0x70, 3, 4, True), float("inf"), "E3M4 0x70 = 0 111 0000, inf (bias 3)"),
        Case((0x6F, 3, 4, True), 15.5, "E3M4 0x6F = 0 110 1111: 2**3 * (1 + 15/16)"),
        Case((0x7E, 2, 5, False), 7.75, "E2M5 0x7E = 0 11 11110, no infinities: 2**2 * 1.9375"),
        Case((0x7F, 2, 5, False), float("nan"), "E2M5 0x7F = 0 11 11111, no infinities: NaN"),
        Case((0x0001, 5, 10, True), 2.0**-24, "float16 0x0001, the smallest subnormal"),
        Case((0x7BFF, 5, 10, True), 65504.0, "float16 0x7BFF, the largest finite value"),
        Case(
            (0x7F7F, 8, 7, True),
            2.0**127 * (1 + 127 / 128),
            "bfloat16 0x7F7F, the largest finite value",
            rtol=1e-12,
        ),
        Case(
            (0x77, 4, 3, True), 240.0, "E4M3 bits with infinities, 0x77 = 0 1110 111: 2**7 * 1.875"
        ),
        Case((0x78, 4, 3, True), float("inf"), "E4M3 bits with infinities, 0x78 = 0 1111 000"),
    ),
    "choose_granularity": (
        # 3 decades fit in E4M3's ~5.4: one scale per tensor flushes (almost) nothing
        Case(
            (gradient_like(256, 256, decades=3.0, seed=0), 0.05),
            "tensor",
            "gradient over three decades",
        ),
        # another draw of huge outliers, one in 1,000: rows flush ~10%, tiles ~2%, and E4M3's
        # rounding (~2.6%) fits the budget at every granularity
        Case(
            (heavy_tailed_activations(256, 1024, 1e-3, 1e5, seed=1), 0.05),
            "tile",
            "sparse outliers, another seed",
        ),
        # outliers in 2 fixed channels of 512: every row and a quarter of the tiles are
        # squashed, so no granularity of the three keeps the flushed fraction under 5%
        Case(
            (channel_outlier_activations(256, 512, 2, 1e5, seed=0), 0.05),
            None,
            "channel outliers",
        ),
    ),
    "v3_accumulate": (
        # 64 ones, 3 bits, groups of 4: 4, then 8 (step 1 once the sum is 4); then 8 < 2**4 sets
        # the step 2**(4 - 3) = 2 and each 1 floors to 0: stuck at 8
        Case((np.ones(64, dtype=np.float32), 3, 4), 8.0, "64 ones, 3 bits, groups of 4"),
        # -1, -1, -0.25 with 2 bits: step 0.5, -0.25 floors to -0.5, the sum -2.5 floors to -3
        # in a 2-bit register
        Case((np.array([-1, -1, -0.25], dtype=np.float32), 2, 3), -3.0, "negative terms"),
    ),
}
FORBIDDEN = {
    "decode_float": ("labs.fp8.formats.decode",),
    "v3_accumulate": (
        "labs.fp8.accumulator.aligned_sum",
        "labs.fp8.jax.aligned_sum",
        "labs.fp8.torch.aligned_sum",
    ),
}
