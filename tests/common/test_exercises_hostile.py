"""Every chapter's instant checks, attacked with hostile submissions.

The checks are found, not listed: every `check_<name>` in a `labs.<topic>.exercises` module with
its `Exercise`. Each hostile submission must give a report (never an exception escaping into the
notebook), judged the right way: cheats and broken answers fail, correct answers at a lower
precision pass, the cases stay as they were.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import sys
import time

import jax.numpy as jnp
import numpy as np
import pytest
import torch

import labs
from labs.common.exercises import FAILED, NOT_ATTEMPTED, PASSED, CheckReport, Exercise, check


def _checks() -> list[tuple[str, object, Exercise]]:
    found = []
    for info in pkgutil.iter_modules(labs.__path__):
        try:
            module = importlib.import_module(f"labs.{info.name}.exercises")
        except ModuleNotFoundError:
            continue
        exercises = {v.name: v for v in vars(module).values() if isinstance(v, Exercise)}
        for name, exercise in exercises.items():
            fn = getattr(module, f"check_{name}", None)
            assert fn is not None, f"labs.{info.name}.exercises has no check_{name}"
            found.append((f"{info.name}.{name}", fn, exercise))
    return found


CHECKS = _checks()
IDS = [c[0] for c in CHECKS]


def test_every_chapter_with_exercises_is_found():
    topics = {key.split(".")[0] for key in IDS}
    assert {"tour", "scaling", "fp8", "mla", "grpo", "economics"} <= topics
    assert len(CHECKS) >= 16


def _replaying(exercise: Exercise, transform):
    """A submission that answers case i with transform(expected_i): the cases' own answers."""
    answers = [c.expected for c in exercise.fresh_cases()]
    calls = {"n": 0}

    def submission(*args, **kwargs):
        i = min(calls["n"], len(answers) - 1)
        calls["n"] += 1
        return transform(answers[i])

    submission.__name__ = exercise.name
    return submission


def _numeric(expected) -> bool:
    try:
        return np.asarray(expected).dtype.kind in "fiu"
    except (TypeError, ValueError):
        return False


class _BrokenStr(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


class _BrokenArray:
    def __array__(self, *args, **kwargs):
        raise RuntimeError("no array for you")

    def __repr__(self):
        raise RuntimeError("no repr either")


def _raiser(exc):
    def submission(*args, **kwargs):
        raise exc

    return submission


def _returner(value):
    return lambda *args, **kwargs: value


HOSTILE = {
    "exception with a broken __str__": _raiser(_BrokenStr()),
    "sys.exit": lambda *a, **k: sys.exit(3),
    "KeyboardInterrupt": _raiser(KeyboardInterrupt()),
    "GeneratorExit": _raiser(GeneratorExit()),
    "object whose __array__ and __repr__ raise": _returner(_BrokenArray()),
    "a string": _returner("0.5"),
    "a complex number": _returner(0.5 + 1j),
    "a bool": _returner(True),
    "a dict": _returner({"answer": 1.0}),
    "a generator": lambda *a, **k: (i for i in range(3)),
    "a class": _returner(int),
    "a torch complex tensor": _returner(torch.tensor([0.5 + 1j])),
}


@pytest.mark.parametrize("label", HOSTILE)
@pytest.mark.parametrize("key, check_fn, exercise", CHECKS, ids=IDS)
def test_hostile_submissions_fail_with_a_report(key, check_fn, exercise, label):
    report = check_fn(HOSTILE[label])
    assert isinstance(report, CheckReport)
    assert report.status == FAILED, str(report)
    assert str(report) and report._repr_html_()


CHEATS = {
    "the right answer plus 1j": lambda e: np.asarray(e, dtype=np.float64) + 1j,
    "the right answer as a string": lambda e: str(np.asarray(e, dtype=np.float64).tolist()),
    "the right answer as a complex torch tensor": lambda e: torch.tensor(
        np.asarray(e, dtype=np.float64) + 0j
    ),
}


# The checks whose every expected answer is a number: the numeric cheats and the lower precisions
# apply to them only (the others expect a choice: a string, a tuple of labels), so the others are
# left out of those tests' parameters rather than collected and skipped.
NUMERIC = [c for c in CHECKS if all(_numeric(case.expected) for case in c[2].fresh_cases())]
NUMERIC_IDS = [c[0] for c in NUMERIC]
# Decision exercises: their answers are choices, not numbers.
CHOICES = {
    "bench.cache_bound",
    "bench.choose_precision",
    "fp8.choose_granularity",
    "grpo.choose_group_size",
    "mla.decode_bound",
}


def test_only_the_decision_exercises_are_left_out_of_the_numeric_tests():
    assert set(IDS) - set(NUMERIC_IDS) == CHOICES
    assert len(NUMERIC) >= 16


@pytest.mark.parametrize("cheat", CHEATS)
@pytest.mark.parametrize("key, check_fn, exercise", NUMERIC, ids=NUMERIC_IDS)
def test_right_answers_of_the_wrong_type_do_not_pass(key, check_fn, exercise, cheat):
    report = check_fn(_replaying(exercise, CHEATS[cheat]))
    assert report.status == FAILED, str(report)


LOWER_PRECISION = {
    "numpy float32": lambda e: np.asarray(e, dtype=np.float32),
    "torch float32": lambda e: torch.tensor(np.asarray(e, dtype=np.float64), dtype=torch.float32),
    "torch bfloat16": lambda e: torch.tensor(np.asarray(e, dtype=np.float64)).to(torch.bfloat16),
    "jax bfloat16": lambda e: jnp.asarray(np.asarray(e, dtype=np.float32), dtype=jnp.bfloat16),
    "torch float64 with grad": lambda e: (
        torch.tensor(np.asarray(e, dtype=np.float64), requires_grad=True) * 1.0
    ),
}


@pytest.mark.parametrize("precision", LOWER_PRECISION)
@pytest.mark.parametrize("key, check_fn, exercise", NUMERIC, ids=NUMERIC_IDS)
def test_correct_answers_at_lower_precision_pass(key, check_fn, exercise, precision):
    report = check_fn(_replaying(exercise, LOWER_PRECISION[precision]))
    assert report.status == PASSED, str(report)


@pytest.mark.parametrize("key, check_fn, exercise", CHECKS, ids=IDS)
def test_a_student_cannot_change_the_cases(key, check_fn, exercise):
    before = [np.asarray(c.expected, dtype=object).tolist() for c in exercise.fresh_cases()]

    def vandal(*args, **kwargs):
        for case in exercise.cases:  # the public attribute: change everything reachable
            if isinstance(case.expected, np.ndarray) and case.expected.flags.writeable:
                case.expected[...] = 0
            for arg in case.args:
                if isinstance(arg, np.ndarray) and arg.flags.writeable:
                    arg[...] = 0
            object.__setattr__(case, "expected", 0.0)
        for arg in args:
            if isinstance(arg, np.ndarray) and arg.flags.writeable:
                arg[...] = 0
        return 0.0

    saved = [
        (
            case,
            case.expected.copy() if isinstance(case.expected, np.ndarray) else case.expected,
            [a.copy() if isinstance(a, np.ndarray) else a for a in case.args],
        )
        for case in exercise.cases
    ]
    try:
        check_fn(vandal)
    finally:  # put the public attribute back, so later tests that read it see the real cases
        for case, expected, args in saved:
            object.__setattr__(case, "expected", expected)
            for live, original in zip(case.args, args, strict=True):
                if isinstance(live, np.ndarray) and live.flags.writeable:
                    live[...] = original
    after = [np.asarray(c.expected, dtype=object).tolist() for c in exercise.fresh_cases()]
    np.testing.assert_equal(after, before)  # NaN where a case expects NaN counts as equal
    honest = _replaying(exercise, lambda e: e)
    assert check_fn(honest).status == PASSED


@pytest.mark.parametrize("key, check_fn, exercise", CHECKS, ids=IDS)
def test_partial_solution_that_gives_up_is_failed_not_unattempted(key, check_fn, exercise):
    answers = [c.expected for c in exercise.fresh_cases()]
    calls = {"n": 0}

    def partial(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            return answers[0]
        raise NotImplementedError("the rest is left for later")

    partial.__name__ = exercise.name
    report = check_fn(partial)
    assert report.status == FAILED and report.passed_cases == 1, str(report)
    assert "case 1 passed before this one" in str(report)


@pytest.mark.parametrize("key, check_fn, exercise", CHECKS, ids=IDS)
def test_the_stub_is_not_attempted(key, check_fn, exercise):
    report = check_fn(_raiser(NotImplementedError()))
    assert report.status == NOT_ATTEMPTED


@pytest.mark.parametrize("key, check_fn, exercise", CHECKS, ids=IDS)
def test_an_infinite_loop_is_stopped_with_a_clear_report(key, check_fn, exercise):
    quick = dataclasses.replace(exercise, time_limit_s=0.3)

    def forever(*args, **kwargs):
        while True:
            try:
                time.sleep(0.01)
            except BaseException:  # noqa: BLE001 - a student who swallows everything
                pass

    start = time.perf_counter()
    report = check(forever, quick)
    assert time.perf_counter() - start < 5
    assert report.status == FAILED
    assert "was stopped" in str(report) and "never ends" in str(report)


def test_an_infinite_loop_off_the_main_thread_is_reported_too():
    import threading

    _, _, exercise = CHECKS[0]
    quick = dataclasses.replace(exercise, time_limit_s=0.2)
    stop = threading.Event()
    box = {}

    def forever(*args, **kwargs):
        while not stop.is_set():
            time.sleep(0.01)

    worker = threading.Thread(target=lambda: box.update(report=check(forever, quick)))
    worker.start()
    worker.join(5)
    stop.set()
    assert box["report"].status == FAILED and "was stopped" in str(box["report"])
