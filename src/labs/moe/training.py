"""Chapter 4's experiments in PyTorch: a tiny MoE language model trained with no balancing, with
the auxiliary loss or with V3's bias, and the throughput of a MoE layer against a dense one.

Taught in chapter 4, "Routing collapse, and two cures" (`train_tiny_lm`) and "When does sparsity
pay?" (`train_tiny_lm(dense=True)`, with `dense_width="total"` the dense FFN of the MoE's total
size, `layer_throughput`, and `cpu_limits`, the ceilings that
`labs.moe.roofline` needs for this CPU).

The language is synthetic: a Markov chain of order 2 over `vocab` tokens whose rows are
Zipf-distributed, so the best possible loss is known (`best_loss`). The model sums one embedding
per context token, adds one DeepSeekMoE FFN with a residual, and ends in an output head. Without
the FFN its logits are a sum of one term per context token, which cannot express the chain's
rows: the FFN has work to do, and a run without it (`ffn=False`) is the control. A *skewed
router* starts with every token leaning towards the low-numbered experts (a shared direction in
the embeddings that the router columns of those experts align with), the situation in which
routing collapses if nothing pushes back.
"""

from __future__ import annotations

import contextlib
import math
import time
from types import MappingProxyType

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labs.common import validate
from labs.common.ceilings import measure_ceilings
from labs.common.validate import (
    boolean,
    finite_loss,
    finite_result,
    one_of,
    real_number,
    size,
)
from labs.moe.config import MoEConfig
from labs.moe.reference import _update_bias
from labs.moe.torch import DeepSeekMoE, _moe_layer, _swiglu

__all__ = [
    "BALANCING",
    "DENSE_WIDTHS",
    "best_loss",
    "cpu_limits",
    "layer_throughput",
    "train_tiny_lm",
]

BALANCING = ("none", "aux", "bias")
DENSE_WIDTHS = ("active", "total")  # (S + k) x F, the MoE's per token; (S + E) x F, all of it
_MAX = 4096  # widths, vocabularies and expert counts above this are not "tiny"
_MAX_CONTEXTS = 2**16  # rows of the chain's table


def _chain(vocab: int, order: int, seed: int) -> np.ndarray:
    """A random Markov chain of `order`: row c (the context, the last `order` tokens read as a
    base-`vocab` number, oldest first) is a Zipf(1) distribution over a random permutation.
    Shape (vocab**order, vocab)."""
    rng = np.random.default_rng(seed)
    zipf = 1.0 / np.arange(1, vocab + 1)
    rows = np.stack([zipf[rng.permutation(vocab)] for _ in range(vocab**order)])
    return rows / rows.sum(1, keepdims=True)


def best_loss(vocab: int = 16, order: int = 2, seed: int = 0) -> float:
    """The best possible loss (nats per token) on the task `train_tiny_lm` trains on: contexts
    are drawn uniformly, so it is the mean entropy of the chain's rows."""
    vocab = size("vocab", vocab, minimum=2, maximum=_MAX)
    order = size("order", order, maximum=3)
    _check_contexts(vocab, order)
    seed = validate.seed("seed", seed)
    table = _chain(vocab, order, seed)
    return float(-(table * np.log(table)).sum(1).mean())


def _check_contexts(vocab: int, order: int) -> None:
    if vocab**order > _MAX_CONTEXTS:
        raise ValueError(
            f"vocab**order must be at most {_MAX_CONTEXTS} contexts (a tiny task), got "
            f"vocab={vocab}, order={order}: {vocab**order}"
        )


@contextlib.contextmanager
def _one_thread():
    """Run on one CPU thread: matrices this small gain nothing from more, and on a busy machine
    idle threads spinning at every synchronisation make a step many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _TinyLM(nn.Module):
    """Embeddings of the `order` context tokens, summed -> x + FFN(RMSNorm(x)) -> head; the FFN a
    DeepSeekMoE, a dense SwiGLU of the MoE's active width ("dense") or total width
    ("dense_total"), or none (`ffn="none"`, the control: logits then add one term per context
    token and cannot express how the tokens interact)."""

    def __init__(
        self, config: MoEConfig, vocab: int, order: int, ffn: str, skew: float, router="linear"
    ):
        super().__init__()
        d = config.d_model
        self.embed = nn.ModuleList(nn.Embedding(vocab, d) for _ in range(order))
        self.head = nn.Linear(d, vocab, bias=False)
        self.ffn = ffn
        if ffn in ("dense", "dense_total"):  # same ACTIVE size (S + k) x F, or TOTAL (S + E) x F
            used = config.k if ffn == "dense" else config.n_routed
            width = (config.n_shared + used) * config.d_expert
            self.w1 = nn.Parameter(torch.randn(d, width) / math.sqrt(d))
            self.w3 = nn.Parameter(torch.randn(d, width) / math.sqrt(d))
            self.w2 = nn.Parameter(torch.randn(width, d) / math.sqrt(width))
        elif ffn == "moe":
            self.moe = _moe_layer(config, router)  # router: a variant of `labs.moe.torch`
        with torch.no_grad():
            for table in self.embed:
                table.weight.normal_(0.0, 1.0 / math.sqrt(order))
            if skew and ffn == "moe" and router == "linear":  # a direction the first experts favour
                direction = torch.randn(d)
                direction /= direction.norm()
                for table in self.embed:
                    table.weight += 2.0 * direction
                lean = torch.linspace(skew, -skew, config.n_routed)
                self.moe.router += direction[:, None] * lean[None, :] / math.sqrt(d)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        x = sum(table(context[:, j]) for j, table in enumerate(self.embed))  # (B, D)
        if self.ffn == "none":
            return self.head(x)
        h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
        ffn = self.moe._forward(h) if self.ffn == "moe" else _swiglu(h, self.w1, self.w3, self.w2)
        return self.head(x + ffn)


def _layer_config(d_model, d_expert, n_experts, k) -> MoEConfig:
    """One shared and `n_experts` routed experts of width `d_expert`, top-`k`, sizes checked."""
    return MoEConfig(
        d_model=size("d_model", d_model, maximum=_MAX),
        d_expert=size("d_expert", d_expert, maximum=_MAX),
        n_routed=size("n_experts", n_experts, maximum=256),
        n_shared=1,
        k=size("k", k, maximum=256),
    )


def _check_train(balancing, steps, seed, n_experts, k, d_model, d_expert, vocab, order, batch,
                 gamma, alpha, skew, dense, ffn, lr, dense_width, init_noise):  # fmt: skip
    one_of("balancing", balancing, BALANCING)
    steps = size("steps", steps, maximum=100_000, why="a tiny model, not a pre-training run")
    seed = validate.seed("seed", seed)
    config = _layer_config(d_model, d_expert, n_experts, k)
    vocab = size("vocab", vocab, minimum=2, maximum=_MAX)
    order = size("order", order, maximum=3)
    _check_contexts(vocab, order)
    batch = size("batch", batch, maximum=2**16)
    gamma = real_number("gamma", gamma, nonnegative=True)
    alpha = real_number("alpha", alpha, nonnegative=True)
    skew = real_number("skew", skew, nonnegative=True, maximum=100.0)
    dense_kind = {"active": "dense", "total": "dense_total"}[
        one_of("dense_width", dense_width, DENSE_WIDTHS)
    ]
    kind = (dense_kind if boolean("dense", dense) else "moe") if boolean("ffn", ffn) else "none"
    lr = real_number("lr", lr, positive=True, maximum=1.0)
    init_noise = real_number("init_noise", init_noise, nonnegative=True, maximum=0.01)
    return (balancing, steps, seed, config, vocab, order, batch, gamma, alpha, skew, kind, lr,
            init_noise)  # fmt: skip


def train_tiny_lm(
    balancing: str = "bias",
    steps: int = 200,
    seed: int = 0,
    n_experts: int = 8,
    k: int = 2,
    d_model: int = 32,
    d_expert: int = 16,
    vocab: int = 16,
    order: int = 2,
    batch: int = 256,
    gamma: float = 0.01,
    alpha: float = 0.01,
    skew: float = 3.0,
    dense: bool = False,
    ffn: bool = True,
    lr: float = 0.01,
    dense_width: str = "active",
    init_noise: float = 0.0,
) -> MappingProxyType:
    """Train the tiny LM on the Markov chain for `steps` Adam steps; returns per-step arrays.

    Args:
        balancing: "none", "aux" (add alpha x `aux_balance_loss` on the normalised affinities)
            or "bias" (V3: move the routing bias by gamma against each expert's load per step).
        order: how many previous tokens the next one depends on (2: the logits need the FFN,
            since embeddings alone add one term per token and the chain's rows do not).
        dense: train a dense SwiGLU instead of the MoE (balancing is ignored), of the MoE's
            active width (1 + k) x d_expert, or with `dense_width="total"` of its total width
            (1 + n_experts) x d_expert: the same parameters as the MoE's experts.
        ffn: False trains no FFN at all, the control (dense and balancing are ignored).
        skew: how strongly the initial router favours the first experts (0: no skew).
        init_noise: multiply every initial weight by 1 + init_noise x N(0, 1) (its own seeded
            generator; at most 0.01): a perturbation the size of rounding differences between
            machines (1e-6) shows how far such differences carry by the end of a run.
    Returns:
        {"loss": (steps,), "load": (steps, n_experts) token counts, "imbalance": (steps,) max/mean
        load, "affinity": (steps, n_experts) each expert's mean sigmoid affinity s_i over the
        step's tokens (before the step), "bias": (steps, n_experts) the routing bias after the
        step, "seconds": (steps,) cumulative CPU seconds of this process, "held_out": the
        trained model's exact expected loss over every context (no sampling noise)}; a run
        without a MoE has no load, imbalance, affinity or bias.
    """
    args = _check_train(
        balancing, steps, seed, n_experts, k, d_model, d_expert, vocab, order, batch, gamma,
        alpha, skew, dense, ffn, lr, dense_width, init_noise
    )  # fmt: skip
    with _one_thread():
        curves = _train(*args)
    knobs = {"alpha": args[8], "gamma": args[7], "lr": args[11], "skew": args[9]}
    return finite_result("the training curves", curves, inputs=knobs)


def _train(balancing, steps, seed, config, vocab, order, batch, gamma, alpha, skew, kind, lr,
           init_noise, router="linear", router_lr=1.0):  # fmt: skip
    """The loop: sample contexts and next tokens, step Adam, then (bias) move the routing bias.
    `router` picks the MoE's router from `labs.moe.torch.ROUTERS` (chapter 4's ablation);
    `router_lr` multiplies the learning rate of the router's weights only (1: one Adam group)."""
    torch.manual_seed(seed)
    table = torch.as_tensor(_chain(vocab, order, 0), dtype=torch.float32)
    digits = vocab ** torch.arange(order - 1, -1, -1)  # context index = sum of token x digit
    sampler = torch.Generator().manual_seed(seed + 1)
    model = _TinyLM(config, vocab, order, kind, skew, router)
    if init_noise:
        noise = torch.Generator().manual_seed(seed + 2)
        with torch.no_grad():
            for weight in model.parameters():
                weight.mul_(1 + init_noise * torch.randn(weight.shape, generator=noise))
    if router_lr == 1.0:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:  # the router's weights (named moe.router*) in a group of their own
        named = list(model.named_parameters())
        routing = [p for n, p in named if n.startswith("moe.router")]
        rest = [p for n, p in named if not n.startswith("moe.router")]
        if not routing:
            raise ValueError(f"router_lr needs an MoE with a router, got ffn {kind!r}")
        opt = torch.optim.Adam([{"params": rest}, {"params": routing, "lr": lr * router_lr}], lr=lr)
    e, moe = config.n_routed, kind == "moe"
    loss_log, load_log, seconds = np.zeros(steps), np.zeros((steps, e)), np.zeros(steps)
    affinity_log, bias_log = np.zeros((steps, e)), np.zeros((steps, e))
    start = time.process_time()  # CPU time: other programs' load on the machine is left out
    for step in range(steps):
        context = torch.randint(vocab, (batch, order), generator=sampler)  # (B, order)
        nxt = torch.multinomial(table[context @ digits], 1, generator=sampler)[:, 0]  # (B,)
        loss = F.cross_entropy(model(context), nxt)
        loss_log[step] = finite_loss(loss.item(), step + 1, steps, lr)  # stop at the first NaN
        total = loss
        if moe:
            idx = model.moe.last_indices
            load = torch.bincount(idx.reshape(-1), minlength=e)
            if balancing == "aux":  # E * sum_i f_i P_i on the normalised affinities
                affinity = model.moe.last_affinity
                probs = affinity / affinity.sum(-1, keepdim=True)
                total = loss + alpha * e * (load / idx.numel() * probs.mean(0)).sum()
            load_log[step] = load.numpy()
            affinity_log[step] = model.moe.last_affinity.detach().mean(0).numpy()
        opt.zero_grad()
        total.backward()
        opt.step()
        if balancing == "bias" and moe:
            with torch.no_grad():
                model.moe.bias.copy_(_update_bias(model.moe.bias, torch.as_tensor(load_log[step],
                                                  dtype=model.moe.bias.dtype), gamma))  # fmt: skip
        if moe:
            bias_log[step] = model.moe.bias.numpy()
        seconds[step] = time.process_time() - start
    result = {"loss": loss_log, "seconds": seconds,
              "held_out": _held_out_loss(model, table, vocab, order)}  # fmt: skip
    if moe:
        imbalance = load_log.max(1) / load_log.mean(1)
        result |= {"load": load_log, "imbalance": imbalance, "affinity": affinity_log,
                   "bias": bias_log}  # fmt: skip
    return MappingProxyType(result)


def _held_out_loss(model: _TinyLM, table: torch.Tensor, vocab: int, order: int) -> float:
    """The trained model's expected loss on the chain, exactly: the cross-entropy of its
    prediction against every context's true row, averaged over the contexts (drawn uniformly),
    so no sampling noise. Never below `best_loss`; the gap is the mean KL divergence."""
    digits = vocab ** torch.arange(order - 1, -1, -1)
    every = torch.arange(vocab**order)[:, None] // digits % vocab  # (V**order, order)
    with torch.no_grad():
        log_q = F.log_softmax(model(every), dim=-1)  # (V**order, V)
    return float(-(table * log_q).sum(-1).mean())


def layer_throughput(
    d_model: int = 64,
    n_experts: int = 8,
    k: int = 2,
    d_expert: int = 32,
    tokens: int = 1024,
    repeats: int = 5,
    seed: int = 0,
) -> MappingProxyType:
    """Forward + backward tokens per second of a DeepSeekMoE layer (1 shared + `n_experts` routed
    of width `d_expert`, top-`k`), of the dense SwiGLU of the same ACTIVE width (k + 1) x
    d_expert, and of the dense SwiGLU of the same TOTAL width (n_experts + 1) x d_expert, best of
    `repeats` in CPU time on one thread.
    Returns {"moe": tok/s, "dense": tok/s, "dense_total": tok/s}."""
    config = _layer_config(d_model, d_expert, n_experts, k)
    tokens = size("tokens", tokens, maximum=2**16)
    repeats = size("repeats", repeats, maximum=100)
    seed = validate.seed("seed", seed)
    with _one_thread():
        return _layer_throughput(config, tokens, repeats, seed)


def _layer_throughput(config: MoEConfig, tokens: int, repeats: int, seed: int):
    """Best-of-`repeats` CPU time of forward + backward, both layers on the same input, timed in
    turn (MoE, dense, MoE, ...) so that a slow moment of the machine touches both. CPU time of
    this process (`time.process_time`, one thread) rather than wall-clock: other programs' load
    on a shared machine is left out. The input needs no gradient, so autograd skips W1's and W3's
    input gradients: 7 matrix products per SwiGLU, not 9, and 2 for the router (the count of
    `roofline.layer_seconds(..., backward=True, input_grad=False)`)."""
    torch.manual_seed(seed)
    moe = DeepSeekMoE(config)
    d, f = config.d_model, config.d_expert
    active, total = (config.n_shared + config.k) * f, (config.n_shared + config.n_routed) * f
    dense = [torch.randn(s, requires_grad=True) for s in ((d, active), (d, active), (active, d))]
    full = [torch.randn(s, requires_grad=True) for s in ((d, total), (d, total), (total, d))]
    x = torch.randn(tokens, d)
    layers = {
        "moe": lambda: moe._forward(x),
        "dense": lambda: _swiglu(x, *dense),
        "dense_total": lambda: _swiglu(x, *full),
    }
    for layer in layers.values():
        layer().sum().backward()  # warm-up
    best = dict.fromkeys(layers, float("inf"))
    for _ in range(repeats):
        for name, layer in layers.items():
            start = time.process_time()
            layer().sum().backward()
            best[name] = min(best[name], time.process_time() - start)
    best = {name: tokens / max(t, 1e-9) for name, t in best.items()}
    return MappingProxyType(best)


def cpu_limits(repeats: int = 3) -> tuple[float, float]:
    """(FLOP/s, bytes/s) this CPU reaches on one thread, as `layer_throughput` runs: a float32
    (1024 x 1024) matrix product, and the faster of a sum and a matrix-vector product over a
    256 MiB float32 tensor (larger than a CPU's last-level cache, so it streams from memory). Best
    of `repeats` (at most 100) in CPU time after a warm-up. These are the roofline's ceilings for
    this machine, what a good kernel reaches here, not a vendor's peak. The measurement is
    `labs.common.ceilings.measure_ceilings`, shared with chapters 3 and 7."""
    return measure_ceilings(clock="cpu", threads=1, repeats=repeats, device="cpu")
