"""Argument checks shared by every chapter and every framework.

A public function checks its arguments once, at the boundary, with these helpers, then calls a
bare kernel that does no checking. A wrong input raises a `ValueError` or `TypeError` that names
the parameter, says what was expected and what came, before NumPy, torch or JAX sees it.

The array checks accept NumPy arrays, torch tensors and JAX arrays alike (`framework=` says which
ones a parameter takes). Finiteness is checked only for data that lives in host memory: reading a
GPU tensor's values would force a device synchronisation on every call, so device-resident data
and traced JAX values are checked for type, dtype and shape only.
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
    "array",
    "axis_index",
    "boolean",
    "callable_arg",
    "describe_value",
    "divisible",
    "float_array",
    "finite_loss",
    "finite_result",
    "float_dtype",
    "host_values",
    "jax_key",
    "instance",
    "integer",
    "integer_array",
    "learning_rate",
    "one_of",
    "power_of_two",
    "read_only",
    "real_number",
    "same_shape",
    "size",
    "text",
    "torch_device_arg",
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


_describe = describe_value  # the short name the chapters' older helpers use


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
    value = float(value)
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


# --- Arrays of any framework ---------------------------------------------------------------------


def _framework_of(value) -> str | None:
    module = type(value).__module__.split(".")[0]
    if isinstance(value, (np.ndarray, np.generic)):
        return "numpy"
    if module == "torch":
        import torch

        return "torch" if isinstance(value, torch.Tensor) else None
    if module in ("jax", "jaxlib") and hasattr(value, "shape"):
        return "jax"
    return None


def _dtype_kind(value, framework: str) -> str:
    """'f' floating, 'i' integer (signed or not), 'b' bool, 'c' complex, 'O' anything else."""
    if framework == "torch":
        import torch

        if value.dtype == torch.bool:
            return "b"
        if value.is_floating_point():
            return "f"
        if value.is_complex():
            return "c"
        return "i"
    dtype = np.dtype(value.dtype)
    if dtype.kind == "V" and dtype.name.startswith(("bfloat", "float")):  # ml_dtypes' bf16, fp8
        return "f"
    return {"f": "f", "i": "i", "u": "i", "b": "b", "c": "c"}.get(dtype.kind, "O")


def host_values(value) -> np.ndarray | None:
    """The values of a NumPy/torch/JAX array as a NumPy array when they live in host memory;
    None for CUDA tensors, arrays on an accelerator and JAX tracers, whose values a check must
    not read (it would force a device synchronisation)."""
    found = _framework_of(value)
    if found is None or not _on_host(value, found):
        return None
    if found == "torch":
        tensor = value.detach()
        return (tensor.float() if tensor.dtype.itemsize < 4 else tensor).numpy()
    return np.asarray(value)


def _on_host(value, framework: str) -> bool:
    if framework == "numpy":
        return True
    if framework == "torch":
        return value.device.type == "cpu"
    try:  # a traced value inside jit has no concrete data to read
        import jax

        if isinstance(value, jax.core.Tracer):
            return False
        return all(d.platform == "cpu" for d in value.devices())
    except Exception:
        return False


def _all_finite(value, framework: str) -> bool:
    """True if every element is finite. A NaN or an inf anywhere makes the sum NaN or inf, so a
    finite sum proves it in one pass without a temporary mask (about 5x faster on a torch CPU
    tensor); a non-finite sum may be an overflow of huge but finite values, so it is then
    checked element by element."""
    if framework == "torch":
        import torch

        flat = value.detach()
        summable = (torch.float16, torch.bfloat16, torch.float32, torch.float64)  # not FP8
        if flat.dtype in summable and bool(torch.isfinite(flat.sum())):
            return True
        return bool(torch.isfinite(flat).all())
    host = np.asarray(value)
    if host.dtype.kind not in "fc":
        host = host.astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(host.sum()):
            return True
    return bool(np.isfinite(host).all())


_KINDS = {"float": "f", "int": "i", "bool": "b"}
_KIND_WORDS = {"f": "floating-point numbers", "i": "integers", "b": "booleans"}


def array(
    name: str,
    value,
    *,
    framework: str = "numpy",
    dtype: str | tuple[str, ...] = "float",
    ndim: int | None = None,
    min_ndim: int = 0,
    nonempty: bool = True,
    finite: bool = True,
):
    """Check an array argument and return it (a NumPy array for `framework="numpy"`).

    Args:
        name: the parameter's name, for the error message.
        value: what the caller passed.
        framework: "numpy" (array-likes converted with np.asarray; torch and JAX arrays refused,
            so that one framework's data never slips silently onto another's path), "torch" (a
            torch.Tensor), "jax" (a JAX or NumPy array) or "any".
        dtype: "float", "int" or "bool", or a tuple of them: the dtype kinds accepted. An integer
            array where floats belong is refused, never silently cast.
        ndim / min_ndim: the exact or least number of dimensions.
        nonempty: refuse arrays with a zero-length dimension.
        finite: refuse NaN and inf (checked for host-resident data only; see the module docstring).
    """
    kinds = tuple(_KINDS[k] for k in ((dtype,) if isinstance(dtype, str) else dtype))
    found = _framework_of(value)
    if framework == "numpy":
        if found in ("torch", "jax"):
            raise TypeError(f"{name} must be a NumPy array, got {describe_value(value)}")
        converted = found is None
        if found is None:
            if isinstance(value, (str, bytes, Mapping)) or value is None:
                raise TypeError(f"{name} must be an array of numbers, got {describe_value(value)}")
            try:
                value = np.asarray(value)
            except Exception:
                raise TypeError(
                    f"{name} must be an array of numbers, got {describe_value(value)}"
                ) from None
        value = np.asarray(value)
        if converted and nonempty and value.size == 0:  # [] has no dtype of its own to judge
            raise ValueError(f"{name} must not be empty, got shape {value.shape}")
        found = "numpy"
    elif framework == "torch":
        if found != "torch":
            raise TypeError(f"{name} must be a torch.Tensor, got {describe_value(value)}")
    elif framework == "jax":
        if found not in ("jax", "numpy"):
            raise TypeError(f"{name} must be a JAX or NumPy array, got {describe_value(value)}")
    elif framework == "any":
        if found is None:
            raise TypeError(f"{name} must be an array, got {describe_value(value)}")
    else:
        raise ValueError(f"framework must be numpy, torch, jax or any, got {framework!r}")
    kind = _dtype_kind(value, found)
    if kind not in kinds:
        wanted = " or ".join(_KIND_WORDS[k] for k in kinds)
        raise TypeError(f"{name} must hold {wanted}, got {describe_value(value)}")
    shape = tuple(value.shape)
    if ndim is not None and len(shape) != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {shape}")
    if len(shape) < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {shape}")
    if nonempty and 0 in shape:
        raise ValueError(f"{name} must not be empty, got shape {shape}")
    if finite and kind == "f" and _on_host(value, found) and not _all_finite(value, found):
        raise ValueError(f"{name} must be finite; it holds NaN or inf")
    return value


def float_array(
    name: str,
    value,
    *,
    min_ndim: int = 0,
    finite: bool = True,
    ndim: int | None = None,
    nonempty: bool = True,
) -> np.ndarray:
    """`value` as a floating NumPy array (float16/32/64 kept as they are).

    TypeError for non-numeric, boolean, complex or integer input (silently casting integers hides
    bugs such as integer logits), ValueError for the wrong number of dimensions, empty arrays or
    non-finite entries.
    """
    return array(
        name, value, dtype="float", ndim=ndim, min_ndim=min_ndim, nonempty=nonempty, finite=finite
    )


def integer_array(
    name: str,
    value,
    *,
    framework: str = "numpy",
    ndim: int | None = None,
    low: int | None = None,
    high: int | None = None,
    nonempty: bool = True,
):
    """An integer array whose entries lie in [low, high) (token ids, positions, labels).

    The range is checked for host-resident data (see the module docstring).
    """
    value = array(name, value, framework=framework, dtype="int", ndim=ndim, nonempty=nonempty)
    found = _framework_of(value)
    if (low is not None or high is not None) and _on_host(value, found) and 0 not in value.shape:
        host = value.cpu().numpy() if found == "torch" else np.asarray(value)
        lo, hi = int(host.min()), int(host.max())
        if low is not None and high is not None and (lo < low or hi >= high):
            bad = lo if lo < low else hi
            raise ValueError(f"{name} must lie in [{low}, {high}), got a value of {bad}")
        if low is not None and lo < low:
            raise ValueError(f"{name} must be >= {low}, got a value of {lo}")
        if high is not None and hi >= high:
            raise ValueError(f"{name} must be < {high}, got a value of {hi}")
    return value


def float_dtype(name: str, dtype, *, framework: str = "numpy"):
    """A floating dtype of `framework`: a NumPy dtype (float16/32/64; "jax" also bfloat16) or a
    torch.dtype. TypeError for anything else, None and integer dtypes included (np.dtype(None)
    would quietly mean float64). Returns np.dtype(dtype) for NumPy, the dtype itself otherwise."""
    if framework == "torch":
        import torch

        if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
            return dtype
        raise TypeError(f"{name} must be a floating-point torch dtype, got {_repr(dtype)}")
    try:
        if dtype is None or isinstance(dtype, bool):
            raise TypeError
        found = np.dtype(dtype)
        if not (found.kind == "f" or (framework == "jax" and found.name == "bfloat16")):
            raise TypeError
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a floating-point dtype (e.g. np.float32), got {_repr(dtype)}"
        ) from None
    return found if framework == "numpy" else dtype


def torch_device_arg(name: str, device, *, default: str | None = "cpu"):
    """`device` as a torch.device (None: `default`, or refused when `default` is None);
    TypeError/ValueError naming `name` otherwise."""
    import torch

    if device is None and default is not None:
        return torch.device(default)
    instance(name, device, (str, torch.device), "a torch.device or a string such as 'cuda'")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"{name} must name a torch device such as 'cpu' or 'cuda:0', got {device!r}"
        ) from None


def jax_key(name: str, key):
    """A single JAX PRNG key: typed (jax.random.key(0)) or raw uint32 (jax.random.PRNGKey(0))."""
    import jax

    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"{name} must be a single key, got a key array of shape {key.shape}")
        return key
    if (
        isinstance(key, (jax.Array, np.ndarray))
        and key.dtype == np.uint32
        and tuple(key.shape) == (2,)
    ):
        return key
    raise TypeError(
        f"{name} must be a JAX PRNG key (jax.random.key(0) or jax.random.PRNGKey(0)), "
        f"got {describe_value(key)}"
    )


def axis_index(name: str, axis, ndim: int) -> int:
    """`axis` normalised to [0, ndim); TypeError/ValueError naming `name` otherwise."""
    axis = integer(name, axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for an array with {ndim} dimension(s)")
    return axis % ndim


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


def read_only(mapping: Mapping) -> Mapping:
    """A read-only view of `mapping`, for registries a notebook cell must not change for every
    later import (FACTS, HARDWARE, PRESETS, FORMATS)."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"mapping must be a mapping (a dict), got {describe_value(mapping)}")
    return MappingProxyType(dict(mapping))
