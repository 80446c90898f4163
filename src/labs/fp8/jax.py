"""Chapter 2 in JAX: FP8 casts, fine-grained quantisation, V3's GEMM and an FP8 linear layer.

Pure functions over arrays and pytrees, `jit`-compiled with the layout arguments static. They
mirror `labs.fp8.reference` operation by operation in float32 (JAX's default), so on the CPU they
agree with NumPy bit for bit. `jnp.float8_e4m3fn` / `jnp.float8_e5m2` are ml_dtypes' types.

One documented difference: XLA flushes float32 subnormals (below 1.2e-38) to zero. A group whose
max-abs is that small gets the scale 1 here and 2^-126 in NumPy and torch; its FP8 codes are
zero either way.

This module is the chapter's JAX API: it checks the arguments and calls the bare kernels, which
live here (the accumulators, the GEMM) or in `labs.fp8.jax_kernels` (the cast and the
quantisation of eq. 3, shared with the layer and the Pallas kernel). It also re-exports the
public names of `labs.fp8.jax_linear` (`init_linear`, `fp8_linear` with its custom VJP,
`linear_backward`), so that `from labs.fp8 import jax as fp8_jax` reaches all of chapter 2's
JAX half.

Shapes: `*s` any shape, R rows, C columns, K the contraction axis, M and N the other GEMM axes.
Taught in chapter 2, "Outliers, and why V3 scales per tile", "Accumulation: 14 bits are not
enough for long sums" and "The backward pass in FP8" (`fp8_linear`, its custom VJP,
`linear_backward`).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jaxtyping import Float

from labs.common import validate
from labs.fp8 import checks
from labs.fp8.formats import E4M3, format_by_name
from labs.fp8.jax_kernels import _dequantize, _fake_quantize, _fp8_dtype, _quantize, _to_fp8
from labs.fp8.jax_linear import _fp8_gemm_bwd as _fp8_gemm_bwd  # chapter 2 shows its source
from labs.fp8.jax_linear import fp8_linear, init_linear, linear_backward

__all__ = [
    "aligned_sum",
    "dequantize",
    "fake_quantize",
    "fp8_dtype",
    "fp8_linear",
    "fp8_matmul",
    "init_linear",
    "limited_sum",
    "linear_backward",
    "quantize",
    "round_significand",
    "to_fp8",
]

Array = jax.Array


def fp8_dtype(fmt):
    """jnp.float8_e4m3fn for E4M3, jnp.float8_e5m2 for E5M2."""
    return _fp8_dtype(format_by_name(fmt).name)


def to_fp8(x: jax.Array, fmt=E4M3, saturate: bool = True) -> jax.Array:
    """Cast to FP8: saturate=True clamps to +-max_finite, False keeps JAX's (ml_dtypes')
    rule, NaN for E4M3 and +-inf for E5M2. Any shape; NaN stays NaN."""
    x = checks.check_float("x", x, framework="jax", min_ndim=0, finite=False)
    return _to_fp8(
        jnp.asarray(x, jnp.float32), format_by_name(fmt).name, checks.check_saturate(saturate)
    )


def quantize(
    x: jax.Array, fmt=E4M3, granularity: str = "tile", block: int = 128, power_of_two=False
):
    """Quantise with one scale per group (eq. 3 of labs.fp8.reference).

    Args:
        x: finite float array (..., rows, cols), computed in float32.
        granularity: "tensor", "row", "tile", "column_tile" or "block" (see NumPy).
        block: group length, 128 in V3 (at most 2**16).
        power_of_two: round every scale up to a power of two.

    Returns:
        (q, scales): q in the FP8 dtype shaped like x; float32 scales (shapes as in NumPy).
    """
    x, fmt, block = checks.check_quantize(
        x, fmt, granularity, block, framework="jax", power_of_two=power_of_two
    )
    return _quantize(jnp.asarray(x, jnp.float32), fmt.name, granularity, block, power_of_two)


def dequantize(q: jax.Array, scales: jax.Array, granularity: str = "tile", block: int = 128):
    """Undo `quantize`: q (FP8 dtype) times its group's scale, float32, shaped like q."""
    q, scales, block = checks.check_dequantize(q, scales, granularity, block, framework="jax")
    return _dequantize(jnp.asarray(q), jnp.asarray(scales, jnp.float32), granularity, block)


def fake_quantize(
    x: jax.Array, fmt=E4M3, granularity: str = "tile", block: int = 128, power_of_two=False
):
    """`dequantize(*quantize(x))` with a straight-through gradient (identity in the backward).

    Usable inside `jax.grad`: the rounding is wrapped in `stop_gradient`.
    """
    x, fmt, block = checks.check_quantize(
        x, fmt, granularity, block, framework="jax", power_of_two=power_of_two
    )
    return _fake_quantize(jnp.asarray(x, jnp.float32), fmt.name, granularity, block, power_of_two)


def round_significand(x: jax.Array, bits: int, rounding: str = "truncate") -> jax.Array:
    """Round float32 values to `bits` significant bits (1..24) on their bit pattern (see NumPy)."""
    x, bits = checks.check_round(x, bits, rounding, framework="jax")
    return _round_significand(jnp.asarray(x, jnp.float32), bits, rounding)


def _round_significand(x: Float[Array, "*s"], bits: int, rounding: str) -> Array:
    """Clear (or round away) the low 24 - bits bits of the float32 pattern."""
    shift = 24 - bits
    if shift == 0:
        return x
    u = jax.lax.bitcast_convert_type(x, jnp.uint32)
    if rounding == "nearest":
        u = u + jnp.uint32((1 << (shift - 1)) - 1) + ((u >> shift) & jnp.uint32(1))
    u = u & jnp.uint32(0xFFFFFFFF ^ ((1 << shift) - 1))
    return jax.lax.bitcast_convert_type(u, jnp.float32)


def aligned_sum(
    values: jax.Array,
    accumulator_bits: int = 14,
    group: int = 32,
    promote_every=None,
    rounding: str = "truncate",
    running_sum_aligned: bool = True,
) -> jax.Array:
    """V3's fixed-point tensor-core accumulator (§3.5.2) along the last axis (see
    `labs.fp8.accumulator`; rounding "truncate" or "nearest"; running_sum_aligned True for
    (4a), False for (4b)). values: (..., K) -> (...), float32. A `lax.scan` over the groups."""
    bits, group, promote_every = checks.check_aligned(accumulator_bits, group, promote_every)
    rounding = validate.one_of("rounding", rounding, ("truncate", "nearest"))
    aligned = validate.boolean("running_sum_aligned", running_sum_aligned)
    values = checks.check_aligned_values(values, framework="jax")
    values = jnp.asarray(values, jnp.float32)
    return _aligned_sum(values, bits, group, promote_every, rounding, aligned)


def _power_of_two(e: Array) -> Array:
    """2**e for int32 e in [-126, 127], exact: the exponent field written directly."""
    return jax.lax.bitcast_convert_type((e + 127) << 23, jnp.float32)


def _floor_to_bits(
    t: Float[Array, "*s T"], shift: Array, rounding: str = "truncate"
) -> Float[Array, "*s T"]:
    """floor(t * 2**shift) (round, ties to even, for "nearest"), in float32."""
    integer = jnp.floor if rounding == "truncate" else jnp.round
    return integer(t * _power_of_two(shift))


def _round_to_bits(x: Float[Array, "*s"], bits: int, rounding: str) -> Float[Array, "*s"]:
    """x floored (or rounded to nearest) to `bits` significant bits, in float32."""
    shift = bits - jnp.frexp(x)[1]
    return _floor_to_bits(x, shift, rounding) * _power_of_two(-shift)


def _register_add(
    running: Float[Array, "*s"], s: Float[Array, "*s"], bits: int, rounding: str
) -> Float[Array, "*s"]:
    """The exact running + s rounded to `bits` significant bits (4b's register; see NumPy)."""
    x = running + s
    keep = jnp.abs(running) >= jnp.abs(s)
    remainder = jnp.where(keep, s, running) - (x - jnp.where(keep, running, s))  # Fast2Sum
    if rounding == "truncate":
        moved = jnp.where(remainder < 0, jnp.nextafter(x, jnp.full_like(x, -jnp.inf)), x)
    else:
        scaled = x * _power_of_two(bits - jnp.frexp(x)[1])
        tie = (scaled - jnp.floor(scaled) == 0.5) & (remainder != 0)
        toward = jnp.where(remainder < 0, -jnp.inf, jnp.inf).astype(x.dtype)
        moved = jnp.where(tie, jnp.nextafter(x, toward), x)
    return _round_to_bits(moved, bits, rounding)


@partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _aligned_sum(
    values: Float[Array, "*s K"],
    bits: int,
    group: int,
    promote_every: int | None,
    rounding: str = "truncate",
    running_sum_aligned: bool = True,
) -> Float[Array, "*s"]:
    """Groups of `group` values aligned to their largest exponent, `bits` kept, floored (4a), or
    (4b) without the running sum in the alignment (rounded to nearest with rounding="nearest")."""
    k = values.shape[-1]
    n_groups = -(-k // group)
    pad = [(0, 0)] * (values.ndim - 1) + [(0, n_groups * group - k)]  # zeros change nothing
    groups = jnp.pad(values, pad).reshape(*values.shape[:-1], n_groups, group)
    zeros = jnp.zeros(values.shape[:-1], jnp.float32)

    def step(carry, inputs):
        total, running = carry
        i, terms = inputs
        if running_sum_aligned:
            terms = jnp.concatenate([running[..., None], terms], axis=-1)
        shift = bits - jnp.frexp(jnp.abs(terms).max(axis=-1))[1]  # max |t| < 2**e
        aligned = _floor_to_bits(terms, shift[..., None], rounding).sum(axis=-1)
        aligned = aligned * _power_of_two(-shift)
        if running_sum_aligned:
            running = _round_to_bits(aligned, bits, rounding)
        else:
            running = _register_add(running, aligned, bits, rounding)
        if promote_every is not None:
            flush = ((i + 1) * group) % promote_every == 0  # promotion to FP32
            total = jnp.where(flush, total + running, total)
            running = jnp.where(flush, zeros, running)
        return (total, running), None

    steps = (jnp.arange(n_groups), jnp.moveaxis(groups, -2, 0))
    (total, running), _ = jax.lax.scan(step, (zeros, zeros), steps)
    return total + running


def limited_sum(
    values: jax.Array, accumulator_bits: int = 14, promote_every=128, rounding: str = "truncate"
) -> jax.Array:
    """Sum along the last axis in a limited accumulator promoted to float32 (see NumPy).

    values: (..., K) -> (...), float32. A `lax.scan` over K.
    """
    bits, promote_every, rounding = checks.check_accumulation(
        accumulator_bits, promote_every, rounding
    )
    values = checks.check_float("values", values, framework="jax")
    return _limited_sum(jnp.asarray(values, jnp.float32), bits, promote_every, rounding)


@partial(jax.jit, static_argnums=(1, 2, 3))
def _limited_sum(
    values: Float[Array, "*s K"], bits: int, promote_every: int | None, rounding: str
) -> Float[Array, "*s"]:
    """A `bits`-bit running sum, flushed into a float32 total every `promote_every` values."""
    zeros = jnp.zeros(values.shape[:-1], jnp.float32)

    def step(carry, inputs):
        total, running = carry
        k, v = inputs
        running = _round_significand(running + v, bits, rounding)
        if promote_every is not None:
            flush = (k + 1) % promote_every == 0  # promotion to FP32
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
    a, b, fmt, block = checks.check_fp8_matmul(
        a, b, a_granularity, b_granularity, accumulate, block, fmt, framework="jax"
    )
    checks.check_accumulation(accumulator_bits, promote_every, rounding)
    a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
    return _fp8_matmul(
        a,
        b,
        a_granularity,
        b_granularity,
        accumulate,
        accumulator_bits,
        promote_every,
        fmt_name=fmt.name,
        block=block,
        rounding=rounding,
    )


def _fp8_matmul(
    a: Float[Array, "M K"],
    b: Float[Array, "K N"],
    a_granularity: str,
    b_granularity: str,
    accumulate: str,
    accumulator_bits: int,
    promote_every: int | None,
    *,
    fmt_name: str,
    block: int,
    rounding: str,
) -> Float[Array, "M N"]:
    """Fake-quantise both operands along K, multiply, sum in FP32 or the limited accumulator."""
    a_hat = _fake_quantize(a, fmt_name, a_granularity, block)
    b_hat = _fake_quantize(b.T, fmt_name, b_granularity, block).T
    if accumulate == "fp32":
        return jnp.matmul(a_hat, b_hat, precision=jax.lax.Precision.HIGHEST)
    products = a_hat[:, None, :] * b_hat.T[None, :, :]  # (M, N, K)
    return _limited_sum(products, accumulator_bits, promote_every, rounding)
