"""Chapter 7 in JAX: the matrix multiply the chapter times, as a pure function, and its timer.

Taught in chapter 7, "Measure it yourself: a matrix multiply against the peak".
`from labs.economics import jax as econ_jax` pulls in JAX; `labs.economics` does not.
The checks run outside `jit`; the jitted kernel `_matmul` does none.

Axes: M rows of x, K the inner size, N columns of w.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
from jaxtyping import Float

from labs.economics.matmul_checks import check_init, check_matmul, check_params, check_timer

__all__ = ["init_matmul", "matmul", "measure_matmul_tflops"]


def init_matmul(key, k: int, n: int, dtype=jnp.float32) -> dict:
    """Parameters {"w": (k, n)} with standard normal entries; k * n is capped at 2**28 (1 GiB in
    float32) so that a mistyped size cannot exhaust memory."""
    key, k, n, dtype = check_init(key, k, n, dtype)
    return {"w": jax.random.normal(key, (k, n), dtype=dtype)}


def matmul(params: dict, x: jax.Array) -> jax.Array:
    """y = x @ params["w"]. Shapes: x (m, k), w (k, n) -> y (m, n). Jittable: under `jit` the
    checks see shapes and dtypes only."""
    x, w = check_matmul(x, check_params(params), framework="jax", w_name='params["w"]')
    return _matmul(x, w)


@jax.jit
def _matmul(x: Float[jax.Array, "M K"], w: Float[jax.Array, "K N"]) -> Float[jax.Array, "M N"]:
    """y = x @ w: 2 M K N FLOPs."""
    return x @ w


def measure_matmul_tflops(
    n: int = 512, dtype=jnp.float32, repeats: int = 5, device=None, seed: int = 0
) -> float:
    """Best achieved TFLOP/s of an (n, n) @ (n, n) product over `repeats`, after a compile.

    JAX dispatches asynchronously: `block_until_ready()` stops the clock when the work is done.
    `n` is capped at 16,384 and `repeats` at 1,000 (a typo must not hang the machine); `device`
    is None (JAX's default) or a jax.Device; `seed` lies in [0, 2**32).
    """
    n, dtype, repeats, seed, device = check_timer(
        n, dtype, repeats, seed, framework="jax", device=device
    )
    return _measure_matmul_tflops(n, dtype, repeats, device, seed)


def _measure_matmul_tflops(n: int, dtype, repeats: int, device: jax.Device, seed: int) -> float:
    """Best-of-`repeats` TFLOP/s of an (n, n) @ (n, n) product, after a compile."""
    kx, kw = jax.random.split(jax.random.key(seed))
    x = jax.device_put(jax.random.normal(kx, (n, n), dtype=dtype), device)
    w = jax.device_put(jax.random.normal(kw, (n, n), dtype=dtype), device)

    def run() -> float:
        start = time.perf_counter()
        _matmul(x, w).block_until_ready()  # dispatch is asynchronous: wait for the result
        return max(time.perf_counter() - start, 1e-9)

    run()  # compiles
    best = min(run() for _ in range(repeats))
    return 2 * n * n * n / best / 1e12  # matmul_flops(n, n, n) per second, in TFLOP/s
