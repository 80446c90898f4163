"""Chapter 1 in JAX: the tiny decoder-only language model as a pure function over a pytree of
weights, trained with optax, and the training sweep.

Same weights (`labs.scaling.lm.init_params`), same batches (`batch_starts`), same Adam and
schedule as `labs.scaling.torch`, so the two loss curves agree run by run.

Taught in chapter 1, "Your own sweep". Axes: B batch, T tokens, V vocabulary, D model width.
The public `forward` and `loss_fn` check their arguments (outside jit: token ids are read only
when they are concrete host data); the training loop jits the bare `_forward` and `_loss`.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Float, Int

from labs.common.validate import finite_loss
from labs.scaling.config import MarkovCorpus, TinyLMConfig
from labs.scaling.lm import _batch_starts, _init_params, _windows, lr_schedule
from labs.scaling.sweep import SweepResult, sweep_plan
from labs.scaling.sweep_checks import check_params, check_sweep_args, check_targets, check_tokens

__all__ = ["forward", "loss_fn", "train_run", "train_sweep"]


def _layer_norm(x: Float[jax.Array, "B T D"], w, b, eps=1e-5) -> Float[jax.Array, "B T D"]:
    """LayerNorm over the last axis."""
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + eps) * w + b


def forward(params: dict, tokens: jax.Array, config: TinyLMConfig) -> jax.Array:
    """Logits (B, T, V) for int tokens (B, T) in [0, vocab_size), T <= context.

    Checks its arguments, then calls the pure `_forward` (jit that one, with config static).
    """
    params = check_params(params, config, framework="jax")
    return _forward(params, check_tokens("tokens", tokens, config, framework="jax"), config)


def _forward(params: dict, tokens: Int[jax.Array, "B T"], config) -> Float[jax.Array, "B T V"]:
    """Pre-norm blocks, x + attn(ln1(x)) then x + mlp(ln2(x)); learned positions."""
    b, t = tokens.shape
    nh, hd = config.n_heads, config.d_model // config.n_heads
    x = params["tok_emb"][tokens] + params["pos_emb"][:t]
    causal = jnp.tril(jnp.ones((t, t), dtype=bool))
    for i in range(config.n_layers):
        y = _layer_norm(x, params[f"{i}.ln1.w"], params[f"{i}.ln1.b"])
        q, k, v = jnp.split(y @ params[f"{i}.wqkv"], 3, axis=-1)
        q, k, v = (z.reshape(b, t, nh, hd).transpose(0, 2, 1, 3) for z in (q, k, v))
        scores = q @ k.transpose(0, 1, 3, 2) / jnp.sqrt(hd).astype(x.dtype)  # (B, heads, T, T)
        scores = jnp.where(causal, scores, -jnp.inf)
        y = (jax.nn.softmax(scores, axis=-1) @ v).transpose(0, 2, 1, 3).reshape(b, t, -1)
        x = x + y @ params[f"{i}.wo"]
        y = _layer_norm(x, params[f"{i}.ln2.w"], params[f"{i}.ln2.b"])
        hidden = jax.nn.gelu(y @ params[f"{i}.w1"] + params[f"{i}.b1"], approximate=True)
        x = x + hidden @ params[f"{i}.w2"] + params[f"{i}.b2"]
    return _layer_norm(x, params["lnf.w"], params["lnf.b"]) @ params["head"]


def loss_fn(params: dict, inputs: jax.Array, targets: jax.Array, config: TinyLMConfig):
    """Mean next-token cross-entropy (nats) of inputs (B, T) against targets (B, T)."""
    params = check_params(params, config, framework="jax")
    inputs, targets = check_targets(inputs, targets, config, framework="jax")
    return _loss(params, inputs, targets, config)


def _loss(params: dict, inputs: Int[jax.Array, "B T"], targets: Int[jax.Array, "B T"], config):
    """Mean softmax cross-entropy against integer labels."""
    logits = _forward(params, inputs, config)
    return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()


def _make_step(config: TinyLMConfig, optimizer: optax.GradientTransformation):
    """A jitted Adam step for this config."""

    @jax.jit
    def step(params, opt_state, inputs, targets, lr):
        loss, grads = jax.value_and_grad(_loss)(params, inputs, targets, config)
        opt_state.hyperparams["learning_rate"] = lr
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


@partial(jax.jit, static_argnums=3)
def _eval(params, inputs, targets, config):
    """Validation loss, jitted."""
    return _loss(params, inputs, targets, config)


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
) -> tuple[np.ndarray, dict[int, float]]:
    """Train one model with Adam (optax); return (training loss per step, {step: valid loss}).

    Arguments as in `labs.scaling.torch.train_run`. Runs on JAX's default device.
    """
    schedule_steps, eval_at = check_sweep_args(
        config, corpus, steps, batch_size, peak_lr, seed, schedule_steps, eval_at
    )
    params = jax.tree_util.tree_map(jnp.asarray, _init_params(config, seed))
    lrs = lr_schedule(schedule_steps, peak_lr).astype(np.float32)
    optimizer = optax.inject_hyperparams(optax.adam)(
        learning_rate=float(lrs[0]), b1=0.9, b2=0.99, eps=1e-8
    )
    opt_state = optimizer.init(params)
    step_fn = _make_step(config, optimizer)
    starts = _batch_starts(len(corpus.train), config.context, batch_size, steps, seed)
    n_valid = (len(corpus.valid) - 1) // config.context
    valid_x, valid_y = _windows(corpus.valid, np.arange(n_valid) * config.context, config.context)
    curve, evals = np.empty(steps), {}
    for step in range(steps):
        x, y = _windows(corpus.train, starts[step], config.context)
        params, opt_state, loss = step_fn(params, opt_state, x, y, lrs[step])
        curve[step] = finite_loss(
            float(loss), step + 1, steps, peak_lr, lr_name="peak_lr"
        )  # at a NaN
        if step + 1 in eval_at:
            evals[step + 1] = float(_eval(params, valid_x, valid_y, config))
    return curve, evals


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
) -> SweepResult:
    """Train a grid of tiny models; see `labs.scaling.torch.train_sweep` (same arguments, same
    result for the same seed up to float32 rounding)."""
    plan = sweep_plan(corpus, d_models, steps, base=base, batch_size=batch_size, schedule=schedule)

    def run(config, run_steps, eval_at):
        return train_run(
            config, corpus, run_steps, batch_size=batch_size, peak_lr=peak_lr,
            eval_at=eval_at, seed=seed,
        )  # fmt: skip

    return plan.run(run, framework="jax")
