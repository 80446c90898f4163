"""Chapter 0 exercise: a numerically stable log-sum-exp that also takes masked logits (-inf),
with its instant check. Eq. (2)'s max shift alone is not enough: a row whose every logit is
masked has no finite maximum, and -inf - (-inf) is NaN.

Expected values come from SciPy's `logsumexp`, an implementation independent of the course's.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from labs.common.exercises import Case, CheckReport, Exercise, check


def _case(values, label: str, hint: str = "") -> Case:
    x = np.asarray(values, dtype=np.float64)
    return Case(args=(x,), expected=float(logsumexp(x)), label=label, hint=hint, rtol=1e-9)


LOG_SUM_EXP = Exercise(
    name="log_sum_exp",
    signature="log_sum_exp(x: np.ndarray) -> float",
    cases=(
        _case(
            [0.0, 1.0, 2.0],
            "small logits [0, 1, 2]",
            "log_sum_exp(x) = log(sum(exp(x))); check the formula first.",
        ),
        _case([3.5], "a single logit [3.5]", "with one element the answer is that element."),
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
            np.linspace(-5.0, 5.0, 101),
            "101 logits from -5 to 5",
            "sum over all elements, not along one axis of a reshaped array.",
        ),
        _case(
            [2.0, -np.inf, 0.5, -np.inf],
            "two of four logits masked (-inf)",
            "a masked logit contributes exp(-inf) = 0 to the sum; shifting by the largest "
            "logit handles it already.",
        ),
        _case(
            [-np.inf, -np.inf, -np.inf],
            "every logit masked (-inf): a query that may attend to nothing",
            "with every logit -inf the maximum is -inf, and x - max(x) = -inf - (-inf) is NaN. "
            "The sum of the exponentials is 0, and log(0) = -inf: return -inf.",
        ),
    ),
)


def check_log_sum_exp(fn) -> CheckReport:
    """Run the public cases of the log-sum-exp exercise against `fn`."""
    return check(fn, LOG_SUM_EXP)
