"""The chapter's configurations and data containers: the parameters of a scaling law, Kaplan's
exponents, the tiny language model's shape, and the Markov corpus it trains on.

Taught in chapter 1, "The idea" (the laws' parameters) and "Your own sweep" (the model and its
corpus). Every class is a keyword-only frozen dataclass that checks its fields in `__post_init__`,
so a bad value is refused where it is written, once, for the NumPy, torch and JAX paths alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from labs.common.validate import MAX_ELEMENTS, array, integer_array, real_number, size

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
# size beyond these would allocate gigabytes in `init_params` or take hours per step.
MAX_VOCAB = 2**16
MAX_CONTEXT = 2**12
MAX_D_MODEL = 2**12
MAX_LAYERS = 64
MAX_MLP_RATIO = 16


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
        for name in ("alpha_N", "alpha_D", "alpha_C_min"):
            value = real_number(f"KaplanExponents.{name}", getattr(self, name), positive=True)
            object.__setattr__(self, name, value)
        n_opt = real_number(
            "KaplanExponents.n_opt_exponent", self.n_opt_exponent, positive=True, maximum=1.0
        )
        object.__setattr__(self, "n_opt_exponent", n_opt)


@dataclass(frozen=True, kw_only=True)
class TinyLMConfig:
    """A decoder-only transformer small enough to train in a second on a CPU.

    Pre-norm blocks: x + attn(ln1(x)), then x + mlp(ln2(x)); learned positions; untied head.
    Sizes are capped (vocab_size <= 2**16, context and d_model <= 2**12, n_layers <= 64,
    mlp_ratio <= 16, and at most 2**28 parameters in all): beyond them `init_params` would
    allocate gigabytes for a model meant to train on a CPU.
    """

    vocab_size: int = 64
    context: int = 32
    d_model: int = 16
    n_layers: int = 1
    n_heads: int = 2
    mlp_ratio: int = 4

    def __post_init__(self) -> None:
        why = "a tiny model meant to train on a CPU"
        size("vocab_size", self.vocab_size, minimum=2, maximum=MAX_VOCAB, why=why)
        size("context", self.context, minimum=2, maximum=MAX_CONTEXT, why=why)
        size("d_model", self.d_model, maximum=MAX_D_MODEL, why=why)
        size("n_layers", self.n_layers, maximum=MAX_LAYERS, why=why)
        size("n_heads", self.n_heads, maximum=MAX_D_MODEL, why=why)
        size("mlp_ratio", self.mlp_ratio, maximum=MAX_MLP_RATIO, why=why)
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model must be divisible by n_heads, got d_model={self.d_model}, "
                f"n_heads={self.n_heads}"
            )
        total = sum(math.prod(s) for s in param_shapes(self).values())
        if total > MAX_ELEMENTS:
            raise ValueError(
                f"vocab_size, context, d_model, n_layers and mlp_ratio give {total:,} parameters, "
                f"more than the {MAX_ELEMENTS:,} a lab allocates"
            )


def param_shapes(config: TinyLMConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every weight of `config` (d = d_model, V = vocab, T = context,
    h = mlp_ratio * d); matrices act on the right: y = x @ W."""
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
        if transition.shape != (v, v, v) or v < 2:
            raise ValueError(
                f"transition must have shape (V, V, V), V >= 2, got {transition.shape}"
            )
        if (transition < 0).any():
            raise ValueError("transition must hold probabilities >= 0; it holds a negative entry")
        for name in ("train", "valid"):
            stream = integer_array(name, getattr(self, name), ndim=1, low=0, high=v)
            if len(stream) < 2:
                raise ValueError(f"{name} must hold at least 2 tokens, got {len(stream)}")
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
