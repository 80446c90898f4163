"""Chapter 0 in JAX: the stable softmax of labs.tour, a pure function that `jax.jit` compiles."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

__all__ = ["softmax"]


def softmax(x: jax.Array, axis: int = -1, temperature: float = 1.0) -> jax.Array:
    """Stable softmax of `x / temperature` along `axis` (eq. 1 of labs.tour).

    Args:
        x: floating array of logits, shape (..., n) with at least one dimension.
        axis: the axis that sums to one (static under jit).
        temperature: T > 0.

    Returns:
        Probabilities, same shape and dtype as `x`.
    """
    if not isinstance(x, (jax.Array, jnp.ndarray)) and not hasattr(x, "__array__"):
        raise TypeError(f"x must be an array, got {type(x).__name__}")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"x must hold floating-point numbers, got dtype {x.dtype}")
    if x.ndim < 1:
        raise ValueError(f"x must have at least one dimension, got shape {x.shape}")
    if isinstance(axis, bool) or not isinstance(axis, int) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must be an int in [-{x.ndim}, {x.ndim}), got {axis!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a real number, got {type(temperature).__name__}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return _softmax(x, axis, float(temperature))


@partial(jax.jit, static_argnums=(1,))
def _softmax(x: jax.Array, axis: int, temperature: float) -> jax.Array:
    z = x / temperature
    z = z - jnp.max(z, axis=axis, keepdims=True)  # every exponent <= 0: exp cannot overflow
    e = jnp.exp(z)
    return e / jnp.sum(e, axis=axis, keepdims=True)
