"""Timing and the figures of one kernel, shared by the decode and GEMM benchmarks of labs.bench.

Taught in chapter 8, "Measuring against the limit".
"""

from __future__ import annotations

import statistics
import time

import jax
import numpy as np
import torch

from labs.common.runtime import processor_name

__all__: list[str] = []


def _device() -> tuple[str, str]:
    """(kind, name) of the device the run measures: a CUDA GPU if torch sees one, else the CPU,
    named with its family, model and stepping (`processor_name`): a CPU timing belongs to it."""
    if torch.cuda.is_available():
        return "gpu", torch.cuda.get_device_name()
    return "cpu", processor_name()


def _jax_measures(kind: str) -> bool:
    """Whether the run times JAX on the device it measures: always on a CPU; on a GPU only where
    JAX's backend is the GPU too. A jaxlib without its CUDA plugin falls back to the CPU, where
    the GPU sizes would take hours; the run then times PyTorch alone (`_jax_absent_row` rows
    say why)."""
    return kind == "cpu" or jax.default_backend() == "gpu"


def _torch_device(kind: str) -> str:
    """Where PyTorch's inputs live when JAX does not make them (`_jax_measures` is False)."""
    return "cuda" if kind == "gpu" else "cpu"


def _jax_absent_row() -> dict:
    """The row of a JAX kernel that a run without JAX on the GPU does not time."""
    return {"error": f"not measured: JAX's backend is {jax.default_backend()}, not the GPU"}


def _timer(kind: str, repeats: int):
    """A function that times `fn()`: `repeats` runs of `inner` calls each (seconds per call),
    after a warm-up call (which compiles), waiting for the device before reading the clock."""
    inner = 10 if kind == "gpu" else 1

    def sync(out):
        leaves = out if isinstance(out, (tuple, list)) else (out,)
        if any(isinstance(x, torch.Tensor) and x.is_cuda for x in leaves):
            torch.cuda.synchronize()  # PyTorch's kernels run asynchronously: wait for them
        if not any(isinstance(x, torch.Tensor) for x in leaves):
            jax.block_until_ready(out)  # so do JAX's
        return out

    def time_it(fn):
        out = sync(fn())  # compile, allocate, warm the caches
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(inner):
                last = fn()
            sync(last)
            times.append((time.perf_counter() - start) / inner)
        return times, out

    return time_it


def _figures(times: list, flops: float, nbytes: float, peaks, peak_tflops, bound) -> dict:
    """Achieved rates at the median time, the spread of the times, shares of the device's peaks
    and of the roofline bound."""
    seconds = statistics.median(times)
    row = {
        "seconds": seconds,
        "seconds_min": min(times),
        "seconds_max": max(times),
        "tb_per_s": nbytes / seconds / 1e12,
        "tflop_per_s": flops / seconds / 1e12,
    }
    if peaks is not None and peak_tflops is not None:
        row["pct_memory_peak"] = 100 * nbytes / seconds / (peaks.memory_gbs * 1e9)
        row["pct_compute_peak"] = 100 * flops / seconds / (peak_tflops * 1e12)
        row["pct_roofline"] = 100 * bound.seconds / seconds
    return row


def _attempt(rows: dict, name: str, measure) -> None:
    """rows[name] = measure(), or the error it raised: one kernel's failure ends nothing else."""
    try:
        rows[name] = measure()
    except Exception as error:  # noqa: BLE001 - any failure becomes a row of the results
        message = " ".join(str(error).split())  # the message, not notes a framework appends
        rows[name] = {"error": f"{type(error).__name__}: {message}"[:500]}


def _rel_error(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.abs(got - want).max() / np.abs(want).max())


def _ratios(rows: dict, kernel: str, baselines) -> dict:
    """Time of each baseline / time of the kernel (> 1: the kernel is faster)."""
    ratios = {}
    for name in baselines:
        if "seconds" in rows.get(kernel, {}) and "seconds" in rows.get(name, {}):
            ratios[f"{kernel}_vs_{name}"] = rows[name]["seconds"] / rows[kernel]["seconds"]
    return ratios


def _peaks(peaks, precision: str) -> tuple[float, float]:
    """(peak FLOP/s, peak bytes/s) of the device for `precision`, for `_roofline`."""
    tflops = getattr(peaks, f"{precision}_tflops")
    if tflops is None:
        raise ValueError(f"the {peaks.name} has no {precision} peak")
    return tflops * 1e12, peaks.memory_gbs * 1e9
