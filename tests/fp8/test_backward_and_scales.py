"""Chapter 2: column tiles, power-of-two scales, re-tiling, V3's FP8 backward
(NumPy reference against hand-worked values; torch and JAX against the formulas written with the
reference `fake_quantize`), and the bad input these add."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import labs.fp8.jax as fj
import labs.fp8.torch as ft
from labs.fp8 import E4M3, GRANULARITIES, fake_quantize, fp8_matmul, quantize, scales_from_amax
from labs.fp8.reference import linear_backward


def test_column_tile_scales_by_hand():
    # two column tiles of 4 rows: column 0 holds 1..8, column 1 holds -8..-1
    x = np.stack([np.arange(1, 9), -np.arange(8, 0, -1)], axis=1).astype(np.float32)
    _, scales = quantize(x, E4M3, "column_tile", 4)
    expected = np.array([[4 / 448, 8 / 448], [8 / 448, 4 / 448]], np.float32)
    np.testing.assert_allclose(scales, expected, rtol=1e-6)
    assert scales.shape == (2, 2)


def test_column_tile_is_the_transposed_tile():
    x = np.random.default_rng(1).standard_normal((256, 128)).astype(np.float32)
    np.testing.assert_array_equal(
        fake_quantize(x, E4M3, "column_tile"), fake_quantize(x.T.copy(), E4M3, "tile").T
    )


def test_power_of_two_scales_by_hand():
    # 448 / 448 = 1 is already a power of two; 449 / 448 rounds up to 2; 3 / 448 = 0.0067 -> 2^-7
    got = scales_from_amax(np.array([448.0, 449.0, 3.0, 0.0]), E4M3, power_of_two=True)
    np.testing.assert_array_equal(got, [1.0, 2.0, 2.0**-7, 1.0])
    plain = scales_from_amax(np.array([3.0]), E4M3)
    assert plain[0] != 2.0**-7  # without the option the scale is 3 / 448, not a power of two


@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_power_of_two_scales_never_saturate_and_agree_in_three_frameworks(granularity):
    x = (np.random.default_rng(2).standard_normal((256, 256)) * 30).astype(np.float32)
    codes, scales = quantize(x, E4M3, granularity, 128, power_of_two=True)
    mantissa, _ = np.frexp(scales)
    assert np.all(mantissa == 0.5)  # every scale is an exact power of two
    amax_over_scale = np.abs(x).max() / scales.max()
    assert amax_over_scale <= 448 and amax_over_scale > 224  # rounded up by less than 2x
    q_t, s_t = ft.quantize(torch.from_numpy(x), E4M3, granularity, 128, power_of_two=True)
    q_j, s_j = fj.quantize(jnp.asarray(x), E4M3, granularity, 128, power_of_two=True)
    np.testing.assert_array_equal(q_t.view(torch.uint8).numpy(), codes)
    np.testing.assert_array_equal(np.asarray(q_j).view(np.uint8), codes)
    np.testing.assert_array_equal(s_t.numpy(), scales)
    np.testing.assert_array_equal(np.asarray(s_j), scales)


def test_retiling_is_exact_with_power_of_two_scales_except_subnormals():
    x = np.random.default_rng(3).standard_normal((256, 512)).astype(np.float32)
    x[:, 5] *= 50  # a channel outlier makes the column tiles' scales differ from the row tiles'
    for p2 in (True, False):
        tiles = fake_quantize(x, E4M3, "tile", power_of_two=p2)
        retiled = fake_quantize(tiles, E4M3, "column_tile", power_of_two=p2)
        changed = np.mean(retiled != tiles)
        if p2:
            _, scales = quantize(tiles, E4M3, "column_tile", power_of_two=True)
            s = np.repeat(scales, 128, axis=0)
            normal = np.abs(tiles) / s >= E4M3.min_normal
            assert np.array_equal(retiled[normal], tiles[normal])  # exact in the normal range
            assert changed < 0.05
        else:
            assert changed > 0.5  # arbitrary scales re-round most values


def _problem(m=256, i=384, o=128, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, i)).astype(np.float32)
    w = (rng.standard_normal((o, i)) * 0.05).astype(np.float32)
    dy = (rng.standard_normal((m, o)) * 1e-3).astype(np.float32)
    return x, w, dy


def _formulas(x, w, dy):
    """V3 §3.3's backward written directly with the reference fake_quantize."""
    dx = fake_quantize(dy, E4M3, "tile") @ fake_quantize(w, E4M3, "block")
    dw = fake_quantize(dy, E4M3, "column_tile").T @ fake_quantize(x, E4M3, "column_tile")
    return dx, dw


def _close(got, expected):
    # float32 GEMMs of K <= 384 in another summation order: a few ulps of the largest entry
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_numpy_linear_backward_is_the_formula():
    x, w, dy = _problem()
    dx, dw = linear_backward(x, w, dy)
    ex, ew = _formulas(x, w, dy)
    _close(dx, ex)
    _close(dw, ew)


def test_torch_fp8_backward_matches_the_formulas_and_differs_from_straight_through():
    x, w, dy = _problem()
    grads = {}
    for backward in ("fp8", "straight_through"):
        layer = ft.FP8Linear(384, 128, backward=backward)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(w))
        xt = torch.from_numpy(x).requires_grad_()
        layer(xt).backward(torch.from_numpy(dy))
        grads[backward] = (xt.grad.numpy(), layer.weight.grad.numpy(), layer.bias.grad.numpy())
    ex, ew = _formulas(x, w, dy)
    _close(grads["fp8"][0], ex)
    _close(grads["fp8"][1], ew)
    np.testing.assert_allclose(grads["fp8"][2], dy.sum(0), rtol=1e-5, atol=1e-7)
    # negative control: the straight-through backward multiplies unrounded gradients
    assert np.abs(grads["straight_through"][0] - ex).max() > 1e-3 * np.abs(ex).max()


def test_jax_fp8_backward_matches_the_formulas():
    x, w, dy = _problem(seed=1)
    params = {"kernel": jnp.asarray(w.T), "bias": jnp.zeros(128)}

    def loss(p, xx):
        return jnp.sum(fj.fp8_linear(p, xx, backward="fp8") * dy)

    g_params, g_x = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, jnp.asarray(x))
    ex, ew = _formulas(x, w, dy)
    _close(np.asarray(g_x), ex)
    _close(np.asarray(g_params["kernel"]).T, ew)


def test_three_frameworks_agree_on_linear_backward():
    x, w, dy = _problem(seed=2)
    dx, dw = linear_backward(x, w, dy)
    tdx, tdw = ft.linear_backward(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(dy))
    jdx, jdw = fj.linear_backward(x, w, dy)
    for got in (tdx.numpy(), np.asarray(jdx)):
        _close(got, dx)
    for got in (tdw.numpy(), np.asarray(jdw)):
        _close(got, dw)


def test_fp8_backward_pads_a_ragged_token_count_with_zeros():
    x, w, dy = _problem(m=128)
    layer = ft.FP8Linear(384, 128, backward="fp8")
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
    xt = torch.from_numpy(x[:100]).requires_grad_()
    layer(xt).backward(torch.from_numpy(dy[:100]))
    padded_x = np.concatenate([x[:100], np.zeros((28, 384), np.float32)])
    padded_dy = np.concatenate([dy[:100], np.zeros((28, 128), np.float32)])
    ex, ew = _formulas(padded_x, w, padded_dy)
    _close(xt.grad.numpy(), ex[:100])
    _close(layer.weight.grad.numpy(), ew)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda x: quantize(x),
        lambda x: fake_quantize(x, E4M3, "row"),
        lambda x: ft.quantize(torch.from_numpy(x)),
        lambda x: fj.quantize(x),
    ],
)
def test_float64_beyond_float32_raises(call):
    x = np.ones((1, 128))
    x[0, 3] = 1e39  # finite in float64, inf in float32: would give an inf scale and NaN codes
    with pytest.raises(ValueError, match="must fit in float32"):
        call(x)


def test_empty_input_and_zero_k_name_the_parameter():
    with pytest.raises(ValueError, match="x must not be empty"):
        quantize(np.zeros((0, 128), np.float32))
    with pytest.raises(ValueError, match="a must not be empty"):
        fp8_matmul(np.zeros((2, 0), np.float32), np.zeros((0, 2), np.float32), "row", "row")
    with pytest.raises(ValueError, match="a must not be empty"):
        ft.fp8_matmul(torch.zeros(2, 0), torch.zeros(0, 2), "row", "row")
    with pytest.raises(ValueError, match="a must not be empty"):
        fj.fp8_matmul(jnp.zeros((2, 0)), jnp.zeros((0, 2)), "row", "row")


def test_bad_options_name_the_parameter():
    with pytest.raises(ValueError, match="backward"):
        ft.FP8Linear(128, 128, backward="fp16")
    with pytest.raises(ValueError, match="scaling"):
        ft.FP8Linear(128, 128, scaling="row")
    with pytest.raises(TypeError, match="power_of_two"):
        quantize(np.ones((1, 128), np.float32), power_of_two="yes")
    with pytest.raises(ValueError, match="column_tile"):
        quantize(np.ones((100, 128), np.float32), E4M3, "column_tile")
    x, w, dy = _problem()
    with pytest.raises(ValueError, match="grad_output"):
        linear_backward(x, w, dy[:, :64])


def test_tensor_scaling_layer_uses_one_scale_per_tensor():
    x, w, _ = _problem(m=128)
    layer = ft.FP8Linear(384, 128, bias=False, scaling="tensor")
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
    got = layer(torch.from_numpy(x)).detach().numpy()
    expected = fake_quantize(x, E4M3, "tensor") @ fake_quantize(w, E4M3, "tensor").T
    _close(got, expected)
    fine = fake_quantize(x, E4M3, "tile") @ fake_quantize(w, E4M3, "block").T
    assert np.abs(got - fine).max() > 1e-4 * np.abs(fine).max()  # the granularity matters


def test_jax_fp8_backward_pads_a_ragged_token_count():
    x, w, dy = _problem(m=128, seed=3)
    params = {"kernel": jnp.asarray(w.T), "bias": jnp.zeros(128)}

    def loss(p, xx):
        return jnp.sum(fj.fp8_linear(p, xx, backward="fp8") * dy[:100])

    g_params, g_x = jax.grad(loss, argnums=(0, 1))(params, jnp.asarray(x[:100]))
    padded_x = np.concatenate([x[:100], np.zeros((28, 384), np.float32)])
    padded_dy = np.concatenate([dy[:100], np.zeros((28, 128), np.float32)])
    ex, ew = _formulas(padded_x, w, padded_dy)
    _close(np.asarray(g_x), ex[:100])
    _close(np.asarray(g_params["kernel"]).T, ew)


def test_frozen_scaling_keeps_the_first_max_abs_and_saturates_growth():
    # identity weight: every block's max-abs is 1, so the weight is exact and y = Q(x).
    # First call: x = 2 everywhere sets the input scale 2 / 448 (2 maps onto 448 exactly).
    # Second call: x = 8 would need the scale 8 / 448; the frozen scale clamps it to 448 * 2/448.
    for scaling, expected_second in (("frozen", 2.0), ("tensor", 8.0)):
        layer = ft.FP8Linear(128, 128, bias=False, scaling=scaling)
        with torch.no_grad():
            layer.weight.copy_(torch.eye(128))
        first = layer(torch.full((4, 128), 2.0))
        second = layer(torch.full((4, 128), 8.0))
        assert torch.equal(first, torch.full((4, 128), 2.0)), scaling
        assert torch.equal(second, torch.full((4, 128), expected_second)), scaling
    assert layer.frozen_amax == {}  # only the frozen recipe records anything
    # the backward's output gradient is frozen too: dy = 1e-3 first, then 1e-2 -> clamps to 1e-3
    layer = ft.FP8Linear(128, 128, bias=False, backward="fp8", scaling="frozen")
    with torch.no_grad():
        layer.weight.copy_(torch.eye(128))
    for dy, expected in ((1e-3, 1e-3), (1e-2, 1e-3)):
        x = torch.ones(128, 128, requires_grad=True)
        layer(x).backward(torch.full((128, 128), dy))
        assert torch.allclose(x.grad, torch.full((128, 128), expected), rtol=1e-6), dy
    assert set(layer.frozen_amax) == {"x", "w", "dy"}
    assert layer.frozen_amax["dy"] == np.float32(1e-3)
