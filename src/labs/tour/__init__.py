"""Chapter 0, the tour: a numerically stable softmax, the template every chapter follows.

Framework-free: the NumPy reference lives here; `labs.tour.torch` and `labs.tour.jax` hold the
same kernel in each framework, and a parity test feeds all three the same input.

The softmax of logits z at temperature T is

    softmax(z / T)_i = exp(z_i / T) / sum_j exp(z_j / T)                               (1)

Computing (1) literally overflows as soon as some z_i / T exceeds log(largest finite value of the
dtype): about 88.7 in float32 and 11.1 in float16. Subtracting m = max_j z_j / T from every logit
changes nothing mathematically (the factor exp(-m) cancels) and keeps every exponent <= 0.
"""

from __future__ import annotations

import numpy as np

from labs.common.validate import axis_index, float_array, real_number

__all__ = ["entropy", "naive_softmax", "overflow_threshold", "softmax"]


def softmax(x, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    """Stable softmax of `x / temperature` along `axis` (eq. 1), NumPy reference.

    Args:
        x: floating array of logits, any shape with at least one dimension.
        axis: the axis that sums to one.
        temperature: T > 0; T > 1 flattens the distribution, T < 1 sharpens it.

    Returns:
        Probabilities with the shape and dtype of `x`.
    """
    x = float_array("x", x, min_ndim=1)
    axis = axis_index("axis", axis, x.ndim)
    temperature = real_number("temperature", temperature, positive=True)
    z = x / np.asarray(temperature, dtype=x.dtype)
    z = z - z.max(axis=axis, keepdims=True)  # every exponent <= 0: exp cannot overflow
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def naive_softmax(x, axis: int = -1) -> np.ndarray:
    """Eq. (1) computed literally, without the max subtraction: a demonstration of the bug.

    Where exp overflows to inf the result holds NaN (inf / inf). Use `softmax` for real work.
    """
    x = float_array("x", x, min_ndim=1)
    axis = axis_index("axis", axis, x.ndim)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        return e / e.sum(axis=axis, keepdims=True)


def overflow_threshold(dtype) -> float:
    """The largest x for which exp(x) is finite in `dtype`: log of the dtype's largest value."""
    try:
        info = np.finfo(dtype)
    except (TypeError, ValueError):
        raise TypeError(f"dtype must be a floating NumPy dtype, got {dtype!r}") from None
    return float(np.log(np.float64(info.max)))


def entropy(p, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats of probability vectors `p` along `axis` (0 log 0 taken as 0)."""
    p = float_array("p", p, min_ndim=1)
    axis = axis_index("axis", axis, p.ndim)
    if np.any(p < 0):
        raise ValueError("p must be non-negative (it holds probabilities)")
    if not np.allclose(p.sum(axis=axis), 1.0, atol=1e-4):
        raise ValueError(f"p must sum to 1 along axis {axis}")
    logs = np.log(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(axis=axis)
