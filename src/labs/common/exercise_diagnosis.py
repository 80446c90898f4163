"""Naming what a wrong answer got wrong: a case's known mistake, or a telltale relation.

A wrong answer that matches one of a case's named mistakes is told what the mistake is. Otherwise
its relation to the expected value may give it away: a power of ten (a unit conversion), a factor
of 2 or 3600 (hours and seconds), the opposite sign, off by one, axes in another order, items
swapped. `labs.common.exercises` re-exports `diagnose`; the instant checks of every chapter's
exercises ("Exercise N.k: ...") and the instructor's grader report what it finds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labs.common.exercise_cases import Case
from labs.common.exercise_compare import _is_numeric_sequence, _precision_of, compare
from labs.common.validate_values import instance

__all__ = ["diagnose"]


def diagnose(got: Any, case: Case) -> str | None:
    """What a wrong answer `got` to `case` looks like: one of the case's named mistakes, or a
    telltale relation to its expected value; None when nothing is recognised. The instant checks
    and the instructor's grader both report it. Raises only for a `case` that is not a Case."""
    instance("case", case, Case, "a Case")
    return _diagnose(got, case)


def _diagnose(got: Any, case: Case) -> str | None:
    """What a wrong answer looks like: a known mistake of this case, or a telltale relation to the
    expected value (a power of ten, a factor of 2 or 3600, the opposite sign, off by one, axes in
    another order, items swapped) unless the case turns those off. None when nothing is
    recognised. Never raises."""
    try:
        for wrong, message in getattr(case, "mistakes", ()):
            if compare(got, wrong, case.rtol, case.atol) is None:
                return message
        if not getattr(case, "relations", True):  # a Case pickled before `relations` has them
            return None
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
