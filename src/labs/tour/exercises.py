"""Chapter 0 exercise: a log-sum-exp along one axis of an array of any float dtype, with its
instant check.

Eq. (2)'s max shift, which the chapter shows in the stable softmax, is only part of the answer:

* a row whose every logit is masked (-inf) has no finite maximum, and -inf - (-inf) is NaN;
* a row holding +inf has an infinite sum, and inf - inf is NaN as well;
* the shift is taken per row, along `axis`, not once for the whole array;
* the shift must be the maximum: a row whose logits spread over more than about 709 overflows
  float64's exp after any other shift (the mean, the minimum, the first entry);
* a float16 row of more than 65,504 logits near its maximum has a sum of exponentials that float16
  cannot hold, even after the shift: the sum must be accumulated in a wider type;
* a wider type is not a substitute for the shift: x86's 80-bit long double (`np.longdouble` on
  Linux) keeps exp finite and above 0 only from about -11,399 to 11,356, so logits of 12,000
  overflow it too (and the hidden cases' -12,000 underflow it);
* the exercise asks for float64 whatever the input's dtype. As in every check of the course, an
  answer in a lower precision is compared at its own precision; one that matches there passes
  with a note that asks for float64 (the grader applies the same rule).

Expected values come from SciPy's `logsumexp` on the input converted to float64, an
implementation independent of the course's. Each case's named mistakes are what a specific slip
returns on that input (worked out in the comments). A float64 answer that is right only to
float32's or float16's precision is told so in a note under the failing call.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from labs.common.exercises import Case, CheckReport, Exercise, check_with_note

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
    "exceeds float16's largest value, 65,504, and overflows. Accumulate in a wider type: "
    "float64, the type the answer must have (a float32 sum holds it too, but keeps only float32's "
    "digits)."
)
_NOT_THE_MAX = (
    "your answer is inf: the logits spread over 1,600, and after a shift by anything but the "
    "row's maximum (its mean, its minimum, its first entry) some exponent stays above 709.8, "
    "where exp overflows even in float64. Only the maximum makes every exponent at most 0."
)
_WIDER_TYPE = (
    "your answer is {inf}: a wider type moves the limits, it does not remove them (x86's long "
    "double keeps exp finite and above 0 only from about -11,399 to 11,356): shift by the "
    "maximum."
)
_NOT_FLOAT64 = (
    "note: case {case} returned {dtype}, compared at {dtype}'s precision; the exercise asks for "
    "float64 whatever x's dtype (a float16 or float32 answer keeps only that format's digits): "
    "compute in float64, or convert the result with .astype(np.float64)."
)
# Half the machine epsilon of each format: the relative error of one rounding to it. An answer
# within a few of these of the exact value, but not within float64's rtol, was computed
# somewhere in that format (float16 is named only for a float16 input, which may have kept it).
_ROUNDING = (("float32", 2.0**-24), ("float16", 2.0**-11))


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


def _min_shift(x: np.ndarray, axis: int) -> np.ndarray:
    """The slip of shifting each slice by its smallest finite logit (masked slices by 0): a
    slice that holds both 0 and 900 keeps exp(900), which overflows to inf."""
    m = np.min(np.where(np.isfinite(x), x, np.inf), axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(over="ignore", divide="ignore"):
        return np.log(np.sum(np.exp(x - m), axis=axis)) + np.squeeze(m, axis=axis)


# Logits spread over 1,600: the maximum shift gives 800 + log(1 + exp(-800) + exp(-1600)) = 800;
# a shift by the mean (0), the minimum (-800) or the first entry (-800) leaves exp(800) or
# exp(1600), both past float64's largest exp argument, 709.78, so the answer is inf.
_SPREAD = [-800.0, 800.0, 0.0]

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
            "log_sum_exp(x) = log(sum(exp(x))), as float64; check the formula first.",
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
                (
                    _min_shift(_ROWS, axis=0),
                    "your first and third columns came out inf: each was shifted by its smallest "
                    "finite logit (0 and 2), which leaves exp(900) and exp(897), past float64's "
                    "limit of 709.8. Shift by the column's maximum: every exponent is then at most "
                    "0.",
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
        _case(
            [12000.0, 11999.0],
            "logits of 12,000: [12000, 11999]",
            "exp(12000) overflows in float64 and in x86's 80-bit long double (past 11,356): "
            "no type removes the need for the shift by the maximum.",
            mistakes=((np.float64(np.inf), _WIDER_TYPE.format(inf="inf")),),
        ),
        _case(
            _SPREAD,
            "logits spread over 1,600: [-800, 800, 0]",
            "shift by the maximum, not by another value of the row: only the maximum keeps "
            "every exponent at most 0.",
            mistakes=((np.float64(np.inf), _NOT_THE_MAX),),
        ),
    ),
)


def _precision_note(answer, case: Case) -> str | None:
    """A line for a float64 answer that is right only to float32's or float16's precision: the
    arithmetic ran in the narrower format somewhere and was converted afterwards."""
    got = np.asarray(answer, dtype=np.float64)
    expected = np.asarray(case.expected, dtype=np.float64)
    if got.shape != expected.shape or not np.array_equal(np.isfinite(got), np.isfinite(expected)):
        return None
    finite = np.isfinite(expected)
    if not np.array_equal(got[~finite], expected[~finite]) or not finite.any():
        return None
    scale = np.maximum(np.abs(expected[finite]), 1.0)
    error = float(np.max(np.abs(got[finite] - expected[finite]) / scale))
    formats = _ROUNDING if np.asarray(case.args[0]).dtype == np.float16 else _ROUNDING[:1]
    for name, rounding in formats:  # the widest of the two whose rounding explains the error
        if error <= 8 * rounding:
            return (
                f"note: your answer is off by {error:.1g} of its size: right to {name}'s "
                f"precision, not float64's. Some step ran in {name} (converting x to {name}, "
                "then back?); convert x to float64 instead."
            )
    return None


def _not_float64(answer) -> str | None:
    """The dtype name of an answer that is not float64 (a Python float is), else None."""
    if isinstance(answer, float):  # np.float64 too: it subclasses float
        return None
    try:
        dtype = getattr(answer, "dtype", None)
        name = None if dtype is None else str(dtype).replace("torch.", "")
    except BaseException:  # noqa: BLE001 - a hostile dtype attribute is the comparison's business
        return None
    return None if name in (None, "float64") else name


def check_log_sum_exp(fn) -> CheckReport:
    """Run the public cases of the log-sum-exp exercise against `fn`; an answer right only to
    float32's or float16's precision gets a note that says so, and so does an answer that is not
    float64 (compared at its own precision, as every check of the course compares)."""
    answers: list = []
    report = check_with_note(fn, LOG_SUM_EXP, _precision_note, answers=answers)
    # The first case whose answer came back in another dtype and matched at its precision
    first = next((i for i, a in enumerate(answers) if _not_float64(a)), None)
    if first is not None and (report.passed or first < report.passed_cases):
        dtype = _not_float64(answers[first])
        report.details.append(_NOT_FLOAT64.format(case=first + 1, dtype=dtype))
    return report
