"""Argument checks for the codec and its scales: arrays, FP8 codes, granularities and layouts.

Every public function of `labs.fp8` checks its arguments (here, in the two sibling modules, or
with `labs.common.validate`) and then calls a bare kernel. The array checks take anything with
`.shape` and `.dtype`; `framework=` says which arrays a parameter accepts ("numpy", "torch" or
"jax"), so that one framework's data never slips onto another's path. Values (NaN, inf, id
ranges) are read only for host-resident data: on a GPU the checks cost no device synchronisation.

Taught in chapter 2 ("The code: a bit-exact codec", "Outliers, and why V3 scales per tile",
"A tour of scaling recipes"). `labs.fp8.checks` re-exports every name.
"""

from __future__ import annotations

import math

import numpy as np

from labs.common import validate
from labs.fp8.config import format_by_name

__all__: list[str] = []  # internal: the public entry points live in the kernel modules

FLOAT32_MAX = float(np.finfo(np.float32).max)
GRANULARITIES = ("tensor", "row", "tile", "column_tile", "block")
# A group longer than this is a typo: V3 uses 128, and a block beyond 2**16 no longer fits a row.
MAX_BLOCK = 2**16


def _is_fp8_dtype(value) -> bool:
    return "float8" in str(value.dtype)


def _is_float_dtype(value) -> bool:
    if hasattr(value, "is_floating_point"):  # a torch tensor
        return bool(value.is_floating_point())
    try:
        dtype = np.dtype(value.dtype)
    except TypeError:  # not a NumPy-compatible dtype (a JAX key, ...)
        return False
    return dtype.kind == "f" or (dtype.kind == "V" and "float" in dtype.name)


def check_float(name: str, value, *, framework: str = "numpy", min_ndim: int = 1, finite=True):
    """A float array (not an FP8 one) with at least `min_ndim` dimensions, no NaN/inf on the host.

    The NumPy path returns a float32 copy of the data, the others the array unchanged.
    """
    if framework == "jax" and not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise TypeError(
            f"{name} must be an array (JAX or NumPy), got {validate.describe_value(value)}"
        )
    if hasattr(value, "dtype") and (_is_fp8_dtype(value) or not _is_float_dtype(value)):
        raise TypeError(
            f"{name} must be a floating-point array (float32/float64/bfloat16), got "
            f"{validate.describe_value(value)}"
        )
    value = validate.array(name, value, framework=framework, min_ndim=min_ndim, finite=finite)
    if finite and "64" in str(value.dtype):  # float64 beyond float32's range would become inf
        host = host_float64(value, framework)
        if host is not None and np.abs(host).max() > FLOAT32_MAX:
            raise ValueError(
                f"{name} must fit in float32 (|{name}| <= {FLOAT32_MAX:.4g}, the kernels compute "
                f"in float32), got a float64 value of {np.abs(host).max():.4g}"
            )
    return value.astype(np.float32) if framework == "numpy" else value


def check_real(name: str, value) -> np.ndarray:
    """Real numbers (floats or ints) as float64, NaN and +-inf allowed (the codec encodes them)."""
    if isinstance(value, np.ndarray) and (value.dtype.kind not in "fiuV" or value.dtype == bool):
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {value.dtype}")
    return validate.array(name, value, dtype=("float", "int"), finite=False).astype(np.float64)


def check_codes(name: str, value) -> np.ndarray:
    """FP8 codes: a uint8 array, or integers in 0..255."""
    if isinstance(value, np.ndarray) and value.dtype.kind not in "iu":
        raise TypeError(f"{name} must be uint8 FP8 codes, got an array of dtype {value.dtype}")
    arr = validate.array(name, value, dtype="int", finite=False)
    if arr.dtype != np.uint8:
        if arr.min() < 0 or arr.max() > 255:
            raise ValueError(
                f"{name} must lie in 0..255, got values from {arr.min()} to {arr.max()}"
            )
    return arr


def check_fp8(name: str, value, *, framework: str):
    """An array in an FP8 dtype (torch.float8_e4m3fn / float8_e5m2, or JAX's ml_dtypes ones),
    without NaN or inf codes (values read on the host only)."""
    validate.array(name, value, framework=framework, finite=False)
    if not _is_fp8_dtype(value):
        raise TypeError(f"{name} must be a float8 array, got {validate.describe_value(value)}")
    host = host_float64(value, framework)
    if host is not None and not np.all(np.isfinite(host)):
        raise ValueError(f"{name} must be finite; it holds NaN or inf codes")
    return value


def check_uint8_codes(name: str, value) -> np.ndarray:
    """A non-empty uint8 NumPy array of FP8 codes (what `quantize` returns)."""
    if not isinstance(value, np.ndarray) or value.dtype != np.uint8:
        raise TypeError(
            f"{name} must be a uint8 NumPy array of FP8 codes, got {validate.describe_value(value)}"
        )
    return validate.array(name, value, dtype="int", finite=False)


def check_shape(name: str, shape) -> tuple[int, ...]:
    """A shape: a tuple of positive ints holding at most validate.MAX_ELEMENTS elements."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise TypeError(f"{name} must be a tuple of ints, got {validate.describe_value(shape)}")
    dims = tuple(validate.integer(f"{name}[{i}]", d, minimum=1) for i, d in enumerate(shape))
    if math.prod(dims) > validate.MAX_ELEMENTS:
        raise ValueError(
            f"{name} must hold at most {validate.MAX_ELEMENTS} elements, got {dims} "
            f"({math.prod(dims)} elements)"
        )
    return dims


def check_layout(shape: tuple, granularity: str, block, name: str = "x", what: str = "granularity"):
    """Check `granularity` (the parameter `what`) and `block` against the shape of `name`;
    returns `block` as an int."""
    validate.one_of(what, granularity, GRANULARITIES)
    block = validate.size("block", block, maximum=MAX_BLOCK, why="V3 uses 128")
    if len(shape) < 1:
        raise ValueError(f"{name} must have at least one dimension, got shape {shape}")
    if granularity == "tile" and shape[-1] % block:
        raise ValueError(
            f"granularity 'tile' needs the last dimension of {name} to be a multiple of "
            f"block={block}, got shape {shape}; pad with zeros to a multiple of {block} first"
        )
    if granularity in ("column_tile", "block") and len(shape) < 2:
        raise ValueError(f"granularity {granularity!r} needs at least 2 dimensions, got {shape}")
    if granularity == "column_tile" and shape[-2] % block:
        raise ValueError(
            f"granularity 'column_tile' needs the second-to-last dimension of {name} to be a "
            f"multiple of block={block}, got shape {shape}; pad with zeros first"
        )
    if granularity == "block":
        if shape[-1] % block or shape[-2] % block:
            raise ValueError(
                f"granularity 'block' needs the last two dimensions of {name} to be multiples of "
                f"block={block}, got shape {shape}; pad with zeros first"
            )
    return block


def scales_shape(shape: tuple, granularity: str, block: int) -> tuple:
    """The shape of the scales of an array of `shape` (see labs.fp8.reference)."""
    if granularity == "tensor":
        return ()
    if granularity == "row":
        return (*shape[:-1], 1)
    if granularity == "tile":
        return (*shape[:-1], shape[-1] // block)
    if granularity == "column_tile":
        return (*shape[:-2], shape[-2] // block, shape[-1])
    return (*shape[:-2], shape[-2] // block, shape[-1] // block)


def check_scales(scales, shape: tuple, granularity: str, block: int, *, framework: str):
    """Scales of the right shape for data of `shape`, finite and > 0 (values read on the host)."""
    scales = validate.array("scales", scales, framework=framework, min_ndim=0, finite=False)
    if _is_fp8_dtype(scales):
        raise TypeError(f"scales must be float32 scales, got dtype {scales.dtype}")
    expected = scales_shape(tuple(shape), granularity, block)
    if tuple(scales.shape) != expected:
        raise ValueError(
            f"scales must have shape {expected} for granularity {granularity!r}, block={block} "
            f"and data of shape {tuple(shape)}; got {tuple(scales.shape)}"
        )
    host = host_float64(scales, framework)
    if host is not None and (not np.all(np.isfinite(host)) or np.any(host <= 0)):
        raise ValueError("scales must be finite and > 0; got a NaN, an inf, a zero or less")
    return scales


def host_float64(value, framework: str):
    """The values as a float64 NumPy array where reading them costs no device sync, else None."""
    host = validate.host_values(value) if framework != "numpy" else np.asarray(value)
    return None if host is None else np.asarray(host).astype(np.float64)


def check_amax(name: str, value) -> np.ndarray:
    """Group max-abs values: a finite float array with no negative entry (float32)."""
    value = check_float(name, value, min_ndim=0)
    if np.any(value < 0):
        raise ValueError(f"{name} must be >= 0 (a max-abs), got a value of {value.min()}")
    return value


def check_positive(name: str, value) -> np.ndarray:
    """A finite float array (float32) whose every entry is > 0 (a scale)."""
    value = check_float(name, value, min_ndim=0)
    if np.any(value <= 0):
        raise ValueError(f"{name} must be > 0 everywhere, got a value of {value.min()}")
    return value


def check_saturate(saturate) -> bool:
    """The overflow rule: True or False (its message the tests pin)."""
    if not isinstance(saturate, (bool, np.bool_)):
        raise TypeError(f"saturate must be a bool, got {type(saturate).__name__}")
    return bool(saturate)


def check_rng(seed) -> np.random.Generator:
    """A NumPy generator seeded by `seed`, an int >= 0."""
    return np.random.default_rng(validate.seed("seed", seed))


def check_mask(name: str, where, x) -> np.ndarray:
    """A boolean mask shaped like `x` (None: every element) selecting some nonzero value of x."""
    if where is None:
        where = np.ones(x.shape, dtype=bool)
    where = np.asarray(where) if not isinstance(where, (str, bytes)) else np.asarray(None)
    if where.dtype != np.bool_ or where.shape != x.shape:
        raise ValueError(
            f"{name} must be a boolean mask of shape {x.shape}, got dtype {where.dtype} "
            f"and shape {where.shape}"
        )
    if not np.any(x[where]):
        raise ValueError("x must not be all zeros (its relative error is undefined)")
    return where


def check_option(name: str, value, options: tuple) -> str:
    """One of `options` (a string), ValueError naming `name` otherwise."""
    return validate.one_of(name, value, options)


def check_quantize(x, fmt, granularity, block, *, framework: str = "numpy", power_of_two=False):
    """The arguments of quantize / fake_quantize / group_amax: (x, format, block);
    `power_of_two` must be a bool."""
    validate.boolean("power_of_two", power_of_two)
    x = check_float("x", x, framework=framework)
    return x, format_by_name(fmt), check_layout(tuple(x.shape), granularity, block)


def check_dequantize(q, scales, granularity, block, *, framework: str):
    """The arguments of the torch and JAX dequantize: (q, scales, block)."""
    q = check_fp8("q", q, framework=framework)
    block = check_layout(tuple(q.shape), granularity, block, name="q")
    if framework == "torch":
        validate.same_device(("q", q), ("scales", scales))
    return q, check_scales(scales, q.shape, granularity, block, framework=framework), block


def check_activations(rows, cols, outlier_fraction, outlier_scale, *, maximum: int) -> tuple:
    """The arguments of heavy_tailed_activations: rows * cols <= maximum, fraction in [0, 1]."""
    rows = validate.size("rows", rows, maximum=maximum, why=f"rows * cols <= {maximum}")
    cols = validate.size("cols", cols, maximum=maximum // rows, why=f"rows * cols <= {maximum}")
    fraction = validate.real_number("outlier_fraction", outlier_fraction, nonnegative=True)
    if fraction > 1:
        raise ValueError(f"outlier_fraction must be in [0, 1], got {fraction}")
    scale = validate.real_number("outlier_scale", outlier_scale, positive=True)
    return rows, cols, fraction, scale


def check_recipe_tensors(tensors, history, *, max_steps: int) -> tuple[list, int]:
    """compare_recipes' arguments: a list of 1..max_steps finite, not-all-zero 2-D float arrays
    of one shape whose last axis 128 divides, and a history length in 1..max_steps."""
    if isinstance(tensors, np.ndarray) or not hasattr(tensors, "__len__"):
        raise TypeError(f"tensors must be a list of arrays, got {validate.describe_value(tensors)}")
    validate.size("len(tensors)", len(tensors), maximum=max_steps, why="held at once")
    arrays = [check_float(f"tensors[{i}]", t, min_ndim=2) for i, t in enumerate(tensors)]
    for i, a in enumerate(arrays):
        if a.shape != arrays[0].shape or a.ndim != 2:
            raise ValueError(
                f"tensors must all be 2-D of shape {arrays[0].shape}; tensors[{i}] has shape "
                f"{a.shape}"
            )
        if not np.any(a):
            raise ValueError(f"tensors[{i}] is all zeros (its relative error is undefined)")
    check_layout(arrays[0].shape, "tile", 128, name="tensors[0]")
    return arrays, validate.size("history", history, maximum=max_steps)
