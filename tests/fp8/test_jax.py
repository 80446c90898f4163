"""The JAX half: jit-ability, float32 GEMMs, an FP8 linear layer in an optax step, bad input."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from labs.fp8 import E4M3
from labs.fp8 import fake_quantize as np_fake_quantize
from labs.fp8 import jax as fjax


def test_kernels_jit():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 128)), jnp.float32)
    f = jax.jit(lambda v: fjax.fake_quantize(v, E4M3, "tile", 128))
    np.testing.assert_array_equal(np.asarray(f(x)), np_fake_quantize(np.asarray(x), E4M3, "tile"))


def test_fp8_linear_gradients_are_straight_through():
    key = jax.random.key(0)
    params = fjax.init_linear(key, 128, 128)
    x = jax.random.normal(jax.random.key(1), (4, 128))
    grad_out = jax.random.normal(jax.random.key(2), (4, 128))
    grads = jax.grad(lambda p: jnp.sum(fjax.fp8_linear(p, x) * grad_out))(params)
    x_hat = np_fake_quantize(np.asarray(x), E4M3, "tile")
    np.testing.assert_allclose(
        grads["kernel"], x_hat.T @ np.asarray(grad_out), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(grads["bias"], np.asarray(grad_out).sum(0), rtol=1e-6)


def float32_dot_generals(lowered) -> list[str]:
    """The StableHLO dot_general lines of `lowered` (a jax.stages.Lowered) whose two operands are
    float32."""
    operands = re.compile(r": \((tensor<[^>]*>), (tensor<[^>]*>)\) ->")
    lines = [line for line in lowered.as_text().splitlines() if "stablehlo.dot_general" in line]
    return [
        line
        for line in lines
        if (found := operands.search(line)) and all(t.endswith("xf32>") for t in found.groups())
    ]


@pytest.mark.parametrize("backward", ["straight_through", "fp8"])
def test_every_float32_gemm_asks_for_full_float32_precision(backward):
    # The forward and backward GEMMs must ask for precision HIGHEST: by default a TPU sums BF16
    # passes and an Ampere or Hopper GPU rounds to TF32, so the "float32" GEMM would round the
    # dequantised operands again. XLA:CPU computes float32 whatever a dot asks for (a result check
    # passes here with or without HIGHEST), so this reads the lowered StableHLO instead, under a
    # bfloat16 default as on a TPU. Without HIGHEST the forward dot reads [DEFAULT, DEFAULT].
    params = fjax.init_linear(jax.random.key(0), 128, 128)
    x = jax.random.normal(jax.random.key(1), (256, 128))

    def loss(p, v):
        return jnp.sum(fjax.fp8_linear(p, v, backward=backward) ** 2)

    with jax.default_matmul_precision("bfloat16"):
        lowered = jax.jit(jax.value_and_grad(loss, argnums=(0, 1))).lower(params, x)
    dots = float32_dot_generals(lowered)
    assert len(dots) >= 3  # Fprop, Dgrad and Wgrad at least
    assert all("precision = [HIGHEST, HIGHEST]" in d for d in dots), dots


def test_fp8_linear_forward_matches_numpy_under_a_bfloat16_default():
    # the values themselves, where the backend honours the precision default (a TPU, a GPU):
    # Q_tile(x) Q_block(kernel) + bias as NumPy computes it in float64
    params = fjax.init_linear(jax.random.key(3), 256, 128)
    x = jax.random.normal(jax.random.key(4), (64, 256))
    x_hat = np_fake_quantize(np.asarray(x), E4M3, "tile").astype(np.float64)
    k_hat = np_fake_quantize(np.asarray(params["kernel"]), E4M3, "block").astype(np.float64)
    want = x_hat @ k_hat + np.asarray(params["bias"], np.float64)
    for backward in ("straight_through", "fp8"):
        with jax.default_matmul_precision("bfloat16"):
            got = np.asarray(fjax.fp8_linear(params, x, backward=backward), np.float64)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * np.abs(want).max())


def test_fp8_linear_in_an_optax_training_step():
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    params = {"l1": fjax.init_linear(k1, 128, 128), "l2": fjax.init_linear(k2, 128, 128)}
    x = jax.random.normal(k3, (64, 128))
    target = jnp.sin(x)

    def loss_fn(p):
        h = jax.nn.gelu(fjax.fp8_linear(p["l1"], x))
        return jnp.mean((fjax.fp8_linear(p["l2"], h) - target) ** 2)

    optimiser = optax.adam(1e-2)
    state = optimiser.init(params)

    @jax.jit
    def step(p, s):
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, s = optimiser.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    losses = []
    for _ in range(30):
        params, state, loss = step(params, state)
        losses.append(float(loss))
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda: fjax.quantize([1.0, 2.0], E4M3, "row"), TypeError, "must be an array"),
        (lambda: fjax.quantize(jnp.ones((2, 6)), E4M3, "tile", 4), ValueError, "pad"),
        (lambda: fjax.quantize(jnp.ones((2, 8)), E4M3, "rows", 4), ValueError, "granularity"),
        (lambda: fjax.quantize(jnp.arange(4), E4M3, "row"), TypeError, "float32"),
        (
            lambda: fjax.quantize(jnp.array([1.0, jnp.nan]), E4M3, "row"),
            ValueError,
            "NaN or inf",
        ),
        (
            lambda: fjax.dequantize(
                jnp.zeros((1, 4), jnp.float8_e4m3fn), jnp.array([[jnp.inf]]), "row"
            ),
            ValueError,
            "finite and > 0",
        ),
        (
            lambda: fjax.dequantize(jnp.zeros((1, 4), jnp.float8_e4m3fn), jnp.ones((1, 2)), "row"),
            ValueError,
            "scales must have shape",
        ),
        (lambda: fjax.limited_sum(jnp.ones(4), 14, -1), ValueError, "promote_every"),
        (lambda: fjax.fp8_linear({"w": 1}, jnp.ones((2, 128))), TypeError, "kernel"),
        (
            lambda: fjax.fp8_linear(fjax.init_linear(jax.random.key(0), 128, 128), jnp.ones(64)),
            ValueError,
            "in_features=128",
        ),
    ],
)
def test_bad_input(call, exc, fragment):
    with pytest.raises(exc, match=fragment):
        call()
