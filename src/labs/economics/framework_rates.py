"""Chapter 7's three-framework table on a CPU: one product in NumPy, PyTorch and JAX, timed so
that load from other programs does not decide the comparison.

Taught in chapter 7, "Measure it yourself: a matrix multiply against the peak". Timed on the wall
clock with each library's default threads, the table was noise on a shared machine: on two busy
cores the best of twenty interleaved rounds put JAX at 2.2 to 3.0 times NumPy's rate at n = 512
from one run to the next, and NumPy faster at n = 128 than at n = 512 (a short product catches
the idle moments a long one misses). So each product here runs on one thread (NumPy's BLAS and
torch limited to one; JAX's CPU client keeps its own threads) and is timed on this process's CPU
time, which other programs' load does not add to (`labs.common.ceilings.best_seconds`,
clock="cpu"); the sizes and frameworks are interleaved within a round, so a busy moment falls on
one round of each; and the result is the best over rounds, with the spread between rounds kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from labs.common.ceilings import best_seconds
from labs.common.progress import progress
from labs.common.runtime import host_jax_device
from labs.common.validate import boolean, describe_value, integer, size

__all__ = ["FRAMEWORKS", "SIZES", "blas_widths", "matmul_rounds"]

FRAMEWORKS = ("numpy", "torch", "jax")
SIZES = (128, 256, 512)
# OpenBLAS's kernels by the vector width they multiply with (its core names, as threadpoolctl
# reports them); a core not listed here is reported as unknown.
OPENBLAS_WIDTH = {
    **dict.fromkeys(("skylakex", "cooperlake", "sapphirerapids"), "AVX-512"),
    **dict.fromkeys(("haswell", "zen"), "AVX2"),
}


def _check_sizes(sizes) -> tuple[int, ...]:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"sizes must be a sequence of matrix sizes, got {describe_value(sizes)}")
    out = tuple(integer(f"sizes[{i}]", n, minimum=8, maximum=2048) for i, n in enumerate(sizes))
    if not out or any(b <= a for a, b in zip(out, out[1:], strict=False)):
        raise ValueError(f"sizes must be one or more increasing sizes, got {list(sizes)}")
    return out


def matmul_rounds(
    sizes: Sequence[int] = SIZES,
    rounds: int = 5,
    *,
    repeats: int = 3,
    seed: int = 0,
    show_progress: bool = True,
) -> dict:
    """GFLOP/s of an (n, n) @ (n, n) FP32 product on this CPU, one thread, in NumPy, PyTorch and
    JAX, one value per round.

    Returns {framework: {n: [GFLOP/s, one per round]}} for the frameworks of `FRAMEWORKS`. Each
    value is 2 n^3 over the best of `repeats` calls after an untimed one, on this process's CPU
    time; within a round every size and framework is timed once, in turn. The three frameworks
    multiply the same seeded matrices. `sizes`: increasing sizes in [8, 2048] (a 2048 product
    takes about a second of one core); at most 100 rounds and 20 repeats; `seed` in [0, 2**32).
    """
    sizes = _check_sizes(sizes)
    rounds = size("rounds", rounds, maximum=100, why="the best of 100 rounds is settled")
    repeats = size("repeats", repeats, maximum=20, why="the best of 20 calls is settled")
    seed = integer("seed", seed, minimum=0, maximum=2**32 - 1)
    show_progress = boolean("show_progress", show_progress)
    return _matmul_rounds(sizes, rounds, repeats, seed, show_progress)


def _matmul_rounds(sizes, rounds: int, repeats: int, seed: int, show_progress: bool) -> dict:
    """Interleaved rounds of one-thread products, best-of-`repeats` CPU time each."""
    import jax
    import jax.numpy as jnp
    import torch
    from threadpoolctl import threadpool_limits

    from labs.economics.jax import _matmul as jax_matmul
    from labs.economics.reference import _matmul as numpy_matmul
    from labs.economics.torch import _matmul as torch_matmul

    cpu = host_jax_device()
    calls = {}
    for n in sizes:
        rng = np.random.default_rng([seed, n])
        x, w = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        jx, jw = (jax.device_put(jnp.asarray(a), cpu) for a in (x, w))
        calls[n] = {
            "numpy": lambda x=x, w=w: numpy_matmul(x, w),
            "torch": lambda x=tx, w=tw: torch_matmul(x, w),
            "jax": lambda x=jx, w=jw: jax_matmul(x, w).block_until_ready(),  # async dispatch
        }
    rates: dict = {f: {n: [] for n in sizes} for f in FRAMEWORKS}
    threads = torch.get_num_threads()
    rounds_iter = progress(range(rounds), desc="matmul rounds") if show_progress else range(rounds)
    # One untimed call of each product with the libraries' default threads first. Measured here
    # (NumPy's OpenBLAS 0.3.31, the calling thread's CPU time): when OpenBLAS's first product ran
    # under the one-thread limit it went on multiplying at n = 256 at 9.5 GFLOP/s, against 34
    # after a first call with its default threads (at n = 512, 34 either way).
    for n in sizes:
        for framework in FRAMEWORKS:
            calls[n][framework]()
    try:
        torch.set_num_threads(1)
        with threadpool_limits(1), torch.no_grad():
            for _ in rounds_iter:
                for n in sizes:
                    for framework in FRAMEWORKS:
                        seconds = best_seconds(calls[n][framework], repeats=repeats, clock="cpu")
                        rates[framework][n].append(2 * n**3 / max(seconds, 1e-9) / 1e9)
    finally:
        torch.set_num_threads(threads)
    return rates


def blas_widths(
    blas_info: list[dict] | None = None,
    environ: Mapping[str, str] | None = None,
    cpuinfo: str | None = None,
) -> dict:
    """The vector width of the kernel that multiplies float32 matrices in NumPy and in PyTorch
    on this CPU: {"numpy": ..., "torch": ...}, each "AVX-512", "AVX2" or None (unknown).

    NumPy's is its BLAS's: OpenBLAS names the core it chose (threadpoolctl's `architecture`).
    PyTorch's CPU build multiplies with MKL: capped by `MKL_ENABLE_INSTRUCTIONS` (which `import
    labs` sets to AVX2, labs.common.cpu_arithmetic), else AVX-512 on an Intel processor with it,
    else unknown (MKL's choice on other vendors is its own). Chapter 7 compares the two
    frameworks' rates only where the widths are known and equal. `blas_info`, `environ` and
    `cpuinfo` (the text of /proc/cpuinfo) default to this process's; tests pass their own.
    """
    import os

    if blas_info is None:
        from threadpoolctl import threadpool_info

        blas_info = threadpool_info()
    if not isinstance(blas_info, list) or not all(isinstance(x, dict) for x in blas_info):
        raise TypeError(f"blas_info must be a list of dicts, got {describe_value(blas_info)}")
    env = os.environ if environ is None else environ
    if not isinstance(env, Mapping):
        raise TypeError(f"environ must be a mapping such as os.environ, got {describe_value(env)}")
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    if not isinstance(cpuinfo, str):
        raise TypeError(f"cpuinfo must be the text of /proc/cpuinfo, got {describe_value(cpuinfo)}")
    flags = set(cpuinfo.split())
    mkl_cap = str(env.get("MKL_ENABLE_INSTRUCTIONS", "")).upper()
    if mkl_cap == "AVX2":
        mkl = "AVX2"
    elif "avx512f" in flags and "GenuineIntel" in flags and mkl_cap in ("", "AVX512"):
        mkl = "AVX-512"
    else:
        mkl = None
    blas = [lib for lib in blas_info if lib.get("user_api") == "blas"]
    # NumPy's own BLAS (numpy.libs/...), not SciPy's copy, where the paths say which is which
    ours = [lib for lib in blas if "numpy" in str(lib.get("filepath", ""))] or blas[:1]
    numpy = None
    for lib in ours:
        if lib.get("internal_api") == "openblas":
            numpy = OPENBLAS_WIDTH.get(str(lib.get("architecture", "")).lower())
        elif lib.get("internal_api") == "mkl":
            numpy = mkl
    return {"numpy": numpy, "torch": mkl}
