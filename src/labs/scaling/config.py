"""The chapter's configurations and data containers: the parameters of a scaling law, Kaplan's
exponents, the tiny language model's shape, and the Markov corpus it trains on.

Taught in chapter 1, "The idea" (the laws' parameters) and "Your own sweep" (the model and its
corpus). Every class is a keyword-only frozen dataclass that checks its fields in `__post_init__`,
so a bad value is refused where it is written, once, for the NumPy, torch and JAX paths alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labs.common.validate import array, divisible, instance, integer_array, real_number, size

__all__ = [
    "MAX_CONTEXT",
    "MAX_D_MODEL",
    "MAX_LAYERS",
    "MAX_MLP_RATIO",
    "MAX_VOCAB",
    "ChinchillaParams",
    "KaplanExponents",
    "MarkovCorpus",
    "TinyLMConfig",
    "param_shapes",
]

# Caps on the tiny model's shape. The model is meant to train in seconds on a CPU; a mistyped
# size beyond these would allocate gigabytes in `init_params` or take hours per step. At the caps
# the model has about 2 * 10^8 parameters, under the 2^28 elements a lab allocates.
MAX_VOCAB = 2**14
MAX_CONTEXT = 2**12
MAX_D_MODEL = 2**10
MAX_LAYERS = 8
MAX_MLP_RATIO = 8
_LIMITS = (  # field, least, most
    ("vocab_size", 2, MAX_VOCAB),
    ("context", 2, MAX_CONTEXT),
    ("d_model", 1, MAX_D_MODEL),
    ("n_layers", 1, MAX_LAYERS),
    ("n_heads", 1, MAX_D_MODEL),
    ("mlp_ratio", 1, MAX_MLP_RATIO),
)


@dataclass(frozen=True, kw_only=True)
class ChinchillaParams:
    """The five parameters of L(N, D) = E + A / N^alpha + B / D^beta (eq. 2).

    E: irreducible loss (nats/token); A, alpha: the model-size term; B, beta: the data term.
    All must be finite and > 0.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def __post_init__(self) -> None:
        for name in ("E", "A", "B", "alpha", "beta"):
            value = real_number(f"ChinchillaParams.{name}", getattr(self, name), positive=True)
            object.__setattr__(self, name, value)

    @property
    def a(self) -> float:
        """Exponent of N_opt ~ C^a (eq. 4)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of D_opt ~ C^b (eq. 4)."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        """The constant of eq. 4."""
        return (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))


@dataclass(frozen=True, kw_only=True)
class KaplanExponents:
    """Kaplan et al. (2020): L ~ N^-alpha_N, L ~ D^-alpha_D, L ~ C_min^-alpha_C_min, and the
    compute-efficient allocation N ~ C^n_opt_exponent (so D ~ C^(1 - n_opt_exponent))."""

    alpha_N: float
    alpha_D: float
    alpha_C_min: float
    n_opt_exponent: float

    def __post_init__(self) -> None:
        for name in ("alpha_N", "alpha_D", "alpha_C_min", "n_opt_exponent"):
            most = 1.0 if name == "n_opt_exponent" else None  # N grows slower than C
            value = real_number(
                f"KaplanExponents.{name}", getattr(self, name), positive=True, maximum=most
            )
            object.__setattr__(self, name, value)


@dataclass(frozen=True, kw_only=True)
class TinyLMConfig:
    """A decoder-only transformer small enough to train in a second on a CPU.

    Pre-norm blocks: x + attn(ln1(x)), then x + mlp(ln2(x)); learned positions; untied head.
    Sizes are capped (vocab_size <= 2**14, context <= 2**12, d_model <= 2**10, n_layers <= 8,
    mlp_ratio <= 8): beyond them `init_params` would allocate gigabytes for a model meant to
    train on a CPU.
    """

    vocab_size: int = 64
    context: int = 32
    d_model: int = 16
    n_layers: int = 1
    n_heads: int = 2
    mlp_ratio: int = 4

    def __post_init__(self) -> None:
        for name, least, most in _LIMITS:
            size(name, getattr(self, name), minimum=least, maximum=most, why="a tiny CPU model")
        divisible("d_model", self.d_model, self.n_heads, "n_heads")


def param_shapes(config: TinyLMConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every weight of `config` (d = d_model, V = vocab, T = context,
    h = mlp_ratio * d); matrices act on the right: y = x @ W."""
    instance("config", config, TinyLMConfig)
    d, v, t = config.d_model, config.vocab_size, config.context
    h = config.mlp_ratio * d
    shapes = {"tok_emb": (v, d), "pos_emb": (t, d)}
    for i in range(config.n_layers):
        shapes |= {
            f"{i}.ln1.w": (d,), f"{i}.ln1.b": (d,), f"{i}.wqkv": (d, 3 * d), f"{i}.wo": (d, d),
            f"{i}.ln2.w": (d,), f"{i}.ln2.b": (d,), f"{i}.w1": (d, h), f"{i}.b1": (h,),
            f"{i}.w2": (h, d), f"{i}.b2": (d,),
        }  # fmt: skip
    return shapes | {"lnf.w": (d,), "lnf.b": (d,), "head": (d, v)}


@dataclass(frozen=True, kw_only=True)
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

    def __post_init__(self) -> None:
        transition = array("transition", self.transition, ndim=3)
        v = transition.shape[0]
        if transition.shape != (v, v, v) or v < 2 or (transition < 0).any():
            raise ValueError("transition must be a (V, V, V) table of probabilities, V >= 2")
        sums = transition.sum(axis=-1)
        if not np.allclose(sums, 1.0, atol=1e-6):  # a row of weights, not of probabilities
            worst = np.unravel_index(np.argmax(np.abs(sums - 1)), sums.shape)
            raise ValueError(
                "transition must have rows transition[a, b, :] that sum to 1, got a row "
                f"summing to {sums[worst]:.6g} at (a, b) = {tuple(int(i) for i in worst)}"
            )
        for name in ("train", "valid"):
            stream = integer_array(name, getattr(self, name), ndim=1, low=0, high=v)
            object.__setattr__(self, name, stream)
        for name in ("entropy_rate", "entropy_first"):
            object.__setattr__(self, name, real_number(name, getattr(self, name), nonnegative=True))
        object.__setattr__(self, "transition", transition)

    @property
    def vocab_size(self) -> int:
        return int(self.transition.shape[0])

    def best_loss(self, context: int) -> float:
        """The irreducible validation loss (nats/token) of windows of `context` tokens: the first
        prediction sees one token, every later one sees two, which is all the chain remembers."""
        context = size("context", context, minimum=2, maximum=MAX_CONTEXT)
        return (self.entropy_first + (context - 1) * self.entropy_rate) / context
