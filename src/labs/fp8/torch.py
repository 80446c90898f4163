"""Chapter 2 in PyTorch: FP8 casts, fine-grained quantisation, V3's accumulator and GEMM.

The kernels mirror `labs.fp8.reference` operation by operation in float32, so on the CPU they
agree with NumPy bit for bit (the parity tests check it). On a CPU, torch can cast to
`torch.float8_e4m3fn` / `torch.float8_e5m2` but not multiply in FP8, so the GEMMs compute in
float32 on the dequantised values.

This module is the chapter's PyTorch API: it checks the arguments and calls the bare kernels,
which live here (the accumulators, the GEMM) or in `labs.fp8.torch_kernels` (the cast and the
quantisation of eq. 3, shared with the two modules below). It also re-exports the public names
of `labs.fp8.torch_linear` (the `FP8Linear` layer, `linear_backward`) and
`labs.fp8.torch_timing` (`scaled_mm`, which reaches the real FP8 tensor cores through
`torch._scaled_mm` on a CUDA GPU of compute capability 8.9 or higher: Ada, Hopper, Blackwell;
and the GPU timings `gemm_throughput`, `linear_timings`), so that
`from labs.fp8 import torch as fp8_torch` reaches all of chapter 2's PyTorch half.

Shapes: `*s` any shape, R rows, C columns, K the contraction axis, M and N the other GEMM axes,
I in_features, O out_features. Taught in chapter 2, "Outliers, and why V3 scales per tile",
"Accumulation: 14 bits are not enough for long sums", "The backward pass in FP8" (`FP8Linear`,
`linear_backward`) and "When does FP8 pay?" (`scaled_mm`, `linear_timings`).
"""

from __future__ import annotations

import torch
from jaxtyping import Float

from labs.common import validate
from labs.fp8 import checks
from labs.fp8.formats import E4M3, FP8Format, format_by_name
from labs.fp8.torch_kernels import _dequantize, _fake_quantize, _fp8_dtype, _quantize, _to_fp8
from labs.fp8.torch_linear import BACKWARDS as BACKWARDS
from labs.fp8.torch_linear import SCALINGS as SCALINGS
from labs.fp8.torch_linear import FP8Linear, linear_backward
from labs.fp8.torch_timing import SCALED_MM_CAPABILITY as SCALED_MM_CAPABILITY
from labs.fp8.torch_timing import gemm_throughput, linear_timings, scaled_mm, scaled_mm_supported

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


def dequantize(q: torch.Tensor, scales: torch.Tensor, granularity: str = "tile", block=128):
    """Undo `quantize`: q (FP8 dtype) times its group's scale, float32, shaped like q."""
    q, scales, block = checks.check_dequantize(q, scales, granularity, block, framework="torch")
    return _dequantize(q, scales, granularity, block)


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
    running_sum_aligned: bool = True,
) -> torch.Tensor:
    """V3's fixed-point tensor-core accumulator (§3.5.2) along the last axis (see
    `labs.fp8.accumulator`; rounding "truncate" or "nearest"; running_sum_aligned True for
    (4a), False for (4b)). values: (..., K) -> (...), float32."""
    bits, group, promote_every = checks.check_aligned(accumulator_bits, group, promote_every)
    rounding = validate.one_of("rounding", rounding, ("truncate", "nearest"))
    aligned = validate.boolean("running_sum_aligned", running_sum_aligned)
    values = checks.check_aligned_values(values, framework="torch")
    return _aligned_sum(values.float(), bits, group, promote_every, rounding, aligned)


def _power_of_two(e: torch.Tensor) -> torch.Tensor:
    """2**e for int32 e in [-126, 127], exact: the exponent field written directly."""
    return ((e + 127) << 23).view(torch.float32)


def _floor_to_bits(
    t: Float[Tensor, "*s T"], shift: torch.Tensor, rounding: str = "truncate"
) -> Float[Tensor, "*s T"]:
    """floor(t * 2**shift) (round, ties to even, for "nearest"), in float32."""
    integer = torch.floor if rounding == "truncate" else torch.round
    return integer(t * _power_of_two(shift))


def _round_to_bits(x: Float[Tensor, "*s"], bits: int, rounding: str) -> Float[Tensor, "*s"]:
    """x floored (or rounded to nearest) to `bits` significant bits, in float32."""
    shift = bits - torch.frexp(x).exponent
    return _floor_to_bits(x, shift, rounding) * _power_of_two(-shift)


def _register_add(
    running: Float[Tensor, "*s"], s: Float[Tensor, "*s"], bits: int, rounding: str
) -> Float[Tensor, "*s"]:
    """The exact running + s rounded to `bits` significant bits (4b's register; see NumPy)."""
    x = running + s
    keep = running.abs() >= s.abs()
    remainder = torch.where(keep, s, running) - (x - torch.where(keep, running, s))  # Fast2Sum
    if rounding == "truncate":
        moved = torch.where(remainder < 0, torch.nextafter(x, torch.full_like(x, -torch.inf)), x)
    else:
        scaled = x * _power_of_two(bits - torch.frexp(x).exponent)
        tie = (scaled - torch.floor(scaled) == 0.5) & (remainder != 0)
        toward = torch.where(remainder < 0, -torch.inf, torch.inf).to(x.dtype)
        moved = torch.where(tie, torch.nextafter(x, toward), x)
    return _round_to_bits(moved, bits, rounding)


def _aligned_sum(
    values: Float[Tensor, "*s K"],
    bits: int,
    group: int,
    promote_every: int | None,
    rounding: str = "truncate",
    running_sum_aligned: bool = True,
) -> Float[Tensor, "*s"]:
    """Groups of `group` values aligned to their largest exponent, `bits` kept, floored (4a), or
    (4b) without the running sum in the alignment (rounded to nearest with rounding="nearest")."""
    total = torch.zeros(values.shape[:-1], dtype=torch.float32, device=values.device)
    running = torch.zeros_like(total)
    for start in range(0, values.shape[-1], group):
        terms = values[..., start : start + group]
        if running_sum_aligned:
            terms = torch.cat([running[..., None], terms], dim=-1)
        e = torch.frexp(terms.abs().amax(dim=-1)).exponent  # max |t| < 2**e
        shift = bits - e
        aligned = _floor_to_bits(terms, shift[..., None], rounding).sum(dim=-1)
        aligned = aligned * _power_of_two(-shift)  # exact: integers below 2**24
        if running_sum_aligned:
            running = _round_to_bits(aligned, bits, rounding)
        else:
            running = _register_add(running, aligned, bits, rounding)
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
