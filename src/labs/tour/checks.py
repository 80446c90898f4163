"""The tour's argument checks, written once for the NumPy, PyTorch and JAX softmax."""

from __future__ import annotations

import numpy as np

from labs.common.validate import array, axis_index, real_number

__all__ = ["logits_args", "probabilities_args", "softmax_args"]


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _smallest_normal(dtype) -> float:
    name = _dtype_name(dtype)
    return float(np.finfo(np.float32 if name == "bfloat16" else name).tiny)


def softmax_args(x, axis, temperature, *, framework: str):
    """(x, axis, temperature) checked for a softmax along `axis` on `framework`'s arrays.

    `temperature` must be positive and at least the smallest normal number of x's dtype (about
    1.2e-38 in float32): below it the temperature rounds to zero in x's precision.
    """
    x = array("x", x, framework=framework, min_ndim=1)
    axis = axis_index("axis", axis, x.ndim)
    temperature = real_number("temperature", temperature, positive=True)
    tiny = _smallest_normal(x.dtype)
    if temperature < tiny:
        raise ValueError(
            f"temperature must be >= {tiny:.3g} for {_dtype_name(x.dtype)} logits (smaller "
            f"values round to zero in that precision), got {temperature:.3g}"
        )
    return x, axis, temperature


def logits_args(x, axis, *, framework: str = "numpy"):
    """(x, axis) for a function of logits along `axis`."""
    x = array("x", x, framework=framework, min_ndim=1)
    return x, axis_index("axis", axis, x.ndim)


def probabilities_args(p, axis):
    """(p, axis) for probability vectors along `axis`: non-negative, summing to one."""
    p = array("p", p, min_ndim=1)
    axis = axis_index("axis", axis, p.ndim)
    if np.any(p < 0):
        raise ValueError("p must be non-negative (it holds probabilities)")
    if not np.allclose(p.sum(axis=axis), 1.0, atol=1e-4):
        raise ValueError(f"p must sum to 1 along axis {axis}")
    return p, axis
