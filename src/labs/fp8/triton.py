"""DeepSeek-V3's FP8 block-scaled GEMM (§3.3) as a Triton kernel, for PyTorch readers.

The twin of `labs.fp8.pallas`, over torch tensors. The activation `a` (M, K) is quantised to
E4M3 with one scale per 1 x block tile, the weight `b` (K, N) with one scale per block x block
block (chapter 2's `labs.fp8.torch.quantize`). One program computes one (block_m, block) tile of
the output: for each K-block it loads a (block_m, block) strip of a's codes and a
(block, block) block of b's, multiplies them with an FP32 result (`tl.dot`: the tensor cores on
a GPU) and adds that partial sum to an FP32 accumulator after scaling it by the K-block's two
scales, V3's promotion every N_C = 128 elements:

    C[m, n] = sum_k  s^a[m, k] * s^b[k, n] * sum_{i in K-block k} q^a[m, i] q^b[i, n]

Rows past M are masked on load and store, so M need not be a multiple of block_m.

On a machine with a CUDA GPU Triton compiles the kernel (FP8 `tl.dot` needs an sm_89 or newer
GPU: Ada, Hopper); elsewhere it runs in Triton's interpreter (`labs.common.triton_setup`), which
is how the tests check it against `labs.fp8.reference.fp8_matmul` on a CPU. Taught in chapter 8.
"""

from __future__ import annotations

import functools

import torch

from labs.common import triton_setup, validate
from labs.fp8 import checks
from labs.fp8.formats import E4M3
from labs.fp8.torch_kernels import _quantize

try:
    _, tl, _ = triton_setup.load()  # interpreted where torch sees no CUDA GPU
except ImportError:  # macOS, Windows, or an install without Triton: the call says so
    tl = None

__all__ = ["block_scaled_matmul"]

MAX_BLOCK_M = 256  # rows of one output tile: a GPU's registers hold a (block_m, block) FP32 tile


def _fp8_gemm_kernel(
    a_ptr,  # (M, K) FP8 codes of the activation
    a_scale_ptr,  # (M, K / block) its tile scales
    b_ptr,  # (K, N) FP8 codes of the weight
    b_scale_ptr,  # (K / block, N / block) its block scales
    out_ptr,  # (M, N) float32
    m,
    n,
    k,
    BLOCK: tl.constexpr,  # noqa: N803 (Triton spells compile-time constants in capitals)
    BLOCK_M: tl.constexpr,  # noqa: N803
    IMPRECISE_ACC: tl.constexpr,  # noqa: N803 (Triton's max_num_imprecise_acc; None: its default)
):
    """One (block_m, block) output tile: FP8 products per K-block, scaled, summed in FP32."""
    i, j = tl.program_id(0), tl.program_id(1)
    rows = i * BLOCK_M + tl.arange(0, BLOCK_M)  # this tile's rows of a and of the output
    cols = j * BLOCK + tl.arange(0, BLOCK)  # its columns of b and of the output
    inner = tl.arange(0, BLOCK)
    in_range = rows < m  # the last row tile may run past M
    k_blocks = k // BLOCK
    acc = tl.zeros((BLOCK_M, BLOCK), tl.float32)
    for kb in range(0, k_blocks):
        ks = kb * BLOCK + inner
        a = tl.load(a_ptr + rows[:, None] * k + ks[None, :], mask=in_range[:, None], other=0.0)
        b = tl.load(b_ptr + ks[:, None] * n + cols[None, :])  # (block, block) FP8
        # FP8 x FP8, FP32 out: the tensor cores' job, which add IMPRECISE_ACC products at a time
        # in their own reduced precision before the result joins an FP32 sum
        partial_sum = tl.dot(a, b, max_num_imprecise_acc=IMPRECISE_ACC)
        a_scale = tl.load(a_scale_ptr + rows * k_blocks + kb, mask=in_range, other=1.0)
        b_scale = tl.load(b_scale_ptr + kb * (n // BLOCK) + j)  # one scale for the block
        acc += partial_sum * (a_scale[:, None] * b_scale)  # promotion: scaled, then added
    tl.store(out_ptr + rows[:, None] * n + cols[None, :], acc, mask=in_range[:, None])


@functools.cache
def _kernel():
    """The kernel, jitted on first use (compiled or interpreted, as `triton_setup` chose)."""
    return triton_setup.jit(_fp8_gemm_kernel)


def block_scaled_matmul(
    a: torch.Tensor,
    b: torch.Tensor,
    block: int = 128,
    block_m: int = 64,
    num_warps: int | None = None,
    max_num_imprecise_acc: int | None = None,
) -> torch.Tensor:
    """a (M, K) @ b (K, N) as V3's FP8 GEMM: quantise (E4M3, 1 x block / block x block), then
    the Triton kernel with FP32 accumulation and the scales applied per K-block.

    It agrees with `labs.fp8.reference.fp8_matmul(a, b, "tile", "block", "fp32", block=block)`
    up to float32 rounding, like its Pallas twin `labs.fp8.pallas.block_scaled_matmul`.

    Args:
        a: finite float tensor (M, K). b: finite float tensor (K, N) on a's device; block
            divides K and N.
        block: the scaling group and the kernel's K and N tile, 128 in V3; a power of two.
        block_m: rows of one output tile, a power of two from 1 to 256; M need not be a
            multiple of it.
        num_warps: Triton's hint for a compiled kernel (a power of two, 1 ... 32; None: 4).
        max_num_imprecise_acc: how many FP8 products of a K-block the tensor cores may add in
            their reduced precision (about 14 bits, V3 §3.3) before the sum is promoted to FP32:
            Triton's `tl.dot` argument of that name, an integer from 0 to `block`. None: Triton's
            default, which on Hopper (sm_90) chains the K-block's four WGMMAs (V3's
            N_C = 128); 32, one FP8 WGMMA's K, adds each one's result into FP32; 0 makes
            Triton leave the FP8 tensor cores (FP16 codes on Ampere's mma.sync). Lowered on a
            CPU in `tests/bench/test_aot.py`. A compiled kernel's setting only: the
            interpreter accumulates in float32 whatever it says.

    Returns:
        float32 tensor (M, N) on a's device.
    """
    a, b, _, block = checks.check_fp8_matmul(
        a, b, "tile", "block", "fp32", block, "E4M3", framework="torch"
    )
    block_m = validate.power_of_two("block_m", block_m, maximum=MAX_BLOCK_M, why="Triton's tiles")
    validate.power_of_two("block", block, maximum=2**16, why="Triton's tiles")
    if a.device != b.device:
        raise ValueError(f"a and b must be on one device, got {a.device} and {b.device}")
    triton_setup.require_device(a.device)
    _, _, interpreted = triton_setup.load()
    if not interpreted and block < 32:  # a compiled FP8 tl.dot contracts over at least 32
        raise ValueError(f"block must be >= 32 for Triton's compiled FP8 dot, got {block}")
    if num_warps is not None:
        num_warps = validate.power_of_two("num_warps", num_warps, maximum=32)
    if max_num_imprecise_acc is not None:
        max_num_imprecise_acc = validate.integer(
            "max_num_imprecise_acc", max_num_imprecise_acc, minimum=0, maximum=block
        )
    operands = _quantize_operands(a, b, block)
    return _launch(
        *operands, block, block_m, None if interpreted else num_warps, max_num_imprecise_acc
    )


def _quantize_operands(a: torch.Tensor, b: torch.Tensor, block: int):
    """V3's E4M3 codes and scales: 1 x block tiles of a, block x block blocks of b."""
    a_q, a_scales = _quantize(a.float(), E4M3, "tile", block)  # (M, K), (M, Kb)
    b_q_t, b_scales_t = _quantize(b.float().T, E4M3, "block", block)  # groups run along K
    b_q, b_scales = b_q_t.T.contiguous(), b_scales_t.T.contiguous()  # (K, N), (Kb, N / block)
    return a_q.contiguous(), a_scales.contiguous(), b_q, b_scales


def _launch(
    a_q, a_scales, b_q, b_scales, block: int, block_m: int, num_warps, imprecise_acc=None
) -> torch.Tensor:
    """The kernel on quantised operands: a grid of (M / block_m, N / block) output tiles."""
    (m, k), n = a_q.shape, b_q.shape[1]
    out = torch.empty(m, n, dtype=torch.float32, device=a_q.device)
    options = {} if num_warps is None else {"num_warps": num_warps}
    _kernel()[(-(-m // block_m), n // block)](
        a_q,
        a_scales,
        b_q,
        b_scales,
        out,
        m,
        n,
        k,
        BLOCK=block,
        BLOCK_M=block_m,
        IMPRECISE_ACC=imprecise_acc,
        **options,
    )
    return out
