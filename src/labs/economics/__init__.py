"""Chapter 7, the economics of constraint: what a training run costs, what export controls cut,
and whether scarcity or capital finds breakthroughs.

Framework-free (NumPy only). The pieces:

* `labs.economics.hardware`: the hardware registry (peaks, bandwidths, assumed prices).
* `labs.economics.costs`: training cost, 6ND, MFU, GPU-hours per token, self-hosting break-even.
* `labs.economics.research`: the shots simulator.
* here: the one kernel the chapter measures, a matrix multiply, as a NumPy reference with its
  FLOP count; `labs.economics.torch` and `labs.economics.jax` time the same product.
"""

from __future__ import annotations

import time

import numpy as np

from labs.common.validate import float_array, integer
from labs.economics.costs import (
    DEEPSEEK_V3_TRAINING,
    CostRow,
    TrainingStage,
    attention_training_flops_per_token,
    deepseek_v3_cost_table,
    gpu_hours_per_trillion_tokens,
    model_flops_utilization,
    self_hosting_breakeven,
    tokens_per_gpu_hour,
    training_cost,
    training_days,
    training_flops,
)
from labs.economics.hardware import HARDWARE, HardwareSpec, hardware, hardware_for_device_name
from labs.economics.research import (
    DEFAULT_IDEA_SPREAD,
    DEFAULT_PREDICTION_NOISE,
    ResearchProgramResult,
    Scenario,
    shots_affordable,
    simulate_research_program,
)

__all__ = [
    "DEEPSEEK_V3_TRAINING",
    "DEFAULT_IDEA_SPREAD",
    "DEFAULT_PREDICTION_NOISE",
    "HARDWARE",
    "CostRow",
    "HardwareSpec",
    "ResearchProgramResult",
    "Scenario",
    "TrainingStage",
    "attention_training_flops_per_token",
    "deepseek_v3_cost_table",
    "gpu_hours_per_trillion_tokens",
    "hardware",
    "hardware_for_device_name",
    "matmul",
    "matmul_flops",
    "measure_matmul_tflops",
    "model_flops_utilization",
    "self_hosting_breakeven",
    "shots_affordable",
    "simulate_research_program",
    "tokens_per_gpu_hour",
    "training_cost",
    "training_days",
    "training_flops",
]


def matmul_flops(m: int, k: int, n: int) -> int:
    """FLOPs of an (m, k) @ (k, n) product: m * n dot products of length k, a multiply and an
    add each, so 2 m k n. The "2" in 6ND is this 2."""
    m = integer("m", m, minimum=1)
    k = integer("k", k, minimum=1)
    n = integer("n", n, minimum=1)
    return 2 * m * k * n


def matmul(x, w) -> np.ndarray:
    """The reference product y = x @ w.

    Args:
        x: (m, k) floating array, the activations.
        w: (k, n) floating array, the weights.

    Returns:
        (m, n) array in the dtype NumPy promotes the two to.
    """
    x = float_array("x", x)
    w = float_array("w", w)
    if x.ndim != 2 or w.ndim != 2:
        raise ValueError(f"x and w must be 2-D, got shapes {x.shape} and {w.shape}")
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"x has {x.shape[1]} columns but w has {w.shape[0]} rows; they must match "
            f"(shapes {x.shape} and {w.shape})"
        )
    return x @ w


def measure_matmul_tflops(n: int = 512, dtype=np.float32, repeats: int = 5, seed: int = 0):
    """Time an (n, n) @ (n, n) NumPy product; return the best achieved TFLOP/s over `repeats`.

    The achieved figure divided by a chip's peak is its utilisation on this one kernel: the
    ceiling for the MFU of a whole training run on that chip.
    """
    n = integer("n", n, minimum=1)
    repeats = integer("repeats", repeats, minimum=1)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a NumPy floating dtype, got {dtype!r}") from None
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a NumPy floating dtype, got {dtype}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n)).astype(dtype)
    w = rng.standard_normal((n, n)).astype(dtype)
    matmul(x, w)  # warm-up
    best = min(_timed(lambda: x @ w) for _ in range(repeats))
    return matmul_flops(n, n, n) / best / 1e12


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return max(time.perf_counter() - start, 1e-9)
