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

The parts live in modules by idea, and every public name is re-exported here, where the chapters
import it from: `labs.common.exercise_cases` (`Case`, `Exercise`, `CheckReport`),
`labs.common.exercise_compare` (reading and comparing answers) and
`labs.common.exercise_diagnosis` (naming a mistake). This module runs the student's function
under a time limit (`labs.common.exercise_limit.time_limit`, the one the grader uses too) and
writes the report. Every chapter's exercise sections ("Exercise N.k: ...") teach through it.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from labs.common.exercise_cases import (
    DEFAULT_TIME_LIMIT_S as DEFAULT_TIME_LIMIT_S,  # the grader's default, imported from here
)
from labs.common.exercise_cases import (
    FAILED,
    NOT_ATTEMPTED,
    PASSED,
    Case,
    CheckReport,
    Exercise,
    _safe,
    _short,
)
from labs.common.exercise_compare import compare, compare_case
from labs.common.exercise_diagnosis import _diagnose, diagnose
from labs.common.exercise_limit import OutOfTime, can_limit_time, time_limit

__all__ = [
    "FAILED",
    "NOT_ATTEMPTED",
    "PASSED",
    "Case",
    "CheckReport",
    "Exercise",
    "OutOfTime",
    "can_limit_time",
    "check",
    "check_with_note",
    "compare",
    "compare_case",
    "diagnose",
    "time_limit",
]

# --- Running the student's function --------------------------------------------------------------


def _run(fn: Callable, args: tuple, kwargs: dict, seconds: float):
    """("returned", value) | ("raised", exception) | ("timeout", None)."""
    if can_limit_time():
        try:
            with time_limit(seconds, what="the student's function"):
                return "returned", fn(*args, **kwargs)
        except OutOfTime:
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


def _call_repr(case: Case) -> str:
    parts = [_short(a, 60) for a in case.args]
    parts += [f"{k}={_short(v, 40)}" for k, v in case.kwargs.items()]
    return ", ".join(parts)


def check_with_note(
    fn: Callable | None,
    exercise: Exercise,
    note: Callable[[object, Case], str | None],
    *,
    answers: list | None = None,
) -> CheckReport:
    """`check(fn, exercise)`; where a case fails on the value `fn` returned, the line
    `note(value, case)` (when it gives one) is inserted under the failing call. A note that raises
    is dropped: the report stands without it. `answers`, a list, receives every value `fn`
    returned, case by case, for a check that reads them after the run (chapter 0's asks whether
    each was float64). TypeError when `exercise` is not an Exercise, `note` is not callable or
    `answers` is not a list (the chapter's mistakes, not the student's)."""
    if not isinstance(exercise, Exercise):
        raise TypeError(f"exercise must be an Exercise, got {type(exercise).__name__}")
    if not callable(note):
        raise TypeError(
            f"note must be a function (answer, case) -> str | None, got {type(note).__name__}"
        )
    if answers is not None and not isinstance(answers, list):
        raise TypeError(f"answers must be a list or None, got {type(answers).__name__}")
    if not callable(fn):
        return check(fn, exercise)
    returned: list = []

    def recorded(*args, **kwargs):
        value = fn(*args, **kwargs)
        returned.append(value)
        return value

    try:
        recorded.__name__ = str(getattr(fn, "__name__", exercise.name))
    except BaseException:  # noqa: BLE001 - a hostile __name__ must not escape
        recorded.__name__ = exercise.name
    report = check(recorded, exercise)
    if answers is not None:
        answers.extend(returned)
    return _with_note(report, returned, exercise, note)


def _with_note(report: CheckReport, answers: list, exercise: Exercise, note) -> CheckReport:
    """`report` with `note`'s line under the failing call, where the failing case returned a
    value (`answers`, one per case run)."""
    failed_at = report.passed_cases
    if report.status != FAILED or len(answers) != failed_at + 1:  # raised, timed out or passed
        return report
    try:
        line = note(answers[failed_at], exercise.fresh_cases()[failed_at])
    except BaseException:  # noqa: BLE001 - the report stands without the line
        return report
    if line:
        at = next((i + 1 for i, d in enumerate(report.details) if d.startswith("  call:")), 1)
        report.details.insert(at, line)
    return report
