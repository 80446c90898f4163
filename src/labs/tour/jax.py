"""Chapter 0 in JAX: the stable softmax of labs.tour, a pure function that `jax.jit` compiles.

Taught in chapter 0, "The code".
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jaxtyping import Float

from labs.tour.checks import softmax_args

__all__ = ["softmax"]


def softmax(x: jax.Array, axis: int = -1, temperature: float = 1.0) -> jax.Array:
    """Stable softmax of `x / temperature` along `axis` (eq. 1 of labs.tour.reference).

    Args:
        x: floating JAX (or NumPy) array of logits, shape (..., n) with at least one dimension.
        axis: the axis that sums to one (static under jit).
        temperature: T > 0 (at least the smallest normal number of x's dtype).

    Returns:
        Probabilities, same shape and dtype as `x`.
    """
    x, axis, temperature = softmax_args(x, axis, temperature, framework="jax")
    return _softmax(jnp.asarray(x), axis, temperature)


@partial(jax.jit, static_argnums=(1,))
def _softmax(x: Float[jax.Array, "..."], axis: int, temperature: float) -> Float[jax.Array, "..."]:
    """Eq. (1) with the max subtracted first."""
    z = x - jnp.max(x, axis=axis, keepdims=True)  # every exponent <= 0: exp cannot overflow
    e = jnp.exp(z / temperature)
    # A float16 accumulator fails on V3's 129,280 equal logits: the exact sum rounds to inf
    # from 65,520 on, and one added at a time it stalls at 2,048 (2,048 + 1 rounds down).
    acc = jnp.promote_types(x.dtype, jnp.float32)
    return (e / jnp.sum(e, axis=axis, keepdims=True, dtype=acc)).astype(x.dtype)
