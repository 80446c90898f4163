"""A time limit on a student's function that stops it even when it catches every exception.

`time_limit(seconds, what=...)` is a context manager: the code inside its `with` block runs
until it ends or until `seconds` have passed, and then `OutOfTime` is raised where the code is.
It is the one time limit of the course's exercises, used by the instant checks
(`labs.common.exercises.check`, every chapter's "Exercise N.k" sections) and by the autograder
in otter's kernel (`labs.grading.bundle.run_case`).

How it works. A SIGALRM timer raises `OutOfTime` into the running code. `OutOfTime` is a
BaseException, so `except Exception` does not swallow it. A student's `except BaseException`
(or a bare `except:`) does; so the alarm also puts a line tracer on the frames inside the block,
which raises again on every line they run, and the timer fires again every 0.5 s. The exception
then surfaces at the first line outside the student's `try`, such as a loop's own `while` line.
On leaving the block the timer, the SIGALRM handler and the trace function are put back as they
were; a timer that was already running outside the block gets back what is left of its time.

SIGALRM exists only on POSIX, and only the main thread can receive it. `can_limit_time()` says
whether the current thread can have a limit; elsewhere `time_limit` refuses to start (a
RuntimeError), and the caller chooses what to do instead (the instant checks wait for a thread).
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from labs.common.validate import real_number, text

__all__ = ["OutOfTime", "can_limit_time", "time_limit"]

REFIRE_EVERY_S = 0.5  # how often the alarm fires again if the code swallowed it


class OutOfTime(BaseException):
    """Raised into code that runs past its time limit (not an Exception, so that `except
    Exception` in a student's answer does not swallow it)."""


def can_limit_time() -> bool:
    """True where `time_limit` can stop code: the main thread of a POSIX process."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def time_limit(seconds: float, what: str = "the code") -> _TimeLimit:
    """A context manager that stops the code in its block after `seconds` with `OutOfTime`.

    Args:
        seconds: the time the block may take, a positive finite number of seconds.
        what: what runs in the block, for the exception's message ("square(x)").

    Raises:
        TypeError, ValueError: `seconds` is not a positive finite number, or `what` is not a
            non-empty string.
        RuntimeError: on entering, where `can_limit_time()` is False.
        OutOfTime: from the block, when it ran past `seconds`.
    """
    seconds = real_number("seconds", seconds, positive=True)
    what = text("what", what)
    return _TimeLimit(seconds, what)


class _TimeLimit:
    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what

    def __enter__(self) -> _TimeLimit:
        if not can_limit_time():
            raise RuntimeError(
                "time_limit needs the main thread of a POSIX process (SIGALRM); "
                f"this is thread {threading.current_thread().name!r} on {sys.platform}"
            )
        stop = sys._getframe(1)  # the frame of the `with` statement: its code is not stopped
        message = f"{self.what} ran for more than {self.seconds:g} s and was stopped"

        def tracer(frame, event, arg):
            if event == "call" and frame.f_code in _UNTRACED:
                return None  # our own clean-up runs untraced
            if event == "line":
                raise OutOfTime(message)
            return tracer

        def on_alarm(signum, frame):
            while frame is not None and frame is not stop:  # the frames inside the block
                frame.f_trace = tracer
                frame.f_trace_lines = True
                frame = frame.f_back
            sys.settrace(tracer)
            raise OutOfTime(message)

        self._tracer = tracer
        self._previous_trace = sys.gettrace()
        self._previous_handler = signal.signal(signal.SIGALRM, on_alarm)
        self._outer_left, self._outer_every = signal.getitimer(signal.ITIMER_REAL)
        self._started = time.monotonic()
        try:
            signal.setitimer(signal.ITIMER_REAL, self.seconds, REFIRE_EVERY_S)
        except BaseException:  # the alarm already fired here: put everything back
            self._disarm()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._disarm()
        return False  # OutOfTime and every other exception go on to the caller

    def _disarm(self) -> None:
        # Builtins first: they run no Python line for a tracer to raise in.
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.settrace(self._previous_trace)
        frame = sys._getframe()
        while frame is not None:
            if frame.f_trace is self._tracer:
                frame.f_trace = None
            frame = frame.f_back
        signal.signal(signal.SIGALRM, self._previous_handler)
        if self._outer_left > 0:  # a timer set around us: give it back what is left of its time
            left = max(1e-3, self._outer_left - (time.monotonic() - self._started))
            signal.setitimer(signal.ITIMER_REAL, left, self._outer_every)


_UNTRACED = (_TimeLimit.__exit__.__code__, _TimeLimit._disarm.__code__)
