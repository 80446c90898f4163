"""Regression tests for the worst bad-input cases of the labs.fp8 audit, with their clear errors."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import labs.fp8 as fp8
import labs.fp8.jax as fjax
import labs.fp8.torch as ftorch
from labs.fp8 import E4M3, FORMATS, FP8Format


def test_round_significand_refuses_none_instead_of_returning_nan():
    with pytest.raises(TypeError, match="x must be an array of numbers, got NoneType"):
        fp8.round_significand(None, 8)


@pytest.mark.parametrize(
    "round_significand, x",
    [
        (fp8.round_significand, np.ones(3, np.float32)),
        (ftorch.round_significand, torch.ones(3)),
        (fjax.round_significand, jnp.ones(3)),
    ],
)
def test_round_significand_has_one_rule_for_bits_in_every_framework(round_significand, x):
    assert np.asarray(round_significand(x, bits=1)).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"^bits must be >= 1, got 0$"):
        round_significand(x, bits=0)
    with pytest.raises(ValueError, match=r"^bits must be <= 24 \(float32 holds"):
        round_significand(x, bits=25)


def test_fp8_format_is_keyword_only_and_checks_its_fields():
    with pytest.raises(TypeError, match="positional"):
        FP8Format("x", 0, 7, 7, "no")
    good = dict(name="E4M3", exponent_bits=4, mantissa_bits=3, bias=7, has_infinity=False)
    assert FP8Format(**good) == E4M3
    for field, bad, exc, message in [
        ("name", "", ValueError, "name must be a non-empty string"),
        ("exponent_bits", 0, ValueError, "exponent_bits must be >= 1, got 0"),
        ("mantissa_bits", 2.0, TypeError, "mantissa_bits must be an int"),
        ("mantissa_bits", 4, ValueError, "exponent_bits \\+ mantissa_bits must be 7, got 4 \\+ 4"),
        ("bias", 10**9, ValueError, "bias must be <= 15"),
        ("has_infinity", "no", TypeError, "has_infinity must be True or False"),
    ]:
        with pytest.raises(exc, match=message):
            FP8Format(**{**good, field: bad})


def test_jax_init_linear_caps_sizes_instead_of_aborting():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"in_features must be <= 268435456 \(the weight matrix"):
        fjax.init_linear(key, 10**9, 4)
    with pytest.raises(ValueError, match=r"out_features must be <= 2 \(the weight matrix"):
        fjax.init_linear(key, 2**27, 4)
    with pytest.raises(TypeError, match="key must be a JAX PRNG key"):
        fjax.init_linear(jnp.zeros(2, jnp.int32), 4, 4)


def test_torch_layers_cap_sizes_too():
    from labs.fp8.torch_train import BF16Linear, TinyLM

    with pytest.raises(ValueError, match="in_features must be <= 268435456"):
        ftorch.FP8Linear(10**9, 128)
    with pytest.raises(ValueError, match="out_features must be <= 2"):
        BF16Linear(2**27, 10**9)
    with pytest.raises(ValueError, match="hidden must be <= 16384"):
        TinyLM(8, hidden=10**9)


def test_formats_registry_is_read_only():
    with pytest.raises(TypeError):
        FORMATS["E4M3"] = FORMATS["E5M2"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        E4M3.bias = 8
    assert fp8.format_by_name("e4m3") is E4M3


def test_formats_registry_survives_a_notebook_cell_in_a_fresh_process():
    code = (
        "import labs.fp8 as f\n"
        "try:\n    f.FORMATS['E4M3'] = f.E5M2\nexcept TypeError:\n    pass\n"
        "print(f.format_by_name('E4M3').name)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "E4M3"


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: fp8.dequantize(np.zeros((1, 4)), np.ones((1, 1)), granularity="row"), TypeError,
         "codes must be a uint8 NumPy array"),
        (lambda: fp8.dequantize(np.zeros((0, 4), np.uint8), np.ones((0, 1)), granularity="row"),
         ValueError, "codes must not be empty"),
        (lambda: ftorch.dequantize(torch.full((1, 4), float("nan")).to(torch.float8_e4m3fn),
                                   torch.ones(1, 1), "row"), ValueError, "q must be finite"),
        (lambda: ftorch.dequantize(np.zeros((1, 4)), torch.ones(1, 1), "row"), TypeError,
         "q must be a torch.Tensor"),
        (lambda: ftorch.quantize(jnp.ones((2, 4)), E4M3, "row"), TypeError, "x must be a torch"),
        (lambda: fjax.quantize(torch.ones(2, 4), E4M3, "row"), TypeError, "x must be a JAX"),
        (lambda: fp8.limited_sum(np.ones(4), 14, 10**15), ValueError, "promote_every must be <="),
        (lambda: fp8.fp8_matmul(np.ones((512, 256)), np.ones((256, 256)), accumulate="limited"),
         ValueError, "more than the limited accumulator's"),
        (lambda: fp8.markov_tokens(10**12), ValueError, "n must be <= 10000000"),
        (lambda: fp8.heavy_tailed_activations(10**6, 10**6), ValueError, "cols must be <="),
        (lambda: fp8.expand_scales(np.ones(()), (10**6, 10**6), "tensor"), ValueError,
         "shape must hold at most"),
        (lambda: fp8.decode(np.array([-1]), E4M3), ValueError, "codes must lie in 0..255"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_a_clear_error(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
