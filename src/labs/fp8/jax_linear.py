"""Chapter 2's FP8 linear layer in JAX: FP32 master parameters, FP8 GEMMs (simulated).

`init_linear` makes the parameter pytree; `fp8_linear` fake-quantises the input per 1 x block
tile and the kernel per block x block block with the kernels of `labs.fp8.jax_kernels`. Every
GEMM asks for `precision=HIGHEST` (`_HIGHEST`): the products of the dequantised float32 operands
are summed in float32, as the NumPy reference does, not in BF16 passes (a TPU's default) or in
TF32 (an Ampere or Hopper GPU's), which would round the operands a second time. Its
backward pass is straight-through, or V3's FP8 dgrad and wgrad (eq. 5) through a custom VJP
(`_fp8_gemm`, `_fp8_gemm_bwd`, `linear_backward`). `labs.fp8.jax` re-exports the public names
here (`fp8_jax.fp8_linear`), as `labs.fp8.torch` does for `labs.fp8.torch_linear`.

Shapes: `*s` any shape, M rows (tokens), I in_features, O out_features. Taught in chapter 2,
"The backward pass in FP8".
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Float

from labs.fp8 import checks
from labs.fp8.formats import E4M3
from labs.fp8.jax_kernels import _fake_quantize, _rounded

__all__ = ["fp8_linear", "init_linear", "linear_backward"]

Array = jax.Array
_HIGHEST = jax.lax.Precision.HIGHEST  # float32 GEMMs on every backend (XLA:CPU always does)


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
    return jnp.matmul(x_hat, k_hat, precision=_HIGHEST) + params["bias"]


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _fp8_gemm(x: Float[Array, "M I"], kernel: Float[Array, "I O"], fmt_name: str, block: int):
    """Q_tile(x) @ Q_block(kernel), with V3's FP8 backward as its VJP."""
    x_hat = _rounded(x, fmt_name, "tile", block)
    return jnp.matmul(x_hat, _rounded(kernel, fmt_name, "block", block), precision=_HIGHEST)


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
    dx = jnp.matmul(
        _rounded(dy, fmt_name, "tile", block),
        _rounded(weight, fmt_name, "block", block),
        precision=_HIGHEST,
    )
    dy_c = _rounded(dy_p, fmt_name, "column_tile", block)  # (M', O), groups along M
    x_c = _rounded(x_p, fmt_name, "column_tile", block)  # (M', I), groups along M
    return dx, jnp.matmul(dy_c.T, x_c, precision=_HIGHEST)
