"""An otter-grader plugin: a time limit for each top-level cell of a submission (Gradescope path).

Otter runs the whole submitted notebook in one kernel and has no time limit of its own for a cell
(otter 7: no such key in `otter_config.json`; `otter grade --timeout` stops a whole Docker
container). So a cell that never returns stalls every exercise until Gradescope's timeout for the
assignment, and the student gets no score at all. The autograder bundles of `labs.grading.bundle`
load this plugin (`otter_config.json`: `{"plugins": [{CellTimeLimit: {"seconds": S}}]}`). Its
`before_execution` event marks each code cell of the submission and puts a first cell that
starts a watchdog thread in the kernel. When a marked cell runs past `seconds`, the watchdog
signals the kernel's main thread (SIGUSR2, so the SIGALRM of the per-case limits and of the
instant checks is left alone) and `CellTimeLimitExceeded` is raised where the cell's code is.
Otter runs with errors allowed, so the next cells run and the tests run at the end: the other
exercises are graded. Code that catches every exception is stopped anyway: the signal repeats
every 0.25 s and sets a line tracer on the notebook's frames that raises on every line they run.
The tracer touches only frames whose globals are the notebook's, so otter's and IPython's own
code never sees the exception.

What it cannot stop: a cell stuck inside native code that never returns to Python (a C loop, a
deadlocked lock) does not see the signal's exception until it does.

Described in book/instructors.md, "Grading".
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time

__all__: list[str] = []  # loaded by otter from the bundle's otter_config.json, not called

MARK = "# labs.grading: this cell has a time limit"
_SIGNAL = getattr(signal, "SIGUSR2", None)


class CellTimeLimitExceeded(BaseException):
    """Raised in a cell that ran past its limit (not an Exception: `except Exception` in the
    student's code does not swallow it)."""


class _Watchdog:
    def __init__(self, seconds: float, namespace: dict):
        self.seconds, self.namespace = seconds, namespace
        self.deadline: float | None = None
        self.main = threading.main_thread().ident
        self.previous_trace = None
        threading.Thread(target=self._watch, name="labs-cell-watchdog", daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(0.25)
            deadline = self.deadline
            if deadline is not None and time.monotonic() > deadline:
                signal.pthread_kill(self.main, _SIGNAL)

    def _ours(self, frame) -> bool:
        return frame.f_globals is self.namespace

    def _tracer(self, frame, event, arg):
        if not self._ours(frame):
            return None
        if event == "line":
            raise CellTimeLimitExceeded(self._why())
        return self._tracer

    def _why(self) -> str:
        return f"this cell ran for more than {self.seconds:g} s and was stopped by the grader"

    def on_signal(self, signum, frame) -> None:
        if self.deadline is None:
            return  # the cell has ended; the watchdog's last signal came late
        stack, inside = frame, False
        while stack is not None:
            if self._ours(stack):
                inside = True
                stack.f_trace = self._tracer
                stack.f_trace_lines = True
            stack = stack.f_back
        if inside:
            sys.settrace(self._tracer)
            raise CellTimeLimitExceeded(self._why())

    def pre_run_cell(self, info) -> None:
        if MARK in (getattr(info, "raw_cell", "") or ""):
            self.previous_trace = sys.gettrace()
            self.deadline = time.monotonic() + self.seconds

    def post_run_cell(self, result) -> None:
        if self.deadline is not None:
            self.deadline = None
            sys.settrace(self.previous_trace)


def install(seconds: float) -> None:
    """Start the watchdog in the running IPython kernel (the plugin's first cell calls this)."""
    if _SIGNAL is None or not hasattr(signal, "pthread_kill"):
        return  # not POSIX: no limit (Gradescope's containers are Linux)
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return
    watchdog = _Watchdog(float(seconds), shell.user_ns)
    signal.signal(_SIGNAL, watchdog.on_signal)
    shell.events.register("pre_run_cell", watchdog.pre_run_cell)
    shell.events.register("post_run_cell", watchdog.post_run_cell)


def _setup_cell(seconds: float) -> str:
    return (
        "from labs.grading.otter_plugin import install as _labs_install\n"
        f"_labs_install({seconds!r})\n"
        "del _labs_install\n"
    )


try:
    from otter.plugins import AbstractOtterPlugin
except ImportError:  # otter is an optional dependency (`labs[grading]`)
    AbstractOtterPlugin = object


class CellTimeLimit(AbstractOtterPlugin):
    """Otter's plugin: config `{"seconds": S}`, each top-level cell's limit (default 300)."""

    def __init__(self, submission_path=None, submission_metadata=None, plugin_config=None):
        self.submission_path = submission_path
        self.submission_metadata = submission_metadata
        self.plugin_config = plugin_config or {}

    def _seconds(self) -> float:
        seconds = self.plugin_config.get("seconds", 300.0)
        ok = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
        if not (ok and math.isfinite(seconds) and 0 < seconds <= 3600):
            raise ValueError(
                f"seconds must be a positive number of seconds (at most 3600), got {seconds!r}"
            )
        return float(seconds)

    def before_execution(self, submission):
        """Mark each code cell (not a `%%` cell magic) and put the watchdog's cell first."""
        seconds = self._seconds()
        if isinstance(submission, str):  # a script, not a notebook: nothing to mark
            return submission
        import nbformat

        for cell in submission.cells:
            if cell.cell_type == "code" and not cell.source.lstrip().startswith("%%"):
                cell.source = MARK + "\n" + cell.source
        submission.cells.insert(0, nbformat.v4.new_code_cell(_setup_cell(seconds)))
        return submission
