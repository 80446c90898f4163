"""Argument checks of chapter 7's matrix multiply and its timers (`labs.economics.reference`,
`labs.economics.torch`, `labs.economics.jax`): arrays, dtypes, devices, PRNG keys and sizes.

Split from `labs.economics.checks` (which re-exports every name here), whose checks take plain
numbers: these take arrays of any framework (anything with `.shape` and `.dtype`) and framework
objects, so the NumPy, PyTorch and JAX paths state each rule once. torch and JAX are imported
inside the functions that need them, so that importing `labs.economics` stays framework-free.
"""

from __future__ import annotations

from collections.abc import Mapping

from labs.common.validate import (
    MAX_ELEMENTS,
    array,
    describe_value,
    float_dtype,
    instance,
    integer,
    jax_key,
    size,
    torch_device_arg,
)

# Internal helpers: the hostile-input walker reaches them through the public functions they guard.
__all__: list[str] = []

# --- Caps on sizes a typo could blow up ----------------------------------------------------------

# The timers multiply two n x n matrices: n = 16,384 is 2**28 elements per matrix (1 GiB in
# float32, validate.MAX_ELEMENTS), already minutes on a CPU; beyond it a typo would exhaust memory.
MAX_MATMUL_N = 16_384
# Best-of-`repeats` settles after a handful of runs; 1,000 keeps a mistyped count from hanging.
MAX_REPEATS = 1_000
# Seeds every framework's generator takes alike (NumPy, torch.Generator, jax.random.key).
MAX_SEED = 2**32 - 1


def check_matrix(name: str, value, framework: str):
    """A finite, non-empty, 2-D floating array of `framework` (NaN/inf read on the host only)."""
    value = array(name, value, framework=framework)
    if value.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {tuple(value.shape)}")
    return value


def check_matmul(x, w, *, framework: str, w_name: str = "w") -> tuple:
    """x (m, k) and w (k, n): 2-D floating arrays whose inner sizes match."""
    x = check_matrix("x", x, framework)
    w = check_matrix(w_name, w, framework)
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"x has {x.shape[1]} columns but {w_name} has {w.shape[0]} rows; they must match "
            f"(x must have shape (m, {w.shape[0]}), got {tuple(x.shape)})"
        )
    if framework == "torch" and (x.dtype != w.dtype or x.device != w.device):
        raise TypeError(
            f"x must have the dtype and device of {w_name} ({w.dtype} on {w.device}), "
            f"got {x.dtype} on {x.device}"
        )
    return x, w


def check_params(params):
    """The JAX parameters {"w": (k, n) array}; returns the weight."""
    if not isinstance(params, Mapping):
        raise TypeError(
            f'params must be a dict {{"w": (k, n) array}}, got {describe_value(params)}'
        )
    if "w" not in params:
        raise ValueError(f"params must hold the weight 'w', got keys {[str(k) for k in params]}")
    return params["w"]


def check_matrix_size(k, n) -> tuple[int, int]:
    """Two sizes of a (k, n) matrix, its elements capped at validate.MAX_ELEMENTS."""
    k = size("k", k, maximum=MAX_ELEMENTS, why="2**28 elements, 1 GiB in float32")
    n = size("n", n, maximum=MAX_ELEMENTS, why="2**28 elements, 1 GiB in float32")
    if k * n > MAX_ELEMENTS:
        raise ValueError(f"k * n must be <= {MAX_ELEMENTS:,} (1 GiB in float32), got {k * n:,}")
    return k, n


def check_flop_sizes(m, k, n) -> tuple[int, int, int]:
    """The sizes of an (m, k) @ (k, n) product, each >= 1 (Python ints: no cap needed)."""
    return integer("m", m, minimum=1), integer("k", k, minimum=1), integer("n", n, minimum=1)


def check_init(key, k, n, dtype) -> tuple:
    """`init_matmul`'s arguments: a JAX key, a (k, n) shape of at most 2**28 elements, a float
    dtype."""
    return check_jax_key(key), *check_matrix_size(k, n), check_float_dtype(dtype, "jax")


def check_timer(n, dtype, repeats, seed, *, framework: str, device=None) -> tuple:
    """The timers' arguments on every framework: n <= MAX_MATMUL_N, repeats <= MAX_REPEATS, a
    floating dtype of `framework`, a seed in [0, 2**32) and (torch, JAX) a device.

    Returns (n, dtype, repeats, seed), then the device for torch and JAX.
    """
    n = size("n", n, maximum=MAX_MATMUL_N, why="two n x n matrices of 2**28 elements each")
    dtype = check_float_dtype(dtype, framework)
    repeats = size("repeats", repeats, maximum=MAX_REPEATS, why="best-of settles in a few runs")
    seed = integer("seed", seed, minimum=0, maximum=MAX_SEED)
    if framework == "numpy":
        return n, dtype, repeats, seed
    if framework == "torch":
        return n, dtype, repeats, seed, check_torch_device(device)
    return n, dtype, repeats, seed, check_jax_device(device)


def check_float_dtype(dtype, framework: str):
    """A floating dtype of `framework` ("numpy", "torch" or "jax"), never None or an int dtype."""
    return float_dtype("dtype", dtype, framework=framework)


def check_torch_device(device):
    """None (the CPU), a torch.device or a string naming one that exists here."""
    import torch

    device = torch_device_arg("device", device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} but torch sees no CUDA GPU here")
    return device


def check_jax_device(device):
    """None (JAX's default device) or a jax.Device."""
    import jax

    if device is None:
        return jax.devices()[0]
    return instance("device", device, jax.Device, "a jax.Device such as jax.devices()[0]")


def check_jax_key(key):
    """A JAX PRNG key: a typed key (jax.random.key) or a raw uint32 pair (jax.random.PRNGKey)."""
    return jax_key("key", key)


def _short(value) -> str:
    """repr(value) cut to 80 characters (a dtype class has no usable .shape to describe)."""
    try:
        text_ = repr(value)
    except Exception:  # a hostile __repr__ must not hide the real error
        return f"<unprintable {type(value).__name__}>"
    return text_ if len(text_) <= 80 else text_[:77] + "..."
