"""Chapter 0's timing on one CPU core: every thread of this process, JAX's own pool included.

PyTorch's CPU threads are set with `torch.set_num_threads`. JAX's are not: XLA sizes its thread
pool when its CPU backend starts, and the `XLA_FLAGS` that once pinned it
(`--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`) no longer keep its work on
one thread in the JAX this course pins (tried on jax 0.10.2: CPU time still accrued on several
threads). What does hold on Linux is the operating system's affinity: `one_core()` confines every
thread of the process to one core while a timing runs, so however many threads a framework keeps,
they share that core, and restores each thread's cores afterwards. Threads started inside the
block inherit the one core and are given the process's former cores on the way out.
`thread_cores()` lists each thread's cores, so a caller can check the pinning rather than trust it.

Taught in chapter 0, "A small benchmark, with a progress bar".
"""

from __future__ import annotations

import os

from labs.common.validate import describe_value, integer

__all__ = ["one_core", "thread_cores"]

_TASKS = "/proc/self/task"


def _threads() -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(_TASKS)]
    except OSError:
        return []


def _can_pin() -> bool:
    return hasattr(os, "sched_setaffinity") and os.path.isdir(_TASKS)


def thread_cores() -> dict[int, set[int]]:
    """The cores each thread of this process may run on, read from the operating system.

    Returns:
        {thread id: set of core numbers} for every thread listed under /proc/self/task (JAX's and
        PyTorch's pools included); a thread that ends while it is read is left out. Empty on a
        system without per-thread affinity (macOS, Windows).
    """
    if not _can_pin():
        return {}
    cores = {}
    for tid in _threads():
        try:
            cores[tid] = set(os.sched_getaffinity(tid))
        except OSError:  # the thread ended between the listing and the call
            pass
    return cores


class _OneCore:
    """The context manager `one_core` returns: `with one_core() as core:` gives the core used, or
    None where nothing could be pinned."""

    def __init__(self, cpu: int | None):
        self.cpu = cpu
        self._before: dict[int, set[int]] = {}
        self._process: set[int] | None = None

    def __enter__(self) -> int | None:
        if self.cpu is None:
            return None
        self._process = set(os.sched_getaffinity(0))
        self._before = thread_cores()
        for tid in list(self._before):
            try:
                os.sched_setaffinity(tid, {self.cpu})
            except OSError:  # the thread ended between the listing and the call
                self._before.pop(tid, None)
        return self.cpu

    def __exit__(self, *exc) -> None:
        if self.cpu is None:
            return
        for tid in _threads():
            try:
                os.sched_setaffinity(tid, self._before.get(tid, self._process))
            except OSError:
                pass


def one_core(cpu: int | None = None) -> _OneCore:
    """A context manager that runs its block with every thread of this process on one CPU core.

    Args:
        cpu: the core, one of those this process may run on (`os.sched_getaffinity(0)`); None
            (default) takes the lowest of them.

    Returns:
        The context manager; `with one_core() as core:` binds the core used, or None on a system
        without per-thread affinity (macOS, Windows), where nothing is pinned and the block runs
        as it would have.

    Raises:
        TypeError: cpu is neither None nor an int.
        ValueError: cpu is not one of this process's cores.
    """
    if cpu is not None:
        cpu = integer("cpu", cpu, minimum=0)
    if not _can_pin():
        return _OneCore(None)
    allowed = os.sched_getaffinity(0)
    if cpu is None:
        return _OneCore(min(allowed))
    if cpu not in allowed:
        raise ValueError(
            f"cpu must be one of this process's cores {sorted(allowed)}, got {describe_value(cpu)}"
        )
    return _OneCore(cpu)
