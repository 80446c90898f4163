"""Exercises with instant checks that say what is wrong, not only that it is wrong.

An exercise is a function with a fixed name and signature that the student writes in a marked
notebook cell. The chapter's `labs.<topic>.exercises` module describes it as an `Exercise` (its
name and public cases) and offers a `check_<name>(fn)` that returns a `CheckReport`:

* "passed": every public case matched;
* "failed": the first failing case is reported with its input, the expected and the obtained
  value, and a hint;
* "not attempted": the function still raises NotImplementedError (the stub as handed out). This is
  not an error: the notebook keeps running, so nbval stays green on the student release.

A check never raises because of the student's code and never changes the arguments it was given:
each case gets fresh copies of its inputs.
"""

from __future__ import annotations

import copy
import html
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"


@dataclass(frozen=True)
class Case:
    """One public test case: call the student's function with `args`/`kwargs`, expect `expected`.

    `label` describes the input in words ("logits far above float32's exp limit"), `hint` says
    what usually goes wrong when this case fails. Numbers are compared with `rtol`/`atol`.
    """

    args: tuple
    expected: Any
    label: str
    hint: str = ""
    kwargs: dict = field(default_factory=dict)
    rtol: float = 1e-6
    atol: float = 1e-9


@dataclass(frozen=True)
class Exercise:
    """An exercise: the function name the student must define, its signature and public cases."""

    name: str
    signature: str
    cases: tuple[Case, ...]

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"Exercise.name must be a Python identifier, got {self.name!r}")
        if not self.cases:
            raise ValueError(f"Exercise {self.name!r} needs at least one case")


@dataclass
class CheckReport:
    """The outcome of `check`; shown as a coloured box in a notebook, as text elsewhere."""

    exercise: str
    status: str
    passed_cases: int
    total_cases: int
    details: list[str] = field(default_factory=list)

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


def compare(got: Any, expected: Any, rtol: float, atol: float) -> str | None:
    """None if `got` matches `expected`; otherwise a sentence saying how it differs."""
    if got is None and expected is not None:
        return "your function returned None (is a `return` missing?)"
    if isinstance(expected, (bool, str)) or expected is None:
        return None if got == expected else f"expected {expected!r}, got {got!r}"
    if isinstance(expected, (tuple, list)) and not _is_numeric_sequence(expected):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected a sequence of {len(expected)} items, got {_short(got)}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            problem = compare(g, e, rtol, atol)
            if problem:
                return f"item {i}: {problem}"
        return None
    try:
        got_arr = np.asarray(_to_numpy(got), dtype=np.float64)
    except (TypeError, ValueError):
        return f"expected a number or an array, got {type(got).__name__}: {_short(got)}"
    exp_arr = np.asarray(expected, dtype=np.float64)
    if got_arr.shape != exp_arr.shape:
        return f"expected shape {exp_arr.shape}, got shape {got_arr.shape}"
    bad_nan = np.isnan(got_arr) & ~np.isnan(exp_arr)
    if bad_nan.any():
        return f"got NaN where a number was expected (first at index {_index(bad_nan)})"
    close = np.isclose(got_arr, exp_arr, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return None
    i = _index(~close)
    if got_arr.ndim == 0:
        return f"expected {exp_arr.item():.8g}, got {got_arr.item():.8g}"
    return (
        f"{int((~close).sum())} of {close.size} values differ; first at index {i}: "
        f"expected {exp_arr[i]:.8g}, got {got_arr[i]:.8g}"
    )


def check(fn: Callable | None, exercise: Exercise) -> CheckReport:
    """Run `exercise`'s public cases against the student's `fn` and explain any failure."""
    if not isinstance(exercise, Exercise):
        raise TypeError(f"exercise must be an Exercise, got {type(exercise).__name__}")
    total = len(exercise.cases)
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
    if getattr(fn, "__name__", exercise.name) != exercise.name:
        notes.append(
            f"note: your function is named {fn.__name__!r}; the grader looks for "
            f"{exercise.name!r}, so keep that name."
        )
    for passed, case in enumerate(exercise.cases):
        args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
        try:
            got = fn(*args, **kwargs)
        except NotImplementedError:
            return CheckReport(exercise.name, NOT_ATTEMPTED, 0, total, notes)
        except Exception as err:  # the student's code raised: report it, do not propagate
            where = traceback.extract_tb(err.__traceback__)[-1]
            return CheckReport(
                exercise.name,
                FAILED,
                passed,
                total,
                [
                    f"case {passed + 1} ({case.label}) raised {type(err).__name__}: {err}",
                    f"  at line {where.lineno}: {where.line}",
                    *([f"hint: {case.hint}"] if case.hint else []),
                    *notes,
                ],
            )
        problem = compare(got, case.expected, case.rtol, case.atol)
        if problem:
            return CheckReport(
                exercise.name,
                FAILED,
                passed,
                total,
                [
                    f"case {passed + 1} ({case.label}): {problem}",
                    f"  call: {exercise.name}({_call_repr(case)})",
                    *([f"hint: {case.hint}"] if case.hint else []),
                    *notes,
                ],
            )
    return CheckReport(exercise.name, PASSED, total, total, notes)


def _is_numeric_sequence(seq) -> bool:
    try:
        np.asarray(seq, dtype=np.float64)
        return True
    except (TypeError, ValueError):
        return False


def _to_numpy(value):
    if hasattr(value, "detach"):  # a torch tensor
        return value.detach().cpu().numpy()
    return value


def _index(mask: np.ndarray):
    flat = int(np.flatnonzero(mask)[0])
    if mask.ndim > 1:
        return tuple(int(i) for i in np.unravel_index(flat, mask.shape))
    return flat if mask.ndim else ()


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _call_repr(case: Case) -> str:
    parts = [_short(a, 60) for a in case.args]
    parts += [f"{k}={_short(v, 40)}" for k, v in case.kwargs.items()]
    return ", ".join(parts)
