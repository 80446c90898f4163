"""Chapter 2 in PyTorch: FP8 casts, fine-grained quantisation, V3's accumulator and GEMM.

The kernels mirror `labs.fp8.reference` operation by operation in float32, so on the CPU they
agree with NumPy bit for bit (the parity tests check it). On a CPU, torch can cast to
`torch.float8_e4m3fn` / `torch.float8_e5m2` but not multiply in FP8, so the GEMMs compute in
float32 on the dequantised values.

Two sibling modules build on these kernels, and this module re-exports their public names (so
`from labs.fp8 import torch as fp8_torch` reaches all of chapter 2's PyTorch half):
`labs.fp8.torch_linear` holds the `FP8Linear` layer and `linear_backward`;
`labs.fp8.torch_timing` holds `scaled_mm`, which reaches the real FP8 tensor cores through
`torch._scaled_mm` on a CUDA GPU of compute capability 8.9 or higher (Ada, Hopper, Blackwell),
and the GPU timings `gemm_throughput` and `linear_timings`.

Shapes: `*s` any shape, R rows, C columns, K the contraction axis, M and N the other GEMM axes.
Taught in chapter 2, "Outliers, and why V3 scales per tile", "Accumulation: 14 bits are not
enough for long sums", "The backward pass in FP8" (`FP8Linear`, `linear_backward`) and "When
does FP8 pay?" (`scaled_mm`, `linear_timings`).
"""

from __future__ import annotations

import torch
from jaxtyping import Float

from labs.common import validate
from labs.fp8 import checks
from labs.fp8.formats import E4M3, FP8Format, format_by_name
from labs.fp8.torch_linear import BACKWARDS as BACKWARDS
from labs.fp8.torch_linear import SCALINGS as SCALINGS
from labs.fp8.torch_linear import FP8Linear, linear_backward
from labs.fp8.torch_timing import SCALED_MM_CAPABILITY as SCALED_MM_CAPABILITY
from labs.fp8.torch_timing import (
    gemm_throughput,
    linear_timings,
    scaled_mm,
    scaled_mm_supported,
)

__all__ = [
    "FP8Linear",
    "aligned_sum",
    "dequantize",
    "fake_quantize",
    "fp8_dtype",
    "fp8_matmul",
    "gemm_throughput",
    "limited_sum",
    "linear_backward",
    "linear_timings",
    "quantize",
    "round_significand",
    "scaled_mm",
    "scaled_mm_supported",
    "to_fp8",
]

Tensor = torch.Tensor


def fp8_dtype(fmt) -> torch.dtype:
    """torch.float8_e4m3fn for E4M3, torch.float8_e5m2 for E5M2."""
    return _fp8_dtype(format_by_name(fmt))


def _fp8_dtype(fmt: FP8Format) -> torch.dtype:
    """The torch dtype of `fmt`."""
    return torch.float8_e4m3fn if fmt.name == "E4M3" else torch.float8_e5m2


def to_fp8(x: torch.Tensor, fmt=E4M3, saturate: bool = True) -> torch.Tensor:
    """Cast to FP8 with an explicit overflow rule, the same in every torch release.

    torch's own `.to(torch.float8_e4m3fn)` has changed: eager casts returned NaN on E4M3
    overflow in most 2.x releases (and older Colab images), and saturate to +-448 only since
    pytorch/pytorch#178817 (2026); E5M2 overflow gives inf. This function clamps (or not) itself.

    saturate=True clamps to +-max_finite; saturate=False gives NaN (E4M3) or +-inf (E5M2), like
    ml_dtypes and `labs.fp8.encode`. NaN stays NaN. Shape: any; returns the FP8 dtype.
    """
    x = checks.check_float("x", x, framework="torch", min_ndim=0, finite=False)
    return _to_fp8(x, format_by_name(fmt), checks.check_saturate(saturate))


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


def quantize(
    x: torch.Tensor,
    fmt=E4M3,
    granularity: str = "tile",
    block: int = 128,
    power_of_two: bool = False,
):
    """Quantise with one scale per group (eq. 3 of labs.fp8.reference).

    Args:
        x: finite float tensor (..., rows, cols), computed in float32.
        granularity: "tensor", "row", "tile", "column_tile" or "block" (see NumPy).
        block: group length, 128 in V3 (at most 2**16).
        power_of_two: round every scale up to a power of two.

    Returns:
        (q, scales): q in the FP8 dtype, shaped like x; float32 scales (shapes as in NumPy).
    """
    x, fmt, block = checks.check_quantize(
        x, fmt, granularity, block, framework="torch", power_of_two=power_of_two
    )
    return _quantize(x.float(), fmt, granularity, block, power_of_two)


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


def dequantize(q: torch.Tensor, scales: torch.Tensor, granularity: str = "tile", block=128):
    """Undo `quantize`: q (FP8 dtype) times its group's scale, float32, shaped like q."""
    q, scales, block = checks.check_dequantize(q, scales, granularity, block, framework="torch")
    return _dequantize(q, scales, granularity, block)


def _dequantize(q: Tensor, scales: Tensor, granularity: str, block: int) -> Tensor:
    """x ~ s_g * q_i (eq. 3), float32."""
    return _scale_groups(q.float(), scales.float(), granularity, block)


def fake_quantize(
    x: torch.Tensor,
    fmt=E4M3,
    granularity: str = "tile",
    block: int = 128,
    power_of_two: bool = False,
):
    """`dequantize(*quantize(x))`: the float32 values an FP8 GEMM multiplies. No gradient."""
    x, fmt, block = checks.check_quantize(
        x, fmt, granularity, block, framework="torch", power_of_two=power_of_two
    )
    return _fake_quantize(x, fmt, granularity, block, power_of_two)


def _fake_quantize(
    x: Float[Tensor, "*s R C"], fmt: FP8Format, granularity: str, block: int, power_of_two=False
):
    """Quantise and dequantise, outside autograd."""
    with torch.no_grad():
        q, scales = _quantize(x.detach().float(), fmt, granularity, block, power_of_two)
        return _dequantize(q, scales, granularity, block)


def round_significand(x: torch.Tensor, bits: int, rounding: str = "truncate") -> torch.Tensor:
    """Round float32 values to `bits` significant bits (1..24) on their bit pattern (see NumPy)."""
    x, bits = checks.check_round(x, bits, rounding, framework="torch")
    return _round_significand(x, bits, rounding)


def _round_significand(x: Float[Tensor, "*s"], bits: int, rounding: str) -> Tensor:
    """Clear (or round away) the low 24 - bits bits of the float32 pattern."""
    shift = 24 - bits
    u = x.float().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    if shift == 0:
        return x.float().clone()
    if rounding == "nearest":
        u = u + ((1 << (shift - 1)) - 1) + ((u >> shift) & 1)
    u = u & (0xFFFFFFFF ^ ((1 << shift) - 1))
    u = torch.where(u >= 2**31, u - 2**32, u)  # back to the signed range of int32
    return u.to(torch.int32).view(torch.float32)


def aligned_sum(
    values: torch.Tensor,
    accumulator_bits: int = 14,
    group: int = 32,
    promote_every=None,
    rounding: str = "truncate",
) -> torch.Tensor:
    """V3's fixed-point tensor-core accumulator (§3.5.2) along the last axis (see
    `labs.fp8.accumulator`; rounding "truncate" or "nearest"). values: (..., K) -> (...),
    float32."""
    bits, group, promote_every = checks.check_aligned(accumulator_bits, group, promote_every)
    rounding = validate.one_of("rounding", rounding, ("truncate", "nearest"))
    values = checks.check_aligned_values(values, framework="torch")
    return _aligned_sum(values.float(), bits, group, promote_every, rounding)


def _power_of_two(e: torch.Tensor) -> torch.Tensor:
    """2**e for int32 e in [-126, 127], exact: the exponent field written directly."""
    return ((e + 127) << 23).view(torch.float32)


def _floor_to_bits(
    t: Float[Tensor, "*s T"], shift: torch.Tensor, rounding: str = "truncate"
) -> Float[Tensor, "*s T"]:
    """floor(t * 2**shift) (round, ties to even, for "nearest"), in float32."""
    integer = torch.floor if rounding == "truncate" else torch.round
    return integer(t * _power_of_two(shift))


def _aligned_sum(
    values: Float[Tensor, "*s K"],
    bits: int,
    group: int,
    promote_every: int | None,
    rounding: str = "truncate",
) -> Float[Tensor, "*s"]:
    """Groups of `group` values aligned to their largest exponent, `bits` kept, floored (4a)
    (rounded to nearest with rounding="nearest")."""
    total = torch.zeros(values.shape[:-1], dtype=torch.float32, device=values.device)
    running = torch.zeros_like(total)
    for start in range(0, values.shape[-1], group):
        terms = torch.cat([running[..., None], values[..., start : start + group]], dim=-1)
        e = torch.frexp(terms.abs().amax(dim=-1)).exponent  # max |t| < 2**e
        shift = bits - e
        aligned = _floor_to_bits(terms, shift[..., None], rounding).sum(dim=-1)
        running = aligned * _power_of_two(-shift)  # exact: integers below 2**24
        shift_r = bits - torch.frexp(running).exponent
        running = _floor_to_bits(running, shift_r, rounding) * _power_of_two(-shift_r)
        if promote_every is not None and (start + group) % promote_every == 0:
            total, running = total + running, torch.zeros_like(running)  # promotion to FP32
    return total + running


def limited_sum(
    values: torch.Tensor, accumulator_bits: int = 14, promote_every=128, rounding: str = "truncate"
) -> torch.Tensor:
    """Sum along the last axis in a limited accumulator promoted to float32 (see NumPy).

    values: (..., K) -> (...), float32.
    """
    bits, promote_every, rounding = checks.check_accumulation(
        accumulator_bits, promote_every, rounding
    )
    values = checks.check_float("values", values, framework="torch")
    return _limited_sum(values.float(), bits, promote_every, rounding)


def _limited_sum(
    values: Float[Tensor, "*s K"], bits: int, promote_every: int | None, rounding: str
) -> Float[Tensor, "*s"]:
    """A `bits`-bit running sum, flushed into a float32 total every `promote_every` values."""
    total = torch.zeros(values.shape[:-1], dtype=torch.float32, device=values.device)
    running = torch.zeros_like(total)
    for k in range(values.shape[-1]):
        running = _round_significand(running + values[..., k], bits, rounding)
        if promote_every is not None and (k + 1) % promote_every == 0:
            total, running = total + running, torch.zeros_like(running)  # promotion to FP32
    return total + running


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


def fp8_matmul(
    a: torch.Tensor,
    b: torch.Tensor,
    a_granularity: str = "tile",
    b_granularity: str = "block",
    accumulate: str = "fp32",
    accumulator_bits=14,
    promote_every=128,
    *,
    fmt=E4M3,
    block: int = 128,
    rounding="truncate",
):
    """V3's FP8 GEMM, simulated in float32: a (M, K) @ b (K, N) -> (M, N) (see NumPy)."""
    a, b, fmt, block = checks.check_fp8_matmul(
        a, b, a_granularity, b_granularity, accumulate, block, fmt, framework="torch"
    )
    checks.check_accumulation(accumulator_bits, promote_every, rounding)
    return _fp8_matmul(
        a,
        b,
        a_granularity,
        b_granularity,
        accumulate,
        accumulator_bits,
        promote_every,
        fmt=fmt,
        block=block,
        rounding=rounding,
    )


def _fp8_matmul(
    a: Float[Tensor, "M K"],
    b: Float[Tensor, "K N"],
    a_granularity: str,
    b_granularity: str,
    accumulate: str,
    accumulator_bits: int,
    promote_every: int | None,
    *,
    fmt: FP8Format,
    block: int,
    rounding: str,
) -> Float[Tensor, "M N"]:
    """Fake-quantise both operands along K, multiply, sum in FP32 or the limited accumulator."""
    a_hat = _fake_quantize(a, fmt, a_granularity, block)
    b_hat = _fake_quantize(b.T, fmt, b_granularity, block).T
    if accumulate == "fp32":
        return a_hat @ b_hat
    products = a_hat[:, None, :] * b_hat.T[None, :, :]  # (M, N, K)
    return _limited_sum(products, accumulator_bits, promote_every, rounding)
