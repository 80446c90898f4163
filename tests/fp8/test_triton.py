"""The Triton FP8 block-scaled GEMM (labs.fp8.triton) against the NumPy reference and its Pallas
twin. On this CPU Triton runs it in its interpreter; both sides are float32 with the same codes
and scales, so 1e-5 of max |C| holds (observed: below 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from labs.common import triton_setup  # noqa: E402

try:  # through the course's loader, which picks the interpreter before Triton is imported
    triton_setup.load()
except ImportError:
    pytest.skip("Triton is not installed (it is Linux-only)", allow_module_level=True)

from labs.fp8 import triton as fp8_triton  # noqa: E402
from labs.fp8.reference import fp8_matmul  # noqa: E402
from tests.fp8.test_pallas import SHAPES, TOL, _error, _operands  # noqa: E402


@pytest.mark.parametrize(("m", "k", "n", "block", "block_m"), SHAPES)
def test_matches_reference_recipe(m, k, n, block, block_m):
    a, b = _operands(m, k, n)
    got = fp8_triton.block_scaled_matmul(
        torch.from_numpy(a), torch.from_numpy(b), block=block, block_m=block_m
    )
    assert got.shape == (m, n) and got.dtype == torch.float32
    assert _error(got.numpy(), fp8_matmul(a, b, "tile", "block", "fp32", block=block)) < TOL


def test_parity_with_pallas_and_the_control():
    """Triton and Pallas agree to rounding; the per-tensor recipe, which the outlier in a's first
    row coarsens everywhere, misses the tolerance by far."""
    from labs.fp8.pallas import block_scaled_matmul as pallas_matmul

    a, b = _operands(24, 64, 32, seed=3)
    got = fp8_triton.block_scaled_matmul(torch.from_numpy(a), torch.from_numpy(b), 16, 8).numpy()
    pallas = np.asarray(pallas_matmul(a, b, block=16, block_m=8, interpret=True))
    assert _error(got, pallas) < TOL
    control = fp8_matmul(a, b, "tensor", "tensor", "fp32", block=16)
    assert _error(got, control) > 100 * TOL


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"block": 12}, ValueError, "block"),  # divides K = 48 and N = 24 but is no power of two
        ({"block": 8, "block_m": 6}, ValueError, "block_m must be a power of two"),
        ({"block": 8, "block_m": 512}, ValueError, "block_m"),
        ({"block": 8, "num_warps": 5}, ValueError, "num_warps"),
        ({"block": 8, "max_num_imprecise_acc": 16}, ValueError, "max_num_imprecise_acc"),
        ({"block": 8, "max_num_imprecise_acc": -1}, ValueError, "max_num_imprecise_acc"),
        ({"block": 8, "max_num_imprecise_acc": 2.5}, TypeError, "max_num_imprecise_acc"),
    ],
)
def test_bad_input(kwargs, error, match):
    a, b = _operands(8, 48, 24)
    with pytest.raises(error, match=match):
        fp8_triton.block_scaled_matmul(torch.from_numpy(a), torch.from_numpy(b), **kwargs)


def test_imprecise_accumulation_keyword_reaches_the_interpreted_kernel():
    """With the keyword set, the interpreted kernel still launches and matches the reference.

    The interpreter adds in float32 whatever the setting, so its effect is not visible here:
    tests/bench/test_aot.py checks it in the PTX lowered for sm_90 (add.f32 after every WGMMA)."""
    a, b = _operands(16, 64, 32, seed=5)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    every = fp8_triton.block_scaled_matmul(ta, tb, 32, 8, max_num_imprecise_acc=32).numpy()
    assert _error(every, fp8_matmul(a, b, "tile", "block", "fp32", block=32)) < TOL


def test_numpy_operands_are_refused():
    a, b = _operands(8, 32, 16)
    with pytest.raises(TypeError, match="a must be"):
        fp8_triton.block_scaled_matmul(a, torch.from_numpy(b), block=8)


@pytest.mark.gpu
@pytest.mark.skipif(
    not (torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 9)),
    reason="needs an NVIDIA GPU with FP8 tensor cores (sm_89+)",
)
def test_compiled_on_gpu_matches_reference():
    """Compiled at V3's block of 128, M not a tile multiple."""
    a, b = _operands(200, 512, 256)
    got = fp8_triton.block_scaled_matmul(
        torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda(), block=128, block_m=64
    )
    want = fp8_matmul(a, b, "tile", "block", "fp32", block=128)
    assert _error(got.cpu().numpy(), want) < 2e-3  # Hopper's FP8 accumulation keeps ~14 bits
    # the control: the per-tensor recipe, 0.063 from the block-scaled one in NumPy
    coarse = fp8_matmul(a, b, "tensor", "tensor", "fp32", block=128)
    assert _error(got.cpu().numpy(), coarse) > 10 * 2e-3


@pytest.mark.gpu
@pytest.mark.skipif(
    not (torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 9)),
    reason="needs an NVIDIA GPU with FP8 tensor cores (sm_89+)",
)
def test_compiled_promotion_every_instruction_matches_reference():
    """With the partial sums promoted to FP32 after every 32 products (one FP8 WGMMA on Hopper),
    the kernel's error against the reference, which sums each K-block exactly in float32, is
    float32 rounding plus the tensor cores' own products: it must meet the same 2e-3. Prints the
    error at Triton's default beside it (on sm_90: the whole K-block in reduced precision)."""
    a, b = _operands(200, 512, 256)
    ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
    want = fp8_matmul(a, b, "tile", "block", "fp32", block=128)
    errors = {
        acc: _error(
            fp8_triton.block_scaled_matmul(ta, tb, 128, 64, max_num_imprecise_acc=acc)
            .cpu()
            .numpy(),
            want,
        )
        for acc in (None, 128, 32)
    }
    print("FP8 GEMM error against the reference, by max_num_imprecise_acc:", errors)
    assert errors[32] < 2e-3, errors
