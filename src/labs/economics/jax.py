"""Chapter 7 in JAX: the matrix multiply the chapter times, as a pure function, and its timer.

`from labs.economics import jax as econ_jax` pulls in JAX; `labs.economics` does not.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from labs.common.validate import integer
from labs.economics import matmul_flops

__all__ = ["init_matmul", "matmul", "measure_matmul_tflops"]


def init_matmul(key, k: int, n: int, dtype=jnp.float32) -> dict:
    """Parameters {"w": (k, n)} with standard normal entries."""
    k = integer("k", k, minimum=1)
    n = integer("n", n, minimum=1)
    return {"w": jax.random.normal(key, (k, n), dtype=dtype)}


@jax.jit
def matmul(params: dict, x: jax.Array) -> jax.Array:
    """y = x @ params["w"]. Shapes: x (m, k), w (k, n) -> y (m, n)."""
    return x @ params["w"]


def measure_matmul_tflops(
    n: int = 512, dtype=jnp.float32, repeats: int = 5, device=None, seed: int = 0
) -> float:
    """Best achieved TFLOP/s of an (n, n) @ (n, n) product over `repeats`, after a compile.

    JAX dispatches asynchronously: `block_until_ready()` stops the clock when the work is done.
    """
    n = integer("n", n, minimum=1)
    repeats = integer("repeats", repeats, minimum=1)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating dtype, got {dtype!r}")
    device = device if device is not None else jax.devices()[0]
    kx, kw = jax.random.split(jax.random.key(seed))
    x = jax.device_put(jax.random.normal(kx, (n, n), dtype=dtype), device)
    params = jax.device_put(init_matmul(kw, n, n, dtype), device)

    def run() -> float:
        start = time.perf_counter()
        matmul(params, x).block_until_ready()
        return max(time.perf_counter() - start, 1e-9)

    run()  # compiles
    best = min(run() for _ in range(repeats))
    return matmul_flops(n, n, n) / best / 1e12
