"""Chapter 0 exercise: a log-sum-exp along one axis of an array of any float dtype, with its
instant check.

Eq. (2)'s max shift, which the chapter shows in the stable softmax, is only part of the answer:

* a row whose every logit is masked (-inf) has no finite maximum, and -inf - (-inf) is NaN;
* a row holding +inf has an infinite sum, and inf - inf is NaN as well;
* the shift is taken per row, along `axis`, not once for the whole array;
* a float16 row of more than 65,504 logits near its maximum has a sum of exponentials that float16
  cannot hold, even after the shift: the sum must be accumulated in a wider type.

Expected values come from SciPy's `logsumexp` on the input converted to float64, an
implementation independent of the course's. Each case's named mistakes are what a specific slip
returns on that input (worked out in the comments).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from labs.common.exercises import Case, CheckReport, Exercise, check

__all__ = ["LOG_SUM_EXP", "check_log_sum_exp"]

_NAN_MASKED = (
    "your answer is NaN on the fully masked row: with every logit -inf the row's maximum is "
    "-inf, and x - max = -inf - (-inf) is NaN. The row's sum of exponentials is 0: return -inf."
)
_NAN_PLUS_INF = (
    "your answer is NaN where a logit is +inf: the shift computes inf - inf. The sum of the "
    "exponentials is infinite, so the log-sum-exp is +inf."
)
_FLOAT16_SUM = (
    "your answer is inf: the shift keeps every term at most 1, but the sum of {n:,} terms near 1 "
    "exceeds float16's largest value, 65,504, and overflows. Accumulate in a wider type "
    "(float32 or float64)."
)


def _case(values, label: str, hint: str = "", axis: int | None = None, mistakes=()) -> Case:
    """A case whose expected value is SciPy's logsumexp of `values` (float64) along `axis` (the
    last axis when None, and then the call passes no axis: the default is part of the contract)."""
    x = np.asarray(values)
    reduce_over = -1 if axis is None else axis
    expected = logsumexp(x.astype(np.float64), axis=reduce_over)
    kwargs = {} if axis is None else {"axis": axis}
    return Case(
        args=(x,),
        kwargs=kwargs,
        expected=np.asarray(expected, dtype=np.float64),
        label=label,
        hint=hint,
        rtol=1e-9,
        mistakes=tuple(mistakes),
    )


# Rows of the 2-D cases: an ordinary row, a partly masked row with large logits, a fully masked
# row (a padding query that may attend to nothing).
_ROWS = np.array(
    [
        [0.0, 1.0, 2.0, 3.0],
        [900.0, -np.inf, 899.0, -np.inf],
        [-np.inf, -np.inf, -np.inf, -np.inf],
    ]
)
_ROWS_LSE = logsumexp(_ROWS, axis=1)


def _one_shift(x: np.ndarray, axis: int) -> np.ndarray:
    """The slip of shifting the whole array by its one largest logit before summing along
    `axis`: rows far below that maximum underflow to exp(...) = 0 and come out -inf."""
    m = np.max(x)
    with np.errstate(divide="ignore"):
        return m + np.log(np.sum(np.exp(x - m), axis=axis))


# 70,000 float16 zeros: the exact answer is log(70,000) = 11.156; summed in float16 after the
# shift, the 70,000 ones pass 65,504 and the sum is inf.
_N16 = 70_000

LOG_SUM_EXP = Exercise(
    name="log_sum_exp",
    signature="log_sum_exp(x: np.ndarray, axis: int = -1) -> np.ndarray",
    cases=(
        _case(
            [0.0, 1.0, 2.0],
            "small logits [0, 1, 2]",
            "log_sum_exp(x) = log(sum(exp(x))); check the formula first.",
        ),
        _case(
            [1000.0, 1000.0, 999.0],
            "large logits [1000, 1000, 999]",
            "exp(1000) overflows to inf. Use log(sum(exp(x))) = m + log(sum(exp(x - m))) "
            "with m = max(x).",
        ),
        _case(
            [-1000.0, -1001.0],
            "very negative logits [-1000, -1001]",
            "exp(-1000) underflows to 0 and log(0) = -inf; the same max-shift fixes it.",
        ),
        _case(
            _ROWS,
            "3 rows of 4 logits, along the last axis; the last row fully masked (-inf)",
            "one answer per row: the shift is each row's own maximum (keep the reduced axis for "
            "the subtraction, e.g. keepdims=True). A fully masked row has an empty sum: -inf.",
            mistakes=(
                (np.array([*_ROWS_LSE[:2], np.nan]), _NAN_MASKED),
                (
                    _one_shift(_ROWS, axis=1),
                    "your rows far below the array's largest logit (900) came out -inf: one "
                    "shift for the whole array underflows them. Shift each row by its own maximum.",
                ),
                (
                    np.full(3, logsumexp(_ROWS)),
                    "every row got the log-sum-exp of the whole array: the maximum (or the "
                    "sum) was taken over all entries, not along the axis.",
                ),
            ),
        ),
        _case(
            _ROWS,
            "the same 3 x 4 logits along axis=0: one answer per column",
            "reduce over the axis the caller names, not always the last one.",
            axis=0,
            mistakes=(
                (
                    _ROWS_LSE,
                    "your answer reduces over the last axis (one value per row); this case "
                    "asks for axis=0 (one value per column).",
                ),
                (
                    _one_shift(_ROWS, axis=0),
                    "your columns far below the array's largest logit (900) came out -inf: one "
                    "shift for the whole array underflows them. Shift each column by its own "
                    "maximum.",
                ),
            ),
        ),
        _case(
            [2.0, np.inf, 0.5],
            "a logit of +inf among finite ones",
            "exp(+inf) is +inf, so the sum and its log are +inf; the shift gives inf - inf.",
            mistakes=((np.float64(np.nan), _NAN_PLUS_INF),),
        ),
        _case(
            np.zeros(_N16, dtype=np.float16),
            f"{_N16:,} float16 logits, all 0: the exact answer is log({_N16:,}) = 11.156",
            "the float16 input may keep its dtype through your arithmetic; convert it, or sum "
            "with dtype=np.float64.",
            mistakes=((np.float64(np.inf), _FLOAT16_SUM.format(n=_N16)),),
        ),
        _case(
            [-np.inf, -np.inf, -np.inf],
            "every logit masked (-inf), 1-D",
            "with every logit -inf the maximum is -inf, and x - max(x) = -inf - (-inf) is NaN. "
            "The sum of the exponentials is 0, and log(0) = -inf: return -inf.",
            mistakes=((np.float64(np.nan), _NAN_MASKED.replace("the fully masked row", "it")),),
        ),
    ),
)


def check_log_sum_exp(fn) -> CheckReport:
    """Run the public cases of the log-sum-exp exercise against `fn`."""
    return check(fn, LOG_SUM_EXP)
