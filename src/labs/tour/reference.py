"""The tour's NumPy reference: a numerically stable softmax. Taught in chapter 0, "The code".

The softmax of logits z at temperature T is

    softmax(z / T)_i = exp(z_i / T) / sum_j exp(z_j / T)                               (1)

Subtracting m = max_j z_j before dividing by T changes nothing mathematically (the factor
exp(-m / T) cancels) and keeps every exponent <= 0, so exp cannot overflow.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from labs.common.validate import float_dtype
from labs.tour.checks import logits_args, probabilities_args, softmax_args

__all__ = ["entropy", "naive_softmax", "overflow_threshold", "softmax"]


def softmax(x, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    """Stable softmax of `x / temperature` along `axis` (eq. 1), NumPy reference.

    Args:
        x: floating array of logits, any shape with at least one dimension, finite, non-empty.
        axis: the axis that sums to one.
        temperature: T > 0 (at least the smallest normal number of x's dtype); T > 1 flattens
            the distribution, T < 1 sharpens it.

    Returns:
        Probabilities with the shape and dtype of `x`. The sum accumulates in at least float32:
        in float16, 65,520 or more equal logits' exponentials sum to inf (their exact sum rounds
        past the largest value, 65,504).
    """
    x, axis, temperature = softmax_args(x, axis, temperature, framework="numpy")
    return _softmax(x, axis, temperature)


def _softmax(
    x: Float[np.ndarray, "..."], axis: int, temperature: float
) -> Float[np.ndarray, "..."]:
    """Eq. (1) with the max subtracted first."""
    z = x - x.max(axis=axis, keepdims=True)  # every exponent <= 0: exp cannot overflow
    e = np.exp(z / np.asarray(temperature, dtype=x.dtype))
    # A float16 accumulator fails on V3's 129,280 equal logits: the exact sum rounds to inf
    # from 65,520 on, and one added at a time it stalls at 2,048 (2,048 + 1 rounds down).
    acc = np.promote_types(x.dtype, np.float32)
    return (e / e.sum(axis=axis, keepdims=True, dtype=acc)).astype(x.dtype)


def naive_softmax(x, axis: int = -1) -> np.ndarray:
    """Eq. (1) computed literally, without the max subtraction: a demonstration of the bug.

    Where exp overflows to inf the result holds NaN (inf / inf). Use `softmax` for real work.
    """
    x, axis = logits_args(x, axis)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        return e / e.sum(axis=axis, keepdims=True)


def overflow_threshold(dtype) -> float:
    """The largest x for which exp(x) is finite in `dtype`: log of the dtype's largest value."""
    largest = np.finfo(float_dtype("dtype", dtype)).max
    return float(np.log(np.float64(largest)))


def entropy(p, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats of probability vectors `p` along `axis` (0 log 0 taken as 0)."""
    p, axis = probabilities_args(p, axis)
    logs = np.log(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(axis=axis)
