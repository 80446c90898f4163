"""Peak memory of one call, measured: the most tensor memory PyTorch's allocator held during the
call, above what it held when the call began.

On a CPU, PyTorch's profiler (with `profile_memory=True`) records every allocation and every
release of tensor memory, with its size and time; their running sum, in time order, is the memory
in use, and its maximum is the call's peak. This is what the allocator handed out (tensors,
temporaries, gradients, optimiser state, what autograd saves), not the process's resident set:
Python objects and the allocator's own slack are left out. On CUDA:
`torch.cuda.max_memory_allocated` after `reset_peak_memory_stats`, above `memory_allocated`, the
same quantity kept by the CUDA allocator.

Taught in chapter 5, "Claim check: "doesn't need as many GPUs" and "orders of magnitude more
efficient"".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from labs.grpo.checks import check_peak_args

__all__ = ["peak_memory"]


def peak_memory(fn: Callable[[], Any], device: str = "cpu") -> tuple[Any, int | None]:
    """Call `fn()` and measure its peak tensor memory above what was in use when it began.

    Args:
        fn: a callable taking no arguments (the step to measure).
        device: "cpu" (PyTorch's CPU allocator, through the profiler) or "cuda" (the CUDA
            allocator's own peak statistics).

    Returns (what `fn` returned, the peak in bytes); (what `fn` returned, None) on "cuda" when no
    CUDA device is present. `fn` runs in both cases.
    """
    fn, device = check_peak_args(fn, device)
    if device == "cuda":
        if not torch.cuda.is_available():
            return fn(), None
        return _cuda_peak(fn)
    return _cpu_peak(fn)


def _cpu_peak(fn: Callable[[], Any]) -> tuple[Any, int]:
    """The running sum of the profiler's allocation records (+ allocated, - freed), at its max."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
    records = sorted(
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU
    )
    in_use = peak = 0
    for _, nbytes in records:
        in_use += nbytes
        peak = max(peak, in_use)
    return out, peak


def _cuda_peak(fn: Callable[[], Any]) -> tuple[Any, int]:
    """max_memory_allocated after reset_peak_memory_stats, above memory_allocated before."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    out = fn()
    torch.cuda.synchronize()
    return out, torch.cuda.max_memory_allocated() - before
