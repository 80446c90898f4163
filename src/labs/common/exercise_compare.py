"""Reading a student's answer as numbers and comparing it with the expected one.

An answer is compared strictly: a string, a complex number or a bool is not a number, and a torch
or JAX array is compared at its own precision (bfloat16, float16, float32), with the tolerance
loosened to four units of its roundoff. `compare` says in a sentence how an answer differs (its
shape, its first wrong value, a NaN, a missing `return`); `compare_case` also accepts a case's
other answers, and where a case lists None among its known wrong answers it reports "got None"
plainly. `labs.common.exercises` re-exports both; the instant checks of every chapter's exercises
("Exercise N.k: ...") and the instructor's grader compare with them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labs.common.exercise_cases import Case, _short
from labs.common.validate_values import instance, real_number

__all__ = ["compare", "compare_case"]


class _Unreadable(Exception):
    """The student's answer cannot be read as a number or an array."""


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
    if problem and got is None and any(answer is None for answer, _ in case.mistakes):
        return f"expected {_short(case.expected)}, got None"  # a known slip, not a missing return
    return problem


def _compare(got: Any, expected: Any, rtol: float, atol: float) -> str | None:
    if got is None and isinstance(expected, str):  # None may be a deliberate answer here
        return f"expected {expected!r}, got None"
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
