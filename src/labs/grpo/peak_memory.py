"""Peak memory of one call, measured: the high-water mark of the process (CPU) or of the CUDA
allocator, above what was in use when the call began.

On a CPU (Linux with glibc): free heap pages are handed back to the system (`malloc_trim`), the
kernel's resident-set high-water mark is reset to the current resident set (writing 5 to
`/proc/self/clear_refs`, Linux >= 4.0), the call runs, and the new high-water mark (`VmHWM`)
minus the resident set before it is the call's peak. During the call glibc serves every block of
64 KiB or more with its own mapping and returns freed memory at once (`mallopt`), so that the
resident set follows what is allocated rather than what the allocator kept from earlier calls;
afterwards both thresholds are set back to glibc's defaults (128 KiB; glibc's dynamic adjustment
of them stays off). This counts everything the call touched: tensors, Python objects, pages of
code loaded for the first time (call once before measuring to leave those out); other threads of
the process count too. On CUDA: `torch.cuda.max_memory_allocated` after
`reset_peak_memory_stats`, above `memory_allocated`.

Taught in chapter 5, "Claim check: "doesn't need as many GPUs" and "orders of magnitude more
efficient"".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from labs.grpo.checks import check_peak_args

__all__ = ["cpu_peak_supported", "peak_memory"]

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return (
        libc
        if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt")
        else None
    )


def _status_bytes(key: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024  # the kernel writes kB
    raise OSError(f"{key} not in {_STATUS}")


def cpu_peak_supported() -> bool:
    """True where the CPU measurement works: Linux's /proc high-water mark can be reset, and
    glibc's malloc_trim is there to hand free pages back first."""
    if _libc() is None or not _STATUS.exists():
        return False
    try:
        _CLEAR_REFS.write_text("5")
        _status_bytes("VmHWM")
    except OSError:
        return False
    return True


def peak_memory(fn: Callable[[], Any], device: str = "cpu") -> tuple[Any, int | None]:
    """Call `fn()` and measure its peak memory above what was in use when it began, in bytes.

    Args:
        fn: a callable taking no arguments (the step to measure).
        device: "cpu" (the process's resident set, Linux only) or "cuda" (the CUDA allocator).

    Returns (what `fn` returned, the peak in bytes), or (what `fn` returned, None) where the
    measurement is not available (a CPU that is not Linux with glibc; no CUDA device). `fn` runs
    in both cases.
    """
    fn, device = check_peak_args(fn, device)
    if device == "cuda":
        if not torch.cuda.is_available():
            return fn(), None
        return _cuda_peak(fn)
    if not cpu_peak_supported():
        return fn(), None
    return _cpu_peak(fn, _libc())


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (glibc's malloc.h)
_MEASURE, _DEFAULT = 64 * 1024, 128 * 1024  # bytes: thresholds while measuring, glibc's default


def _cpu_peak(fn: Callable[[], Any], libc) -> tuple[Any, int]:
    """Trim the heap, reset VmHWM to VmRSS, run, read VmHWM - VmRSS before."""
    gc.collect()
    libc.mallopt(_M_MMAP_THRESHOLD, _MEASURE)  # large blocks: own mapping, unmapped when freed
    libc.mallopt(_M_TRIM_THRESHOLD, _MEASURE)  # free heap tops go back to the system at once
    libc.malloc_trim(0)  # free heap pages back to the system: the step must fault its own
    _CLEAR_REFS.write_text("5")  # VmHWM := VmRSS
    before = _status_bytes("VmRSS")
    try:
        out = fn()
        peak = max(_status_bytes("VmHWM") - before, 0)
    finally:
        libc.mallopt(_M_MMAP_THRESHOLD, _DEFAULT)
        libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT)
    return out, peak


def _cuda_peak(fn: Callable[[], Any]) -> tuple[Any, int]:
    """max_memory_allocated after reset_peak_memory_stats, above memory_allocated before."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    out = fn()
    torch.cuda.synchronize()
    return out, torch.cuda.max_memory_allocated() - before
