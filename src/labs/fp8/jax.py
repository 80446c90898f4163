"""Chapter 2 in JAX: FP8 casts, fine-grained quantisation, V3's GEMM and an FP8 linear layer.

Pure functions over arrays and pytrees, `jit`-compiled with the layout arguments static. They
mirror `labs.fp8.reference` operation by operation in float32 (JAX's default), so on the CPU they
agree with NumPy bit for bit. `jnp.float8_e4m3fn` / `jnp.float8_e5m2` are ml_dtypes' types.

One documented difference: XLA flushes float32 subnormals (below 1.2e-38) to zero. A group whose
max-abs is that small gets the scale 1 here and 2^-126 in NumPy and torch; its FP8 codes are
zero either way.

Shapes: `*s` any shape, R rows, C columns, K the contraction axis, M and N the other GEMM axes,
I in_features, O out_features. Taught in chapter 2, "Outliers, and why V3 scales per tile",
"Accumulation: 14 bits are not enough for long sums" and "The backward pass in FP8"
(`fp8_linear`, its custom VJP, `linear_backward`).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Float

from labs.common import validate
from labs.fp8 import checks
from labs.fp8.formats import E4M3, format_by_name

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


def _fp8_dtype(fmt_name: str):
    """The JAX dtype of the format named `fmt_name`."""
    return jnp.float8_e4m3fn if fmt_name == "E4M3" else jnp.float8_e5m2


def to_fp8(x: jax.Array, fmt=E4M3, saturate: bool = True) -> jax.Array:
    """Cast to FP8: saturate=True clamps to +-max_finite, False keeps JAX's (ml_dtypes')
    rule, NaN for E4M3 and +-inf for E5M2. Any shape; NaN stays NaN."""
    x = checks.check_float("x", x, framework="jax", min_ndim=0, finite=False)
    return _to_fp8(
        jnp.asarray(x, jnp.float32), format_by_name(fmt).name, checks.check_saturate(saturate)
    )


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


def _dequantize(q: Array, scales: Array, granularity: str, block: int) -> Array:
    """x ~ s_g * q_i (eq. 3), float32."""
    return q.astype(jnp.float32) * _expand(scales, q.shape, granularity, block)


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
) -> jax.Array:
    """V3's fixed-point tensor-core accumulator (§3.5.2) along the last axis (see
    `labs.fp8.accumulator`; rounding "truncate" or "nearest"). values: (..., K) -> (...),
    float32. A `lax.scan` over the groups."""
    bits, group, promote_every = checks.check_aligned(accumulator_bits, group, promote_every)
    rounding = validate.one_of("rounding", rounding, ("truncate", "nearest"))
    values = checks.check_aligned_values(values, framework="jax")
    return _aligned_sum(jnp.asarray(values, jnp.float32), bits, group, promote_every, rounding)


def _power_of_two(e: Array) -> Array:
    """2**e for int32 e in [-126, 127], exact: the exponent field written directly."""
    return jax.lax.bitcast_convert_type((e + 127) << 23, jnp.float32)


def _floor_to_bits(
    t: Float[Array, "*s T"], shift: Array, rounding: str = "truncate"
) -> Float[Array, "*s T"]:
    """floor(t * 2**shift) (round, ties to even, for "nearest"), in float32."""
    integer = jnp.floor if rounding == "truncate" else jnp.round
    return integer(t * _power_of_two(shift))


@partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _aligned_sum(
    values: Float[Array, "*s K"],
    bits: int,
    group: int,
    promote_every: int | None,
    rounding: str = "truncate",
) -> Float[Array, "*s"]:
    """Groups of `group` values aligned to their largest exponent, `bits` kept, floored (4a)
    (rounded to nearest with rounding="nearest")."""
    k = values.shape[-1]
    n_groups = -(-k // group)
    pad = [(0, 0)] * (values.ndim - 1) + [(0, n_groups * group - k)]  # zeros change nothing
    groups = jnp.pad(values, pad).reshape(*values.shape[:-1], n_groups, group)
    zeros = jnp.zeros(values.shape[:-1], jnp.float32)

    def step(carry, inputs):
        total, running = carry
        i, chunk = inputs
        terms = jnp.concatenate([running[..., None], chunk], axis=-1)
        shift = bits - jnp.frexp(jnp.abs(terms).max(axis=-1))[1]  # max |t| < 2**e
        running = _floor_to_bits(terms, shift[..., None], rounding).sum(axis=-1)
        running = running * _power_of_two(-shift)
        shift_r = bits - jnp.frexp(running)[1]
        running = _floor_to_bits(running, shift_r, rounding) * _power_of_two(-shift_r)
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


def init_linear(key: jax.Array, in_features: int, out_features: int) -> dict:
    """Parameters of a linear layer: {"kernel": (in, out), "bias": (out,)}, float32, initialised
    like torch.nn.Linear (uniform in +-1/sqrt(in)).

    The kernel may hold at most 2**28 elements (it is allocated at once).
    """
    key = checks.check_key("key", key)
    in_features, out_features = checks.check_layer_sizes(in_features, out_features)
    return _init_linear(key, in_features, out_features)


def _init_linear(key: Array, in_features: int, out_features: int) -> dict:
    """Uniform in +-1/sqrt(in) for the kernel (I, O) and the bias (O,)."""
    bound = 1.0 / np.sqrt(in_features)
    k1, k2 = jax.random.split(key)
    kernel = jax.random.uniform(k1, (in_features, out_features), jnp.float32, -bound, bound)
    bias = jax.random.uniform(k2, (out_features,), jnp.float32, -bound, bound)
    return {"kernel": kernel, "bias": bias}


def fp8_linear(
    params: dict, x: jax.Array, fmt=E4M3, block: int = 128, backward: str = "straight_through"
) -> jax.Array:
    """x (..., in) @ kernel (in, out) + bias, the FP8 way (V3 §3.3): x per 1 x block tile,
    the kernel per block x block block, FP32 master params. `backward="straight_through"`
    passes gradients through the rounding; `backward="fp8"` runs V3's FP8 dgrad and wgrad
    through a custom VJP (see `linear_backward`; tokens are zero-padded to a multiple of
    `block` there). Pure and jit-able; use it inside a loss for `jax.grad` and an optax update."""
    params, x, fmt, block = checks.check_fp8_linear_call(params, x, fmt, block, framework="jax")
    backward = checks.check_option("backward", backward, ("straight_through", "fp8"))
    return _fp8_linear(params, x, fmt.name, block, backward)


def _fp8_linear(
    params: dict, x: Float[Array, "*s I"], fmt_name: str, block: int, backward="straight_through"
):
    """Fake-quantised x (1 x block tiles) @ fake-quantised kernel (blocks) + bias."""
    if backward == "fp8":
        kernel = params["kernel"]
        y = _fp8_gemm(x.reshape(-1, kernel.shape[0]), kernel, fmt_name, block)
        return y.reshape(*x.shape[:-1], kernel.shape[1]) + params["bias"]
    x_hat = _fake_quantize(x, fmt_name, "tile", block)
    k_hat = _fake_quantize(params["kernel"], fmt_name, "block", block)
    return x_hat @ k_hat + params["bias"]


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _fp8_gemm(x: Float[Array, "M I"], kernel: Float[Array, "I O"], fmt_name: str, block: int):
    """Q_tile(x) @ Q_block(kernel), with V3's FP8 backward as its VJP."""
    return _rounded(x, fmt_name, "tile", block) @ _rounded(kernel, fmt_name, "block", block)


def _fp8_gemm_fwd(x, kernel, fmt_name: str, block: int):
    """The forward GEMM; keeps x and the kernel (float32) for the backward."""
    return _fp8_gemm(x, kernel, fmt_name, block), (x, kernel)


def _fp8_gemm_bwd(fmt_name: str, block: int, residuals, dy):
    """Eq. (5): dgrad and wgrad from E4M3 tiles, blocks and column tiles."""
    x, kernel = residuals
    dx, dw = _linear_backward(x, kernel.T, dy, fmt_name, block)
    return dx, dw.T  # the kernel is W^T


_fp8_gemm.defvjp(_fp8_gemm_fwd, _fp8_gemm_bwd)


def linear_backward(
    x: jax.Array, weight: jax.Array, grad_output: jax.Array, fmt=E4M3, block: int = 128
) -> tuple:
    """V3's FP8 dgrad and wgrad (see labs.fp8.reference.linear_backward): x (M, I),
    weight (O, I), grad_output (M, O) -> (grad_x (M, I), grad_weight (O, I)), float32."""
    x, weight, grad_output, fmt, block = checks.check_linear_backward(
        x, weight, grad_output, fmt, block, framework="jax"
    )
    arrays = (jnp.asarray(a, jnp.float32) for a in (x, weight, grad_output))
    return _linear_backward(*arrays, fmt.name, block)


def _linear_backward(
    x: Float[Array, "M I"],
    weight: Float[Array, "O I"],
    dy: Float[Array, "M O"],
    fmt_name: str,
    block: int,
) -> tuple:
    """dgrad = Q_tile(dY) Q_block(W); wgrad = Q_column_tile(dY)^T Q_column_tile(X)."""
    pad = (-x.shape[0]) % block  # zero rows change no max-abs and add nothing to dW
    x_p, dy_p = jnp.pad(x, ((0, pad), (0, 0))), jnp.pad(dy, ((0, pad), (0, 0)))
    hi = jax.lax.Precision.HIGHEST
    dx = jnp.matmul(
        _rounded(dy, fmt_name, "tile", block),
        _rounded(weight, fmt_name, "block", block),
        precision=hi,
    )
    dy_c = _rounded(dy_p, fmt_name, "column_tile", block)  # (M', O), groups along M
    x_c = _rounded(x_p, fmt_name, "column_tile", block)  # (M', I), groups along M
    return dx, jnp.matmul(dy_c.T, x_c, precision=hi)
