"""Checks of results: a training loss or a kernel's output that came out NaN or inf.

The third part of `labs.common.validate` (which re-exports its public names): not an argument
check but a check of what a computation returned. `finite_loss` stops a training loop at its first
non-finite loss and names the step and the learning rate; `finite_result` names the inputs, largest
first, whose finite but huge values took a result past its float format. The overflow is the one
chapter 0 shows ("An experiment: where the naive softmax breaks"); chapter 3 (the attention
output) and chapter 7 (what an owned GPU costs) call `finite_result` at their boundaries.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

from labs.common.validate_arrays import (
    _all_finite,
    _dtype_kind,
    _framework_of,
    _on_host,
    host_values,
)
from labs.common.validate_values import describe_value, instance, integer, real_number, text

__all__ = ["finite_loss", "finite_result"]


def finite_loss(loss, step: int, steps: int, lr: float, *, lr_name: str = "lr") -> float:
    """`loss`, a float a training loop read from its step `step` of `steps`, if finite; otherwise a
    ValueError saying at which step the run diverged and with what learning rate `lr`, so the loop
    stops at its first NaN or inf instead of training on (and reporting) a broken model. `lr_name`
    is the name the caller's own parameter has (`peak_lr`, `critic_lr`), the one a reader lowers."""
    if isinstance(loss, bool) or not isinstance(loss, (int, float, np.integer, np.floating)):
        raise TypeError(f"loss must be a float read from the step, got {describe_value(loss)}")
    steps = integer("steps", steps, minimum=1, maximum=10**9)  # no loop of the course runs 10^9
    step = integer("step", step, minimum=1, maximum=steps)
    lr_name = text("lr_name", lr_name)
    lr = real_number(lr_name, lr, positive=True)
    loss = float(loss)
    if math.isfinite(loss):
        return loss
    raise ValueError(
        f"the training loss became {loss} at step {step} of {steps} with {lr_name} = {lr:g}: the "
        f"run diverged; lower {lr_name}"
    )


def _largest_finite(value) -> float:
    """The largest finite value of `value`'s float format (float64 for Python numbers)."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return float(np.finfo(np.float64).max)
    if _framework_of(value) == "torch":
        import torch

        return float(torch.finfo(dtype).max)
    try:
        return float(np.finfo(dtype).max)
    except (TypeError, ValueError):  # ml_dtypes' bfloat16 and float8 (a JAX or NumPy array)
        import ml_dtypes

        return float(ml_dtypes.finfo(dtype).max)


def _largest_magnitude(value) -> float | None:
    """The largest |entry| of a number or a host-resident array; None when it cannot be read."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return abs(float(value))
    host = host_values(value)
    if host is None or host.size == 0 or _dtype_kind(host, "numpy") not in "fi":
        return None
    with np.errstate(invalid="ignore"):
        return float(np.nanmax(np.abs(host.astype(np.float64))))


def _first_nonfinite(value):
    """The first float or host-resident float array in `value` (a number, an array, or a tuple,
    list or dict of them) that holds a NaN or an inf; None if there is none."""
    if isinstance(value, (tuple, list)):
        parts = value
    elif isinstance(value, Mapping):
        parts = tuple(value.values())
    else:
        parts = (value,)
    for part in parts:
        if isinstance(part, (tuple, list, Mapping)):
            found = _first_nonfinite(part)
            if found is not None:
                return found
        elif isinstance(part, numbers.Real) and not isinstance(part, bool):
            if not math.isfinite(float(part)):
                return part
        else:
            framework = _framework_of(part)
            if framework is None or not _on_host(part, framework):
                continue
            if _dtype_kind(part, framework) == "f" and not _all_finite(part, framework):
                return part
    return None


def finite_result(what: str, value, *, inputs: Mapping[str, object]):
    """`value` if every float in it is finite; otherwise a ValueError naming the inputs it came
    from, largest first, with the largest magnitude each holds.

    For results that finite but huge input takes past their float format (scores of 1e30 in a
    float32 softmax, 6 N D with N = 1e300): "the attention output came out NaN or inf in float32
    (largest finite value 3.4e+38): x holds values up to 1e+30 in magnitude; ...". `value` may
    be a number, an array of any framework, or a tuple, list or dict of them; as for `array`,
    only host-resident data is read.
    """
    text("what", what)
    instance("inputs", inputs, Mapping, "a dict of the inputs by name")
    if not inputs:
        raise ValueError("inputs must name at least one input the result came from, got {}")
    bad = _first_nonfinite(value)
    if bad is None:
        return value
    dtype = getattr(bad, "dtype", None)
    format_name = "float64" if dtype is None else str(dtype).replace("torch.", "")
    sizes = []
    for name, given in inputs.items():
        peak = _largest_magnitude(given)
        if peak is not None:
            if isinstance(given, numbers.Real):
                sizes.append((peak, f"{name} = {float(given):.3g}"))
            else:
                sizes.append((peak, f"{name} holds values up to {peak:.3g} in magnitude"))
    sizes.sort(key=lambda pair: -pair[0])
    named = ", ".join(text_ for _, text_ in sizes)
    if not named:
        named = "from " + ", ".join(inputs)
    raise ValueError(
        f"{what} came out NaN or inf in {format_name} (largest finite value "
        f"{_largest_finite(bad):.3g}): {named}; inputs this large are out of range here"
    )
