"""Exercises with instant checks that say what is wrong, not only that it is wrong.

An exercise is a function with a fixed name and signature that the student writes in a marked
notebook cell. The chapter's `labs.<topic>.exercises` module describes it as an `Exercise` (its
name and public cases) and offers a `check_<name>(fn)` that returns a `CheckReport`:

* "passed": every public case matched;
* "failed": the first failing case is reported with its input, the expected and the obtained
  value, and a hint, together with how many cases passed before it;
* "not attempted": the function still raises NotImplementedError on the first case (the stub as
  handed out). This is not an error: the notebook keeps running, so nbval stays green on the
  student release. A solution that passes some cases and then raises NotImplementedError is
  "failed", with what passed.

A check never raises because of the student's code, whatever that code does: exceptions (even
`sys.exit`, `KeyboardInterrupt`, or an exception whose `__str__` fails), returned objects that
cannot be read as numbers, and infinite loops, which a per-case time limit stops (on the main
thread of a POSIX process, as in Jupyter and Colab, the loop is interrupted; elsewhere the check
stops waiting and reports it, while the loop runs on in the background).

Answers are compared strictly: a string, a complex number or a bool is not a number. A torch or
JAX array is compared at its own precision (bfloat16, float16, float32), and the report says so.

The cases are snapshotted when the exercise is built: each check runs on fresh copies, so student
code that changes an argument, or an exercise's `cases`, cannot change what later checks expect.
What an in-process check cannot prevent (a student reading the expected values) is the grader's
job: hidden cases run in a fresh process (see book/instructors.md).
"""

from __future__ import annotations

import contextlib
import copy
import html
import pickle
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labs.common.validate import instance, integer, one_of, real_number, text

__all__ = [
    "FAILED",
    "NOT_ATTEMPTED",
    "PASSED",
    "Case",
    "CheckReport",
    "Exercise",
    "check",
    "compare",
    "compare_case",
    "diagnose",
]

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
DEFAULT_TIME_LIMIT_S = 10.0


@dataclass(frozen=True)
class Case:
    """One public test case: call the student's function with `args`/`kwargs`, expect `expected`.

    `label` describes the input in words ("logits far above float32's exp limit"), `hint` says
    what usually goes wrong when this case fails. Numbers are compared with `rtol`/`atol` (loosened
    to the precision of a lower-precision answer, see `compare`). `also` holds other accepted
    answers, where the source leaves a convention open (a failure reports the first, `expected`).
    `mistakes` holds known wrong answers, each as `(answer, what it means)`: an answer that
    matches one (within the same tolerance) is told what its mistake is, not only that it is wrong.
    """

    args: tuple
    expected: Any
    label: str
    hint: str = ""
    kwargs: dict = field(default_factory=dict)
    rtol: float = 1e-6
    atol: float = 1e-9
    also: tuple = ()
    mistakes: tuple = ()

    def __post_init__(self) -> None:
        instance("args", self.args, tuple, "a tuple of positional arguments")
        text("label", self.label)
        text("hint", self.hint, nonempty=False)
        instance("kwargs", self.kwargs, dict, "a dict of keyword arguments")
        real_number("rtol", self.rtol, nonnegative=True)
        real_number("atol", self.atol, nonnegative=True)
        instance("also", self.also, tuple, "a tuple of other accepted answers")
        instance("mistakes", self.mistakes, tuple, "a tuple of (wrong answer, message) pairs")
        for item in self.mistakes:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], str)):
                raise TypeError(
                    f"mistakes must hold (wrong answer, message) pairs, got {_short(item)}"
                )


@dataclass(frozen=True)
class Exercise:
    """An exercise: the function name the student must define, its signature and public cases.

    `time_limit_s` bounds each case: an answer that loops forever is stopped and reported.
    """

    name: str
    signature: str
    cases: tuple[Case, ...]
    time_limit_s: float = DEFAULT_TIME_LIMIT_S

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"Exercise.name must be a Python identifier, got {self.name!r}")
        text("signature", self.signature, nonempty=False)
        instance("cases", self.cases, tuple, "a tuple of Case objects")
        if not self.cases:
            raise ValueError(f"cases must hold at least one case; Exercise {self.name!r} has none")
        if not all(isinstance(c, Case) for c in self.cases):
            raise TypeError(f"Exercise {self.name!r}: cases must all be Case objects")
        real_number("time_limit_s", self.time_limit_s, positive=True)
        # The snapshot the checks run on: bytes cannot be changed by the student's code. Cases
        # that cannot be pickled (a lambda among the arguments) keep a private deep copy.
        try:
            snapshot: bytes | tuple = pickle.dumps(tuple(self.cases))
        except (pickle.PicklingError, TypeError, AttributeError):
            snapshot = copy.deepcopy(tuple(self.cases))
        object.__setattr__(self, "_snapshot", snapshot)

    def fresh_cases(self) -> tuple[Case, ...]:
        """New copies of the cases as they were when the exercise was built."""
        if isinstance(self._snapshot, bytes):
            return pickle.loads(self._snapshot)
        return copy.deepcopy(self._snapshot)


@dataclass
class CheckReport:
    """The outcome of `check`; shown as a coloured box in a notebook, as text elsewhere."""

    exercise: str
    status: str
    passed_cases: int
    total_cases: int
    details: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        text("exercise", self.exercise)
        one_of("status", self.status, (PASSED, FAILED, NOT_ATTEMPTED))
        total = integer("total_cases", self.total_cases, minimum=1)
        integer("passed_cases", self.passed_cases, minimum=0, maximum=total)
        instance("details", self.details, list, "a list of strings")
        for line in self.details:
            text("details", line, nonempty=False)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def __str__(self) -> str:
        head = {
            PASSED: f"[passed] {self.exercise}: all {self.total_cases} public cases match.",
            FAILED: f"[failed] {self.exercise}: {self.passed_cases}/{self.total_cases} "
            "public cases match.",
            NOT_ATTEMPTED: f"[not attempted] {self.exercise}: the function still raises "
            "NotImplementedError. Write your solution in the marked cell and run the check again.",
        }[self.status]
        return "\n".join([head, *("  " + line for line in self.details)])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = {PASSED: "#009E73", FAILED: "#D55E00", NOT_ATTEMPTED: "#777777"}[self.status]
        lines = str(self).splitlines()
        body = "<br>".join(html.escape(line).replace("  ", "&nbsp;&nbsp;") for line in lines)
        return (
            f'<div style="border-left:4px solid {colour};padding:4px 10px;'
            f'font-family:monospace;font-size:90%">{body}</div>'
        )


# --- Reading and comparing answers ---------------------------------------------------------------


class _Unreadable(Exception):
    """The student's answer cannot be read as a number or an array."""


def _safe(fn: Callable[[], str], fallback: str) -> str:
    try:
        return str(fn())
    except BaseException:  # noqa: BLE001 - a hostile __str__/__repr__ must not escape
        return fallback


def _short(value, limit: int = 80) -> str:
    text = _safe(lambda: repr(value), f"<{type(value).__name__} that cannot be printed>")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _precision_of(value) -> tuple[np.ndarray, str | None]:
    """(float64 array, name of the answer's own precision if lower than float64)."""
    module = type(value).__module__.split(".")[0]
    own = None
    try:
        if module == "torch" and hasattr(value, "detach"):
            import torch

            tensor = value.detach()
            if tensor.is_complex():
                raise _Unreadable("a complex tensor, not a real number")
            if tensor.dtype == torch.bool:
                raise _Unreadable("a boolean tensor, not numbers")
            if tensor.is_floating_point() and tensor.dtype != torch.float64:
                own = str(tensor.dtype).replace("torch.", "")
            return tensor.to(torch.float64).cpu().numpy(), own
        arr = np.asarray(value)
    except _Unreadable:
        raise
    except BaseException as err:  # noqa: BLE001 - __array__ or __len__ may raise anything
        name = type(err).__name__
        raise _Unreadable(
            f"{type(value).__name__} that cannot be read as numbers ({name})"
        ) from None
    kind = arr.dtype.kind
    if kind == "V" and arr.dtype.name.startswith(("bfloat", "float")):  # ml_dtypes (JAX)
        own = arr.dtype.name
        return arr.astype(np.float64), own
    if kind == "c":
        raise _Unreadable("a complex number, not a real one")
    if kind == "b":
        raise _Unreadable("a bool, not a number")
    if kind in "US":
        raise _Unreadable(f"a string ({_short(value, 40)}), not a number")
    if kind not in "fiu":
        raise _Unreadable(f"{type(value).__name__}: {_short(value)}")
    if kind == "f" and arr.dtype != np.float64:
        own = arr.dtype.name
    return arr.astype(np.float64), own


def _tolerance(rtol: float, atol: float, own: str | None) -> tuple[float, float]:
    """Loosen (rtol, atol) to four units of roundoff of a lower-precision answer."""
    if own is None:
        return rtol, atol
    import ml_dtypes

    eps = float(ml_dtypes.finfo(own).eps) if own.startswith("bfloat") else None
    if eps is None:
        try:
            eps = float(np.finfo(own).eps)
        except (TypeError, ValueError):
            eps = float(ml_dtypes.finfo(own).eps)
    return max(rtol, 4 * eps), max(atol, 4 * eps * 1e-3)


def _number_text(e: float, g: float) -> tuple[str, str]:
    """The two numbers with enough digits to show that they differ."""
    for digits in (8, 12, 17):
        es, gs = f"{e:.{digits}g}", f"{g:.{digits}g}"
        if es != gs:
            return es, gs
    return es, gs


def compare(got: Any, expected: Any, rtol: float, atol: float) -> str | None:
    """None if `got` matches `expected`; otherwise a sentence saying how it differs."""
    rtol = real_number("rtol", rtol, nonnegative=True)
    atol = real_number("atol", atol, nonnegative=True)
    try:
        return _compare(got, expected, rtol, atol)
    except BaseException as err:  # noqa: BLE001 - never let a hostile answer escape
        name = type(err).__name__
        return f"your answer could not be compared with the expected value ({name})"


def compare_case(got: Any, case: Case) -> str | None:
    """None if `got` matches `case.expected` or one of `case.also`; otherwise how it differs from
    `case.expected`."""
    instance("case", case, Case, "a Case")
    problem = compare(got, case.expected, case.rtol, case.atol)
    alternatives = getattr(case, "also", ())  # a Case pickled before `also` existed has none
    if problem and any(compare(got, alt, case.rtol, case.atol) is None for alt in alternatives):
        return None
    return problem


def diagnose(got: Any, case: Case) -> str | None:
    """What a wrong answer `got` to `case` looks like: one of the case's named mistakes, or a
    telltale relation to its expected value; None when nothing is recognised. The instant checks
    and the instructor's grader both report it. Raises only for a `case` that is not a Case."""
    instance("case", case, Case, "a Case")
    return _diagnose(got, case)


def _diagnose(got: Any, case: Case) -> str | None:
    """What a wrong answer looks like: a known mistake of this case, or a telltale relation to the
    expected value (a power of ten, a factor of 2 or 3600, the opposite sign, off by one, axes in
    another order, items swapped). None when nothing is recognised. Never raises."""
    try:
        for wrong, message in getattr(case, "mistakes", ()):
            if compare(got, wrong, case.rtol, case.atol) is None:
                return message
        return _relation(got, case.expected)
    except BaseException:  # noqa: BLE001 - a hostile answer must not break the report
        return None


_FACTORS = (
    (2.0, "twice the expected value: a factor of 2 counted twice?"),
    (0.5, "half the expected value: a factor of 2 left out?"),
    (3600.0, "3600 times the expected value: hours and seconds mixed up?"),
    (1 / 3600, "1/3600 of the expected value: hours and seconds mixed up?"),
    (60.0, "60 times the expected value (the square root of 3600): hours and seconds mixed up?"),
    (1 / 60, "1/60 of the expected value (the square root of 3600): hours and seconds mixed up?"),
    (-1.0, "the expected value with the opposite sign"),
)


def _relation(got: Any, expected: Any) -> str | None:
    if got is None or isinstance(expected, (str, bool)) or expected is None:
        return None
    if isinstance(expected, (tuple, list)) and not _is_numeric_sequence(expected):
        if isinstance(got, (tuple, list)) and len(got) == len(expected) > 1:
            items = list(got)
            if all(
                compare(g, e, 1e-9, 0.0) is None for g, e in zip(items[::-1], expected, strict=True)
            ):
                return "your answer has the right values in the reverse order: items swapped?"
            for i, (g, e) in enumerate(zip(items, expected, strict=True)):
                if compare(g, e, 1e-9, 0.0) is not None:
                    why = _relation(g, e)
                    return f"item {i}: {why}" if why else None
        return None
    if isinstance(got, (str, bytes)):
        return None
    g, _ = _precision_of(got)
    e = np.asarray(expected, dtype=np.float64)
    if g.shape == e.shape and e.ndim == 1 and e.size > 1 and not np.allclose(e, e[::-1]):
        if np.allclose(g[::-1], e, rtol=1e-9, atol=0.0):
            return "your answer has the right values in the reverse order: items swapped?"
    if g.shape != e.shape:
        if g.ndim == e.ndim >= 2 and sorted(g.shape) == sorted(e.shape):
            return (
                f"your shape {g.shape} holds the expected axes {e.shape} in another order: "
                "transposed, or the axes mixed up?"
            )
        if g.size == e.size:
            return (
                f"your answer has the right number of values ({e.size}) in another shape: "
                "which axis is which?"
            )
        return None
    if not (np.isfinite(g).all() and np.isfinite(e).all()) or np.any(e == 0):
        return None
    if e.ndim == 0 and float(e) == round(float(e)) and abs(float(g) - float(e)) == 1:
        return "your answer is off by one"
    ratio = g / e
    r = float(ratio.flat[0])
    if not np.allclose(ratio, r, rtol=1e-6, atol=0.0):
        wrong = np.flatnonzero(~np.isclose(g, e, rtol=1e-9, atol=0.0))
        if e.ndim == 1 and e.size <= 8 and wrong.size == 1:  # one item of a short tuple is off
            i = int(wrong[0])
            why = _relation(float(g[i]), float(e[i]))
            return f"item {i}: {why}" if why else None
        return None
    for factor, words in _FACTORS:
        if abs(r / factor - 1) < 1e-6:
            return f"your answer is {words}"
    k = float(np.log10(r)) if r > 0 else 0.0
    if abs(k) >= 0.999 and abs(k - round(k)) < 1e-6:
        return (
            f"your answer is 10^{round(k)} times the expected value: a unit conversion (tera, "
            "giga, kilo, per cent) missing or applied twice?"
        )
    return None


def _compare(got: Any, expected: Any, rtol: float, atol: float) -> str | None:
    if got is None and expected is not None:
        return "your function returned None (is a `return` missing?)"
    if isinstance(expected, bool):
        if isinstance(got, (bool, np.bool_)) and bool(got) == expected:
            return None
        return f"expected {expected!r}, got {_short(got)}"
    if isinstance(expected, str) or expected is None:
        if isinstance(got, type(expected)) and got == expected:
            return None
        return f"expected {expected!r}, got {_short(got)}"
    if isinstance(expected, (tuple, list)) and not _is_numeric_sequence(expected):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected a sequence of {len(expected)} items, got {_short(got)}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            problem = _compare(g, e, rtol, atol)
            if problem:
                return f"item {i}: {problem}"
        return None
    if isinstance(got, (str, bytes)):
        return f"expected a number or an array, got a string: {_short(got)}"
    try:
        got_arr, own = _precision_of(got)
    except _Unreadable as err:
        return f"expected a number or an array, got {err}"
    exp_arr = np.asarray(expected, dtype=np.float64)
    if got_arr.shape != exp_arr.shape:
        return f"expected shape {exp_arr.shape}, got shape {got_arr.shape}"
    bad_nan = np.isnan(got_arr) & ~np.isnan(exp_arr)
    if bad_nan.any():
        return f"got NaN where a number was expected (first at index {_index(bad_nan)})"
    rtol, atol = _tolerance(rtol, atol, own)
    close = np.isclose(got_arr, exp_arr, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return None
    note = f" (compared at {own} precision: rtol {rtol:.2g})" if own else ""
    i = _index(~close)
    if got_arr.ndim == 0:
        e, g = _number_text(exp_arr.item(), got_arr.item())
        return f"expected {e}, got {g}{note}"
    e, g = _number_text(float(exp_arr[i]), float(got_arr[i]))
    return (
        f"{int((~close).sum())} of {close.size} values differ; first at index {i}: "
        f"expected {e}, got {g}{note}"
    )


# --- Running the student's function --------------------------------------------------------------


class _OutOfTime(BaseException):
    """Raised into the student's code when a case runs past its time limit."""


@contextlib.contextmanager
def _alarm(seconds: float):
    """Stop the code inside after `seconds`, even code that catches every exception.

    The alarm raises `_OutOfTime` where the code is; if the code swallows it and goes on, the
    alarm also installs a line tracer that raises again on every line it runs, so the exception
    surfaces at the first line outside the student's `try` (a loop's own `while` line).
    """

    def tracer(frame, event, arg):
        if event == "line":
            raise _OutOfTime
        return tracer

    def on_alarm(signum, frame):
        while frame is not None and frame.f_code is not _run.__code__:  # the student's frames
            frame.f_trace = tracer
            frame.f_trace_lines = True
            frame = frame.f_back
        sys.settrace(tracer)
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, on_alarm)
    previous_trace = sys.gettrace()
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)  # re-fires if the code swallows it
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.settrace(previous_trace)
        frame = sys._getframe()
        while frame is not None:
            if frame.f_trace is tracer:
                frame.f_trace = None
            frame = frame.f_back


def _can_interrupt() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _run(fn: Callable, args: tuple, kwargs: dict, seconds: float):
    """("returned", value) | ("raised", exception) | ("timeout", None)."""
    if _can_interrupt():
        try:
            with _alarm(seconds):
                return "returned", fn(*args, **kwargs)
        except _OutOfTime:
            return "timeout", None
        except BaseException as err:  # noqa: BLE001 - everything the student's code may raise
            return "raised", err
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["outcome"] = ("returned", fn(*args, **kwargs))
        except BaseException as err:  # noqa: BLE001
            box["outcome"] = ("raised", err)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    return box.get("outcome", ("timeout", None))


def _where(err: BaseException) -> list[str]:
    try:
        frames = traceback.extract_tb(err.__traceback__)
    except BaseException:  # noqa: BLE001
        return []
    if not frames:
        return []
    last = frames[-1]
    return [f"  at line {last.lineno}: {last.line}"]


def _describe_exception(err: BaseException) -> str:
    name = _safe(lambda: type(err).__name__, "an exception")
    if isinstance(err, SystemExit):
        return "called sys.exit() (or exit()); return a value instead"
    if isinstance(err, KeyboardInterrupt):
        return "was interrupted (KeyboardInterrupt)"
    message = _safe(lambda: str(err), "<its message cannot be printed>")
    return f"raised {name}: {message}"


def check(fn: Callable | None, exercise: Exercise) -> CheckReport:
    """Run `exercise`'s public cases against the student's `fn` and explain any failure.

    Never raises because of `fn` (see the module docstring); raises TypeError only when
    `exercise` is not an Exercise, which is the chapter's mistake, not the student's.
    """
    if not isinstance(exercise, Exercise):
        raise TypeError(f"exercise must be an Exercise, got {type(exercise).__name__}")
    cases = exercise.fresh_cases()
    total = len(cases)
    if fn is None:
        return CheckReport(exercise.name, NOT_ATTEMPTED, 0, total)
    if not callable(fn):
        return CheckReport(
            exercise.name,
            FAILED,
            0,
            total,
            [f"expected a function {exercise.signature}, got {type(fn).__name__}"],
        )
    notes = []
    fn_name = _safe(lambda: getattr(fn, "__name__", exercise.name), exercise.name)
    if fn_name != exercise.name:
        notes.append(
            f"note: your function is named {fn_name!r}; the grader looks for "
            f"{exercise.name!r}, so keep that name."
        )
    for passed, case in enumerate(cases):
        hint = [f"hint: {case.hint}"] if case.hint else []
        state, value = _run(fn, case.args, case.kwargs, exercise.time_limit_s)
        if state == "timeout":
            return CheckReport(
                exercise.name,
                FAILED,
                passed,
                total,
                [
                    f"case {passed + 1} ({case.label}) ran for more than "
                    f"{exercise.time_limit_s:g} s and was stopped: is there a loop that never "
                    "ends?",
                    *hint,
                    *notes,
                ],
            )
        if state == "raised":
            if isinstance(value, NotImplementedError) and passed == 0:
                return CheckReport(exercise.name, NOT_ATTEMPTED, 0, total, notes)
            done = (
                [f"cases 1-{passed} passed before this one."]
                if passed > 1
                else ["case 1 passed before this one."]
                if passed == 1
                else []
            )
            return CheckReport(
                exercise.name,
                FAILED,
                passed,
                total,
                [
                    f"case {passed + 1} ({case.label}) {_describe_exception(value)}",
                    *_where(value),
                    *done,
                    *hint,
                    *notes,
                ],
            )
        problem = compare_case(value, case)
        if problem:
            why = _diagnose(value, case)
            return CheckReport(
                exercise.name,
                FAILED,
                passed,
                total,
                [
                    f"case {passed + 1} ({case.label}): {problem}",
                    f"  call: {exercise.name}({_call_repr(case)})",
                    *([f"what is wrong: {why}"] if why else []),
                    *hint,
                    *notes,
                ],
            )
    return CheckReport(exercise.name, PASSED, total, total, notes)


def _is_numeric_sequence(seq) -> bool:
    try:
        arr = np.asarray(seq)
    except (TypeError, ValueError):
        return False
    return arr.dtype.kind in "fiu"


def _index(mask: np.ndarray):
    flat = int(np.flatnonzero(mask)[0])
    if mask.ndim > 1:
        return tuple(int(i) for i in np.unravel_index(flat, mask.shape))
    return flat if mask.ndim else ()


def _call_repr(case: Case) -> str:
    parts = [_short(a, 60) for a in case.args]
    parts += [f"{k}={_short(v, 40)}" for k, v in case.kwargs.items()]
    return ", ".join(parts)
