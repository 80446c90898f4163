"""The training claim check's two newer negative controls: a short accumulator (every GEMM of
V3's recipe summed in a few bits, never promoted) and outlier channels under one scale per
tensor. Hand-worked sums, agreement with the public limited-accumulator GEMM, the fixed channels
of the outlier gain, and their bad input."""

import numpy as np
import pytest
import torch

import labs.fp8.torch as ft
import labs.fp8.torch_kernels as ft_kernels
import labs.fp8.torch_linear as ft_linear
from labs.fp8 import E4M3
from labs.fp8.torch_train import (
    ACCUMULATOR_BITS,
    OUTLIER_CHANNELS,
    OUTLIER_GAIN,
    TinyLM,
    outlier_gain,
)


def test_limited_matmul_by_hand():
    # 1 + 3 * 2^-4 = 1.1875 needs 5 significant bits. A 4-bit accumulator truncates
    # 1 + 2^-4 = 1.0625 back to 1 at each step, so the sum stays 1; with 5 bits it is exact,
    # and promoting after every product (promote_every=1) keeps each partial sum in float32.
    a = torch.tensor([[1.0, 2.0**-4, 2.0**-4, 2.0**-4]])
    b = torch.ones(4, 1)
    assert ft_kernels._limited_matmul(a, b, 4, None).item() == 1.0
    assert ft_kernels._limited_matmul(a, b, 5, None).item() == 1.1875
    assert ft_kernels._limited_matmul(a, b, 4, 1).item() == 1.1875
    # a negative sum truncates toward zero too: -1 - 2^-3 = -1.125 (binary 1.001) needs 4 bits,
    # so a 3-bit accumulator keeps -1 after each step; a 4-bit one reaches -1.25
    c = torch.tensor([[-1.0, -(2.0**-3), -(2.0**-3)]])
    assert ft_kernels._limited_matmul(c, torch.ones(3, 1), 4, None).item() == -1.25
    assert ft_kernels._limited_matmul(c, torch.ones(3, 1), 3, None).item() == -1.0


def test_limited_matmul_equals_the_public_limited_sum_of_the_products():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(6, 300, generator=g), torch.randn(300, 5, generator=g)
    for bits, promote_every in ((9, None), (14, None), (14, 128)):
        expected = ft.limited_sum(a[:, None, :] * b.T[None, :, :], bits, promote_every)
        got = ft_kernels._limited_matmul(a, b, bits, promote_every)
        assert torch.equal(got, expected), (bits, promote_every)


def _layer_and_data(bits, seed=0):
    torch.manual_seed(seed)
    layer = ft.FP8Linear(256, 128, bias=False, backward="fp8", accumulator_bits=bits)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(128, 256, generator=g)  # positive, so truncation shrinks every sum
    dy = torch.randn(128, 128, generator=g) * 1e-3
    return layer, x, dy


def test_fp8_linear_with_a_short_accumulator_is_the_limited_fp8_gemm():
    # forward and dgrad against labs.fp8.torch.fp8_matmul with accumulate="limited" (products
    # held at once, summed by limited_sum): an independent path to the same numbers
    layer, x, dy = _layer_and_data(bits=9)
    w = layer.weight.detach()
    x_in = x.clone().requires_grad_()
    y = layer(x_in)
    lim = {"accumulate": "limited", "accumulator_bits": 9, "promote_every": None}
    expected_y = ft.fp8_matmul(x, w.T, "tile", "block", **lim)
    assert torch.equal(y.detach(), expected_y)
    y.backward(dy)
    expected_dx = ft.fp8_matmul(dy, w, "tile", "block", **lim)
    assert torch.equal(x_in.grad, expected_dx)


def test_the_short_accumulator_loses_what_float32_keeps():
    # same layer, same input: the 9-bit sums of 256 positive products fall short of the float32
    # ones by about K * 2^-9 / 2 ~ 10-30% (the bits dropped each step), every one of them
    layer, x, dy = _layer_and_data(bits=9)
    with torch.no_grad():
        layer.weight.abs_()  # positive weights too: every partial sum grows, one sign
    reference = ft.FP8Linear(256, 128, bias=False, backward="fp8")
    reference.load_state_dict(layer.state_dict())
    with torch.no_grad():
        short, full = layer(x), reference(x)
    positive = full > 0
    assert bool(positive.all())
    shrink = 1 - short[positive] / full[positive]
    assert bool((shrink > 0).all()) and 0.05 < float(shrink.median()) < 0.5
    # with all 24 bits and promotion, the same layer agrees with float32 accumulation closely
    exact = ft.FP8Linear(256, 128, bias=False, backward="fp8", accumulator_bits=24)
    exact.load_state_dict(layer.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(exact(x), full, rtol=1e-5, atol=1e-4)


def test_outlier_gain_has_fixed_channels():
    gain = outlier_gain(512)
    big = torch.nonzero(gain != 1).flatten()
    assert len(big) == OUTLIER_CHANNELS == 4
    assert bool((gain[big] == OUTLIER_GAIN).all()) and OUTLIER_GAIN >= 1e4
    assert torch.equal(outlier_gain(512), gain)  # drawn once: the same channels every call
    # the same channels in every run: two training seeds build the same gains
    gains = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = TinyLM(16, "e4m3_tensor_outliers")
        gains.append((model.fc1.input_gain, model.fc2.input_gain))
    assert torch.equal(gains[0][0], gains[1][0]) and torch.equal(gains[0][1], gains[1][1])
    assert torch.equal(gains[0][0], gain) and torch.equal(gains[0][1], outlier_gain(256))
    assert TinyLM(16, "fp8").fc1.input_gain is None
    # the short-accumulator control uses V3's granularities with the configured bits
    short = TinyLM(16, "fp8_short_accumulator").fc1
    assert short.accumulator == (ACCUMULATOR_BITS, None) and short.scaling == "fine"


def test_outlier_channels_set_the_one_scale_and_cost_the_other_channels_precision():
    # x W^T is the same function with or without the gains; what changes is the quantisation.
    # One scale per tensor: the outliers push the ordinary channels of x * g below E4M3's
    # normal range (2^-6 of 448), where they keep few bits or none. V3's 1 x 128 tiles
    # without outliers err by E4M3's ~3%.
    torch.manual_seed(0)
    x = torch.randn(128, 512, generator=torch.Generator().manual_seed(1))
    gain = outlier_gain(512)
    exact = None
    errors = {}
    for name, scaling, g in (("tensor+outliers", "tensor", gain), ("tensor", "tensor", None)):
        torch.manual_seed(0)
        layer = ft.FP8Linear(512, 128, bias=False, backward="fp8", scaling=scaling, input_gain=g)
        with torch.no_grad():
            exact = x @ layer.weight.T if exact is None else exact
            y = layer(x)
        errors[name] = float((y - exact).norm() / exact.norm())
    assert errors["tensor"] < 0.05 and errors["tensor+outliers"] > 3 * errors["tensor"], errors
    # the outlier channels themselves hold their value, and the quantised input sees them
    xg = x * gain
    q = ft_linear._rounded(xg, E4M3, "tensor", 128)
    ordinary = gain == 1
    flushed = float((q[:, ordinary] == 0).float().mean())
    assert flushed > 0.5  # most ordinary values round to zero next to 1e5 outliers


def test_control_options_reject_bad_input():
    with pytest.raises(ValueError, match='accumulator_bits needs backward="fp8"'):
        ft.FP8Linear(128, 128, accumulator_bits=14)
    with pytest.raises(ValueError, match="promote_every needs accumulator_bits"):
        ft.FP8Linear(128, 128, backward="fp8", promote_every=128)
    with pytest.raises(ValueError, match="accumulator_bits must be <= 24"):
        ft.FP8Linear(128, 128, backward="fp8", accumulator_bits=30)
    with pytest.raises(ValueError, match=r"input_gain must have shape \(128,\)"):
        ft.FP8Linear(128, 128, input_gain=torch.ones(64))
    with pytest.raises(ValueError, match="input_gain must be positive"):
        ft.FP8Linear(128, 128, input_gain=-torch.ones(128))
    with pytest.raises(TypeError, match="input_gain"):
        ft.FP8Linear(128, 128, input_gain=np.ones(128, np.float32))
    with pytest.raises(ValueError, match="in_features"):
        outlier_gain(2)


def test_input_gain_is_a_reparametrisation_forward_and_backward():
    # a uniform power-of-two gain scales every group's max-abs, and so its scale, exactly: the
    # quantised x g is exactly g times the quantised x, and Q(W / g) = Q(W) / g, so output,
    # input gradient and weight gradient match the layer without gains bit for bit (the
    # parameter the optimiser sees stays W)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(128, 256, generator=g)
    dy = torch.randn(128, 128, generator=g) * 1e-2
    results = []
    for gain in (None, torch.full((256,), 4.0)):
        torch.manual_seed(0)
        layer = ft.FP8Linear(256, 128, backward="fp8", input_gain=gain)
        x_in = x.clone().requires_grad_()
        y = layer(x_in)
        y.backward(dy)
        results.append((y.detach(), x_in.grad, layer.weight.grad))
    for plain, gained in zip(*results, strict=True):
        assert torch.equal(plain, gained)
