"""DeepSeek-V3's FP8 GEMM recipe (§3.3) in NumPy, in one namespace: the module that the PyTorch and
JAX kernels mirror and that the tests and chapters 2 and 8 import.

The recipe has two ideas, each in its own module:

- `labs.fp8.group_scaling`: fine-grained scaling, one scale per group of values (eq. 3):
  `group_amax`, `scales_from_amax`, `expand_scales`, `quantize`, `dequantize`, `fake_quantize`.
- `labs.fp8.gemm`: the limited-precision accumulator promoted to FP32 every N_C = 128 elements,
  and the GEMMs built on both: `round_significand`, `limited_sum`, `fp8_matmul`,
  `linear_backward`.

This module re-exports both (the bare kernels too), so `labs.fp8.reference.quantize` and
`from labs.fp8.reference import _linear_backward` keep working. Taught in chapter 2.
"""

from __future__ import annotations

from labs.fp8.gemm import _fp8_matmul as _fp8_matmul
from labs.fp8.gemm import _limited_sum as _limited_sum
from labs.fp8.gemm import _linear_backward as _linear_backward
from labs.fp8.gemm import _round_significand as _round_significand
from labs.fp8.gemm import fp8_matmul, limited_sum, linear_backward, round_significand
from labs.fp8.group_scaling import (
    GRANULARITIES,
    ROUNDINGS,
    dequantize,
    expand_scales,
    fake_quantize,
    group_amax,
    quantize,
    scales_from_amax,
)
from labs.fp8.group_scaling import SMALLEST_SCALE as SMALLEST_SCALE
from labs.fp8.group_scaling import _dequantize as _dequantize
from labs.fp8.group_scaling import _expand_scales as _expand_scales
from labs.fp8.group_scaling import _fake_quantize as _fake_quantize
from labs.fp8.group_scaling import _group_amax as _group_amax
from labs.fp8.group_scaling import _quantize as _quantize
from labs.fp8.group_scaling import _round_up_to_power_of_two as _round_up_to_power_of_two
from labs.fp8.group_scaling import _scales_from_amax as _scales_from_amax

__all__ = [
    "GRANULARITIES",
    "ROUNDINGS",
    "dequantize",
    "expand_scales",
    "fake_quantize",
    "fp8_matmul",
    "group_amax",
    "linear_backward",
    "limited_sum",
    "quantize",
    "round_significand",
    "scales_from_amax",
]
