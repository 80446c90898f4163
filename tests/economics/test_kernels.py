"""The matrix multiply the chapter times: NumPy, PyTorch and JAX agree on the same inputs, and
the timers report a plausible figure (on a GPU: a percentage of the registry's peak)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from labs.economics import (
    HARDWARE,
    hardware_for_device_name,
    matmul,
    matmul_flops,
    matmul_ridge_size,
    measure_matmul_tflops,
)
from labs.economics import jax as econ_jax
from labs.economics import torch as econ_torch
from tests.conftest import requires_gpu


def inputs(dtype, m=16, k=64, n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)


def test_three_frameworks_agree_in_float32():
    # float32 with k = 64 terms per dot product, summed in different orders by each library:
    # the rounding error is a few units of 2**-24 times sqrt(k) times the magnitude (~8).
    x, w = inputs(np.float32)
    expected = x.astype(np.float64) @ w.astype(np.float64)  # the exact product, to 1e-15
    got_np = matmul(x, w)
    got_torch = econ_torch.Matmul(torch.from_numpy(w))(torch.from_numpy(x)).numpy()
    got_jax = np.asarray(econ_jax.matmul({"w": jnp.asarray(w)}, jnp.asarray(x)))
    for got in (got_np, got_torch, got_jax):
        assert got.shape == (16, 24) and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_numpy_and_torch_agree_in_float64():
    # float64: agreement to ~1e-13 relative, far below any FLOP count we derive from it.
    x, w = inputs(np.float64, seed=1)
    got_torch = econ_torch.Matmul(torch.from_numpy(w))(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got_torch, matmul(x, w), rtol=1e-12, atol=1e-12)


def test_matmul_by_hand_and_its_flop_count():
    x = np.array([[1.0, 2.0]])
    w = np.array([[3.0], [4.0]])
    assert matmul(x, w).tolist() == [[11.0]]  # 1 x 3 + 2 x 4
    assert matmul_flops(1, 2, 1) == 4  # two multiplies and two adds (the first add is to 0)
    assert matmul_flops(512, 512, 512) == 2 * 512**3


def test_ridge_size_is_where_intensity_meets_the_ridge():
    # At n* the product's FLOPs per byte moved, 2 n^3 / (3 n^2 b), equal the chip's peak over its
    # bandwidth; a factor of 2 or 3 dropped from either count moves n* off that point.
    for spec in HARDWARE.values():
        half = "bf16" if spec.bf16_tflops is not None else "fp16"
        n = matmul_ridge_size(spec.peak_tflops(half), spec.memory_gbs, 2)
        intensity = 2 * n**3 / (3 * n**2 * 2)
        assert intensity == pytest.approx(spec.peak_tflops(half) * 1e3 / spec.memory_gbs)
    # Hand values: 100 TFLOP/s from 1,000 GB/s is a ridge of 100 FLOPs per byte; in FP32 (4 bytes)
    # n* = 1.5 x 4 x 100 = 600, twice the BF16 size.
    assert matmul_ridge_size(100.0, 1000.0, 4) == pytest.approx(600.0)
    assert matmul_ridge_size(100.0, 1000.0, 2) == pytest.approx(300.0)
    with pytest.raises(ValueError, match="memory_gbs must be > 0"):
        matmul_ridge_size(100.0, 0.0, 2)
    with pytest.raises(TypeError, match="bytes_per_element"):
        matmul_ridge_size(100.0, 1000.0, "2")


def test_jax_matmul_is_jittable_and_pure():
    params = econ_jax.init_matmul(jax.random.key(0), 8, 4)
    x = jnp.ones((3, 8))
    assert jax.jit(econ_jax.matmul)(params, x).shape == (3, 4)
    np.testing.assert_allclose(econ_jax.matmul(params, x), x @ params["w"], rtol=1e-6)


@pytest.mark.parametrize(
    "timer",
    [measure_matmul_tflops, econ_torch.measure_matmul_tflops, econ_jax.measure_matmul_tflops],
)
def test_timers_return_a_plausible_figure(timer):
    # A CPU core does between about 1e-4 and 5 TFLOP/s on a 64^3 product: a FLOP count off by a
    # factor of n, or seconds taken as milliseconds, lands outside this band.
    tflops = timer(n=64, repeats=2)
    assert 1e-5 < tflops < 50


def test_bad_input():
    with pytest.raises(ValueError, match="must match"):
        matmul(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="2-D"):
        matmul(np.ones(3), np.ones((3, 2)))
    with pytest.raises(TypeError, match="floating"):
        matmul(np.ones((2, 2), dtype=int), np.ones((2, 2)))
    with pytest.raises(ValueError, match="m must be >= 1"):
        matmul_flops(0, 1, 1)
    with pytest.raises(TypeError, match="floating"):
        measure_matmul_tflops(dtype=np.int32)
    with pytest.raises(ValueError, match="shape"):
        econ_torch.Matmul(torch.ones(3, 2))(torch.ones(2, 2))
    with pytest.raises(TypeError, match="floating"):
        econ_torch.Matmul(torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match="floating"):
        econ_torch.measure_matmul_tflops(dtype=torch.int32)
    with pytest.raises(TypeError, match="floating"):
        econ_jax.measure_matmul_tflops(dtype=jnp.int32)


@requires_gpu
def test_gpu_bf16_matmul_as_a_share_of_the_registry_peak():
    name = torch.cuda.get_device_name(0)
    measured = econ_torch.measure_matmul_tflops(n=8192, dtype=torch.bfloat16, device="cuda")
    baseline = econ_torch.measure_matmul_tflops(n=8192, dtype=torch.float32, device="cuda")
    spec = hardware_for_device_name(name)
    print(f"{name}: bf16 {measured:.1f} TFLOP/s, {measured / baseline:.2f}x float32 in this run")
    if spec is not None:
        precision = "bf16" if spec.bf16_tflops is not None else "fp16"
        share = measured / spec.peak_tflops(precision)
        print(f"{share:.1%} of the {spec.name} dense {precision} peak")
        assert 0.05 < share <= 1.05  # above the datasheet's peak means a timing bug
