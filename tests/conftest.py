"""Shared test settings: no GUI backend, no progress bars, the repository root."""

import os
from pathlib import Path

import matplotlib
import pytest
from hypothesis import settings

# Before anything here imports PyTorch (has_cuda below): `import labs` pins its CPU kernels to AVX2,
# so that tests retraining a committed run reproduce it under a bare `pytest` too, not only under
# make, which exports the same variables (labs.common.cpu_arithmetic).
import labs  # noqa: F401
from labs.common.cpu_arithmetic import record_arithmetic

# Property tests draw the same examples on every run, so CI cannot pass once and fail the next
# time on a case nobody changed. LABS_HYPOTHESIS=explore draws fresh examples while developing.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile("explore" if os.environ.get("LABS_HYPOTHESIS") == "explore" else "repeatable")

matplotlib.use("Agg")
os.environ.setdefault("LABS_PROGRESS", "off")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> Path:
    return ROOT


def has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


requires_gpu = pytest.mark.skipif(not has_cuda(), reason="needs a CUDA GPU; this machine has none")


# A test that retrains a committed run to its record's last digits needs the record's arithmetic;
# elsewhere (LABS_CPU_ISA=native on AVX-512, an ARM machine) its kernels round differently.
needs_record_arithmetic = pytest.mark.skipif(
    not record_arithmetic(),  # labs.common.cpu_arithmetic
    reason="retrains a committed run to its record's digits: needs PyTorch's AVX2 CPU kernels "
    "and MKL's AVX2 path, which this process does not use",
)
