"""Hidden cases of chapter 2. Expected values worked by hand from the bit layout and the
accumulator rule, or reasoned from how the granularity exercise's tensors are built (the
arithmetic is beside each case)."""

import numpy as np

from labs.common.exercises import Case
from labs.fp8 import channel_outlier_activations, gradient_like, heavy_tailed_activations

HIDDEN = {
    "decode_e4m3": (
        Case((0xFE,), -448.0, "0xFE = 1 1111 110, the most negative finite value"),
        Case((0x80,), -0.0, "0x80, negative zero"),
        Case((0x87,), -(2.0**-6) * 7 / 8, "0x87 = 1 0000 111, the largest negative subnormal"),
        Case((0x4B,), 2.0**2 * (1 + 3 / 8), "0x4B = 0 1001 011 = 5.5"),
        Case((0xF8,), -256.0, "0xF8 = 1 1111 000, exponent field 15 is an ordinary exponent"),
    ),
    "choose_granularity": (
        # 3 decades fit in E4M3's ~5.4: one scale per tensor flushes (almost) nothing
        Case((gradient_like(256, 256, decades=3.0, seed=0), 0.05), "tensor", "3 decades"),
        # another draw of sparse huge outliers: rows flush ~1%, tiles ~0.1%
        Case(
            (heavy_tailed_activations(256, 1024, 1e-4, 1e5, seed=1), 0.005),
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
    "decode_e4m3": ("labs.fp8.formats.decode",),
    "v3_accumulate": (
        "labs.fp8.accumulator.aligned_sum",
        "labs.fp8.jax.aligned_sum",
        "labs.fp8.torch.aligned_sum",
    ),
}
