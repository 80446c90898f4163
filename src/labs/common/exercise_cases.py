"""The parts of an exercise: its public cases, the exercise itself, and the report a check gives.

`Case` is one call of the student's function with its expected answer, the tolerance it is
compared with, the other answers a convention leaves open and the known wrong answers worth
naming. `Exercise` is the function's name and signature with its cases, snapshotted when it is
built so that student code cannot change what later checks expect. `CheckReport` is the outcome,
shown as a coloured box in a notebook. `labs.common.exercises` re-exports every public name here
and runs the checks; every chapter's exercise sections ("Exercise N.k: ...") use them.
"""

from __future__ import annotations

import copy
import html
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labs.common.validate_values import instance, integer, one_of, real_number, text

__all__ = ["FAILED", "NOT_ATTEMPTED", "PASSED", "Case", "CheckReport", "Exercise"]

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
DEFAULT_TIME_LIMIT_S = 10.0


def _safe(fn: Callable[[], str], fallback: str) -> str:
    try:
        return str(fn())
    except BaseException:  # noqa: BLE001 - a hostile __str__/__repr__ must not escape
        return fallback


def _short(value, limit: int = 80) -> str:
    text = _safe(lambda: repr(value), f"<{type(value).__name__} that cannot be printed>")
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Case:
    """One public test case: call the student's function with `args`/`kwargs`, expect `expected`.

    `label` describes the input in words ("logits far above float32's exp limit"), `hint` says
    what usually goes wrong when this case fails. Numbers are compared with `rtol`/`atol` (loosened
    to the precision of a lower-precision answer, see `compare`). `also` holds other accepted
    answers, where the source leaves a convention open (a failure reports the first, `expected`).
    `mistakes` holds known wrong answers, each as `(answer, what it means)`: an answer that
    matches one (within the same tolerance) is told what its mistake is, not only that it is wrong.
    `relations=False` turns off the generic guesses (a factor of 2, off by one, the opposite sign)
    for a case whose answer they would misread, such as a count whose wrong values are named in
    `mistakes`.
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
    relations: bool = True

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
        instance("relations", self.relations, bool, "True or False")


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

    def _failed_head(self) -> str:
        """`check` stops at the first failing case, so the cases after it were not run."""
        passed, total = self.passed_cases, self.total_cases
        failed = min(passed + 1, total)
        rest = (
            f", case {total} not run"
            if failed + 1 == total
            else f", cases {failed + 1}-{total} not run"
            if failed + 1 < total
            else ""
        )
        return (
            f"[failed] {self.exercise}: {passed}/{total} public cases passed; "
            f"case {failed} failed{rest}."
        )

    def __str__(self) -> str:
        head = {
            PASSED: f"[passed] {self.exercise}: all {self.total_cases} public cases match.",
            FAILED: self._failed_head(),
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
