"""Chapter 2 in PyTorch: FP8 casts, fine-grained quantisation, V3's GEMM and `FP8Linear`.

The kernels mirror `labs.fp8.reference` operation by operation in float32, so on the CPU they
agree with NumPy bit for bit (the parity tests check it). On a CPU, torch can cast to
`torch.float8_e4m3fn` / `torch.float8_e5m2` but not multiply in FP8, so the GEMMs compute in
float32 on the dequantised values. `scaled_mm` reaches the real FP8 tensor cores through
`torch._scaled_mm` on a CUDA GPU of compute capability 8.9 or higher (Ada, Hopper, Blackwell).

Shapes: `*s` any shape, R rows, C columns, K the contraction axis, M and N the other GEMM axes,
I in_features, O out_features. Taught in chapter 2, "Outliers, and why V3 scales per tile",
"Accumulation: 14 bits are not enough for long sums", "The backward pass in FP8" (`FP8Linear`,
`linear_backward`) and "When does FP8 pay?" (`scaled_mm`, `linear_timings`).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import nn

from labs.common import validate
from labs.fp8 import checks
from labs.fp8.formats import E4M3, FP8Format, format_by_name

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


def _gemm(a: Float[Tensor, "M K"], b: Float[Tensor, "K N"], accumulator: tuple | None) -> Tensor:
    """a @ b summed in float32 (accumulator None) or in (bits, promote_every) limited one."""
    return a @ b if accumulator is None else _limited_matmul(a, b, *accumulator)


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


# The granularity of each quantised GEMM input, per scaling recipe: the forward input, the
# weight (forward and dgrad), the output gradient in dgrad, and both inputs of wgrad.
SCALINGS = {
    "fine": {"x": "tile", "w": "block", "dgrad": "tile", "wgrad": "column_tile"},  # V3 §3.3
    "tensor": {"x": "tensor", "w": "tensor", "dgrad": "tensor", "wgrad": "tensor"},
    "unscaled": {"x": "unscaled", "w": "unscaled", "dgrad": "unscaled", "wgrad": "unscaled"},
    "frozen": {"x": "frozen", "w": "frozen", "dgrad": "frozen", "wgrad": "frozen"},
}
BACKWARDS = ("straight_through", "fp8")


class FP8Linear(nn.Module):
    """A linear layer trained the FP8 way: FP32 master weights, FP8 GEMMs (simulated).

    The forward pass fake-quantises the input per 1 x `block` tile and the weight per
    `block` x `block` block (V3's granularities, §3.3.2) and multiplies the dequantised values.
    The backward pass depends on `backward`:

    * "straight_through": the rounding counts as the identity; the backward GEMMs run in
      float32 (autograd keeps the *rounded* input and weight for them).
    * "fp8": V3's backward (§3.3.1, Appendix B.2): dgrad dX = Q_tile(dY) Q_block(W) and wgrad
      dW = Q_column_tile(dY)^T Q_column_tile(X), every Q an E4M3 fake quantisation, products
      summed in float32. The layer saves the float input X and quantises it per column tile in
      the backward; V3 caches the FP8 tile-quantised X and re-tiles it.

    `scaling="tensor"` replaces every group by the whole tensor, `scaling="unscaled"` casts
    without any scale (saturating at the format's maximum), and `scaling="frozen"` keeps one
    scale per tensor (input, weight, output gradient) from the max-abs of its first use, never
    updated, so that values grown past it saturate: three negative controls. Two more options
    make the chapter's other controls:

    * `accumulator_bits` (2..24, backward="fp8" only): every GEMM (forward, dgrad, wgrad) sums
      its products in an accumulator of that many significant bits, truncating after each
      addition, promoted to float32 every `promote_every` products (never with None), as the
      "Accumulation" section models H800 tensor cores; None (default) sums in float32.
    * `input_gain` (in_features,) positive: the layer computes Q(x * g) Q(W / g)^T, the same
      function in exact arithmetic, but its quantised input carries channels g times larger
      (outlier channels) and its quantised weight the matching columns g times smaller. The
      parameter stays W.

    Shapes: input (..., in_features) -> output (..., out_features); weight (out, in).
    `in_features` and `out_features` must be multiples of `block`; with backward="fp8" the
    token count is padded with zeros to a multiple of `block` inside the backward.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        fmt: FP8Format | str = E4M3,
        block: int = 128,
        backward: str = "straight_through",
        scaling: str = "fine",
        accumulator_bits: int | None = None,
        promote_every: int | None = None,
        input_gain: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features, self.fmt, self.block = checks.check_fp8_linear(
            in_features, out_features, bias, fmt, block
        )
        self.backward = checks.check_option("backward", backward, BACKWARDS)
        self.scaling = checks.check_option("scaling", scaling, tuple(SCALINGS))
        bits, promote_every, input_gain = checks.check_fp8_linear_controls(
            accumulator_bits, promote_every, input_gain, self.in_features, self.backward
        )
        self.accumulator = None if bits is None else (bits, promote_every)
        gain = None if input_gain is None else input_gain.detach().float().clone()
        self.register_buffer("input_gain", gain, persistent=False)  # fixed, not learned
        self.frozen_amax: dict[str, float] = {}  # scaling="frozen": max-abs at first use
        self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features))
        self.bias = nn.Parameter(torch.empty(self.out_features)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)  # nn.Linear's initialisation
        if self.bias is not None:
            bound = 1 / self.in_features**0.5
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in_features) -> (..., out_features); x must be a finite float tensor."""
        x = checks.check_linear_input(x, self.in_features, framework="torch")
        return self._forward(x)

    def _forward(self, x: Float[Tensor, "*s I"]) -> Float[Tensor, "*s O"]:
        """Fake-quantised input and weight; straight-through or V3's FP8 backward."""
        groups = SCALINGS[self.scaling]
        w = self.weight
        if self.input_gain is not None:  # x g and W / g: the same product, other magnitudes
            x, w = x * self.input_gain, w / self.input_gain
        if self.backward == "fp8":
            y = _FP8LinearFunction.apply(
                x.reshape(-1, self.in_features),
                w,
                self.bias,
                self.fmt,
                self.block,
                groups,
                self.frozen_amax,
                self.accumulator,
            )
            return y.reshape(*x.shape[:-1], self.out_features)
        frozen = self.frozen_amax
        x_hat = x + (_rounded(x, self.fmt, groups["x"], self.block, frozen, "x") - x).detach()
        w_hat = w + (_rounded(w, self.fmt, groups["w"], self.block, frozen, "w") - w).detach()
        return F.linear(x_hat, w_hat, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in={self.in_features}, out={self.out_features}, {self.fmt.name}, block={self.block}"
            f", backward={self.backward}, scaling={self.scaling}"
            + ("" if self.accumulator is None else f", accumulator={self.accumulator}")
            + ("" if self.input_gain is None else ", input_gain")
        )


def _rounded(
    x: Float[Tensor, "*s R C"],
    fmt: FP8Format,
    group: str,
    block: int,
    frozen: dict | None = None,
    role: str = "",
) -> Tensor:
    """Fake quantisation per `group`. Two negative controls: "unscaled" casts with the scale 1;
    "frozen" scales the whole tensor by the max-abs `frozen[role]` recorded at its first use."""
    if group == "unscaled":
        with torch.no_grad():
            return _to_fp8(x.detach().float(), fmt, True).float()
    if group == "frozen":
        with torch.no_grad():
            if role not in frozen:  # the first use sets the scale for good
                frozen[role] = float(x.detach().abs().max())
            scale = frozen[role] / fmt.max_finite if frozen[role] > 0 else 1.0
            return _to_fp8(x.detach().float() / scale, fmt, True).float() * scale  # eq. (3)
    return _fake_quantize(x, fmt, group, block)


class _FP8LinearFunction(torch.autograd.Function):
    """y = Q(x) Q(W)^T + b forward; V3's FP8 dgrad and wgrad backward (`_linear_backward`)."""

    @staticmethod
    def forward(ctx, x, weight, bias, fmt, block, groups, frozen, accumulator=None):
        """x (M, I), weight (O, I) -> (M, O); saves the float input and weight."""
        ctx.save_for_backward(x, weight)
        ctx.fmt, ctx.block, ctx.groups, ctx.has_bias = fmt, block, groups, bias is not None
        ctx.frozen, ctx.accumulator = frozen, accumulator
        x_hat = _rounded(x, fmt, groups["x"], block, frozen, "x")  # (M, I)
        w_hat = _rounded(weight, fmt, groups["w"], block, frozen, "w")  # (O, I)
        y = _gemm(x_hat, w_hat.T, accumulator)  # (M, O)
        return y + bias if bias is not None else y

    @staticmethod
    def backward(ctx, grad_y):
        """Eq. (5) of the chapter: FP8 dgrad and wgrad; the bias gradient in float32."""
        x, weight = ctx.saved_tensors
        dx, dw = _linear_backward(
            x, weight, grad_y.float(), ctx.fmt, ctx.block, ctx.groups, ctx.frozen, ctx.accumulator
        )
        db = grad_y.sum(0) if ctx.has_bias else None
        return dx, dw, db, None, None, None, None, None


def _linear_backward(
    x: Float[Tensor, "M I"],
    weight: Float[Tensor, "O I"],
    dy: Float[Tensor, "M O"],
    fmt: FP8Format,
    block: int,
    groups: dict,
    frozen: dict | None = None,
    accumulator: tuple | None = None,
) -> tuple[Tensor, Tensor]:
    """dgrad = Q(dY) Q(W), wgrad = Q(dY)^T Q(X) with groups along each contraction axis."""
    m = x.shape[0]
    pad = (-m) % block  # zero rows change no max-abs and add nothing to dW
    x_p, dy_p = F.pad(x.float(), (0, 0, 0, pad)), F.pad(dy, (0, 0, 0, pad))
    dx = _gemm(
        _rounded(dy, fmt, groups["dgrad"], block, frozen, "dy"),
        _rounded(weight, fmt, groups["w"], block, frozen, "w"),
        accumulator,
    )  # (M, I), contraction over O
    dy_c = _rounded(dy_p, fmt, groups["wgrad"], block, frozen, "dy")  # (M', O), groups along M
    x_c = _rounded(x_p, fmt, groups["wgrad"], block, frozen, "x")  # (M', I), groups along M
    return dx, _gemm(dy_c.T, x_c, accumulator)  # (M, I), (O, I)


def linear_backward(
    x: torch.Tensor, weight: torch.Tensor, grad_output: torch.Tensor, fmt=E4M3, block: int = 128
) -> tuple[torch.Tensor, torch.Tensor]:
    """V3's FP8 dgrad and wgrad (see labs.fp8.reference.linear_backward): x (M, I),
    weight (O, I), grad_output (M, O) -> (grad_x (M, I), grad_weight (O, I)), float32."""
    x, weight, grad_output, fmt, block = checks.check_linear_backward(
        x, weight, grad_output, fmt, block, framework="torch"
    )
    return _linear_backward(
        x.float(), weight.float(), grad_output.float(), fmt, block, SCALINGS["fine"]
    )


# --- Real FP8 GEMMs on a GPU ---------------------------------------------------------------------

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
