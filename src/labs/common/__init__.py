"""Shared tools for every chapter: runtime, seeding, source display, plots, progress bars,
the registry of external facts, argument validation, the exercise checks, and this machine's
roofline ceilings (`measure_ceilings`).

Nothing here imports torch or JAX at module import time, nor matplotlib (`labs.common.plotting`
imports it when a figure is asked for: every grader sandbox and child process imports `labs`).
"""

from labs.common.ceilings import measure_ceilings
from labs.common.display import show_source, source_of
from labs.common.exercises import Case, CheckReport, Exercise, check
from labs.common.facts import FACTS, Fact, fact
from labs.common.plotting import PALETTE, new_figure, use_style
from labs.common.progress import progress
from labs.common.runtime import (
    DeviceUnavailableError,
    describe,
    host_jax_device,
    in_colab,
    jax_device,
    seed_everything,
    selected_device,
    torch_device,
)

__all__ = [
    "FACTS",
    "PALETTE",
    "Case",
    "CheckReport",
    "DeviceUnavailableError",
    "Exercise",
    "Fact",
    "check",
    "describe",
    "fact",
    "host_jax_device",
    "in_colab",
    "jax_device",
    "measure_ceilings",
    "new_figure",
    "progress",
    "seed_everything",
    "selected_device",
    "show_source",
    "source_of",
    "torch_device",
    "use_style",
]
