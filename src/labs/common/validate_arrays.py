"""Checks of array arguments, for NumPy arrays, torch tensors and JAX arrays alike.

The array half of `labs.common.validate` (which re-exports every public name here): an array's
framework, dtype kind, rank, emptiness and finiteness; integer ids in a range; float dtypes; torch
devices and JAX PRNG keys; an axis; equal shapes. `framework=` says which arrays a parameter takes.
Finiteness and ranges are checked only for data that lives in host memory: reading a GPU tensor's
values would force a device synchronisation on every call, so device-resident data and traced JAX
values are checked for type, dtype and shape only. No chapter section teaches it; CONTRIBUTING.md
("A public function: checks once at the boundary, then the bare kernel") says how chapters use it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from labs.common.validate_values import _repr, describe_value, instance, integer

__all__ = [
    "array",
    "axis_index",
    "float_array",
    "float_dtype",
    "holds_bool",
    "host_values",
    "integer_array",
    "jax_key",
    "same_shape",
    "on_module_device",
    "same_device",
    "torch_device_arg",
]


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
            original = value
            try:
                value = np.asarray(value)
            except Exception:
                raise TypeError(
                    f"{name} must be an array of numbers, got {describe_value(value)}"
                ) from None
            if value.dtype.kind != "b" and holds_bool(original):
                raise TypeError(f"{name} must hold numbers, not True or False, got {original!r}")
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


def holds_bool(seq) -> bool:
    """Whether a list or tuple (at any depth) holds a bool among its numbers: np.asarray reads
    [1.0, True] as [1.0, 1.0], so a flag passed where a number belongs would go unseen."""
    if isinstance(seq, np.ndarray) and seq.dtype != object:
        return False
    if isinstance(seq, (bool, np.bool_)):
        return True
    if isinstance(seq, (list, tuple, np.ndarray)):
        return any(holds_bool(item) for item in seq)
    return False


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


def same_device(*named) -> None:
    """Raise ValueError unless every (name, tensor) pair lies on the device of the first one.

    torch tensors only (a pair whose value is None or not a tensor is skipped): a mix of devices
    makes torch raise from deep inside an operation, or, for some devices, return garbage.
    """
    import torch

    tensors = [(name, t) for name, t in named if isinstance(t, torch.Tensor)]
    if not tensors:
        return
    first_name, first = tensors[0]
    for name, tensor in tensors[1:]:
        if tensor.device != first.device:
            raise ValueError(
                f"{name} must be on the device of {first_name} ({first.device}), "
                f"got a tensor on {tensor.device}"
            )


def on_module_device(module_name: str, module, *named) -> None:
    """Raise ValueError unless every (name, tensor) pair lies on the device of `module`'s weights
    (a torch.nn.Module; one without parameters has no device to hold to, and passes)."""
    weight = next(module.parameters(), None)
    same_device((f"{module_name}'s weights", weight), *named)
