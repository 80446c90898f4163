"""Execute a book's notebooks a few at a time into the cache the book build reads.

    python tools/execute_chapters.py [BOOK] [--jobs N]

`make book` runs this before `jupyter-book build`. The build (myst-nb, `execute_notebooks: cache`
in _config.yml) executes one notebook at a time; several chapters set torch to one thread, so one
of CI's two cores sat idle for most of the build. Here the notebooks that _toc.yml lists and the
cache does not hold yet run `--jobs` at a time (longest first), each in its own kernel in its own
folder, exactly as myst-nb runs them (jupyter-cache's `single_nb_execution`, the timeout and
`allow_errors` from _config.yml; the one difference, the client's waits for a message cut into
one-second slices, is explained in tools/sliced_client.py); each result is stored in the jupyter
cache myst-nb matches notebooks against, so the build then executes nothing and renders the
stored outputs.

A notebook whose claims rest on live timings that another process would disturb (a memory-bound
measurement shares the memory bus, which process CPU time does not hide) says so in its metadata,
`"labs": {"runs_alone": "<why>"}`: each of its code cells then runs with every other notebook's
kernel paused (SIGSTOP, then SIGCONT after it), except a cell whose own metadata says it times
nothing and shares the machine (`"labs": {"shares_machine": "<why>"}`); every cell of the other
notebooks shares it (tools/quiet_lock.py). Until December 2026 such a notebook ran alone from its
first cell to its last, and then each of its cells waited for the neighbour's current cell to end:
the second of CI's two cores idled for three to six minutes of a 26-minute `make test`.

A cell that raises fails this step: the traceback is printed, the notebook is not cached, and the
exit status is 1 (after the other notebooks finish, so that one run reports every failure).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import nbformat
import yaml

# Seconds each chapter's cells took (December 2026, the family-23 EPYC CI runs on, two at a time),
# used only to start the longest first when the cache holds no earlier run of a chapter; a chapter
# not listed counts as 60 s. Longest first, so that no long chapter starts last and leaves a core
# idle at the end; a one-off simulation of one run's cells (not kept in the repository) found no
# order of the nine that did much better, so treat the order as a heuristic, not a measured best.
ORDER_HINT_S = {
    "05_grpo": 200,
    "02_fp8": 110,
    "01_scaling_laws": 100,
    "07_economics": 80,
    "04_moe": 65,
    "08_hardware": 65,
    "06_distillation": 55,
    "03_mla": 50,
    "00_tour": 20,
}


def notebooks_in_toc(book: Path, toc: dict) -> list[Path]:
    """The .ipynb files the table of contents lists, in its order."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    path = book / f"{node[key]}.ipynb"
                    if path.is_file():
                        found.append(path)
            for value in node.values():
                if isinstance(value, (list, dict)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


def cell_timing(nb, started=None, ended=None, count: int = 3) -> dict:
    """Where a notebook's time went, from the per-cell timing nbclient records (`record_timing`),
    which is then removed from the cells. Cells are numbered among code cells, from 1.

    Returns {"slowest": [(cell, seconds)] of the `count` slowest, slowest first; "in_cells": their
    total; "longest_wait": (cell, seconds) of the longest pause between one cell's reply and the
    next cell's start, or None; "sent_after": of that pause, the seconds before nbclient sent the
    cell (the "client.send" stamp `execute_one` adds; None without it), the rest being the
    kernel's; "before_first"/"after_last": seconds from `started` to the first cell and from the
    last cell to `ended` (kernel start-up and shut-down), None if not given}.
    """
    from datetime import datetime
    from itertools import pairwise

    spans, number = [], 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        number += 1
        stamps = cell.metadata.pop("execution", None) or {}
        begin, reply = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
        sent = stamps.get("client.send")
        if begin and reply:
            sent = datetime.fromisoformat(sent) if sent else None
            spans.append(
                (number, datetime.fromisoformat(begin), datetime.fromisoformat(reply), sent)
            )
    seconds = [(n, (e - b).total_seconds()) for n, b, e, _ in spans]
    waits = [
        (
            n,
            (b - prev[2]).total_seconds(),
            None if sent is None else (sent - prev[2]).total_seconds(),
        )
        for prev, (n, b, _, sent) in pairwise(spans)
    ]
    longest = max(waits, key=lambda t: t[1], default=None)
    return {
        "slowest": sorted(seconds, key=lambda t: -t[1])[:count],
        "in_cells": sum(t for _, t in seconds),
        "longest_wait": None if longest is None else longest[:2],
        "sent_after": None if longest is None else longest[2],
        "before_first": (spans[0][1] - started).total_seconds() if spans and started else None,
        "after_last": (ended - spans[-1][2]).total_seconds() if spans and ended else None,
    }


def describe_timing(timing: dict) -> str:
    """One line for the log: the slowest cells, then where the rest of the time went."""
    parts = ["slowest code cells: " + ", ".join(f"{n} ({t:.1f} s)" for n, t in timing["slowest"])]
    parts.append(f"in cells {timing['in_cells']:.1f} s")
    if timing.get("before_first") is not None:
        parts.append(f"before the first cell {timing['before_first']:.1f} s")
    if timing.get("longest_wait") is not None:
        n, t = timing["longest_wait"]
        sent = timing.get("sent_after")
        where = "" if sent is None else f"; nbclient sent it {sent:.1f} s after the reply"
        parts.append(f"longest wait between cells {t:.1f} s (before cell {n}{where})")
    if timing.get("after_last") is not None:
        parts.append(f"after the last cell {timing['after_last']:.1f} s")
    if timing.get("lock_wait") is not None:
        parts.append(f"waited {timing['lock_wait']:.1f} s for the machine")
    if timing.get("paused_s"):
        parts.append(f"paused the other notebooks for {timing['paused_s']:.1f} s")
    if timing.get("late_messages"):
        parts.append(
            f"{timing['late_messages']} message(s) came only as a 1 s wait slice ended"
            " (missed wake-ups, each of which would have cost the whole cell timeout)"
        )
    return "; ".join(parts)


def _stamp_send(cell, cell_index) -> None:
    """nbclient's hook as it sends a cell: the client's clock, beside the kernel's stamps (a wait
    between cells is then the client's, before the send, or the kernel's, after it)."""
    from datetime import datetime, timezone

    cell.metadata.setdefault("execution", {})["client.send"] = datetime.now(
        timezone.utc
    ).isoformat()


class BeforeCell:
    """nbclient's hook as it is about to send a cell: take the machine as the cell needs it
    (tools/quiet_lock.py; none without a lock), then stamp the send."""

    def __init__(self, lock, notebook_runs_alone: bool) -> None:
        self.lock, self.alone = lock, notebook_runs_alone

    async def __call__(self, cell, cell_index) -> None:
        from quiet_lock import cell_runs_alone

        if self.lock is not None:
            await self.lock.take(cell_runs_alone(cell, self.alone))
        _stamp_send(cell, cell_index)


class AfterCell:
    """nbclient's hook after a cell's reply: after the last code cell, resume whatever the
    notebook paused and unregister its kernel, before the kernel's shut-down."""

    def __init__(self, lock, last_code_index: int) -> None:
        self.lock, self.last = lock, last_code_index

    async def __call__(self, cell, cell_index, execute_reply) -> None:
        if self.lock is not None and cell_index == self.last:
            self.lock.finish()


def _pausable_manager(lock):
    """The kernel manager class for one notebook: sliced waits (tools/sliced_client.py), and the
    kernel launched under the lock and registered there, so that other notebooks' cells that run
    alone pause it."""
    from sliced_client import SlicedKernelManager

    if lock is None:
        return SlicedKernelManager

    class PausableKernelManager(SlicedKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            async with lock.launching():
                await super()._async_launch_kernel(kernel_cmd, **kw)
                lock.register(self.provisioner.pgid or os.getpgid(self.provisioner.pid))

    return PausableKernelManager


def execute_one(
    path: str, timeout: int, allow_errors: bool, in_temp: bool, lock_dir: str | None = None
) -> dict:
    """Run one notebook as myst-nb would; returns its executed JSON, seconds, its slowest cells
    (a chapter that once took five times its usual time left no clue where) and any error.
    With `lock_dir`, the cells that run alone pause the other notebooks (tools/quiet_lock.py)."""
    from datetime import datetime, timezone

    from jupyter_cache.executors.utils import single_nb_execution
    from quiet_lock import QuietLock
    from sliced_client import late_messages

    nb = nbformat.read(path, as_version=4)
    lock = None if lock_dir is None else QuietLock(lock_dir)
    try:
        with tempfile.TemporaryDirectory() as temp:
            cwd = temp if in_temp else str(Path(path).parent)
            late_messages(reset=True)
            started = datetime.now(timezone.utc)
            result = single_nb_execution(
                nb,
                cwd=cwd,
                timeout=timeout,
                allow_errors=allow_errors,
                meta_override=True,
                record_timing=True,
                on_cell_execute=BeforeCell(lock, runs_alone(Path(path))),
                on_cell_executed=AfterCell(lock, last_code_cell(nb)),
                kernel_manager_class=_pausable_manager(lock),
            )
            ended = datetime.now(timezone.utc)
    finally:
        if lock is not None:
            lock.close()
    # Strips the timing too: the cache holds what myst-nb stores.
    timing = cell_timing(result.nb, started, ended)
    timing["late_messages"] = late_messages(reset=True)
    timing["lock_wait"] = None if lock is None else lock.waited_s
    timing["paused_s"] = None if lock is None else lock.paused_s
    return {
        "path": path,
        "notebook": nbformat.writes(result.nb),
        "seconds": result.time,
        "timing": timing,
        "error": None if result.err is None else result.exc_string or repr(result.err),
    }


def last_code_cell(nb) -> int:
    """The index of the notebook's last code cell (-1 if it has none)."""
    return max((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), default=-1)


def runs_alone(path: Path) -> bool:
    """True if the notebook's metadata asks for the machine to itself (`labs.runs_alone`)."""
    meta = nbformat.read(path, as_version=4).metadata.get("labs") or {}
    return bool(meta.get("runs_alone"))


def execute_batch(
    paths, workers, book, cache, timeout, allow_errors, in_temp, lock_dir=None
) -> list[str]:
    """Execute `paths` `workers` at a time and cache each result; the names of those that failed."""
    from jupyter_cache.base import CacheBundleIn

    failed = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {
            pool.submit(execute_one, str(p), timeout, allow_errors, in_temp, lock_dir): p
            for p in paths
        }
        for future in as_completed(futures):
            try:
                done = future.result()
            except Exception:  # the executor itself failed (not a cell): name the notebook
                import traceback

                name = os.path.relpath(futures[future], book)
                failed.append(name)
                print(f"\n{name}: the executor failed\n{traceback.format_exc()}\n", flush=True)
                continue
            name = os.path.relpath(done["path"], book)
            if done["error"] is not None:
                failed.append(name)
                print(f"\n{name}: FAILED after {done['seconds']:.1f} s\n{done['error']}\n")
                print(f"{name}: {describe_timing(done['timing'])}")
                continue
            record = cache.add_nb_to_project(done["path"])
            cache.cache_notebook_bundle(
                CacheBundleIn(
                    nbformat.reads(done["notebook"], as_version=4),
                    record.uri,
                    data={"execution_seconds": done["seconds"]},
                ),
                check_validity=False,
                overwrite=True,
            )
            print(
                f"{name}: executed in {done['seconds']:.1f} s; {describe_timing(done['timing'])}",
                flush=True,
            )
    return failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("book", nargs="?", default=".", help="the book's folder (default .)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks at a time (default 2)")
    args = parser.parse_args(argv)
    if not 1 <= args.jobs <= 64:
        parser.error(f"--jobs must be an integer from 1 to 64, got {args.jobs}")
    book = Path(args.book).resolve()
    config = yaml.safe_load((book / "_config.yml").read_text()) or {}
    execute = config.get("execute") or {}
    mode = execute.get("execute_notebooks", "auto")
    if mode not in ("cache",):
        print(f"execute_notebooks is {mode!r}, not 'cache': the build executes; nothing done here")
        return 0
    cache_path = book / (execute.get("cache") or "_build/.jupyter_cache")  # myst-nb's default
    timeout = int(execute.get("timeout", 30))
    allow_errors = bool(execute.get("allow_errors", False))
    in_temp = bool(execute.get("run_in_temp", False))

    from jupyter_cache import get_cache

    cache = get_cache(str(cache_path))
    todo, past = [], {}
    for path in notebooks_in_toc(book, yaml.safe_load((book / "_toc.yml").read_text())):
        nb = nbformat.read(path, as_version=4)
        try:
            record = cache.match_cache_notebook(nb)
        except KeyError:
            todo.append(path)
        else:
            past[path.stem] = record.data.get("execution_seconds")
            print(f"{path.relative_to(book)}: in the cache already")
    if not todo:
        return 0
    hint = {p: past.get(p.stem) or ORDER_HINT_S.get(p.stem, 60) for p in todo}
    todo.sort(key=lambda p: -hint[p])
    alone = [p.stem for p in todo if runs_alone(p)]
    jobs = min(args.jobs, len(todo))
    print(f"executing {len(todo)} notebooks {jobs} at a time, longest first: "
          f"{[p.stem for p in todo]}; the cells of {alone} run alone, "
          "except those that share the machine")  # fmt: skip
    start = time.perf_counter()
    from quiet_lock import resume_all

    with tempfile.TemporaryDirectory() as lock_dir:
        try:
            failed = execute_batch(
                todo, jobs, book, cache, timeout, allow_errors, in_temp, lock_dir
            )
        finally:
            resume_all(lock_dir)  # a notebook's process that died holding others paused
    print(f"{len(todo)} notebooks in {time.perf_counter() - start:.0f} s on {jobs} workers")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
