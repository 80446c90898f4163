"""Checks of single values: numbers, counts, flags, strings, choices, types, callables.

The scalar half of `labs.common.validate` (which re-exports every name here): what a
configuration field or a keyword argument is checked with at a public function's boundary. Each
check returns the value (as a float, an int, a bool...) or raises a `TypeError` for the wrong kind
of thing and a `ValueError` for the right kind out of range, naming the parameter, what was
expected and what came. No chapter section teaches it; CONTRIBUTING.md ("A public function: checks
once at the boundary, then the bare kernel") says how the chapters use it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

import numpy as np

__all__ = [
    "MAX_ELEMENTS",
    "MAX_LEARNING_RATE",
    "MAX_SEED",
    "boolean",
    "callable_arg",
    "describe_value",
    "divisible",
    "instance",
    "integer",
    "learning_rate",
    "one_of",
    "power_of_two",
    "read_only",
    "real_number",
    "seed",
    "size",
    "text",
]

# The largest array any lab allocates on request: 2**28 elements (2 GiB in float64). A mistyped
# size beyond it would take minutes or exhaust memory, so it is refused with a clear error.
MAX_ELEMENTS = 2**28


# The largest learning rate any lab accepts. The chapters train with 5e-4 to 3e-2; a step size
# above 10 moves every weight further than its own scale at each update, and the usual way to ask
# for one is a typo (1e3 for 1e-3). Past float32's range the optimiser cannot even hold it.
MAX_LEARNING_RATE = 10.0


def describe_value(value) -> str:
    """A short description of `value` for an error message: its type, and shape/dtype if any."""
    if not isinstance(value, type) and hasattr(value, "shape") and hasattr(value, "dtype"):
        kind = type(value).__module__.split(".")[0]
        where = {"numpy": "a NumPy array", "torch": "a torch tensor"}.get(kind, f"a {kind} array")
        return f"{where} of dtype {value.dtype} and shape {tuple(value.shape)}"
    return f"{type(value).__name__} {_repr(value)}"


def _repr(value, limit: int = 80) -> str:
    try:
        text_ = repr(value)
    except Exception:  # a hostile __repr__ must not hide the real error
        return f"<unprintable {type(value).__name__}>"
    return text_ if len(text_) <= limit else text_[: limit - 3] + "..."


def real_number(
    name: str,
    value,
    *,
    positive: bool = False,
    nonnegative: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """`value` as a finite float; TypeError if it is not a real number, ValueError if out of range.

    Bools, strings, complex numbers and arrays are not real numbers. NumPy scalars are.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu":
            value = value.item()
        else:
            raise TypeError(f"{name} must be a real number, got {describe_value(value)}")
    try:
        value = float(value)
    except OverflowError:  # an int past float's range, about 1.8e308
        raise ValueError(
            f"{name} must be finite, got an int of {len(str(abs(value)))} digits"
        ) from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def learning_rate(name: str, value) -> float:
    """A learning rate: a finite float in (0, MAX_LEARNING_RATE]."""
    value = real_number(name, value, positive=True)
    if value > MAX_LEARNING_RATE:
        raise ValueError(
            f"{name} must be <= {MAX_LEARNING_RATE} (a larger step moves each weight further "
            f"than its scale at every update; 1e3 for 1e-3 is the usual typo), got {value}"
        )
    return value


def integer(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """`value` as an int; TypeError if it is not an integer, ValueError outside [minimum, maximum].

    Bools and floats (even 3.0) are not integers: a float where a count belongs is usually a bug.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {describe_value(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


# The largest seed any lab accepts. torch seeds a generator with a signed 64-bit integer, and some
# labs derive further seeds by adding an offset (seed + 1, seed + 1_000_003), so 2**62 leaves room
# for both; NumPy would take any non-negative int, torch fails deep inside past 2**63.
MAX_SEED = 2**62


def seed(name: str, value) -> int:
    """A random seed: an int in [0, MAX_SEED]; TypeError/ValueError naming `name` otherwise."""
    value = integer(name, value, minimum=0)
    if value > MAX_SEED:
        raise ValueError(
            f"{name} must be <= 2**62 (torch seeds its generators with a 64-bit integer, and "
            f"some labs add an offset to it), got {value}"
        )
    return value


def size(name: str, value, *, maximum: int, minimum: int = 1, why: str = "") -> int:
    """A count or a dimension: an int in [minimum, maximum]. `why` explains the cap in the error."""
    value = integer(name, value, minimum=minimum)
    if value > maximum:
        reason = f" ({why})" if why else ""
        raise ValueError(f"{name} must be <= {maximum}{reason}, got {value}")
    return value


def power_of_two(name: str, value, *, maximum: int, why: str = "") -> int:
    """A power of two in [1, maximum] (block shapes, warps); `why` explains the rule."""
    value = size(name, value, maximum=maximum)
    if value & (value - 1):
        reason = f" ({why})" if why else ""
        raise ValueError(f"{name} must be a power of two{reason}, got {value}")
    return value


def divisible(name: str, value: int, by: int, by_name: str) -> int:
    """`value` if `by` divides it; ValueError naming both otherwise (heads must split a width)."""
    value, by = integer(name, value), integer(by_name, by, minimum=1)
    if value % by:
        raise ValueError(f"{name} must be divisible by {by_name}, got {value}, {by}")
    return value


def boolean(name: str, value) -> bool:
    """`value` if it is a bool (NumPy's bool included); TypeError otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe_value(value)}")
    return bool(value)


def text(name: str, value, *, nonempty: bool = True) -> str:
    """`value` if it is a string (non-empty unless `nonempty=False`)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {describe_value(value)}")
    if nonempty and not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def one_of(name: str, value, options: Iterable) -> object:
    """`value` if it is one of `options`; ValueError listing them otherwise."""
    options = tuple(options)
    try:
        found = any(
            value is option or (isinstance(value, type(option)) and bool(value == option))
            for option in options
        )
    except Exception:  # an object whose __eq__ misbehaves is not one of the options
        found = False
    if not found:
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, options))}; got {_repr(value)}"
        )
    return value


def instance(name: str, value, cls: type | tuple[type, ...], what: str = ""):
    """`value` if it is an instance of `cls`; TypeError naming what was expected otherwise."""
    if not isinstance(value, cls):
        expected = what or (
            " or ".join(c.__name__ for c in cls) if isinstance(cls, tuple) else cls.__name__
        )
        raise TypeError(f"{name} must be {expected}, got {describe_value(value)}")
    return value


def callable_arg(name: str, value) -> Callable:
    """`value` if it can be called; TypeError otherwise."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {describe_value(value)}")
    return value


def read_only(mapping: Mapping) -> Mapping:
    """A read-only view of `mapping`, for registries a notebook cell must not change for every
    later import (FACTS, HARDWARE, PRESETS, FORMATS)."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"mapping must be a mapping (a dict), got {describe_value(mapping)}")
    return MappingProxyType(dict(mapping))
