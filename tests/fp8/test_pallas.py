"""The Pallas FP8 block-scaled GEMM (labs.fp8.pallas) in interpret mode against the NumPy reference.

The reference is `labs.fp8.reference.fp8_matmul(a, b, "tile", "block", "fp32")`: the same E4M3
codes and scales, summed in float32 with the scales folded in before the sum; the kernel applies
them to each K-block's partial sum. Both are float32, so they differ by rounding only: 1e-5
relative to max |C| (observed: about 5e-7).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

from labs.fp8.pallas import block_scaled_matmul, quantize_operands  # noqa: E402
from labs.fp8.reference import fp8_matmul, quantize  # noqa: E402

TOL = 1e-5  # float32 vs float32, the scales applied at a different point of the sum


def _operands(m, k, n, seed=0, outlier=True):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
    if outlier:
        a[0, 1] = 300.0  # an activation outlier: only its own 1 x block tile is coarsened
    return a, b


def _error(got, want):
    return np.abs(np.asarray(got) - want).max() / np.abs(want).max()


# (m, k, n, block, block_m): shared with the Triton twin's tests (tests/fp8/test_triton.py)
SHAPES = [
    (16, 32, 16, 8, 8),
    (10, 32, 24, 8, 4),  # M not a multiple of the row tile: padded (Pallas) or masked (Triton) rows
    (5, 256, 128, 128, 64),  # V3's block of 128, a single row tile
]


@pytest.mark.parametrize(("m", "k", "n", "block", "block_m"), SHAPES)
def test_matches_reference(m, k, n, block, block_m):
    a, b = _operands(m, k, n)
    got = block_scaled_matmul(a, b, block=block, block_m=block_m, interpret=True)
    want = fp8_matmul(a, b, "tile", "block", "fp32", block=block)
    assert got.shape == (m, n) and got.dtype == np.float32
    assert _error(got, want) < TOL


def test_negative_control_one_scale_per_tensor_fails():
    """The reference with per-tensor scales differs by far more than the tolerance (can fail)."""
    a, b = _operands(16, 64, 16)
    got = block_scaled_matmul(a, b, block=16, block_m=8, interpret=True)
    coarse = fp8_matmul(a, b, "tensor", "tensor", "fp32", block=16)
    assert _error(got, coarse) > 100 * TOL


def test_operands_match_reference_quantisation():
    """The kernel's FP8 codes and scales are the reference's (1 x block tiles, block x block)."""
    a, b = _operands(8, 32, 16)
    a_q, a_s, b_q, b_s = quantize_operands(a, b, block=8)
    _, want_a_s = quantize(a, "E4M3", "tile", 8)
    _, want_b_s = quantize(b.T, "E4M3", "block", 8)
    assert a_q.shape == (8, 32) and b_q.shape == (32, 16)
    np.testing.assert_array_equal(np.asarray(a_s), want_a_s)
    np.testing.assert_array_equal(np.asarray(b_s), want_b_s.T)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"block": 5}, "block"),  # does not divide K
        ({"block_m": 0}, "block_m"),
        ({"block_m": 10**6}, "block_m"),
        ({"interpret": "yes"}, "interpret"),
        ({"a": np.zeros((4, 8), np.int32)}, "a"),
        ({"b": np.full((32, 16), np.nan, np.float32)}, "b"),
    ],
)
def test_bad_input(change, match):
    a, b = _operands(8, 32, 16)
    kwargs = {"a": a, "b": b, "block": 8, "block_m": 8, **change}
    with pytest.raises((ValueError, TypeError), match=match):
        block_scaled_matmul(**kwargs)


def _has_fp8_gpu() -> bool:
    """An NVIDIA GPU with FP8 tensor cores: compute capability 8.9 (Ada) or more; an A100 (8.0)
    has none, and the kernel's FP8 dot would not compile there."""
    import jax

    try:
        devices = jax.devices("gpu")
    except RuntimeError:  # no GPU backend in this jaxlib
        return False
    capability = getattr(devices[0], "compute_capability", None) if devices else None
    if capability is None:
        return bool(devices)  # a jaxlib that does not say: let the test try
    parts = str(capability).split(".")  # "9.0"; read "90" as 9.0 too
    major, minor = (int(parts[0]), int(parts[1])) if len(parts) > 1 else divmod(int(parts[0]), 10)
    return (major, minor) >= (8, 9)


@pytest.mark.gpu
@pytest.mark.skipif(not _has_fp8_gpu(), reason="needs an NVIDIA GPU with FP8 tensor cores (sm_89+)")
def test_compiled_on_gpu_matches_reference():
    """The same source compiled (interpret=False) at V3's block of 128, M not a tile multiple."""
    a, b = _operands(200, 512, 256)
    got = block_scaled_matmul(a, b, block=128, block_m=64, interpret=False)
    want = fp8_matmul(a, b, "tile", "block", "fp32", block=128)
    # Hopper's FP8 tensor cores keep about 14 bits of each K-block's partial sum (V3 §3.3), far
    # coarser than the reference's FP32: 2e-3 of max |C| holds that, a wrong scale misses it
    assert _error(got, want) < 2e-3
    # the control: the per-tensor recipe, 0.063 from the block-scaled one in NumPy
    coarse = fp8_matmul(a, b, "tensor", "tensor", "fp32", block=128)
    assert _error(got, coarse) > 10 * 2e-3


def test_parity_numpy_pytorch_pallas():
    """The same GEMM three times: NumPy reference, the PyTorch simulation of chapter 2 and the
    Pallas kernel; all float32 with the same codes and scales, so they differ by rounding only."""
    torch = pytest.importorskip("torch")
    from labs.fp8 import torch as fp8_torch

    a, b = _operands(24, 64, 32, seed=3)
    want = fp8_matmul(a, b, "tile", "block", "fp32", block=16)
    pytorch = fp8_torch.fp8_matmul(
        torch.from_numpy(a), torch.from_numpy(b), "tile", "block", "fp32", block=16
    )
    pallas = block_scaled_matmul(a, b, block=16, block_m=8, interpret=True)
    assert _error(pytorch.numpy(), want) < TOL and _error(pallas, want) < TOL
    assert _error(pallas, pytorch.numpy()) < TOL


# --- Lowering for the devices this machine lacks: the same source as Triton and as Mosaic ---


def _v3_gemm_args(m=200, k=1024, n=512, block=128):
    """Abstract FP8 operands and scales (nothing allocated); M is not a multiple of the tile."""
    import jax
    import jax.numpy as jnp

    sd = jax.ShapeDtypeStruct
    return (
        sd((m, k), jnp.float8_e4m3fn),
        sd((m, k // block), jnp.float32),
        sd((k, n), jnp.float8_e4m3fn),
        sd((k // block, n // block), jnp.float32),
    )


def test_lowers_to_triton_with_an_fp8_dot_for_an_nvidia_gpu():
    """One Triton kernel on the (M / Mt, N / 128) grid, whose dot takes FP8 operands."""
    import re

    from labs.common.pallas import lower_for
    from labs.fp8.pallas import _block_scaled_matmul

    text = lower_for(
        lambda *a: _block_scaled_matmul(*a, 128, 64, "gpu", 4), _v3_gemm_args(), platform="cuda"
    )
    assert re.findall(r"custom_call @([\w$.]+)", text) == ["__gpu$xla.gpu.triton"]
    assert [int(g) for g in re.findall(r"grid_[xyz] = (\d+)", text)] == [4, 4, 1]  # 256/64, 512/128


@pytest.mark.parametrize("tpu", ["TPU v5 lite", "TPU v6 lite", "TPU7x"])
def test_lowers_to_mosaic_for_a_tpu(tpu):
    """Each block's last two dimensions are (8, 128)-aligned or whole: the weight's block scales
    are repeated along the block's 128 columns, a's tile scales are picked with a mask."""
    from labs.common.pallas import lower_for
    from labs.fp8.pallas import _block_scaled_matmul

    text = lower_for(
        lambda *a: _block_scaled_matmul(*a, 128, 64, "tpu"),
        _v3_gemm_args(),
        platform="tpu",
        tpu_kind=tpu,
    )
    assert "tpu_custom_call" in text
