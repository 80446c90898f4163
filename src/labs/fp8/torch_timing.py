"""Chapter 2's real FP8 GEMMs on a GPU: `torch._scaled_mm` and the timings of "When does FP8 pay?".

`scaled_mm_supported` says whether this machine has FP8 tensor cores (a CUDA GPU of compute
capability 8.9 or higher: Ada, Hopper, Blackwell); `scaled_mm` runs one GEMM on them with
per-tensor E4M3 scales; `gemm_throughput` and `linear_timings` time BF16 against FP8 GEMMs (the
latter with the quantisation timed apart). Where there are no FP8 tensor cores they raise
RuntimeError with the reason. `labs.fp8.torch` re-exports the public names here.

Shapes: M, K, N of the GEMM a (M, K) @ b (K, N). Taught in chapter 2, "When does FP8 pay?".
"""

from __future__ import annotations

import time

import torch
from jaxtyping import Float

from labs.fp8 import checks
from labs.fp8.formats import E4M3
from labs.fp8.torch_kernels import _quantize

__all__ = [
    "SCALED_MM_CAPABILITY",
    "gemm_throughput",
    "linear_timings",
    "scaled_mm",
    "scaled_mm_supported",
]

Tensor = torch.Tensor

SCALED_MM_CAPABILITY = (8, 9)


def scaled_mm_supported(device=None) -> tuple[bool, str]:
    """(True, device name) if `torch._scaled_mm` can run here, else (False, the reason)."""
    device = checks.check_device(device)
    if not torch.cuda.is_available():
        return False, "torch._scaled_mm needs a CUDA GPU of compute capability >= 8.9; none here"
    if device.type != "cuda":
        return False, f"torch._scaled_mm runs on a CUDA GPU, not on {device}"
    index = device.index or 0
    capability = torch.cuda.get_device_capability(index)
    name = torch.cuda.get_device_name(index)
    if capability < SCALED_MM_CAPABILITY:
        return False, (
            f"torch._scaled_mm needs compute capability >= 8.9 (Ada, Hopper); {name} has "
            f"{capability[0]}.{capability[1]}"
        )
    return True, name


def scaled_mm(a: torch.Tensor, b: torch.Tensor, out_dtype=torch.bfloat16) -> torch.Tensor:
    """a (M, K) @ b (K, N) on FP8 tensor cores, per-tensor E4M3 scales, via torch._scaled_mm.

    Needs a CUDA device of capability >= 8.9 and M, K, N multiples of 16. `b` is passed
    column-major, as cuBLASLt requires.
    """
    a, b = checks.check_scaled_mm(a, b, out_dtype)
    checks.check_cuda_operands(a, b, scaled_mm_supported())
    return _scaled_mm(a, b, out_dtype)


def _scaled_mm(a: Float[Tensor, "M K"], b: Float[Tensor, "K N"], out_dtype) -> Tensor:
    """Per-tensor E4M3 quantisation of both operands, then one FP8 tensor-core GEMM."""
    qa, sa = _quantize(a.float(), E4M3, "tensor", 1)
    qb, sb = _quantize(b.T.contiguous().float(), E4M3, "tensor", 1)  # (N, K) row-major
    return torch._scaled_mm(qa, qb.T, scale_a=sa, scale_b=sb, out_dtype=out_dtype)


def gemm_throughput(n: int = 4096, repeats: int = 20) -> dict:
    """Time an n x n x n GEMM in BF16 and in FP8 (`scaled_mm`) on the GPU.

    n: a multiple of 16 up to 2**14 (three n x n float32 matrices must fit in memory);
    repeats: 1..10000.

    Returns dict(device, bf16_tflops, fp8_tflops, ratio = fp8 / bf16). Raises RuntimeError with
    the reason where FP8 GEMMs are unavailable.
    """
    n, repeats = checks.check_gemm_timing(n, repeats)
    supported = scaled_mm_supported()
    checks.check_cuda_operands(None, None, supported)
    name = supported[1]
    gen = torch.Generator(device="cuda").manual_seed(0)
    a = torch.randn(n, n, device="cuda", generator=gen)
    b = torch.randn(n, n, device="cuda", generator=gen)
    qa, sa = _quantize(a, E4M3, "tensor", 1)
    qb, sb = _quantize(b.T.contiguous(), E4M3, "tensor", 1)
    a16, b16 = a.bfloat16(), b.bfloat16()

    t16 = _cuda_seconds(lambda: a16 @ b16, repeats)
    t8 = _cuda_seconds(
        lambda: torch._scaled_mm(qa, qb.T, scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16),
        repeats,
    )
    flops = 2 * n**3
    return {
        "device": name,
        "bf16_tflops": flops / t16 / 1e12,
        "fp8_tflops": flops / t8 / 1e12,
        "ratio": t16 / t8,
    }


def _cuda_seconds(fn, repeats: int) -> float:
    """Mean seconds of `fn()` on the GPU, after one warm-up call."""
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def linear_timings(sizes=(256, 512, 1024, 2048, 4096, 8192), repeats: int = 10) -> list[dict]:
    """Measure "When does FP8 pay?": for each n, the seconds of an n x n x n GEMM from BF16
    inputs, in BF16 and in FP8 (per-tensor E4M3 quantisation of both inputs, unfused, then
    `torch._scaled_mm`), on the GPU.

    The FP8 layer is also timed in its two parts, so that a crossover later than the cost
    model's can be traced to its cause: the quantisation here is torch's eager code, several
    elementwise kernels that each pass over the whole tensor, not the single 3-byte pass of the
    model's eq. (7).

    sizes: 1 to 16 multiples of 16, each at most 2**14; repeats: 1..10000. Returns a list of
    dict(n, bf16_s, fp8_s, quantize_s, gemm_s): fp8_s is quantisation then FP8 GEMM, quantize_s
    the quantisation of both inputs alone, gemm_s the FP8 GEMM alone on quantised inputs.
    Raises RuntimeError with the reason where FP8 GEMMs are unavailable.
    """
    sizes, repeats = checks.check_timing_sizes(sizes, repeats)
    supported = scaled_mm_supported()
    checks.check_cuda_operands(None, None, supported)
    return _linear_timings(sizes, repeats, "cuda", _cuda_seconds)


def _linear_timings(sizes: list[int], repeats: int, device: str, seconds) -> list[dict]:
    """The timings of `linear_timings` on `device`, each from `seconds(fn, repeats)`."""
    rows = []
    for n in sizes:
        gen = torch.Generator(device=device).manual_seed(n)
        a = torch.randn(n, n, device=device, generator=gen).bfloat16()  # (M, K)
        b = torch.randn(n, n, device=device, generator=gen).bfloat16()  # (K, N)

        def quantize_both(a=a, b=b):
            qa, sa = _quantize(a.float(), E4M3, "tensor", 1)
            qb, sb = _quantize(b.T.contiguous().float(), E4M3, "tensor", 1)  # (N, K) row-major
            return qa, sa, qb, sb

        def gemm(qa, sa, qb, sb):
            return torch._scaled_mm(qa, qb.T, scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16)

        quantized = quantize_both()
        rows.append(
            {
                "n": n,
                "bf16_s": seconds(lambda a=a, b=b: a @ b, repeats),
                "fp8_s": seconds(lambda f=quantize_both: gemm(*f()), repeats),
                "quantize_s": seconds(quantize_both, repeats),
                "gemm_s": seconds(lambda q=quantized: gemm(*q), repeats),
            }
        )
    return rows
