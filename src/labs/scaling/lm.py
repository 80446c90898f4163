"""The tiny language models of the chapter's own sweep, framework-free: corpus, weights, data
order and learning-rate schedule (the configuration is in `labs.scaling.config`, the NumPy
reference forward pass in `labs.scaling.reference`).

Taught in chapter 1, "Your own sweep". Axes: V vocabulary, S steps, B batch, T tokens.

The corpus is a seeded synthetic language: a Markov chain over a vocabulary of 64 tokens whose
next-token rows are sparse (Dirichlet with a small concentration). A model of width d must squeeze
the 64 x 64 table of next-token logits through d dimensions, so it is limited by its size as well
as by the tokens it sees: the two terms of the Chinchilla law. (`make_corpus(mix=...)` can mix in a
second-order part.) Because we wrote the chain down, its entropy rate is known exactly: the loss
no model can beat (the E of the scaling law) is a number we compute, not one we fit.

`labs.scaling.torch` and `labs.scaling.jax` train the same model on the same batches, starting
from the weights `init_params` draws here, so the two frameworks can be compared run by run.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from labs.common import validate
from labs.scaling.config import MarkovCorpus, TinyLMConfig
from labs.scaling.reference import reference_logits, reference_loss
from labs.scaling.sweep_checks import (
    check_batch_args,
    check_config,
    check_corpus_args,
    check_schedule_args,
    check_windows,
)

__all__ = [
    "MarkovCorpus",
    "TinyLMConfig",
    "batch_starts",
    "count_params",
    "init_params",
    "lr_schedule",
    "make_corpus",
    "reference_logits",
    "reference_loss",
    "windows",
]


# --- the corpus ---------------------------------------------------------------------------------


def _entropy(p: Float[np.ndarray, "... V"]) -> Float[np.ndarray, ...]:
    """H(p) in nats along the last axis, 0 log 0 = 0."""
    logs = np.log(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(axis=-1)


def make_corpus(
    vocab_size: int = 64,
    train_tokens: int = 300_000,
    valid_tokens: int = 32_768,
    *,
    mix: float = 1.0,
    bigram_concentration: float = 0.1,
    concentration: float = 0.1,
    seed: int = 0,
) -> MarkovCorpus:
    """Draw a second-order Markov language and sample a training and a validation stream.

    P(c | a, b) = mix * bigram[b, c] + (1 - mix) * trigram[a, b, c], with the bigram rows drawn
    from Dirichlet(`bigram_concentration`) and the trigram rows from Dirichlet(`concentration`)
    (the smaller the concentration, the sparser and more predictable the rows). The default,
    mix = 1, is a first-order chain: a width-d model must squeeze a V x V table of next-token
    logits through d dimensions, so capacity matters as well as data. Streams start from the
    chain's stationary law.

    Caps: vocab_size <= 256 (the (V, V, V) transition table and its power iteration grow as V^3:
    256 takes 134 MB per table and seconds, 2,000 would take 60 GiB) and train_tokens,
    valid_tokens <= 2,000,000 each (tokens are sampled one by one in Python, ~6 s per million
    and a half).
    """
    args = check_corpus_args(
        vocab_size, train_tokens, valid_tokens, mix, bigram_concentration, concentration, seed
    )
    return _make_corpus(*args)


def _make_corpus(v, train_tokens, valid_tokens, mix, bigram_concentration, concentration, seed):
    """Draw the chain, its stationary law and entropies, then sample the two streams."""
    rng = np.random.default_rng(seed)
    bigram = rng.dirichlet(np.full(v, bigram_concentration), size=v)  # (V, V)
    trigram = rng.dirichlet(np.full(v, concentration), size=(v, v))  # (V, V, V)
    transition = mix * bigram[None, :, :] + (1 - mix) * trigram

    # Stationary law over pairs (a, b): power iteration on the pair chain (a, b) -> (b, c).
    pair = np.full((v, v), 1.0 / v**2)
    for _ in range(500):
        new = np.einsum("ab,abc->bc", pair, transition)
        if np.abs(new - pair).max() < 1e-13:
            pair = new
            break
        pair = new
    pair /= pair.sum()
    entropy_rate = float((pair * _entropy(transition)).sum())
    first = pair.sum(axis=0)  # stationary law of one token
    conditional = pair / np.maximum(pair.sum(axis=1, keepdims=True), 1e-300)  # P(b | a)
    entropy_first = float((first * _entropy(conditional)).sum())

    cumulative = np.cumsum(transition, axis=-1)
    cumulative[..., -1] = 1.0

    def sample(n: int) -> Int[np.ndarray, " n"]:
        out = np.empty(n, dtype=np.int64)
        start = rng.choice(v * v, p=pair.ravel())
        out[0], out[1] = divmod(int(start), v)
        uniforms = rng.random(n)
        for t in range(2, n):
            row = cumulative[out[t - 2], out[t - 1]]
            out[t] = np.searchsorted(row, uniforms[t], side="right")
        return out

    return MarkovCorpus(
        transition=transition,
        train=sample(train_tokens),
        valid=sample(valid_tokens),
        entropy_rate=entropy_rate,
        entropy_first=entropy_first,
    )


# --- the model ----------------------------------------------------------------------------------


def init_params(config: TinyLMConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Float32 weights for `config`, drawn once in NumPy so every framework starts identically.

    Keys and shapes (d = d_model, V = vocab, T = context, h = mlp_ratio * d), for each layer i:
    "tok_emb" (V, d), "pos_emb" (T, d), f"{i}.ln1.w"/"{i}.ln1.b" (d,), f"{i}.wqkv" (d, 3d),
    f"{i}.wo" (d, d), f"{i}.ln2.w"/"{i}.ln2.b" (d,), f"{i}.w1" (d, h), f"{i}.b1" (h,),
    f"{i}.w2" (h, d), f"{i}.b2" (d,), then "lnf.w"/"lnf.b" (d,) and "head" (d, V).
    Matrices act on the right: y = x @ W.
    """
    return _init_params(check_config("config", config), validate.seed("seed", seed))


def _init_params(config: TinyLMConfig, seed: int) -> dict[str, np.ndarray]:
    """GPT-2 style: normal weights, smaller on the residual branches; unit norms, zero biases."""
    rng = np.random.default_rng(seed)
    d, v, t = config.d_model, config.vocab_size, config.context
    h = config.mlp_ratio * d
    branch = 1 / np.sqrt(2 * config.n_layers)  # GPT-2: residual branches start smaller

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    p = {"tok_emb": normal((v, d), 0.1), "pos_emb": normal((t, d), 0.1)}
    for i in range(config.n_layers):
        p[f"{i}.ln1.w"], p[f"{i}.ln1.b"] = np.ones(d, np.float32), np.zeros(d, np.float32)
        p[f"{i}.wqkv"] = normal((d, 3 * d), 1 / np.sqrt(d))
        p[f"{i}.wo"] = normal((d, d), branch / np.sqrt(d))
        p[f"{i}.ln2.w"], p[f"{i}.ln2.b"] = np.ones(d, np.float32), np.zeros(d, np.float32)
        p[f"{i}.w1"] = normal((d, h), 1 / np.sqrt(d))
        p[f"{i}.b1"] = np.zeros(h, np.float32)
        p[f"{i}.w2"] = normal((h, d), branch / np.sqrt(h))
        p[f"{i}.b2"] = np.zeros(d, np.float32)
    p["lnf.w"], p["lnf.b"] = np.ones(d, np.float32), np.zeros(d, np.float32)
    p["head"] = normal((d, v), 1 / np.sqrt(d))
    return p


def count_params(config: TinyLMConfig) -> int:
    """Every parameter of the model, embeddings included (the convention of Hoffmann et al.)."""
    return _count_params(check_config("config", config))


def _count_params(config: TinyLMConfig) -> int:
    """V d + T d + layers (12 d^2 + 13 d for h = 4d) + 2 d + d V, as Python ints."""
    d, v, t, h = (
        config.d_model,
        config.vocab_size,
        config.context,
        config.mlp_ratio * config.d_model,
    )
    per_layer = 2 * d + 3 * d * d + d * d + 2 * d + d * h + h + h * d + d
    return v * d + t * d + config.n_layers * per_layer + 2 * d + d * v


# --- data order and schedule --------------------------------------------------------------------


def batch_starts(n_tokens: int, context: int, batch_size: int, steps: int, seed: int) -> np.ndarray:
    """(steps, batch_size) start offsets of training windows in a stream of `n_tokens` tokens.

    Each window holds context + 1 tokens (inputs and shifted targets). Drawn from a seeded NumPy
    generator, so both frameworks see exactly the same batches in the same order.
    steps <= 20,000 and batch_size <= 512 (larger values are typos at this scale).
    """
    return _batch_starts(*check_batch_args(n_tokens, context, batch_size, steps, seed))


def _batch_starts(n_tokens, context, batch_size, steps, seed) -> Int[np.ndarray, "S B"]:
    """Uniform start offsets, each leaving room for context + 1 tokens."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_tokens - context - 1, size=(steps, batch_size))


def windows(stream: np.ndarray, starts: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets, each of shape starts.shape + (context,), cut from `stream`.

    Every start must leave room for context + 1 tokens: 0 <= start < len(stream) - context.
    """
    return _windows(*check_windows(stream, starts, context))


def _windows(stream: Int[np.ndarray, " n"], starts: Int[np.ndarray, ...], context: int):
    """Gather context + 1 tokens per start; inputs are the first context, targets the last."""
    idx = starts[..., None] + np.arange(context + 1)
    w = stream[idx]
    return w[..., :-1], w[..., 1:]


def lr_schedule(steps: int, peak: float, warmup: int = 10, final_fraction: float = 0.1):
    """Learning rate at each of `steps` steps: linear warm-up, then a cosine decay to
    `final_fraction` * peak that ends exactly at the last step. Hoffmann et al. (§3.1) match the
    cosine length to the number of training tokens; `train_sweep(schedule="fixed")` does not.
    steps and warmup <= 20,000; 0 <= final_fraction <= 1."""
    return _lr_schedule(*check_schedule_args(steps, peak, warmup, final_fraction))


def _lr_schedule(steps: int, peak: float, warmup: int, final_fraction: float):
    """Linear ramp over `warmup` steps, then a cosine to final_fraction * peak."""
    s = np.arange(steps, dtype=np.float64)
    ramp = np.minimum(1.0, (s + 1) / max(warmup, 1)) if warmup else np.ones(steps)
    progress_ = np.clip((s - warmup) / max(steps - warmup - 1, 1), 0.0, 1.0)
    cosine = final_fraction + (1 - final_fraction) * 0.5 * (1 + np.cos(np.pi * progress_))
    return peak * np.where(s < warmup, ramp, cosine)
