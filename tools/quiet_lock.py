"""Cells that time the machine run with every other notebook's kernel paused; the rest side by side.

`tools/execute_chapters.py` runs the chapters two at a time. A chapter whose checks rest on live
timings that a neighbour's memory traffic would disturb says so in its metadata
(`"labs": {"runs_alone": "<why>"}`): each of its code cells then runs with no other notebook's
code running, unless the cell's own metadata says it shares the machine
(`"labs": {"shares_machine": "<why>"}`, for a cell that times nothing). Every code cell of the
other chapters shares it.

How: every notebook's kernel is registered in one folder (a file named after its process group).
Before a cell that runs alone, its notebook takes the `alone` lock (`flock`, exclusive: two such
cells never run at once), then stops every other registered kernel's process group with SIGSTOP and
waits until the kernel's threads are all stopped; after the cell (at the next cell that shares,
or at the notebook's end) it resumes them with SIGCONT and gives the lock back. Consecutive cells
that run alone keep it. A paused neighbour simply finishes its cell later; its CPU-time clock does
not advance meanwhile, and no cell that shares the machine reads a clock (tests/notebooks).

Until December 2026 the lock was shared/exclusive instead, with no pausing: a cell that runs alone
waited for the neighbour's current cell to end (chapter 5's take 45 s each), and the neighbour's
cells waited for its run of alone cells; the two-core machine CI gets idled 180 to 290 s of a
500-s chapter run that way. Before that, a `runs_alone` chapter held the machine from its first
cell to its last.

A kernel is registered while the `alone` lock is held around its launch, so none starts during a
cell that runs alone. The lock dies with its file descriptor (the process's end); whatever this
notebook paused is resumed in `release`, which `close` calls, and execute_chapters.py resumes every
registered kernel once more after the run, whatever happened.

    lock = QuietLock(folder)
    async with lock.launching():        # around the kernel's launch
        ...
        lock.register(pgid)
    await lock.take(alone=True)         # before each cell is sent to the kernel
    lock.finish()                       # after its last cell
    lock.close()                        # after the notebook
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import sys
import time
from pathlib import Path

POLL_S = 0.05
STOP_WAIT_S = 5.0  # how long to wait for a paused kernel's threads to show as stopped
KERNEL_PREFIX = "kernel-"


def cell_runs_alone(cell, notebook_runs_alone: bool) -> bool:
    """True if the code cell must run with no other notebook's code running (see the docstring)."""
    if not notebook_runs_alone:
        return False
    meta = cell.get("metadata", {}).get("labs") or {}
    return not meta.get("shares_machine")


def registered_groups(folder) -> list[int]:
    """The process groups of the kernels registered in `folder`."""
    groups = []
    for path in Path(folder).glob(KERNEL_PREFIX + "*"):
        with contextlib.suppress(ValueError):
            groups.append(int(path.name[len(KERNEL_PREFIX) :]))
    return sorted(groups)


def _group_tasks(pgid: int) -> list[Path] | None:
    """The /proc task folders of every thread of every process in group `pgid` (None without
    /proc, as on macOS)."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").is_file():
        return None
    tasks = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ')'.
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid:
                tasks.extend((entry / "task").iterdir())
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile
    return tasks


def _stopped(task: Path) -> bool:
    """True if the thread is stopped, or has ended (its stat gone, or read empty as it exits)."""
    try:
        stat = (task / "stat").read_text()
        return stat[stat.rindex(")") + 2] in "TtXZ"
    except (OSError, ValueError, IndexError):
        return True


def resume_all(folder) -> None:
    """SIGCONT to every registered kernel (execute_chapters.py's last word, whatever happened)."""
    for pgid in registered_groups(folder):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGCONT)


class QuietLock:
    """One notebook process's hold on the lock folder `folder` (created if missing)."""

    def __init__(self, folder) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._alone = os.open(self.folder / "alone", os.O_CREAT | os.O_RDWR, 0o644)
        self.own: int | None = None  # this notebook's kernel's process group
        self.held = False
        self.paused: list[int] = []
        self.waited_s = 0.0  # seconds spent waiting for the `alone` lock, over all cells
        self.paused_s = 0.0  # seconds other kernels spent paused by this notebook
        self._paused_at = 0.0

    async def _lock(self) -> None:
        """flock(alone, exclusive) without blocking the event loop: polled every POLL_S s."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        while True:
            try:
                fcntl.flock(self._alone, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                await asyncio.sleep(POLL_S)
            else:
                self.waited_s += loop.time() - began
                return

    @contextlib.asynccontextmanager
    async def launching(self):
        """Hold the `alone` lock around a kernel's launch and its `register`."""
        if self.held:
            yield
            return
        await self._lock()
        try:
            yield
        finally:
            fcntl.flock(self._alone, fcntl.LOCK_UN)

    def register(self, pgid: int) -> None:
        """Record this notebook's kernel (its process group) so that cells that run alone in
        other notebooks pause it."""
        self.own = int(pgid)
        (self.folder / f"{KERNEL_PREFIX}{self.own}").touch()

    async def take(self, alone: bool) -> None:
        """Before a cell: alone, hold the lock and pause the other kernels; otherwise let go."""
        if not alone:
            self.release()
            return
        if self.held:
            return  # consecutive cells that run alone keep the machine
        await self._lock()
        self.held = True
        self._pause_others()

    def _pause_others(self) -> None:
        self._paused_at = time.monotonic()
        for pgid in registered_groups(self.folder):
            if pgid == self.own:
                continue
            try:
                os.killpg(pgid, signal.SIGSTOP)
            except ProcessLookupError:
                (self.folder / f"{KERNEL_PREFIX}{pgid}").unlink(missing_ok=True)
                continue
            self.paused.append(pgid)
        # SIGSTOP is asynchronous: wait until every thread of every paused group shows as stopped
        # (a thread in an uninterruptible disk wait stops when the wait ends).
        deadline = time.monotonic() + STOP_WAIT_S
        for pgid in self.paused:
            tasks = _group_tasks(pgid)
            while tasks and not all(_stopped(t) for t in tasks):
                if time.monotonic() > deadline:
                    print(
                        f"quiet_lock: kernel group {pgid} not stopped after {STOP_WAIT_S:.0f} s",
                        file=sys.stderr,
                    )
                    break
                time.sleep(0.002)

    def release(self) -> None:
        """Resume what this notebook paused and give the lock back."""
        if not self.held:
            return
        for pgid in self.paused:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGCONT)
        if self.paused:
            self.paused_s += time.monotonic() - self._paused_at
        self.paused = []
        fcntl.flock(self._alone, fcntl.LOCK_UN)
        self.held = False

    def finish(self) -> None:
        """After the notebook's last cell: resume the others and unregister this kernel, so that
        nobody pauses it while it shuts down."""
        self.release()
        if self.own is not None:
            (self.folder / f"{KERNEL_PREFIX}{self.own}").unlink(missing_ok=True)
            self.own = None

    def close(self) -> None:
        self.finish()
        os.close(self._alone)
