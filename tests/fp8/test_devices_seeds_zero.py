"""Second hostile-input audit, chapter 2: tensors on another device (a `meta` tensor stands for
one on this CPU-only machine), a float64 input to a float32 layer, seeds past torch's 64 bits and
the relative error of x = 0. Each bad call must name the parameter, never fail inside torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import labs.fp8.torch as ftorch
from labs.fp8.experiments import gradient_like, markov_tokens
from labs.fp8.torch_linear import FP8Linear, linear_backward
from labs.fp8.torch_train import BF16Linear, TinyLM, train_tiny_lm
from labs.fp8.widgets import encodings_of, format_table

META = "meta"


def _meta(t: torch.Tensor) -> torch.Tensor:
    return t.to(META)


@pytest.mark.parametrize("moved", ["a", "b"])
def test_fp8_matmul_refuses_operands_on_two_devices(moved):
    args = {"a": torch.randn(4, 128), "b": torch.randn(128, 8)}
    args[moved] = _meta(args[moved])
    with pytest.raises(ValueError, match=r"b must be on the device of a \((cpu|meta)\)"):
        ftorch.fp8_matmul(**args)


def test_dequantize_refuses_scales_on_another_device():
    q, scales = ftorch.quantize(torch.randn(4, 128))
    assert ftorch.dequantize(q, scales).shape == (4, 128)
    with pytest.raises(ValueError, match=r"^scales must be on the device of q \(cpu\), got .*meta"):
        ftorch.dequantize(q, _meta(scales))


@pytest.mark.parametrize("moved", ["weight", "grad_output"])
def test_linear_backward_refuses_a_tensor_on_another_device(moved):
    args = {
        "x": torch.randn(128, 128),
        "weight": torch.randn(128, 128),
        "grad_output": torch.randn(128, 128),
    }
    args[moved] = _meta(args[moved])
    with pytest.raises(ValueError, match=rf"^{moved} must be on the device of x \(cpu\)"):
        linear_backward(**args)


@pytest.mark.parametrize(
    "make",
    [
        lambda: FP8Linear(128, 128),
        lambda: FP8Linear(128, 128, backward="fp8"),
        lambda: BF16Linear(128, 128),
        lambda: BF16Linear(128, 128, backward="bf16"),
    ],
)
def test_layers_refuse_an_input_off_their_device_or_wider_than_their_weight(make):
    layer = make()
    assert layer(torch.randn(2, 128)).dtype == torch.float32
    assert layer(torch.randn(2, 128, dtype=torch.bfloat16)).dtype == torch.float32  # promoted
    with pytest.raises(ValueError, match=r"^x must be on the device of the layer's weight \(cpu\)"):
        layer(torch.randn(2, 128, device=META))
    with pytest.raises(
        TypeError,
        match=r"^x must be no wider than the layer's weight dtype torch.float32, got "
        r"torch.float64",
    ):
        layer(torch.randn(2, 128, dtype=torch.float64))


def test_tiny_lm_refuses_tokens_off_its_device():
    model = TinyLM(vocab=8, context=2, d_model=64, hidden=128)
    tokens = torch.tensor([[1, 2], [3, 4]])
    assert model(tokens).shape == (2, 8)
    with pytest.raises(ValueError, match=r"^tokens must be on the device of the model's weights"):
        model(tokens.to(META))


def test_train_tiny_lm_refuses_a_seed_past_the_shared_cap_before_training():
    tokens = np.arange(300) % 8
    with pytest.raises(ValueError, match=r"^seed must be <= 2\*\*62"):
        train_tiny_lm("fp32", tokens, tokens, vocab=8, steps=1, batch=4, seed=2**62 + 1)


@pytest.mark.parametrize(
    "draw", [lambda s: gradient_like(rows=4, cols=8, seed=s), lambda s: markov_tokens(20, seed=s)]
)
def test_numpy_experiments_take_the_shared_seed_rule(draw):
    draw(10**15)  # the hostile harness's huge int: a valid seed
    with pytest.raises(ValueError, match=r"^seed must be <= 2\*\*62"):
        draw(10**30)


def test_encodings_of_zero_is_exact_not_nan():
    rows = encodings_of(0.0)
    assert [(r["value"], r["abs_error"], r["rel_error"]) for r in rows] == [(0.0, 0.0, 0.0)] * 3
    assert "nan" not in format_table(0.0)
    stored_inf = {r["format"]: r for r in encodings_of(1e6, saturate=False)}["E5M2"]
    assert math.isinf(stored_inf["value"]) and math.isnan(stored_inf["rel_error"])  # documented
