"""Chapter 2's bare PyTorch kernels that the layer and the GPU timings build on.

The FP8 cast with an explicit overflow rule (`_to_fp8`), quantisation with one scale per group
(eq. 3: `_quantize`, `_dequantize`, `_fake_quantize`) and the GEMM summed in a limited
accumulator (`_limited_matmul`). No input checks here: the public functions of `labs.fp8.torch`
check their arguments and call these, and so do `labs.fp8.torch_linear` (`FP8Linear`) and
`labs.fp8.torch_timing` (`scaled_mm`), which is why the kernels sit below all three.

Shapes: `*s` any shape, R rows, C columns, K the contraction axis, M and N the other GEMM axes.
Taught in chapter 2, "Outliers, and why V3 scales per tile" and "Accumulation: 14 bits are not
enough for long sums".
"""

from __future__ import annotations

import torch
from jaxtyping import Float

from labs.fp8.formats import FP8Format

__all__: list[str] = []  # bare kernels; the checked public API is labs.fp8.torch

Tensor = torch.Tensor


def _fp8_dtype(fmt: FP8Format) -> torch.dtype:
    """The torch dtype of `fmt`."""
    return torch.float8_e4m3fn if fmt.name == "E4M3" else torch.float8_e5m2


def _to_fp8(x: Float[Tensor, "*s"], fmt: FP8Format, saturate: bool) -> Tensor:
    """Clamp to +-max_finite (saturate) or send overflow to NaN/inf, then cast."""
    x = x.float()
    if saturate:
        y = x.clamp(-fmt.max_finite, fmt.max_finite)  # inf clamps too; NaN passes through
        return y.to(_fp8_dtype(fmt))
    midpoint, tie_overflows = fmt.overflow_boundary
    mag = x.abs()
    overflow = (mag > midpoint) | (mag == midpoint) if tie_overflows else mag > midpoint
    special = float("inf") if fmt.has_infinity else float("nan")
    inside = x.clamp(-fmt.max_finite, fmt.max_finite).to(_fp8_dtype(fmt))
    spilled = torch.full_like(x, special).copysign(x).to(_fp8_dtype(fmt))
    return torch.where(overflow, spilled.view(torch.uint8), inside.view(torch.uint8)).view(
        _fp8_dtype(fmt)
    )


def _group_amax(x: Float[Tensor, "*s R C"], granularity: str, block: int) -> Tensor:
    """The max-abs of each group (shapes as in NumPy)."""
    a = x.abs().float()
    if granularity == "tensor":
        return a.amax()
    if granularity == "row":
        return a.amax(dim=-1, keepdim=True)
    if granularity == "tile":
        return a.reshape(*a.shape[:-1], a.shape[-1] // block, block).amax(dim=-1)
    r, c = a.shape[-2:]
    if granularity == "column_tile":
        return a.reshape(*a.shape[:-2], r // block, block, c).amax(dim=-2)
    return a.reshape(*a.shape[:-2], r // block, block, c // block, block).amax(dim=(-3, -1))


def _scale_groups(x: Float[Tensor, "*s R C"], scales: Tensor, granularity: str, block: int):
    """x times its group's scale, through a broadcasting view of x's groups (no copy of the
    scales): the same products, element by element, as multiplying by the expanded scales."""
    if granularity in ("tensor", "row"):
        return x * scales
    *lead, r, c = x.shape
    if granularity == "tile":
        return (x.reshape(*lead, r, c // block, block) * scales[..., None]).reshape(x.shape)
    if granularity == "column_tile":
        return (x.reshape(*lead, r // block, block, c) * scales[..., None, :]).reshape(x.shape)
    grouped = x.reshape(*lead, r // block, block, c // block, block)
    return (grouped * scales[..., :, None, :, None]).reshape(x.shape)


def _quantize(
    x: Float[Tensor, "*s R C"], fmt: FP8Format, granularity: str, block: int, power_of_two=False
):
    """Eq. (3): s_g = amax_g / max_finite (floored), q = FP8(x / s_g); returns (q, scales)."""
    amax = _group_amax(x, granularity, block)
    inv_max = torch.tensor(1 / fmt.max_finite, dtype=torch.float32)
    scales = (amax * inv_max).clamp_min(2.0**-126)
    if power_of_two:
        scales = _round_up_to_power_of_two(scales)
    scales = torch.where(amax > 0, scales, torch.ones_like(amax))
    inverse = 1.0 / scales
    return _to_fp8(_scale_groups(x, inverse, granularity, block), fmt, True), scales


def _round_up_to_power_of_two(s: Float[Tensor, "*G"]) -> Float[Tensor, "*G"]:
    """2^ceil(log2 s) for positive normal float32 s, on the bit pattern (exact)."""
    bits = s.float().contiguous().view(torch.int32)
    exponent = bits & 0x7F800000  # the exponent field, mantissa cleared
    carry = ((bits & 0x007FFFFF) != 0).to(torch.int32) << 23
    return (exponent + carry).view(torch.float32)


def _dequantize(q: Tensor, scales: Tensor, granularity: str, block: int) -> Tensor:
    """x ~ s_g * q_i (eq. 3), float32."""
    return _scale_groups(q.float(), scales.float(), granularity, block)


def _fake_quantize(
    x: Float[Tensor, "*s R C"], fmt: FP8Format, granularity: str, block: int, power_of_two=False
):
    """Quantise and dequantise, outside autograd."""
    with torch.no_grad():
        q, scales = _quantize(x.detach().float(), fmt, granularity, block, power_of_two)
        return _dequantize(q, scales, granularity, block)


def _limited_matmul(
    a: Float[Tensor, "M K"], b: Float[Tensor, "K N"], bits: int, promote_every: int | None
) -> Float[Tensor, "M N"]:
    """a @ b with `_limited_sum`'s accumulator (truncation), one outer product per step of K:
    the same float32 products and roundings, without holding all M * N * K products."""
    total = torch.zeros(a.shape[0], b.shape[1], dtype=torch.float32, device=a.device)
    running = torch.zeros_like(total)
    bits_of_running = running.view(torch.int32)  # the same memory, read as int32
    mask = -(1 << (24 - bits))  # ones above the low 24 - bits significand bits
    for k in range(a.shape[1]):
        running += a[:, k, None] * b[None, k, :]  # (M, N) products, float32
        bits_of_running &= mask  # truncate to `bits` significant bits
        if promote_every is not None and (k + 1) % promote_every == 0:
            total += running  # promotion to FP32
            running.zero_()
    return total + running
