"""Shared tools for every chapter: runtime, seeding, source display, plots, progress bars,
the registry of external facts, argument validation, the exercise checks, and this machine's
roofline ceilings (`measure_ceilings`).

Nothing here imports torch or JAX at module import time, nor matplotlib: the plotting names
(PALETTE, new_figure, use_style) load `labs.common.plotting` on first use. Every `import labs`
would otherwise spend about 0.6 s on pyplot, in each grader sandbox and each child process that
plots nothing.
"""

import importlib as _importlib

from labs.common.ceilings import measure_ceilings
from labs.common.display import show_source, source_of
from labs.common.exercises import Case, CheckReport, Exercise, check
from labs.common.facts import FACTS, Fact, fact
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

_LAZY = {"PALETTE": "labs.common.plotting", "new_figure": "labs.common.plotting",
         "use_style": "labs.common.plotting"}  # fmt: skip


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'labs.common' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
