"""Argument checks shared by every chapter: a wrong input raises a clear ValueError or TypeError
that names the parameter, what was expected and what came, before any framework sees it."""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    return f"{type(value).__name__} {value!r}"[:120]


def real_number(name: str, value, *, positive: bool = False, nonnegative: bool = False) -> float:
    """`value` as a float; TypeError if it is not a real number, ValueError if out of range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def integer(name: str, value, *, minimum: int | None = None) -> int:
    """`value` as an int; TypeError if it is not an integer, ValueError if below `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {_describe(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def one_of(name: str, value, options: Iterable) -> object:
    """`value` if it is one of `options`; ValueError listing them otherwise."""
    options = tuple(options)
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def float_array(name: str, value, *, min_ndim: int = 0, finite: bool = True) -> np.ndarray:
    """`value` as a floating NumPy array (float32 or float64 kept, float16 kept).

    TypeError for non-numeric, boolean, complex or integer input (silently casting integers hides
    bugs such as integer logits), ValueError for too few dimensions or non-finite entries.
    """
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must hold floating-point numbers, got {_describe(arr)}")
    if arr.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimension(s), got shape {arr.shape}"
        )
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; it holds NaN or inf")
    return arr


def axis_index(name: str, axis, ndim: int) -> int:
    """`axis` normalised to [0, ndim); TypeError/ValueError naming `name` otherwise."""
    axis = integer(name, axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for an array with {ndim} dimension(s)")
    return axis % ndim


def same_shape(*named) -> None:
    """Raise ValueError unless every (name, array) pair has the shape of the first one.

    Works for NumPy arrays, torch tensors and JAX arrays alike (anything with `.shape`).
    """
    (first_name, first), *rest = named
    for name, arr in rest:
        if tuple(arr.shape) != tuple(first.shape):
            raise ValueError(
                f"{name} must have the shape of {first_name} {tuple(first.shape)}, "
                f"got {tuple(arr.shape)}"
            )
