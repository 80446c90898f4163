"""The scaling-recipe tour, the cost model of "When does FP8 pay?", and the new experiment
tensors: hand-worked values and closed forms computed independently of the code."""

import math

import numpy as np
import pytest

from labs.fp8 import channel_outlier_activations, gradient_like
from labs.fp8.cost import crossover_size, linear_layer_times
from labs.fp8.recipes import compare_recipes, fake_quantize_with_scale, mx_scales


def test_mx_scales_by_hand():
    x = np.zeros((1, 64), np.float32)
    x[0, 0] = 448.0  # floor(log2 448) = 8 -> 2^(8 - 8) = 1
    x[0, 40] = 1.0  # floor(log2 1) = 0 -> 2^-8
    np.testing.assert_array_equal(mx_scales(x), [[1.0, 2.0**-8]])
    x[0, 0] = 500.0  # floor(log2 500) = 8 as well: 500 / 1 > 448 clamps to 448
    assert mx_scales(x)[0, 0] == 1.0
    assert fake_quantize_with_scale(np.array([500.0], np.float32), np.float32(1.0))[0] == 448.0


def test_delayed_scaling_saturates_on_a_spike_and_current_does_not():
    rng = np.random.default_rng(0)
    steady = [rng.standard_normal((128, 256)).astype(np.float32) for _ in range(4)]
    spike = 8 * rng.standard_normal((128, 256)).astype(np.float32)
    errors = compare_recipes([*steady, spike], history=16)
    assert errors["saturated"][:4].max() < 0.01 and errors["saturated"][4] > 0.5
    assert errors["delayed"][4] > 10 * errors["current"][4]
    # without a spike, every recipe errs by E4M3's ~2.6-3% (3 mantissa bits)
    for name in ("delayed", "current", "blockwise", "mxfp8"):
        assert 0.02 < errors[name][1] < 0.035, name


def test_compare_recipes_rejects_bad_input():
    with pytest.raises(TypeError, match="tensors"):
        compare_recipes(np.ones((2, 128, 128), np.float32))
    with pytest.raises(ValueError, match="tensors"):
        compare_recipes([np.ones((4, 128), np.float32), np.ones((4, 256), np.float32)])
    with pytest.raises(ValueError, match="all zeros"):
        compare_recipes([np.zeros((4, 128), np.float32)])


def test_crossover_matches_the_closed_form():
    # compute-bound on both sides: 2 n^3 (1/P16 - 1/P8) = 6 n^2 / B  ->  n = 3 / (B (1/P16 - 1/P8))
    p16, p8, bw = 1000e12, 2000e12, 3000e9
    closed = 3 / (bw * (1 / p16 - 1 / p8))  # = 2000
    got = crossover_size(bf16_tflops=1000, fp8_tflops=2000, memory_gbs=3000)
    assert got == pytest.approx(closed, rel=1e-9) and round(closed) == 2000


def test_no_fp8_tensor_cores_never_pays():
    assert math.isinf(crossover_size(bf16_tflops=65, fp8_tflops=None, memory_gbs=320))
    assert math.isinf(crossover_size(bf16_tflops=100, fp8_tflops=100, memory_gbs=1000))
    t = linear_layer_times(4096, 4096, 4096, bf16_tflops=65, fp8_tflops=None, memory_gbs=320)
    assert t["fp8"] > t["bf16"]


def test_linear_layer_times_by_hand():
    # m = k = n = 1000 on 1 TFLOP/s BF16, 2 TFLOP/s FP8, 1000 GB/s
    t = linear_layer_times(1000, 1000, 1000, bf16_tflops=1, fp8_tflops=2, memory_gbs=1000)
    # bf16: max(2e9 / 1e12, 6e6 / 1e12) = 2e-3 s; quantise: 6e6 / 1e12 = 6e-6 s
    # fp8 GEMM: max(2e9 / 2e12, 4e6 / 1e12) = 1e-3 s
    assert t["bf16"] == pytest.approx(2e-3)
    assert t["quantize"] == pytest.approx(6e-6)
    assert t["fp8"] == pytest.approx(1e-3 + 6e-6)
    with pytest.raises(ValueError, match="m must be"):
        linear_layer_times(0, 1, 1, bf16_tflops=1, fp8_tflops=2, memory_gbs=1)


def test_channel_outliers_sit_in_fixed_columns():
    x = channel_outlier_activations(64, 256, channels=3, outlier_scale=1000.0, seed=0)
    big = np.abs(x) > 50
    columns = np.flatnonzero(big.any(axis=0))
    assert len(columns) == 3
    assert big[:, columns].mean() > 0.9  # almost every token is large in those channels


def test_gradient_like_rows_span_the_decades():
    g = gradient_like(512, 128, decades=6.0, seed=0)
    row_rms = np.sqrt((g.astype(np.float64) ** 2).mean(axis=1))
    spread = np.log10(row_rms.max() / row_rms.min())
    assert 5.0 < spread < 6.5
