"""Chapter 2 in JAX: FP8 casts, fine-grained quantisation, V3's GEMM and an FP8 linear layer.

Pure functions over arrays and pytrees, `jit`-compiled with the layout arguments static. They
mirror `labs.fp8.reference` operation by operation in float32 (JAX's default), so on the CPU they
agree with NumPy bit for bit. `jnp.float8_e4m3fn` / `jnp.float8_e5m2` are ml_dtypes' types.

One documented difference: XLA flushes float32 subnormals (below 1.2e-38) to zero. A group whose
max-abs is that small gets the scale 1 here and 2^-126 in NumPy and torch; its FP8 codes are
zero either way.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from labs.common.validate import integer, one_of
from labs.fp8.formats import E4M3, format_by_name
from labs.fp8.reference import check_accumulation, check_layout, scales_shape

__all__ = [
    "dequantize",
    "fake_quantize",
    "fp8_dtype",
    "fp8_linear",
    "fp8_matmul",
    "init_linear",
    "limited_sum",
    "quantize",
    "round_significand",
    "to_fp8",
]

FP8_DTYPES = (jnp.float8_e4m3fn, jnp.float8_e5m2)


def fp8_dtype(fmt):
    """jnp.float8_e4m3fn for E4M3, jnp.float8_e5m2 for E5M2."""
    return jnp.float8_e4m3fn if format_by_name(fmt).name == "E4M3" else jnp.float8_e5m2


def _holds(condition) -> bool:
    """bool(condition) for a concrete array; True under jit, where values are not known yet
    (the checks then run when the function is called outside jit)."""
    try:
        return bool(condition)
    except jax.errors.ConcretizationTypeError:
        return True


def _float_array(name: str, x, min_ndim: int = 1, check_finite: bool = True) -> jax.Array:
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    if not jnp.issubdtype(x.dtype, jnp.floating) or x.dtype in FP8_DTYPES:
        raise TypeError(f"{name} must be a float32/bfloat16 array, got dtype {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got {x.shape}")
    if check_finite and not _holds(jnp.isfinite(x).all()):
        raise ValueError(f"{name} must be finite; it holds NaN or inf")
    return jnp.asarray(x)


def to_fp8(x: jax.Array, fmt=E4M3, saturate: bool = True) -> jax.Array:
    """Cast to FP8: saturate=True clamps to +-max_finite, False keeps JAX's (ml_dtypes')
    rule, NaN for E4M3 and +-inf for E5M2. Any shape."""
    fmt = format_by_name(fmt)
    if not isinstance(saturate, bool):
        raise TypeError(f"saturate must be a bool, got {type(saturate).__name__}")
    x = jnp.asarray(x, dtype=jnp.float32)
    if saturate:
        x = jnp.clip(x, -fmt.max_finite, fmt.max_finite)
    return x.astype(fp8_dtype(fmt))


def _group_amax(x, granularity: str, block: int):
    a = jnp.abs(x)
    if granularity == "tensor":
        return a.max()
    if granularity == "row":
        return a.max(axis=-1, keepdims=True)
    if granularity == "tile":
        return a.reshape(*a.shape[:-1], a.shape[-1] // block, block).max(axis=-1)
    r, c = a.shape[-2:]
    return a.reshape(*a.shape[:-2], r // block, block, c // block, block).max(axis=(-3, -1))


def _expand(scales, shape, granularity: str, block: int):
    if granularity == "tile":
        scales = jnp.repeat(scales, block, axis=-1)
    elif granularity == "block":
        scales = jnp.repeat(jnp.repeat(scales, block, axis=-1), block, axis=-2)
    return jnp.broadcast_to(scales, shape)


def _quantize(x, fmt_name: str, granularity: str, block: int):
    return _quantize_jit(x, fmt_name, granularity, block)


@partial(jax.jit, static_argnums=(1, 2, 3))
def _quantize_jit(x, fmt_name: str, granularity: str, block: int):
    # Multiplications only, as in NumPy and torch: XLA rewrites a division by a broadcast value
    # into a multiplication by its reciprocal, which would round differently.
    amax = _group_amax(x, granularity, block)
    scales = jnp.maximum(amax * jnp.float32(1 / format_by_name(fmt_name).max_finite), 2.0**-126)
    scales = jnp.where(amax > 0, scales, jnp.float32(1.0))
    inverse = jnp.float32(1.0) / scales
    return to_fp8(x * _expand(inverse, x.shape, granularity, block), fmt_name), scales


def quantize(x: jax.Array, fmt=E4M3, granularity: str = "tile", block: int = 128):
    """Quantise with one scale per group (eq. 3 of labs.fp8.reference).

    Args:
        x: finite float array (..., rows, cols), computed in float32.

    Returns:
        (q, scales): q in the FP8 dtype shaped like x; float32 scales (shapes as in NumPy).
    """
    fmt = format_by_name(fmt)
    x = _float_array("x", x).astype(jnp.float32)
    block = check_layout(tuple(x.shape), granularity, block)
    return _quantize(x, fmt.name, granularity, block)


def dequantize(q: jax.Array, scales: jax.Array, granularity: str = "tile", block: int = 128):
    """Undo `quantize`: q (FP8 dtype) times its group's scale, float32, shaped like q."""
    if not hasattr(q, "dtype") or q.dtype not in FP8_DTYPES:
        raise TypeError(f"q must be a float8 array, got {getattr(q, 'dtype', type(q).__name__)}")
    scales = _float_array("scales", scales, min_ndim=0, check_finite=False)
    if not _holds((jnp.isfinite(scales) & (scales > 0)).all()):
        raise ValueError("scales must be finite and > 0; got a NaN, an inf, a zero or less")
    block = check_layout(tuple(q.shape), granularity, block)
    expected = scales_shape(tuple(q.shape), granularity, block)
    if tuple(scales.shape) != expected:
        raise ValueError(
            f"scales must have shape {expected} for granularity {granularity!r}, block={block} "
            f"and data of shape {tuple(q.shape)}; got {tuple(scales.shape)}"
        )
    return q.astype(jnp.float32) * _expand(scales.astype(jnp.float32), q.shape, granularity, block)


def fake_quantize(x: jax.Array, fmt=E4M3, granularity: str = "tile", block: int = 128):
    """`dequantize(*quantize(x))` with a straight-through gradient (identity in the backward).

    Usable inside `jax.grad`: the rounding is wrapped in `stop_gradient`.
    """
    fmt = format_by_name(fmt)
    x = _float_array("x", x).astype(jnp.float32)
    block = check_layout(tuple(x.shape), granularity, block)
    return _fake_quantize(x, fmt.name, granularity, block)


def _fake_quantize(x, fmt_name: str, granularity: str, block: int):
    q, scales = _quantize(jax.lax.stop_gradient(x), fmt_name, granularity, block)
    x_hat = q.astype(jnp.float32) * _expand(scales, x.shape, granularity, block)
    return x + jax.lax.stop_gradient(x_hat - x)


def round_significand(x: jax.Array, bits: int, rounding: str = "truncate") -> jax.Array:
    """Round float32 values to `bits` significant bits on their bit pattern (see NumPy)."""
    bits, _, rounding = check_accumulation(bits, None, rounding)
    return _round_significand(jnp.asarray(x, jnp.float32), bits, rounding)


def _round_significand(x, bits: int, rounding: str):
    shift = 24 - bits
    if shift == 0:
        return x
    u = jax.lax.bitcast_convert_type(x, jnp.uint32)
    if rounding == "nearest":
        u = u + jnp.uint32((1 << (shift - 1)) - 1) + ((u >> shift) & jnp.uint32(1))
    u = u & jnp.uint32(0xFFFFFFFF ^ ((1 << shift) - 1))
    return jax.lax.bitcast_convert_type(u, jnp.float32)


def limited_sum(
    values: jax.Array, accumulator_bits: int = 14, promote_every=128, rounding: str = "truncate"
) -> jax.Array:
    """Sum along the last axis in a limited accumulator promoted to float32 (see NumPy).

    values: (..., K) -> (...), float32. A `lax.scan` over K.
    """
    bits, promote_every, rounding = check_accumulation(accumulator_bits, promote_every, rounding)
    values = _float_array("values", values).astype(jnp.float32)
    return _limited_sum(values, bits, promote_every, rounding)


@partial(jax.jit, static_argnums=(1, 2, 3))
def _limited_sum(values, bits: int, promote_every, rounding: str):
    zeros = jnp.zeros(values.shape[:-1], jnp.float32)

    def step(carry, inputs):
        total, running = carry
        k, v = inputs
        running = _round_significand(running + v, bits, rounding)
        if promote_every is not None:
            flush = (k + 1) % promote_every == 0
            total = jnp.where(flush, total + running, total)
            running = jnp.where(flush, zeros, running)
        return (total, running), None

    ks = jnp.arange(values.shape[-1])
    (total, running), _ = jax.lax.scan(step, (zeros, zeros), (ks, jnp.moveaxis(values, -1, 0)))
    return total + running


def fp8_matmul(
    a: jax.Array,
    b: jax.Array,
    a_granularity: str = "tile",
    b_granularity: str = "block",
    accumulate: str = "fp32",
    accumulator_bits=14,
    promote_every=128,
    *,
    fmt=E4M3,
    block: int = 128,
    rounding="truncate",
):
    """V3's FP8 GEMM simulated in float32: a (M, K) @ b (K, N) -> (M, N) (see NumPy)."""
    a, b = _float_array("a", a, 2), _float_array("b", b, 2)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"a and b must be (M, K) and (K, N) matrices, got {a.shape} and {b.shape}")
    one_of("accumulate", accumulate, ("fp32", "limited"))
    check_accumulation(accumulator_bits, promote_every, rounding)
    a_hat = fake_quantize(a, fmt, a_granularity, block)
    b_hat = fake_quantize(b.T, fmt, b_granularity, block).T
    if accumulate == "fp32":
        return jnp.matmul(a_hat, b_hat, precision=jax.lax.Precision.HIGHEST)
    products = a_hat[:, None, :] * b_hat.T[None, :, :]
    return limited_sum(products, accumulator_bits, promote_every, rounding)


def init_linear(key: jax.Array, in_features: int, out_features: int) -> dict:
    """Parameters of a linear layer: {"kernel": (in, out), "bias": (out,)}, float32, initialised
    like torch.nn.Linear (uniform in +-1/sqrt(in))."""
    in_features = integer("in_features", in_features, minimum=1)
    out_features = integer("out_features", out_features, minimum=1)
    bound = 1.0 / np.sqrt(in_features)
    k1, k2 = jax.random.split(key)
    kernel = jax.random.uniform(k1, (in_features, out_features), jnp.float32, -bound, bound)
    bias = jax.random.uniform(k2, (out_features,), jnp.float32, -bound, bound)
    return {"kernel": kernel, "bias": bias}


def fp8_linear(params: dict, x: jax.Array, fmt=E4M3, block: int = 128) -> jax.Array:
    """x (..., in) @ kernel (in, out) + bias, the FP8 way (V3 §3.3): x per 1 x block tile,
    the kernel per block x block block, straight-through gradients to the FP32 master params.
    Pure and jit-able; use it inside a loss for `jax.grad` and an optax update."""
    if not isinstance(params, dict) or not {"kernel", "bias"} <= params.keys():
        raise TypeError("params must be a dict with 'kernel' and 'bias' (see init_linear)")
    kernel = params["kernel"]
    if x.shape[-1] != kernel.shape[0]:
        raise ValueError(f"x must end with in_features={kernel.shape[0]}, got shape {x.shape}")
    x_hat = fake_quantize(x, fmt, "tile", block)
    k_hat = fake_quantize(kernel, fmt, "block", block)
    return x_hat @ k_hat + params["bias"]
