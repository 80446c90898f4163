"""How a prediction of N_opt missed, for the checks of exercises 1.1 and 1.3.

`_check_prediction` runs an exercise's cases and, where a case fails on a number, adds a line
saying which way the answer missed and by how much (`_how_far`: the factor, and the error in the
exponent a it amounts to over the decades from the compute the answer could measure to the
target), and puts the nearest of the case's named mistakes in place of the first listed where the
answer lies within the tolerance of two or more (`_name_the_nearest_mistake`). Taught in chapter
1, "Exercise 1.1" and "Exercise 1.3"; `labs.scaling.exercises_pilot` uses the parts one by one.
"""

from __future__ import annotations

import numpy as np

from labs.common.exercises import Case, CheckReport, Exercise, check_with_note, compare


def _how_far(answer, case: Case, anchor_C: float) -> str | None:
    """Which way a predicted N_opt missed `case.expected`, by what factor, and the error in the
    exponent a that the miss amounts to over the decades from `anchor_C` (the largest compute the
    answer could measure) to the target. None when `answer` is not one positive finite number."""
    if isinstance(answer, (bool, np.bool_, str, bytes)):
        return None
    try:
        value = float(np.asarray(answer, dtype=np.float64))
        target_C = float(case.args[1])
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if not (np.isfinite(value) and value > 0 and target_C > anchor_C > 0):
        return None
    ratio = value / float(case.expected)
    decades = np.log10(target_C / anchor_C)
    side = (
        "too large: the run would be a larger model on too few tokens"
        if ratio > 1
        else "too small: the run would be a smaller model on too many tokens"
    )
    return (
        f"how far: your N_opt is {ratio:.3g} times the true optimum, {side}. If your fit is right "
        f"at {anchor_C:.0e} FLOPs, that is an exponent a (N_opt ~ C^a) off by "
        f"{np.log10(ratio) / decades:+.3f} over the {decades:.3g} decades up to target_C."
    )


def _nearest_mistake(answer, case: Case) -> tuple[str, str] | None:
    """Where a wrong answer lies within the tolerance of two or more of `case`'s named mistakes:
    (the message of the first listed, which the report carries, the message of the nearest in
    log distance). None where it matches fewer than two, or is not one positive finite number."""
    if isinstance(answer, (bool, np.bool_, str, bytes)):
        return None
    try:
        array = np.asarray(answer)
        if array.dtype.kind not in "iuf" or array.size != 1:  # a complex number is not an N_opt
            return None
        value = float(array.astype(np.float64).reshape(()))
    except BaseException:  # noqa: BLE001 - a hostile answer is the report's business, not this note's
        return None
    if not (np.isfinite(value) and value > 0):
        return None
    near = [
        (abs(np.log(value / float(wrong))), message)
        for wrong, message in case.mistakes
        if float(wrong) > 0 and compare(value, wrong, case.rtol, case.atol) is None
    ]
    if len(near) < 2:
        return None
    return near[0][1], min(near, key=lambda item: item[0])[1]


def _name_the_nearest_mistake(report: CheckReport, answer, case: Case) -> None:
    """Put the nearest named mistake's message in place of the first one's (`_nearest_mistake`):
    the mistakes' windows can overlap, and the first listed may blame a step done right."""
    found = _nearest_mistake(answer, case)
    if found is None or found[0] == found[1]:
        return
    first, nearest = (f"what is wrong: {message}" for message in found)
    report.details[:] = [nearest if line == first else line for line in report.details]


def _check_prediction(fn, exercise: Exercise, anchor) -> CheckReport:
    """`check(fn, exercise)`, and where a case fails on a number, a line saying how far it missed
    (`_how_far`; `anchor(case)` gives the compute the answer's fit could reach) and the nearest of
    the named mistakes the answer is close to (`_name_the_nearest_mistake`)."""
    failed: list = []

    def note(answer, case):
        failed.append((answer, case))
        return _how_far(answer, case, anchor(case))

    report = check_with_note(fn, exercise, note)
    if failed:
        _name_the_nearest_mistake(report, *failed[-1])
    return report
