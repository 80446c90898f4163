"""Cells that time the machine run with no other cell running; the other cells run side by side.

`tools/execute_chapters.py` runs the chapters two at a time. A chapter whose checks rest on live
timings that a neighbour's memory traffic would disturb says so in its metadata
(`"labs": {"runs_alone": "<why>"}`); until December 2026 such a chapter ran with the machine to
itself from its first cell to its last, although most of its time goes to cells that train or
simulate on one core and time nothing, and the second core idled meanwhile. Now the lock is per
cell: every code cell of a `runs_alone` chapter runs alone unless its own metadata says it shares
the machine (`"labs": {"shares_machine": "<why>"}`, for a cell that times nothing), and every
code cell of the other chapters shares it.

Two lock files (`flock`) in one folder that every notebook process opens: `machine`, which a
cell that shares takes shared and a cell that runs alone takes exclusively, and `turn`, which
every taker passes through first and an exclusive taker holds until it has `machine`, so that the
other notebook's stream of sharing cells cannot starve a cell waiting to run alone. An exclusive
hold lasts over consecutive cells that run alone (the other notebook waits until the chapter
reaches a sharing cell or its end); a shared one is given back before every cell, so that a
waiting cell that runs alone gets in at the next cell boundary. A lock dies with its file
descriptor: `close` (or the process's end) gives everything back.

    lock = QuietLock(folder)
    await lock.take(alone=True)   # before the cell is sent to the kernel
    ...
    lock.close()                  # after the notebook
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path

POLL_S = 0.05


def cell_runs_alone(cell, notebook_runs_alone: bool) -> bool:
    """True if the code cell must run with no other cell running (see the module docstring)."""
    if not notebook_runs_alone:
        return False
    meta = cell.get("metadata", {}).get("labs") or {}
    return not meta.get("shares_machine")


class QuietLock:
    """One notebook process's hold on the shared lock files in `folder` (created if missing)."""

    def __init__(self, folder) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._turn = os.open(folder / "turn", os.O_CREAT | os.O_RDWR, 0o644)
        self._machine = os.open(folder / "machine", os.O_CREAT | os.O_RDWR, 0o644)
        self.held: str | None = None  # None, "shared" or "alone"
        self.waited_s = 0.0  # seconds spent waiting for the lock, over all cells

    async def _flock(self, fd: int, how: int) -> None:
        """flock(fd, how) without blocking the event loop: polled every POLL_S seconds."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        while True:
            try:
                fcntl.flock(fd, how | fcntl.LOCK_NB)
            except BlockingIOError:
                await asyncio.sleep(POLL_S)
            else:
                self.waited_s += loop.time() - began
                return

    async def take(self, alone: bool) -> None:
        """Hold `machine` exclusively (alone) or shared for the next cell."""
        if alone and self.held == "alone":
            return  # consecutive cells that run alone keep the machine
        self.release()
        await self._flock(self._turn, fcntl.LOCK_EX)
        try:
            await self._flock(self._machine, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(self._turn, fcntl.LOCK_UN)
        self.held = "alone" if alone else "shared"

    def release(self) -> None:
        if self.held is not None:
            fcntl.flock(self._machine, fcntl.LOCK_UN)
            self.held = None

    def close(self) -> None:
        self.release()
        for fd in (self._turn, self._machine):
            os.close(fd)
