"""Valid calls for chapter 2 (labs.fp8): one small call per public callable (see harness.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.hostile.harness import call

X = np.linspace(-3.0, 3.0, 16, dtype=np.float32).reshape(2, 8)  # two rows, two tiles of 4
W = np.linspace(-1.0, 1.0, 32, dtype=np.float32).reshape(8, 4)  # (K, N) with K = 8
AV = np.linspace(0.0, 2.0, 40, dtype=np.float32).reshape(2, 20)  # two sums of K = 20, groups of 4


def _fp8():
    import labs.fp8 as fp8

    return fp8


def _t(array):
    import torch

    return torch.tensor(np.asarray(array))


def _j(array):
    import jax.numpy as jnp

    return jnp.asarray(array)


def _one_twin():
    """Seed 0's committed curves, as train_twins would return them."""
    from labs.fp8.jax_twin import load_twins

    twins = load_twins()
    return {"seeds": [0], "curves": {n: np.array(c[:1]) for n, c in twins["curves"].items()}}


def _codes_and_scales():
    return _fp8().quantize(X, "E4M3", "tile", 4)


def _torch_q():
    import labs.fp8.torch as ft

    return ft.quantize(_t(X), "E4M3", "tile", 4)


def _jax_q():
    import labs.fp8.jax as fj

    return fj.quantize(_j(X), "E4M3", "tile", 4)


def _needs_fp8_gpu():
    import labs.fp8.torch as ft

    ok, reason = ft.scaled_mm_supported()
    if not ok:
        pytest.skip(reason)


def _scaled_mm():
    import torch

    _needs_fp8_gpu()
    a = torch.linspace(-1, 1, 16 * 32, device="cuda").reshape(16, 32)
    b = torch.linspace(-1, 1, 32 * 16, device="cuda").reshape(32, 16)
    return call(a=a, b=b, out_dtype=torch.bfloat16)


def _gemm_throughput():
    _needs_fp8_gpu()
    return call(n=64, repeats=2)


def _linear_timings():
    _needs_fp8_gpu()
    return call(sizes=[64, 128], repeats=2)


def _sweep_file():
    from importlib import resources

    return str(resources.files("labs.fp8").joinpath("data/training_sweep.json"))


def _twins_file():
    from importlib import resources

    return str(resources.files("labs.fp8").joinpath("data/jax_twins.json"))


def _fp8_linear_layer():
    import labs.fp8.torch as ft

    return ft.FP8Linear(8, 8, block=4)


def _bf16_linear_layer():
    from labs.fp8.torch_train import BF16Linear

    return BF16Linear(8, 4)


def _tiny_lm():
    from labs.fp8.torch_train import TinyLM

    return TinyLM(vocab=4, precision="fp32")


def _jax_params():
    import jax

    import labs.fp8.jax as fj

    return fj.init_linear(jax.random.PRNGKey(0), 8, 8)


# Students' functions for the exercise checks (correct ones: the walker attacks the checks).
def _decode_float(code, exponent_bits, mantissa_bits, infinities):
    fmt = _fp8().FP8Format(
        name="any",
        exponent_bits=exponent_bits,
        mantissa_bits=mantissa_bits,
        bias=2 ** (exponent_bits - 1) - 1,
        has_infinity=infinities,
    )
    return float(_fp8().decode(np.uint8(code), fmt))


def _choose_granularity(x, budget):
    return "tile" if budget < 0.01 else "tensor"


def _v3_accumulate(values, bits, group):
    return float(_fp8().aligned_sum(values, max(bits, 2), max(group, 1)))


XB = np.linspace(-2.0, 2.0, 64, dtype=np.float32).reshape(8, 8)  # (M, I) with block 4
WB = np.linspace(-1.0, 1.0, 32, dtype=np.float32).reshape(4, 8)  # (O, I)
DYB = np.linspace(-0.5, 0.5, 32, dtype=np.float32).reshape(8, 4)  # (M, O)
STEPS = [np.linspace(-1.0, 1.0, 256, dtype=np.float32).reshape(2, 128) * (1 + t) for t in range(3)]
PEAKS = {"bf16_tflops": 989.5, "fp8_tflops": 1979.0, "memory_gbs": 3350.0}

TOKENS = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1], dtype=np.int64)

EXAMPLES = {
    # formats
    "labs.fp8.config.FP8Format": lambda: call(
        name="E3M4", exponent_bits=3, mantissa_bits=4, bias=3, has_infinity=False
    ),
    "labs.fp8.config.format_by_name": lambda: call(fmt="E5M2"),
    "labs.fp8.formats.round_to_format": lambda: call(x=X, fmt="E4M3", saturate=True),
    "labs.fp8.formats.encode": lambda: call(x=X, fmt="E5M2", saturate=False),
    "labs.fp8.formats.decode": lambda: call(codes=np.arange(8), fmt="E4M3"),
    "labs.fp8.formats.round_to_bfloat16": lambda: call(x=X),
    "labs.fp8.formats.bit_string": lambda: call(code=56, fmt="E4M3"),
    # NumPy reference
    "labs.fp8.group_scaling.group_amax": lambda: call(x=X, granularity="tile", block=4),
    "labs.fp8.group_scaling.scales_from_amax": lambda: call(
        amax=np.array([1.0, 0.0, 3.0]), fmt="E4M3"
    ),
    "labs.fp8.group_scaling.expand_scales": lambda: call(
        scales=np.array([[1.0, 2.0], [0.5, 0.25]]), shape=(2, 8), granularity="tile", block=4
    ),
    "labs.fp8.group_scaling.quantize": lambda: call(
        x=X, fmt="E4M3", granularity="tile", block=4, power_of_two=True
    ),
    "labs.fp8.gemm.linear_backward": lambda: call(
        x=XB, weight=WB, grad_output=DYB, fmt="E4M3", block=4
    ),
    # codes fixed: the walker cannot derive hostile values from a uint8 array (np.full_like(...,
    # -1) overflows inside the harness); tests/fp8/test_bad_input.py attacks codes instead.
    "labs.fp8.group_scaling.dequantize": lambda: call(
        codes=_codes_and_scales()[0],
        scales=_codes_and_scales()[1],
        fmt="E4M3",
        granularity="tile",
        block=4,
        fixed=("codes",),
    ),
    "labs.fp8.group_scaling.fake_quantize": lambda: call(
        x=X, fmt="E5M2", granularity="row", block=4
    ),
    "labs.fp8.gemm.round_significand": lambda: call(x=X, bits=8, rounding="nearest"),
    "labs.fp8.gemm.limited_sum": lambda: call(
        values=X, accumulator_bits=6, promote_every=4, rounding="truncate"
    ),
    "labs.fp8.accumulator.aligned_sum": lambda: call(
        values=AV,
        accumulator_bits=6,
        group=4,
        promote_every=8,
        rounding="nearest",
        running_sum_aligned=False,
    ),
    "labs.fp8.gemm.fp8_matmul": lambda: call(
        a=X,
        b=W,
        a_granularity="tile",
        b_granularity="block",
        accumulate="limited",
        accumulator_bits=10,
        promote_every=4,
        fmt="E4M3",
        block=4,
        rounding="truncate",
    ),
    # experiments
    "labs.fp8.experiments.heavy_tailed_activations": lambda: call(
        rows=4, cols=8, outlier_fraction=0.1, outlier_scale=100.0, seed=1
    ),
    "labs.fp8.experiments.channel_outlier_activations": lambda: call(
        rows=4, cols=8, channels=2, outlier_scale=100.0, seed=1
    ),
    "labs.fp8.experiments.gradient_like": lambda: call(rows=4, cols=8, decades=3.0, seed=1),
    "labs.fp8.experiments.quantization_error": lambda: call(
        x=X, fmt="E4M3", granularity="tile", block=4, where=X > 0
    ),
    "labs.fp8.experiments.dot_product_errors": lambda: call(
        lengths=[4, 8],
        trials=2,
        accumulator_bits=8,
        promote_every=4,
        rounding="nearest",
        seed=0,
        group=4,
        running_sum_aligned=False,
    ),
    "labs.fp8.experiments.markov_tokens": lambda: call(n=20, vocab=4, concentration=0.5, seed=0),
    "labs.fp8.experiments.relative_loss_gap": lambda: call(loss=2.01, reference_loss=2.0),
    # torch
    "labs.fp8.torch.fp8_dtype": lambda: call(fmt="E5M2"),
    "labs.fp8.torch.to_fp8": lambda: call(x=_t(X), fmt="E5M2", saturate=False),
    "labs.fp8.torch.quantize": lambda: call(x=_t(X), fmt="E4M3", granularity="tile", block=4),
    # q fixed: the walker cannot mutate a float8 tensor (torch has no round() for float8);
    # tests/fp8/test_bad_input.py attacks q instead.
    "labs.fp8.torch.dequantize": lambda: call(
        q=_torch_q()[0], scales=_torch_q()[1], granularity="tile", block=4, fixed=("q",)
    ),
    "labs.fp8.torch.fake_quantize": lambda: call(x=_t(X), fmt="E4M3", granularity="row", block=4),
    "labs.fp8.torch.round_significand": lambda: call(x=_t(X), bits=8, rounding="nearest"),
    "labs.fp8.torch.limited_sum": lambda: call(
        values=_t(X), accumulator_bits=6, promote_every=4, rounding="truncate"
    ),
    "labs.fp8.torch.aligned_sum": lambda: call(
        values=_t(AV),
        accumulator_bits=6,
        group=4,
        promote_every=8,
        rounding="nearest",
        running_sum_aligned=False,
    ),
    "labs.fp8.torch.fp8_matmul": lambda: call(
        a=_t(X),
        b=_t(W),
        a_granularity="tile",
        b_granularity="block",
        accumulate="limited",
        accumulator_bits=10,
        promote_every=4,
        fmt="E4M3",
        block=4,
        rounding="truncate",
    ),
    "labs.fp8.torch_linear.FP8Linear": lambda: call(
        in_features=8,
        out_features=8,
        bias=True,
        fmt="E4M3",
        block=4,
        backward="fp8",
        scaling="fine",
        accumulator_bits=14,
        promote_every=4,
        input_gain=_t(np.full(8, 2.0, np.float32)),
    ),
    "labs.fp8.torch_linear.linear_backward": lambda: call(
        x=_t(XB), weight=_t(WB), grad_output=_t(DYB), fmt="E4M3", block=4
    ),
    "labs.fp8.torch_linear.FP8Linear.forward": lambda: call(_fp8_linear_layer().forward, x=_t(X)),
    "labs.fp8.torch_timing.scaled_mm_supported": lambda: call(device="cuda"),
    "labs.fp8.torch_timing.scaled_mm": _scaled_mm,
    "labs.fp8.torch_timing.gemm_throughput": _gemm_throughput,
    "labs.fp8.torch_timing.linear_timings": _linear_timings,
    # torch training
    "labs.fp8.torch_train.BF16Linear": lambda: call(
        in_features=8, out_features=4, bias=True, backward="bf16"
    ),
    "labs.fp8.torch_train.BF16Linear.forward": lambda: call(_bf16_linear_layer().forward, x=_t(X)),
    "labs.fp8.torch_train.TinyLM": lambda: call(
        vocab=4, precision="fp8", context=2, d_model=64, hidden=128
    ),
    "labs.fp8.torch_train.TinyLM.forward": lambda: call(
        _tiny_lm().forward, tokens=_t(TOKENS[:6].reshape(3, 2))
    ),
    "labs.fp8.torch_train.outlier_gain": lambda: call(in_features=8),
    "labs.fp8.torch_train.train_tiny_lm": lambda: call(
        precision="fp32",
        train_tokens=TOKENS,
        eval_tokens=TOKENS[:5],
        vocab=4,
        steps=1,
        batch=2,
        lr=1e-3,
        seed=0,
        eval_every=1,
    ),
    # JAX
    "labs.fp8.jax.fp8_dtype": lambda: call(fmt="E4M3"),
    "labs.fp8.jax.to_fp8": lambda: call(x=_j(X), fmt="E4M3", saturate=True),
    "labs.fp8.jax.quantize": lambda: call(x=_j(X), fmt="E4M3", granularity="tile", block=4),
    "labs.fp8.jax.dequantize": lambda: call(
        q=_jax_q()[0], scales=_jax_q()[1], granularity="tile", block=4
    ),
    "labs.fp8.jax.fake_quantize": lambda: call(x=_j(X), fmt="E4M3", granularity="row", block=4),
    "labs.fp8.jax.round_significand": lambda: call(x=_j(X), bits=8, rounding="nearest"),
    "labs.fp8.jax.limited_sum": lambda: call(
        values=_j(X), accumulator_bits=6, promote_every=4, rounding="truncate"
    ),
    "labs.fp8.jax.aligned_sum": lambda: call(
        values=_j(AV),
        accumulator_bits=6,
        group=4,
        promote_every=8,
        rounding="nearest",
        running_sum_aligned=False,
    ),
    "labs.fp8.jax.fp8_matmul": lambda: call(
        a=_j(X),
        b=_j(W),
        a_granularity="tile",
        b_granularity="block",
        accumulate="limited",
        accumulator_bits=10,
        promote_every=4,
        fmt="E4M3",
        block=4,
        rounding="truncate",
    ),
    "labs.fp8.jax_linear.init_linear": lambda: call(
        key=_j(np.array([0, 1], dtype=np.uint32)), in_features=8, out_features=4
    ),
    "labs.fp8.jax_linear.fp8_linear": lambda: call(
        params=_jax_params(), x=_j(X), fmt="E4M3", block=4, backward="fp8"
    ),
    "labs.fp8.jax_linear.linear_backward": lambda: call(
        x=_j(XB), weight=_j(WB), grad_output=_j(DYB), fmt="E4M3", block=4
    ),
    # recipes and the cost model
    "labs.fp8.recipes.fake_quantize_with_scale": lambda: call(x=X, scale=np.float32(0.01)),
    "labs.fp8.recipes.mx_scales": lambda: call(x=np.tile(X, (1, 4))),
    "labs.fp8.recipes.compare_recipes": lambda: call(tensors=STEPS, history=2),
    "labs.fp8.sweep.load_sweep": lambda: call(path=_sweep_file(), name="training_sweep.json"),
    "labs.fp8.sweep.task_tokens": lambda: call(),
    "labs.fp8.gradient_spans.token_gradient_decades": lambda: call(
        model=_tiny_lm(), tokens=np.arange(300) % 4
    ),
    # two steps on one seed: the valid call compiles the three twins' steps
    "labs.fp8.jax_twin.train_twins": lambda: call(seeds=[0], steps=2),
    "labs.fp8.jax_twin.twin_data": lambda: call(seed=0),
    "labs.fp8.jax_twin.load_twins": lambda: call(path=_twins_file()),
    "labs.fp8.jax_twin.reproduction": lambda: call(live=_one_twin(), committed=None, closer=4.0),
    "labs.fp8.cost.linear_layer_times": lambda: call(
        m=256, k=512, n=128, **PEAKS, weight_in_fp8=True, overlap_pass=False
    ),
    "labs.fp8.cost.crossover_size": lambda: call(**PEAKS, weight_in_fp8=False, overlap_pass=True),
    "labs.fp8.cost.training_step_times": lambda: call(
        m=256, k=512, n=128, **PEAKS, weight_in_fp8=True
    ),
    # A check takes whatever the student wrote: tests/common/test_exercises_hostile.py attacks it.
    "labs.fp8.exercises.check_decode_float": lambda: call(fn=_decode_float, fixed=("fn",)),
    "labs.fp8.exercises.check_choose_granularity": lambda: call(
        fn=_choose_granularity, fixed=("fn",)
    ),
    "labs.fp8.exercises.check_v3_accumulate": lambda: call(fn=_v3_accumulate, fixed=("fn",)),
    # widgets
    "labs.fp8.widgets.encodings_of": lambda: call(x=3.14159, saturate=True),
    "labs.fp8.widgets.format_table": lambda: call(x=-0.3, saturate=False),
    "labs.fp8.widgets.format_explorer": lambda: call(value=2.5),
}

_CODEC = "the codec encodes NaN and +-inf by the format's rules (tested against ml_dtypes)"
_RAW_KEY = "any 32-bit pattern is a valid raw JAX key (PRNGKey data), this one included"
_SEED = "a seed in [0, 2**62] is valid (labs.common.validate.seed); 10**15 is one"

# (key, parameter, mutation) -> why this hostile class is a legitimate input there.
ACCEPTED: dict[tuple[str, str, str], str] = {
    **{
        (key, "x", mutation): _CODEC
        for key in (
            "labs.fp8.formats.round_to_format",
            "labs.fp8.formats.encode",
            "labs.fp8.formats.round_to_bfloat16",
            "labs.fp8.torch.to_fp8",
            "labs.fp8.jax.to_fp8",
        )
        for mutation in ("array-nan", "array-inf")
    },
    **{
        (key, "x", "array-int-dtype"): "integers are real numbers the codec encodes exactly"
        for key in ("labs.fp8.formats.round_to_format", "labs.fp8.formats.encode")
    },
    **{
        (key, "promote_every", "none"): "None is documented: never promote (V3 without N_C)"
        for key in (
            f"labs.fp8.{module}.{name}"
            for module in ("gemm", "torch", "jax")
            for name in ("limited_sum", "fp8_matmul")
        )
    },
    **{
        (f"labs.fp8.{module}.aligned_sum", "promote_every", "none"): "None is documented: never"
        for module in ("accumulator", "torch", "jax")
    },
    ("labs.fp8.jax_linear.init_linear", "key", "ids-negative"): _RAW_KEY,
    ("labs.fp8.jax_linear.init_linear", "key", "ids-huge"): _RAW_KEY,
    ("labs.fp8.experiments.heavy_tailed_activations", "seed", "huge-int"): _SEED,
    ("labs.fp8.experiments.dot_product_errors", "seed", "huge-int"): _SEED,
    ("labs.fp8.experiments.markov_tokens", "seed", "huge-int"): _SEED,
    ("labs.fp8.experiments.channel_outlier_activations", "seed", "huge-int"): _SEED,
    ("labs.fp8.experiments.gradient_like", "seed", "huge-int"): _SEED,
    **{
        (f"labs.fp8.cost.{name}", "fp8_tflops", "none"): "None is documented: no FP8 tensor cores"
        for name in ("crossover_size", "linear_layer_times", "training_step_times")
    },
    ("labs.fp8.torch_train.train_tiny_lm", "seed", "huge-int"): _SEED,
    ("labs.fp8.cost.crossover_size", "bf16_tflops", "huge"): (
        "a BF16 peak above the FP8 one: FP8 never pays, the documented inf"
    ),
    ("labs.fp8.torch.to_fp8", "x", "array-huge"): (
        "saturate=False sends overflow to E5M2's inf by design (tested against ml_dtypes)"
    ),
    ("labs.fp8.widgets.encodings_of", "x", "huge"): (
        "1e300 is past bfloat16's range: the table shows it stored as inf, as documented"
    ),
    **{
        ("labs.fp8.torch_linear.FP8Linear", name, "none"): why
        for name, why in (
            ("accumulator_bits", "None is documented: products summed in float32"),
            ("promote_every", "None is documented: never promote (V3 without N_C)"),
            ("input_gain", "None is documented: no outlier channels"),
        )
    },
}


# --- The Pallas block-scaled GEMM (labs.fp8.pallas) ----------------------------------------------
EXAMPLES["labs.fp8.pallas.block_scaled_matmul"] = lambda: call(
    a=X, b=W, block=4, block_m=2, interpret=True
)
EXAMPLES["labs.fp8.pallas.quantize_operands"] = lambda: call(a=X, b=W, block=4)


# --- The Triton block-scaled GEMM (labs.fp8.triton) -----------------------------------------------
def _triton_gemm():
    import torch

    return call(a=torch.from_numpy(X), b=torch.from_numpy(W), block=4, block_m=2, num_warps=4)


EXAMPLES["labs.fp8.triton.block_scaled_matmul"] = _triton_gemm
