"""Chapter 2, FP8: number formats, fine-grained scaling and DeepSeek-V3's FP8 GEMM recipe.

Framework-free: the formats, the bit-exact codec and the NumPy reference of V3's recipe live
here (in `formats.py`, and in `group_scaling.py` and `gemm.py`, both re-exported by
`reference.py`); `labs.fp8.torch` and `labs.fp8.jax` hold the same kernels in each framework.

    from labs.fp8 import E4M3, encode, decode, quantize, fp8_matmul
"""

from __future__ import annotations

from labs.fp8.accumulator import aligned_sum
from labs.fp8.cost import crossover_size, linear_layer_times
from labs.fp8.experiments import (
    channel_outlier_activations,
    dot_product_errors,
    gradient_like,
    heavy_tailed_activations,
    markov_tokens,
    quantization_error,
    relative_loss_gap,
)
from labs.fp8.formats import (
    E4M3,
    E5M2,
    FORMATS,
    FP8Format,
    bit_string,
    decode,
    encode,
    format_by_name,
    round_to_bfloat16,
    round_to_format,
)
from labs.fp8.recipes import RECIPES, compare_recipes, fake_quantize_with_scale, mx_scales
from labs.fp8.reference import (
    GRANULARITIES,
    ROUNDINGS,
    dequantize,
    expand_scales,
    fake_quantize,
    fp8_matmul,
    group_amax,
    limited_sum,
    linear_backward,
    quantize,
    round_significand,
    scales_from_amax,
)

__all__ = [
    "E4M3",
    "E5M2",
    "FORMATS",
    "GRANULARITIES",
    "RECIPES",
    "ROUNDINGS",
    "FP8Format",
    "aligned_sum",
    "bit_string",
    "channel_outlier_activations",
    "compare_recipes",
    "crossover_size",
    "decode",
    "dequantize",
    "dot_product_errors",
    "encode",
    "expand_scales",
    "fake_quantize",
    "fake_quantize_with_scale",
    "format_by_name",
    "fp8_matmul",
    "gradient_like",
    "group_amax",
    "heavy_tailed_activations",
    "limited_sum",
    "linear_backward",
    "linear_layer_times",
    "markov_tokens",
    "mx_scales",
    "quantization_error",
    "quantize",
    "relative_loss_gap",
    "round_significand",
    "round_to_bfloat16",
    "round_to_format",
    "scales_from_amax",
]
