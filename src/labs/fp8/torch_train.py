"""The chapter's training comparison in PyTorch: one tiny language model, three precisions.

The model predicts the next token of a second-order Markov chain (`labs.fp8.markov_tokens`)
from the embeddings of the two previous tokens, through two hidden linear layers (by default
512 -> 256 and 256 -> 256, so that 1 x 128 tiles differ from rows and 128 x 128 blocks from
whole tensors). As in V3 (§3.3), the embedding and the output head stay in high precision and
only the hidden GEMMs change:

    "fp32"         torch.nn.Linear
    "bf16"         BF16Linear: inputs and weights rounded to bfloat16, products summed in float32
                   (the forward GEMM only; float32 backward GEMMs, straight-through)
    "bf16_full"    BF16Linear(backward="bf16"): the backward GEMMs (dgrad, wgrad) take bfloat16
                   operands too, as in V3's BF16 baseline, with float32 sums
    "fp8"          FP8Linear, V3's recipe: E4M3 everywhere, 1 x 128 tiles for activations and
                   output gradients, 128 x 128 blocks for weights, FP8 dgrad and wgrad
    "fp8_forward"  the same forward, straight-through (float32) backward GEMMs
    "e5m2_tensor"  a coarse variant: E5M2 with one scale per tensor, forward and backward
    "e4m3_tensor"  a coarse variant: E4M3 with one scale per tensor, forward and backward
    "e4m3_unscaled"  the negative control: E4M3 cast without scales, forward and backward
                   (gradients below E4M3's smallest subnormal round to zero)
    "e4m3_frozen"  a second negative control: E4M3 with one scale per tensor taken at the first
                   step and never updated (values that grow past it saturate at 448)
    "e4m3_tensor_outliers"  a third: "e4m3_tensor" on inputs with outlier channels, i.e.
                   `OUTLIER_CHANNELS` fixed input channels of each hidden layer `OUTLIER_GAIN`
                   times larger and the weight's matching columns as much smaller (the same
                   function in exact arithmetic); the outliers set the one scale per tensor
    "fp8_short_accumulator"  a fourth control: V3's recipe with every GEMM summed in an
                   `ACCUMULATOR_BITS`-bit accumulator never promoted to FP32

Every run with the same seed starts from the same weights and sees the same batches, so the
loss curves differ only through the precision of the hidden GEMMs.

Shapes: B batch, T context tokens, I in_features, O out_features, V vocab. Taught in chapter 2,
"Training in FP8: does the loss notice?".
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import nn

from labs.common import validate
from labs.common.facts import fact
from labs.common.progress import progress
from labs.fp8 import checks
from labs.fp8.checks import PRECISIONS
from labs.fp8.torch import FP8Linear

__all__ = ["PRECISIONS", "BF16Linear", "TinyLM", "outlier_gain", "train_tiny_lm"]

# FP8Linear's options for each FP8 precision: (format, backward, scaling, control options).
_FP8_LAYERS = {
    "fp8": ("E4M3", "fp8", "fine", {}),
    "fp8_forward": ("E4M3", "straight_through", "fine", {}),
    "e5m2_tensor": ("E5M2", "fp8", "tensor", {}),
    "e4m3_tensor": ("E4M3", "fp8", "tensor", {}),
    "e4m3_unscaled": ("E4M3", "fp8", "unscaled", {}),
    "e4m3_frozen": ("E4M3", "fp8", "frozen", {}),
    "e4m3_tensor_outliers": ("E4M3", "fp8", "tensor", {"outliers": True}),
    "fp8_short_accumulator": ("E4M3", "fp8", "fine", {"short_accumulator": True}),
}
# The outlier control: how many fixed input channels of each hidden layer are outliers, how
# much larger (the top of the range measured in LLMs), and which (drawn once, the same in every
# run and every seed).
OUTLIER_CHANNELS, OUTLIER_SEED = 4, 0
OUTLIER_GAIN = fact("massive_activation_ratio").value
# The accumulator control: significant bits kept by its running sums (none promoted). A
# truncating accumulator's error grows about linearly with K, so 8 bits over this model's
# K = 256 err like V3's 14 over K = 256 * 2**6 = 16,384 (chapter 2 derives it).
ACCUMULATOR_BITS = 8
# Sizes a typo could blow up: the embedding, the hidden layers and the training loop.
MAX_VOCAB, MAX_WIDTH, MAX_CONTEXT = 2**16, 2**14, 64
MAX_STEPS, MAX_BATCH = 10**6, 2**16
TRAINING = (MAX_VOCAB, MAX_STEPS, MAX_BATCH)


class _BF16Gemm(torch.autograd.Function):
    """y = x_b W_b^T + b with x_b, W_b rounded to bfloat16 (float32 sums); the backward GEMMs
    round the output gradient to bfloat16 too: dx = dy_b W_b, dW = dy_b^T x_b, db = sum dy."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        x_b, w_b = x.bfloat16().float(), weight.bfloat16().float()
        ctx.save_for_backward(x_b, w_b)
        ctx.has_bias = bias is not None
        return F.linear(x_b, w_b, bias)

    @staticmethod
    def backward(ctx, dy):
        x_b, w_b = ctx.saved_tensors
        dy_b = dy.bfloat16().float()
        dx = dy_b @ w_b
        dw = dy_b.reshape(-1, dy.shape[-1]).T @ x_b.reshape(-1, x_b.shape[-1])
        db = dy.reshape(-1, dy.shape[-1]).sum(0) if ctx.has_bias else None
        return dx, dw, db


class BF16Linear(nn.Linear):
    """nn.Linear whose input and weight are rounded to bfloat16 in the forward pass (products
    and sums stay float32, like a BF16 tensor-core GEMM). backward="straight_through" (the
    default) keeps float32 backward GEMMs; backward="bf16" rounds their operands (the output
    gradient, the saved input and the weight) to bfloat16 as well, with float32 sums, like a
    BF16 training run's dgrad and wgrad.
    Shapes: (..., in_features) -> (..., out_features); the weight holds at most 2**28 elements."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        backward: str = "straight_through",
    ) -> None:
        in_features, out_features = checks.check_layer_sizes(in_features, out_features)
        backward = validate.one_of("backward", backward, ("straight_through", "bf16"))
        super().__init__(in_features, out_features, validate.boolean("bias", bias))
        self.backward = backward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in_features) -> (..., out_features); x must be a finite float tensor."""
        x = checks.check_linear_input(x, self.in_features, framework="torch", weight=self.weight)
        return self._forward(x)

    def _forward(self, x: Float[torch.Tensor, "*s I"]) -> Float[torch.Tensor, "*s O"]:
        """Input and weight rounded to bfloat16; straight-through or BF16 backward GEMMs."""
        if self.backward == "bf16":
            return _BF16Gemm.apply(x, self.weight, self.bias)
        x_hat = x + (x.detach().bfloat16().float() - x.detach())
        w = self.weight
        w_hat = w + (w.detach().bfloat16().float() - w.detach())
        return F.linear(x_hat, w_hat, self.bias)


def outlier_gain(in_features: int) -> torch.Tensor:
    """The input gains of the outlier controls: 1 everywhere except `OUTLIER_CHANNELS` fixed
    channels (drawn with `OUTLIER_SEED`, independent of the training seed), `OUTLIER_GAIN`.
    Shape (in_features,), float32; in_features at least `OUTLIER_CHANNELS`, at most 2**14."""
    in_features = validate.size(
        "in_features", in_features, minimum=OUTLIER_CHANNELS, maximum=MAX_WIDTH
    )
    return _outlier_gain(in_features)


def _outlier_gain(in_features: int) -> Float[torch.Tensor, " I"]:
    """Ones, and OUTLIER_GAIN in OUTLIER_CHANNELS channels drawn once by OUTLIER_SEED."""
    channels = np.random.default_rng(OUTLIER_SEED).choice(in_features, OUTLIER_CHANNELS, False)
    gain = torch.ones(in_features)
    gain[torch.as_tensor(channels)] = OUTLIER_GAIN
    return gain


def _convert(linear: nn.Linear, precision: str) -> nn.Module:
    """`linear` itself for "fp32", else a BF16Linear / FP8Linear holding a copy of its weights.

    The new layer's own initialisation runs inside `fork_rng`, so it does not advance torch's
    global generator: the layers built after it get the same weights in every precision.
    """
    if precision == "fp32":
        return linear
    with torch.random.fork_rng(devices=[]):
        if precision in ("bf16", "bf16_full"):
            backward = "bf16" if precision == "bf16_full" else "straight_through"
            new = BF16Linear(linear.in_features, linear.out_features, backward=backward)
        else:
            fmt, backward, scaling, control = _FP8_LAYERS[precision]
            options = {}
            if control.get("outliers"):
                options["input_gain"] = _outlier_gain(linear.in_features)
            if control.get("short_accumulator"):
                options["accumulator_bits"] = ACCUMULATOR_BITS
            new = FP8Linear(
                linear.in_features,
                linear.out_features,
                fmt=fmt,
                backward=backward,
                scaling=scaling,
                **options,
            )
    with torch.no_grad():
        new.weight.copy_(linear.weight)
        new.bias.copy_(linear.bias)
    return new


class TinyLM(nn.Module):
    """Embed the previous `context` tokens, concatenate, two hidden layers, a linear head.

    Shapes: tokens (B, context) int64 -> logits (B, vocab). Hidden widths are multiples of 128
    so that V3's 1 x 128 tiles and 128 x 128 blocks fit. Caps (a typo would allocate
    gigabytes): vocab <= 2**16, context <= 64, d_model and hidden <= 2**14.
    """

    def __init__(
        self,
        vocab: int,
        precision: str = "fp32",
        context: int = 2,
        d_model: int = 256,
        hidden: int = 256,
    ) -> None:
        super().__init__()
        self.vocab, self.context, d_model, hidden = checks.check_tiny_lm(
            vocab, precision, context, d_model, hidden, limits=(MAX_VOCAB, MAX_WIDTH, MAX_CONTEXT)
        )
        d_in = self.context * d_model
        self.embed = nn.Embedding(self.vocab, d_model)
        self.fc1 = _convert(nn.Linear(d_in, hidden), precision)
        self.fc2 = _convert(nn.Linear(hidden, hidden), precision)
        self.head = nn.Linear(hidden, self.vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, context), ids in 0..vocab-1 -> logits (B, vocab)."""
        tokens = checks.check_token_windows(
            "tokens", tokens, self.vocab, self.context, weight=self.embed.weight
        )
        return self._forward(tokens)

    def _forward(self, tokens: Int[torch.Tensor, "B T"]) -> Float[torch.Tensor, "B V"]:
        """Embeddings of the context, concatenated, through fc1, fc2 and the head."""
        h = self.embed(tokens).flatten(1)
        h = F.gelu(self.fc1(h))
        h = F.gelu(self.fc2(h))
        return self.head(h)


def _windows(tokens: Int[np.ndarray, " n"], context: int):
    """(inputs (n - context, context), targets (n - context,)) as int64 tensors."""
    t = torch.as_tensor(tokens, dtype=torch.int64)
    x = torch.stack([t[i : len(t) - context + i] for i in range(context)], dim=1)
    return x, t[context:]


def train_tiny_lm(
    precision: str,
    train_tokens,
    eval_tokens,
    vocab: int,
    steps: int = 300,
    batch: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
    eval_every: int | None = None,
) -> dict:
    """Train a TinyLM with AdamW in `precision` and report its losses.

    Args:
        train_tokens, eval_tokens: 1-D int streams with ids in 0..vocab-1, longer than the
            context (2).
        steps: 1..10**6; batch: 1..2**16 (a typo would run for days or exhaust memory).
        eval_every: None, or 1..steps: also measure the held-out loss after every `eval_every`
            steps (the run itself is the same: evaluating draws no random numbers).

    Returns:
        dict(precision, train_losses (list of floats, one per step), eval_loss (cross-entropy in
        nats on `eval_tokens`, forward in the same precision), model (the trained TinyLM)),
        and with eval_every, eval_losses: {step: held-out loss} at eval_every, 2 eval_every, ...
    """
    train_tokens, eval_tokens, vocab, steps, batch, lr, seed = checks.check_training(
        precision, train_tokens, eval_tokens, vocab, steps, batch, lr, seed, limits=TRAINING
    )
    if eval_every is not None:
        eval_every = validate.size("eval_every", eval_every, maximum=steps)
    return _train_tiny_lm(
        precision, train_tokens, eval_tokens, vocab, steps, batch, lr, seed, eval_every
    )


def _train_tiny_lm(
    precision: str,
    train_tokens: Int[np.ndarray, " n"],
    eval_tokens: Int[np.ndarray, " m"],
    vocab: int,
    steps: int,
    batch: int,
    lr: float,
    seed: int,
    eval_every: int | None = None,
) -> dict:
    """AdamW on random windows of `train_tokens`; the eval loss on all of `eval_tokens` (and
    after every `eval_every` steps, where given)."""
    torch.manual_seed(seed)
    model = TinyLM(vocab, precision)
    x_train, y_train = _windows(train_tokens, model.context)
    x_eval, y_eval = _windows(eval_tokens, model.context)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    losses, checkpoints = [], {}
    for step in progress(range(1, steps + 1), desc=f"training in {precision}"):
        idx = torch.randint(len(y_train), (batch,), generator=generator)
        loss = F.cross_entropy(model._forward(x_train[idx]), y_train[idx])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(validate.finite_loss(loss.item(), step, steps, lr))  # stop at a NaN
        if eval_every is not None and step % eval_every == 0:
            with torch.no_grad():
                checkpoints[step] = float(F.cross_entropy(model._forward(x_eval), y_eval))
    with torch.no_grad():
        eval_loss = float(F.cross_entropy(model._forward(x_eval), y_eval))
    run = {"precision": precision, "train_losses": losses, "eval_loss": eval_loss, "model": model}
    if eval_every is not None:
        run["eval_losses"] = checkpoints
    return run
