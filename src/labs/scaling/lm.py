"""The tiny language models of the chapter's own sweep, framework-free: corpus, configuration,
weights, data order, learning-rate schedule and the NumPy reference forward pass.

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

from dataclasses import dataclass

import numpy as np

from labs.common.validate import integer, real_number

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


@dataclass(frozen=True)
class MarkovCorpus:
    """A second-order Markov language and token streams sampled from it.

    Attributes:
        transition: (V, V, V) array, transition[a, b, c] = P(x_t = c | x_{t-2} = a, x_{t-1} = b).
        train: int64 token stream to train on.
        valid: int64 token stream, sampled independently, to measure validation loss.
        entropy_rate: H(x_t | x_{t-2}, x_{t-1}) in nats under the stationary law of the chain.
        entropy_first: H(x_1 | x_0) in nats: the best loss on the first prediction of a window,
            which sees only one token of context.
    """

    transition: np.ndarray
    train: np.ndarray
    valid: np.ndarray
    entropy_rate: float
    entropy_first: float

    @property
    def vocab_size(self) -> int:
        return int(self.transition.shape[0])

    def best_loss(self, context: int) -> float:
        """The irreducible validation loss (nats/token) of windows of `context` tokens: the first
        prediction sees one token, every later one sees two, which is all the chain remembers."""
        context = integer("context", context, minimum=2)
        return (self.entropy_first + (context - 1) * self.entropy_rate) / context


def _entropy(p: np.ndarray) -> np.ndarray:
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
    """
    vocab_size = integer("vocab_size", vocab_size, minimum=2)
    train_tokens = integer("train_tokens", train_tokens, minimum=16)
    valid_tokens = integer("valid_tokens", valid_tokens, minimum=16)
    mix = real_number("mix", mix)
    if not 0.0 <= mix <= 1.0:
        raise ValueError(f"mix must be in [0, 1], got {mix}")
    bigram_concentration = real_number("bigram_concentration", bigram_concentration, positive=True)
    concentration = real_number("concentration", concentration, positive=True)
    seed = integer("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    v = vocab_size
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

    def sample(n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.int64)
        start = rng.choice(v * v, p=pair.ravel())
        out[0], out[1] = divmod(int(start), v)
        uniforms = rng.random(n)
        for t in range(2, n):
            row = cumulative[out[t - 2], out[t - 1]]
            out[t] = np.searchsorted(row, uniforms[t], side="right")
        return out

    return MarkovCorpus(
        transition, sample(train_tokens), sample(valid_tokens), entropy_rate, entropy_first
    )


# --- the model ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TinyLMConfig:
    """A decoder-only transformer small enough to train in a second on a CPU.

    Pre-norm blocks: x + attn(ln1(x)), then x + mlp(ln2(x)); learned positions; untied head.
    """

    vocab_size: int = 64
    context: int = 32
    d_model: int = 16
    n_layers: int = 1
    n_heads: int = 2
    mlp_ratio: int = 4

    def __post_init__(self) -> None:
        integer("vocab_size", self.vocab_size, minimum=2)
        integer("context", self.context, minimum=2)
        integer("d_model", self.d_model, minimum=1)
        integer("n_layers", self.n_layers, minimum=1)
        integer("n_heads", self.n_heads, minimum=1)
        integer("mlp_ratio", self.mlp_ratio, minimum=1)
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model must be divisible by n_heads, got d_model={self.d_model}, "
                f"n_heads={self.n_heads}"
            )


def init_params(config: TinyLMConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Float32 weights for `config`, drawn once in NumPy so every framework starts identically.

    Keys and shapes (d = d_model, V = vocab, T = context, h = mlp_ratio * d), for each layer i:
    "tok_emb" (V, d), "pos_emb" (T, d), f"{i}.ln1.w"/"{i}.ln1.b" (d,), f"{i}.wqkv" (d, 3d),
    f"{i}.wo" (d, d), f"{i}.ln2.w"/"{i}.ln2.b" (d,), f"{i}.w1" (d, h), f"{i}.b1" (h,),
    f"{i}.w2" (h, d), f"{i}.b2" (d,), then "lnf.w"/"lnf.b" (d,) and "head" (d, V).
    Matrices act on the right: y = x @ W.
    """
    if not isinstance(config, TinyLMConfig):
        raise TypeError(f"config must be a TinyLMConfig, got {type(config).__name__}")
    seed = integer("seed", seed, minimum=0)
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
    if not isinstance(config, TinyLMConfig):
        raise TypeError(f"config must be a TinyLMConfig, got {type(config).__name__}")
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
    """
    n_tokens = integer("n_tokens", n_tokens, minimum=1)
    context = integer("context", context, minimum=1)
    batch_size = integer("batch_size", batch_size, minimum=1)
    steps = integer("steps", steps, minimum=1)
    seed = integer("seed", seed, minimum=0)
    if n_tokens < context + 2:
        raise ValueError(f"n_tokens must be at least context + 2 = {context + 2}, got {n_tokens}")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_tokens - context - 1, size=(steps, batch_size))


def windows(stream: np.ndarray, starts: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets, each of shape starts.shape + (context,), cut from `stream`."""
    idx = np.asarray(starts)[..., None] + np.arange(context + 1)
    w = stream[idx]
    return w[..., :-1], w[..., 1:]


def lr_schedule(steps: int, peak: float, warmup: int = 10, final_fraction: float = 0.1):
    """Learning rate at each of `steps` steps: linear warm-up, then a cosine decay to
    `final_fraction` * peak that ends exactly at the last step. Hoffmann et al. (§3.1) match the
    cosine length to the number of training tokens; `train_sweep(schedule="fixed")` does not."""
    steps = integer("steps", steps, minimum=1)
    peak = real_number("peak", peak, positive=True)
    warmup = integer("warmup", warmup, minimum=0)
    final_fraction = real_number("final_fraction", final_fraction, nonnegative=True)
    s = np.arange(steps, dtype=np.float64)
    ramp = np.minimum(1.0, (s + 1) / max(warmup, 1)) if warmup else np.ones(steps)
    progress_ = np.clip((s - warmup) / max(steps - warmup - 1, 1), 0.0, 1.0)
    cosine = final_fraction + (1 - final_fraction) * 0.5 * (1 + np.cos(np.pi * progress_))
    return peak * np.where(s < warmup, ramp, cosine)


# --- the NumPy reference forward pass ---------------------------------------------------------


def _layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x):  # tanh approximation, written out so all three frameworks compute the same thing
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def reference_logits(params: dict, tokens: np.ndarray, config: TinyLMConfig) -> np.ndarray:
    """Logits (B, T, V) of the model for int tokens (B, T), T <= context. NumPy, float64."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
        raise ValueError(f"tokens must be an int array of shape (B, T), got {tokens.shape}")
    b, t = tokens.shape
    if t > config.context:
        raise ValueError(f"tokens has {t} positions, more than context={config.context}")
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    nh, hd = config.n_heads, config.d_model // config.n_heads
    x = p["tok_emb"][tokens] + p["pos_emb"][:t]
    causal = np.tril(np.ones((t, t), dtype=bool))
    for i in range(config.n_layers):
        y = _layer_norm(x, p[f"{i}.ln1.w"], p[f"{i}.ln1.b"])
        q, k, v = np.split(y @ p[f"{i}.wqkv"], 3, axis=-1)
        q, k, v = (z.reshape(b, t, nh, hd).transpose(0, 2, 1, 3) for z in (q, k, v))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)
        scores = np.where(causal, scores, -np.inf)
        scores = scores - scores.max(-1, keepdims=True)
        att = np.exp(scores)
        att /= att.sum(-1, keepdims=True)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(b, t, config.d_model)
        x = x + y @ p[f"{i}.wo"]
        y = _layer_norm(x, p[f"{i}.ln2.w"], p[f"{i}.ln2.b"])
        x = x + _gelu(y @ p[f"{i}.w1"] + p[f"{i}.b1"]) @ p[f"{i}.w2"] + p[f"{i}.b2"]
    return _layer_norm(x, p["lnf.w"], p["lnf.b"]) @ p["head"]


def reference_loss(params: dict, inputs: np.ndarray, targets: np.ndarray, config) -> float:
    """Mean next-token cross-entropy in nats: the NumPy reference the frameworks are tested on."""
    logits = reference_logits(params, inputs, config)
    m = logits.max(-1, keepdims=True)
    logz = m[..., 0] + np.log(np.exp(logits - m).sum(-1))
    picked = np.take_along_axis(logits, np.asarray(targets)[..., None], axis=-1)[..., 0]
    return float((logz - picked).mean())
