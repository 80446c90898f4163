"""Chapter 5 exercises: group advantages, the k3 KL estimator, the clipped objective.

Taught in chapter 5, "Exercise 5.1: group advantages", "Exercise 5.2: the k3 estimator" and
"Exercise 5.3: the clipped objective".

Expected values are worked out by hand (the arithmetic is written next to each case), not taken
from the package's own kernels.
"""

from __future__ import annotations

import math

import numpy as np

from labs.common.exercises import Case, CheckReport, Exercise, check

EPS = 1e-4


def _arr(*values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


# DeepSeekMath writes only std(r): both the sample std (ddof = 1, dividing by G - 1) and the
# population std (ddof = 0, dividing by G) are accepted; `expected` holds the first, `also` the
# second.
# (1, 0, 0, 0): mean 0.25, squares 0.75^2 + 3 * 0.25^2 = 0.75; sample variance 0.75 / 3 = 0.25,
# std 0.5; population variance 0.75 / 4 = 0.1875.
_D1, _P1 = 0.5 + EPS, math.sqrt(0.1875) + EPS
# (0, 1): mean 0.5, squares 2 * 0.25 = 0.5; sample variance 0.5 / 1, population 0.5 / 2 = 0.25.
_D2, _P2 = math.sqrt(0.5) + EPS, 0.5 + EPS
# (0, 1, 1, 0): mean 0.5, squares 4 * 0.25 = 1; sample variance 1 / 3, population 1 / 4.
_D3, _P3 = math.sqrt(1 / 3) + EPS, 0.5 + EPS
_STD_HINT = (
    "divide by (the group's standard deviation + 1e-4); either convention is accepted (np.std's "
    "default ddof=0 or torch.std's ddof=1), since DeepSeekMath writes only std(r)."
)

ADVANTAGES_FROM_REWARDS = Exercise(
    name="advantages_from_rewards",
    signature="advantages_from_rewards(rewards: np.ndarray, group_size: int) -> np.ndarray",
    cases=(
        Case(
            (_arr(1, 0, 0, 0), 4),
            _arr(0.75 / _D1, -0.25 / _D1, -0.25 / _D1, -0.25 / _D1),
            "one group, one correct answer out of four",
            "subtract the group mean, then " + _STD_HINT,
            also=(_arr(0.75 / _P1, -0.25 / _P1, -0.25 / _P1, -0.25 / _P1),),
        ),
        Case(
            (_arr(0, 1), 2),
            _arr(-0.5 / _D2, 0.5 / _D2),
            "a group of two",
            "the standard deviation, not the variance: " + _STD_HINT,
            also=(_arr(-0.5 / _P2, 0.5 / _P2),),
        ),
        Case(
            (_arr(1, 0, 0, 1), 2),
            _arr(0.5 / _D2, -0.5 / _D2, -0.5 / _D2, 0.5 / _D2),
            "two groups of two",
            "normalise within each group of `group_size` consecutive rewards, not over the "
            "whole batch: reshape to (-1, group_size).",
            also=(_arr(0.5 / _P2, -0.5 / _P2, -0.5 / _P2, 0.5 / _P2),),
        ),
        Case(
            (_arr(0, 1, 1, 0, 1, 1, 1, 1), 4),
            _arr(-0.5 / _D3, 0.5 / _D3, 0.5 / _D3, -0.5 / _D3, 0, 0, 0, 0),
            "the second group is all correct",
            "a group whose rewards are all equal has std 0: its advantages must be exactly 0, "
            "not NaN (it carries no signal).",
            also=(_arr(-0.5 / _P3, 0.5 / _P3, 0.5 / _P3, -0.5 / _P3, 0, 0, 0, 0),),
        ),
    ),
)

# k3 = r - log r - 1 with r = pi_ref / pi.
K3_ESTIMATOR = Exercise(
    name="k3_estimator",
    signature="k3_estimator(logp: np.ndarray, ref_logp: np.ndarray) -> np.ndarray",
    cases=(
        Case(
            (np.log(_arr(0.5)), np.log(_arr(0.25))),
            _arr(0.5 - math.log(0.5) - 1),  # r = 0.25 / 0.5
            "pi = 0.5, pi_ref = 0.25",
            "the ratio is pi_ref / pi_theta = exp(ref_logp - logp), not pi_theta / pi_ref.",
        ),
        Case(
            (np.log(_arr(0.3, 0.9)), np.log(_arr(0.3, 0.9))),
            _arr(0.0, 0.0),
            "policy equals reference",
            "the estimator is 0 when the two policies agree.",
        ),
        Case(
            (np.log(_arr(0.25, 0.1)), np.log(_arr(0.5, 0.1))),
            _arr(2 - math.log(2) - 1, 0.0),  # r = 2, then r = 1
            "the reference likes the token more",
            "eq. 4 is r - log(r) - 1, never negative; log(pi/pi_ref) alone (k1) can be negative.",
        ),
    ),
)

CLIPPED_OBJECTIVE = Exercise(
    name="clipped_objective",
    signature="clipped_objective(ratio: np.ndarray, advantage: np.ndarray, clip_eps: float) "
    "-> np.ndarray",
    cases=(
        Case(
            (_arr(1.5, 0.5), _arr(1.0, 1.0), 0.2),
            _arr(1.2, 0.5),  # min(1.5, 1.2), min(0.5, 0.8)
            "positive advantages",
            "a good action's gain is capped at (1 + eps) * A: take min(r * A, clip(r) * A).",
        ),
        Case(
            (_arr(1.5, 0.5), _arr(-1.0, -1.0), 0.2),
            _arr(-1.5, -0.8),  # min(-1.5, -1.2), min(-0.5, -0.8)
            "negative advantages",
            "the minimum of the clipped and unclipped terms is a pessimistic bound: with A < 0 "
            "and r > 1 + eps the unclipped term is the smaller one and is kept.",
        ),
        Case(
            (_arr(1.1, 0.9), _arr(2.0, -3.0), 0.2),
            _arr(2.2, -2.7),  # inside the clip range nothing changes
            "ratios inside [1 - eps, 1 + eps]",
            "inside the clip range the objective is simply r * A.",
        ),
    ),
)


def check_advantages_from_rewards(fn) -> CheckReport:
    """Public cases of exercise 5.1 (group-normalised advantages, eps = 1e-4)."""
    return check(fn, ADVANTAGES_FROM_REWARDS)


def check_k3_estimator(fn) -> CheckReport:
    """Public cases of exercise 5.2 (the k3 KL estimator of DeepSeekMath eq. 4)."""
    return check(fn, K3_ESTIMATOR)


def check_clipped_objective(fn) -> CheckReport:
    """Public cases of exercise 5.3 (PPO's clipped surrogate, per token)."""
    return check(fn, CLIPPED_OBJECTIVE)
