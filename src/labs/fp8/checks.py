"""The chapter's argument checks, in one place for the callers: re-exports of three modules.

Every public function of `labs.fp8` checks its arguments and then calls a bare kernel. The checks
live by chapter 2's section: `checks_codec` ("The code: a bit-exact codec", "Outliers, and why V3
scales per tile", "A tour of scaling recipes"), `checks_accumulator` ("Accumulation: 14 bits are
not enough for long sums") and `checks_training` ("The backward pass in FP8", "Training in FP8:
does the loss notice?", "When does FP8 pay?").
"""

from __future__ import annotations

from labs.fp8.checks_accumulator import (  # noqa: F401
    ACCUMULATIONS,
    ALIGNED_RANGE,
    FLOAT32_BITS,
    MAX_LIMITED_PRODUCTS,
    ROUNDINGS,
    check_accumulation,
    check_aligned,
    check_aligned_values,
    check_bits,
    check_dot_products,
    check_fp8_matmul,
    check_matmul_layout,
    check_round,
)
from labs.fp8.checks_codec import (  # noqa: F401
    FLOAT32_MAX,
    GRANULARITIES,
    MAX_BLOCK,
    check_activations,
    check_amax,
    check_codes,
    check_dequantize,
    check_float,
    check_fp8,
    check_layout,
    check_mask,
    check_option,
    check_positive,
    check_quantize,
    check_real,
    check_recipe_tensors,
    check_rng,
    check_saturate,
    check_scales,
    check_shape,
    check_uint8_codes,
    host_float64,
    scales_shape,
)
from labs.fp8.checks_training import (  # noqa: F401
    PRECISIONS,
    check_cuda_operands,
    check_device,
    check_fp8_linear,
    check_fp8_linear_call,
    check_fp8_linear_controls,
    check_gemm_timing,
    check_key,
    check_layer_input,
    check_layer_sizes,
    check_linear_backward,
    check_linear_input,
    check_linear_params,
    check_markov,
    check_scaled_mm,
    check_timing_sizes,
    check_tiny_lm,
    check_token_windows,
    check_tokens,
    check_training,
)

__all__: list[str] = []  # internal: the public entry points live in the kernel modules
