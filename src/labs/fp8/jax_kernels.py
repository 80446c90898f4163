"""Chapter 2's bare JAX kernels that the layer and the Pallas kernel build on.

The FP8 cast (`_to_fp8`) and quantisation with one scale per group (eq. 3: `_quantize`,
`_dequantize`, `_fake_quantize` with its straight-through gradient, and `_rounded`, the values an
FP8 GEMM multiplies). No input checks here: the public functions of `labs.fp8.jax` check their
arguments and call these, and so do `labs.fp8.jax_linear` (`fp8_linear`, `linear_backward`) and
`labs.fp8.pallas`, which is why the kernels sit below them (as `labs.fp8.torch_kernels` does for
torch). They mirror `labs.fp8.reference` operation by operation in float32.

Shapes: `*s` any shape, R rows, C columns. Taught in chapter 2, "Outliers, and why V3 scales
per tile".
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jaxtyping import Float

from labs.fp8.formats import format_by_name

__all__: list[str] = []  # bare kernels; the checked public API is labs.fp8.jax

Array = jax.Array


def _fp8_dtype(fmt_name: str):
    """The JAX dtype of the format named `fmt_name`."""
    return jnp.float8_e4m3fn if fmt_name == "E4M3" else jnp.float8_e5m2


def _to_fp8(x: Float[Array, "*s"], fmt_name: str, saturate: bool) -> Array:
    """Clamp to +-max_finite (saturate), then cast."""
    if saturate:
        limit = format_by_name(fmt_name).max_finite
        x = jnp.clip(x, -limit, limit)
    return x.astype(_fp8_dtype(fmt_name))


def _group_amax(x: Float[Array, "*s R C"], granularity: str, block: int) -> Array:
    """The max-abs of each group (shapes as in NumPy)."""
    a = jnp.abs(x)
    if granularity == "tensor":
        return a.max()
    if granularity == "row":
        return a.max(axis=-1, keepdims=True)
    if granularity == "tile":
        return a.reshape(*a.shape[:-1], a.shape[-1] // block, block).max(axis=-1)
    r, c = a.shape[-2:]
    if granularity == "column_tile":
        return a.reshape(*a.shape[:-2], r // block, block, c).max(axis=-2)
    return a.reshape(*a.shape[:-2], r // block, block, c // block, block).max(axis=(-3, -1))


def _expand(scales: Array, shape, granularity: str, block: int) -> Array:
    """Repeat each group's scale over its group."""
    if granularity == "tile":
        scales = jnp.repeat(scales, block, axis=-1)
    elif granularity == "column_tile":
        scales = jnp.repeat(scales, block, axis=-2)
    elif granularity == "block":
        scales = jnp.repeat(jnp.repeat(scales, block, axis=-1), block, axis=-2)
    return jnp.broadcast_to(scales, shape)


def _round_up_to_power_of_two(s: Float[Array, "*G"]) -> Float[Array, "*G"]:
    """2^ceil(log2 s) for positive normal float32 s, on the bit pattern (exact)."""
    bits = jax.lax.bitcast_convert_type(s, jnp.uint32)
    exponent = bits & jnp.uint32(0x7F800000)  # the exponent field, mantissa cleared
    carry = ((bits & jnp.uint32(0x007FFFFF)) != 0).astype(jnp.uint32) << 23
    return jax.lax.bitcast_convert_type(exponent + carry, jnp.float32)


@partial(jax.jit, static_argnames=("fmt_name", "granularity", "block", "power_of_two"))
def _quantize(
    x: Float[Array, "*s R C"], fmt_name: str, granularity: str, block: int, power_of_two=False
):
    """Eq. (3) with multiplications only; returns (q, scales)."""
    # XLA rewrites a division by a broadcast value into a multiplication by its reciprocal,
    # which would round differently from NumPy and torch: multiply by 1 / max_finite instead.
    amax = _group_amax(x, granularity, block)
    scales = jnp.maximum(amax * jnp.float32(1 / format_by_name(fmt_name).max_finite), 2.0**-126)
    if power_of_two:
        scales = _round_up_to_power_of_two(scales)
    scales = jnp.where(amax > 0, scales, jnp.float32(1.0))
    inverse = jnp.float32(1.0) / scales
    return _to_fp8(x * _expand(inverse, x.shape, granularity, block), fmt_name, True), scales


def _dequantize(q: Array, scales: Array, granularity: str, block: int) -> Array:
    """x ~ s_g * q_i (eq. 3), float32."""
    return q.astype(jnp.float32) * _expand(scales, q.shape, granularity, block)


def _fake_quantize(
    x: Float[Array, "*s R C"], fmt_name: str, granularity: str, block: int, power_of_two=False
):
    """Quantise and dequantise, straight-through: the forward rounds, the backward is identity."""
    x_hat = _rounded(jax.lax.stop_gradient(x), fmt_name, granularity, block, power_of_two)
    return x + jax.lax.stop_gradient(x_hat - x)


def _rounded(x: Float[Array, "*s R C"], fmt_name: str, granularity: str, block: int, p2=False):
    """Quantise and dequantise (no gradient rule): the values an FP8 GEMM multiplies."""
    q, scales = _quantize(x, fmt_name, granularity, block, p2)
    return q.astype(jnp.float32) * _expand(scales, x.shape, granularity, block)
