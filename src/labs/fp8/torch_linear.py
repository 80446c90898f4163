"""Chapter 2's `FP8Linear`: a linear layer with FP32 master weights and FP8 GEMMs (simulated).

The forward pass fake-quantises input and weight with the kernels of `labs.fp8.torch_kernels`;
the backward pass is straight-through, or V3's FP8 dgrad and wgrad (`_FP8LinearFunction`,
`_linear_backward`, `linear_backward`). The scaling recipes "tensor", "unscaled" and "frozen"
and the options `accumulator_bits` and `input_gain` make the chapter's negative controls.
`labs.fp8.torch` re-exports the public names here (`fp8_torch.FP8Linear`).

Shapes: M rows (tokens), I in_features, O out_features. Taught in chapter 2, "The backward pass
in FP8", with the controls of "Outliers, and why V3 scales per tile" and "Accumulation: 14 bits
are not enough for long sums".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import nn

from labs.common import validate
from labs.fp8 import checks
from labs.fp8.formats import E4M3, FP8Format
from labs.fp8.torch_kernels import _fake_quantize, _limited_matmul, _to_fp8

__all__ = ["BACKWARDS", "SCALINGS", "FP8Linear", "linear_backward"]

Tensor = torch.Tensor


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
        x = checks.check_linear_input(x, self.in_features, framework="torch", weight=self.weight)
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


def _gemm(a: Float[Tensor, "M K"], b: Float[Tensor, "K N"], accumulator: tuple | None) -> Tensor:
    """a @ b summed in float32 (accumulator None) or in (bits, promote_every) limited one."""
    return a @ b if accumulator is None else _limited_matmul(a, b, *accumulator)


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
    validate.same_device(("x", x), ("weight", weight), ("grad_output", grad_output))
    return _linear_backward(
        x.float(), weight.float(), grad_output.float(), fmt, block, SCALINGS["fine"]
    )
