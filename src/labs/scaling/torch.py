"""Chapter 1 in PyTorch: the tiny decoder-only language model and the training sweep.

The model starts from the NumPy weights of `labs.scaling.lm.init_params` and trains on the batches
of `labs.scaling.lm.batch_starts`, so for the same seed its loss curve matches the JAX one in
`labs.scaling.jax` (see tests/scaling/test_sweep.py for the tolerance and its reason).

Taught in chapter 1, "Your own sweep". Axes: B batch, T tokens, V vocabulary, D model width,
H heads.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import nn

from labs.common.validate import finite_loss, same_device
from labs.scaling.config import MarkovCorpus, TinyLMConfig
from labs.scaling.lm import _batch_starts, _init_params, _windows, lr_schedule
from labs.scaling.sweep import SweepResult, sweep_plan
from labs.scaling.sweep_checks import (
    check_config,
    check_device,
    check_params,
    check_sweep_args,
    check_tokens,
)

__all__ = ["TinyLM", "train_run", "train_sweep"]


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)). x: (B, T, d)."""

    def __init__(self, config: TinyLMConfig):
        super().__init__()
        d, h = config.d_model, config.mlp_ratio * config.d_model
        self.n_heads = config.n_heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.wqkv = nn.Linear(d, 3 * d, bias=False)
        self.wo = nn.Linear(d, d, bias=False)
        self.w1, self.w2 = nn.Linear(d, h), nn.Linear(h, d)
        self.register_buffer(
            "causal", torch.tril(torch.ones(config.context, config.context, dtype=torch.bool))
        )

    def forward(self, x: Float[torch.Tensor, "B T D"]) -> Float[torch.Tensor, "B T D"]:
        b, t, d = x.shape
        hd = d // self.n_heads
        q, k, v = self.wqkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.n_heads, hd).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(hd)  # (B, heads, T, T)
        scores = scores.masked_fill(~self.causal[:t, :t], float("-inf"))
        y = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.wo(y)
        return x + self.w2(nn.functional.gelu(self.w1(self.ln2(x)), approximate="tanh"))


class TinyLM(nn.Module):
    """Decoder-only transformer: tokens (B, T) int64 -> logits (B, T, V), T <= context."""

    def __init__(self, config: TinyLMConfig):
        super().__init__()
        self.config = config = check_config("config", config)
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Parameter(torch.zeros(config.context, config.d_model))
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.lnf = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)

    def forward(self, tokens: Int[torch.Tensor, "B T"]) -> Float[torch.Tensor, "B T V"]:
        """Logits for token ids in [0, vocab_size), T <= context (ids checked on CPU tensors)."""
        tokens = check_tokens("tokens", tokens, self.config, framework="torch")
        same_device(("the model's weights", self.tok_emb.weight), ("tokens", tokens))
        return self._logits(tokens)

    def _logits(self, tokens: Int[torch.Tensor, "B T"]) -> Float[torch.Tensor, "B T V"]:
        """Embed, add positions, run the blocks, final norm, head."""
        x = self.tok_emb(tokens) + self.pos_emb[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.lnf(x))

    @torch.no_grad()
    def load_numpy(self, params: dict[str, np.ndarray]) -> TinyLM:
        """Copy the weights of `labs.scaling.lm.init_params` in (nn.Linear stores W transposed)."""
        return self._load(check_params(params, self.config))

    @torch.no_grad()
    def _load(self, params: dict[str, np.ndarray]) -> TinyLM:
        """Copy each NumPy weight into its parameter, transposing the Linear weights."""
        t = lambda a: torch.as_tensor(np.asarray(a))  # noqa: E731
        self.tok_emb.weight.copy_(t(params["tok_emb"]))
        self.pos_emb.copy_(t(params["pos_emb"]))
        for i, blk in enumerate(self.blocks):
            blk.ln1.weight.copy_(t(params[f"{i}.ln1.w"]))
            blk.ln1.bias.copy_(t(params[f"{i}.ln1.b"]))
            blk.wqkv.weight.copy_(t(params[f"{i}.wqkv"]).T)
            blk.wo.weight.copy_(t(params[f"{i}.wo"]).T)
            blk.ln2.weight.copy_(t(params[f"{i}.ln2.w"]))
            blk.ln2.bias.copy_(t(params[f"{i}.ln2.b"]))
            blk.w1.weight.copy_(t(params[f"{i}.w1"]).T)
            blk.w1.bias.copy_(t(params[f"{i}.b1"]))
            blk.w2.weight.copy_(t(params[f"{i}.w2"]).T)
            blk.w2.bias.copy_(t(params[f"{i}.b2"]))
        self.lnf.weight.copy_(t(params["lnf.w"]))
        self.lnf.bias.copy_(t(params["lnf.b"]))
        self.head.weight.copy_(t(params["head"]).T)
        return self


def _loss(model: TinyLM, inputs: Int[torch.Tensor, "B T"], targets: Int[torch.Tensor, "B T"]):
    """Mean next-token cross-entropy."""
    logits = model._logits(inputs)
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def train_run(
    config: TinyLMConfig,
    corpus: MarkovCorpus,
    steps: int,
    *,
    batch_size: int = 16,
    peak_lr: float = 1e-2,
    schedule_steps: int | None = None,
    eval_at: tuple[int, ...] | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> tuple[np.ndarray, dict[int, float]]:
    """Train one model with Adam; return (training loss per step, {step: validation loss}).

    The cosine schedule lasts `schedule_steps` (default: `steps`, matched to the run). Validation
    loss is measured after the steps listed in `eval_at` (default: only the last one).
    """
    schedule_steps, eval_at = check_sweep_args(
        config, corpus, steps, batch_size, peak_lr, seed, schedule_steps, eval_at
    )
    device = check_device(device)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        # Matrices of a few dozen rows: thread start-up costs more than the arithmetic, and on a
        # shared machine extra threads only fight each other. One thread, restored afterwards.
        torch.set_num_threads(1)
    try:
        return _train(
            config, corpus, steps, batch_size, peak_lr, schedule_steps, eval_at, seed, device
        )
    finally:
        torch.set_num_threads(threads)


def _train(config, corpus, steps, batch_size, peak_lr, schedule_steps, eval_at, seed, device):
    """Adam on the shared batches and schedule; validation loss after each step in eval_at."""
    torch.manual_seed(seed)
    model = TinyLM(config)._load(_init_params(config, seed)).to(device)
    lrs = lr_schedule(schedule_steps, peak_lr)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(lrs[0]), betas=(0.9, 0.99), eps=1e-8)
    starts = _batch_starts(len(corpus.train), config.context, batch_size, steps, seed)
    valid_x, valid_y = _valid_batch(corpus, config, device)
    curve, evals = np.empty(steps), {}
    for step in range(steps):
        x, y = (
            torch.as_tensor(a, device=device)
            for a in _windows(corpus.train, starts[step], config.context)
        )
        for group in optimizer.param_groups:
            group["lr"] = float(lrs[step])
        loss = _loss(model, x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        curve[step] = finite_loss(
            loss.item(), step + 1, steps, peak_lr, lr_name="peak_lr"
        )  # at a NaN
        if step + 1 in eval_at:
            with torch.no_grad():
                evals[step + 1] = _loss(model, valid_x, valid_y).item()
    return curve, evals


def _valid_batch(corpus: MarkovCorpus, config: TinyLMConfig, device):
    """The validation stream cut into consecutive windows."""
    n = (len(corpus.valid) - 1) // config.context
    starts = np.arange(n) * config.context
    x, y = _windows(corpus.valid, starts, config.context)
    return torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)


def train_sweep(
    corpus: MarkovCorpus,
    d_models=(8, 16, 32),
    steps=(50, 100, 200),
    *,
    base: TinyLMConfig | None = None,
    batch_size: int = 16,
    peak_lr: float = 1e-2,
    schedule: str = "matched",
    seed: int = 0,
    device: torch.device | str | None = None,
) -> SweepResult:
    """Train a grid of tiny models (every width in `d_models` x every length in `steps`).

    schedule="matched" trains one model per cell, each with a cosine schedule as long as its own
    run (Hoffmann et al.). schedule="fixed" trains one model per width for the longest run and
    reads the shorter budgets off its intermediate checkpoints, as Kaplan et al. did: the
    schedule has not yet decayed there. Whether that makes those losses too high (Hoffmann et
    al.) depends on the run: on chapter 1's 50-to-400-step sweep they come out lower; on runs
    four times longer, higher for the wider models (`labs.scaling.schedule_long`).

    Returns a `SweepResult` with N, D (tokens), C = 6ND and validation loss per run.
    """
    plan = sweep_plan(corpus, d_models, steps, base=base, batch_size=batch_size, schedule=schedule)

    def run(config, run_steps, eval_at):
        return train_run(
            config, corpus, run_steps, batch_size=batch_size, peak_lr=peak_lr,
            eval_at=eval_at, seed=seed, device=device,
        )  # fmt: skip

    return plan.run(run, framework="torch")
