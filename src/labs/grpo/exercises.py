"""Chapter 5 exercises: group advantages, the k3 KL estimator, the clipped objective, and a
decision: the group size that keeps enough groups informative.

Taught in chapter 5, "Exercise 5.1: group advantages", "Exercise 5.2: the k3 estimator",
"Exercise 5.3: the clipped objective" and "Exercise 5.4: how large a group? (a decision)".

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

# (1, 0, 0, 0, 0, 1, 1, 0) in groups of 4: (1, 0, 0, 0) as above, (0, 1, 1, 0) as in _D3 below.
# Its reverse differs, so groups taken the wrong way cannot pass by symmetry.
# Groups down the columns of reshape(4, 2): (1, 0, 0, 1), mean 0.5, std as (0, 1, 1, 0); and
# (0, 0, 1, 0), mean 0.25, std as (1, 0, 0, 0). Read back row by row or column by column:
_COLUMN_ANSWERS = tuple(
    np.concatenate(
        [
            _arr(0.5 / d3, -0.25 / d1, -0.5 / d3, -0.25 / d1),
            _arr(-0.5 / d3, 0.75 / d1, 0.5 / d3, -0.25 / d1),
        ]
    )  # fmt: skip
    if rows
    else _arr(0.5, -0.5, -0.5, 0.5, -0.25, -0.25, 0.75, -0.25) / _arr(*[d3] * 4, *[d1] * 4)
    for d1, d3 in ((_D1, _D3), (_P1, _P3))
    for rows in (True, False)
)
_COLUMNS = (
    "your groups are rewards len(rewards) // group_size apart (reshape(group_size, -1) makes the "
    "columns the groups); a question's group_size answers are consecutive: reshape(-1, "
    "group_size) and normalise each row."
)
# Each group centred on its own mean but divided by the whole batch's std: three 1s in eight,
# mean 0.375, squares 3 * 0.625^2 + 5 * 0.375^2 = 1.875; sample variance 1.875 / 7, population
# 1.875 / 8 (neither equals a group's std).
_BATCH_STD_ANSWERS = tuple(
    _arr(0.75, -0.25, -0.25, -0.25, -0.5, 0.5, 0.5, -0.5) / (math.sqrt(1.875 / n) + EPS)
    for n in (7, 8)
)
_BATCH_STD = (
    "you centred each group on its own mean but divided by the whole batch's std: divide each "
    "group by its own std."
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
            (_arr(1, 0, 0, 0, 0, 1, 1, 0), 4),
            np.concatenate(
                [_arr(0.75, -0.25, -0.25, -0.25) / _D1, _arr(-0.5, 0.5, 0.5, -0.5) / _D3]
            ),
            "two groups of four",
            "normalise within each group of `group_size` consecutive rewards, not over the "
            "whole batch: reshape to (-1, group_size).",
            also=(
                np.concatenate(
                    [_arr(0.75, -0.25, -0.25, -0.25) / _P1, _arr(-0.5, 0.5, 0.5, -0.5) / _P3]
                ),
            ),
            mistakes=tuple((wrong, _COLUMNS) for wrong in _COLUMN_ANSWERS)
            + tuple((wrong, _BATCH_STD) for wrong in _BATCH_STD_ANSWERS),
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

# k3 = r - log r - 1 with r = pi_ref / pi. The slips worth naming, from the two probabilities:
# k1 = log(pi / pi_ref) (the plain log ratio, which can be negative), its opposite log r, k2 =
# (log r)^2 / 2, r - log r without the -1, and the ratio the wrong way up (pi / pi_ref).
_INVERTED = "the ratio is pi_ref / pi_theta = exp(ref_logp - logp), not pi_theta / pi_ref."


def _k3_mistakes(pi: tuple, ref: tuple) -> tuple:
    r = np.asarray(ref, dtype=np.float64) / np.asarray(pi, dtype=np.float64)
    return (
        (-np.log(r), "this is k1 = log(pi_theta / pi_ref) = logp - ref_logp, which can be "
         "negative; eq. 4 is k3 = r - log(r) - 1 with r = pi_ref / pi_theta."),
        (np.log(r), "this is log(r) alone (minus k1); eq. 4 is k3 = r - log(r) - 1."),
        (np.log(r) ** 2 / 2, "this is k2 = (log r)^2 / 2, another of Schulman's estimators; "
         "eq. 4 is k3 = r - log(r) - 1."),
        (r - np.log(r), "the -1 is missing: k3 = r - log(r) - 1, which is 0 where the two "
         "policies agree."),
        (1 / r + np.log(r) - 1, _INVERTED),
    )  # fmt: skip


K3_ESTIMATOR = Exercise(
    name="k3_estimator",
    signature="k3_estimator(logp: np.ndarray, ref_logp: np.ndarray) -> np.ndarray",
    cases=(
        Case(
            (np.log(_arr(0.25, 0.1)), np.log(_arr(0.5, 0.1))),
            _arr(2 - math.log(2) - 1, 0.0),  # r = 2, then r = 1
            "the reference likes the token more",
            "eq. 4 is r - log(r) - 1 with r = pi_ref / pi_theta = exp(ref_logp - logp): never "
            "negative, and 0 where the policies agree.",
            mistakes=_k3_mistakes((0.25, 0.1), (0.5, 0.1)),
        ),
        Case(
            (np.log(_arr(0.5)), np.log(_arr(0.25))),
            _arr(0.5 - math.log(0.5) - 1),  # r = 0.25 / 0.5
            "pi = 0.5, pi_ref = 0.25",
            _INVERTED,
            mistakes=_k3_mistakes((0.5,), (0.25,)),
        ),
        Case(
            (np.log(_arr(0.3, 0.9)), np.log(_arr(0.3, 0.9))),
            _arr(0.0, 0.0),
            "policy equals reference",
            "the estimator is 0 when the two policies agree.",
            mistakes=_k3_mistakes((0.3, 0.9), (0.3, 0.9))[3:4],  # r - log r gives 1, not 0
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
            (_arr(0.5), _arr(-1.0), 0.2),
            _arr(-0.8),  # min(0.5 * -1, 0.8 * -1) = min(-0.5, -0.8)
            "a ratio below 1 - eps with a negative advantage",
            "clip both sides: with A < 0 and r < 1 - eps the clipped term (1 - eps) * A is the "
            "smaller one and is kept, so pushing a bad action's probability further down earns "
            "nothing more.",
            mistakes=(
                (_arr(-0.5), "you clipped r only from above; clip it into [1 - eps, 1 + eps]."),
            ),
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


# A group of G answers to a prompt of pass rate p is flat (no signal) with probability
# p^G + (1 - p)^G; the expected informative share is the mean over prompts of 1 - p^G - (1 - p)^G.
# Answer: the smallest G in 2..max_group_size whose share reaches the target, else None.
_GROUP_HINT = (
    "average over the prompts the chance that a group of G is informative, "
    "1 - p**G - (1 - p)**G for each prompt's own p; "
)
# The answer is a count: a generic guess ("half the expected value", "off by one") would misread
# it, so each case names its own wrong answers (`relations=False`).
_OFF_BY_ONE = "your answer is off by one: the smallest G whose share reaches the target is wanted."
_ALL_WRONG_ONLY = (
    "you counted only the all-wrong groups as flat: a group is also flat when every answer is "
    "right, with probability p**G, and for an easy prompt that is the likely way."
)
_ALL_RIGHT_ONLY = (
    "you counted only the all-right groups as flat: a group is also flat when every answer is "
    "wrong, with probability (1 - p)**G, and for a hard prompt that is the likely way."
)
_SOLVED_LEFT_OUT = (
    "you left out the prompts of pass rate 0 or 1: they still count in the share, as 0."
)
CHOOSE_GROUP_SIZE = Exercise(
    name="choose_group_size",
    signature="choose_group_size(pass_rates: np.ndarray, target_share: float, "
    "max_group_size: int) -> int | None",
    cases=(
        Case(
            (_arr(0.9), 0.5, 16),
            # 0.9^6 = 0.531441 -> share 1 - 0.531441 - 1e-6 = 0.468558 < 0.5;
            # 0.9^7 = 0.4782969 -> share 1 - 0.4782969 - 1e-7 = 0.5217030 >= 0.5.
            # Counting only all-wrong groups flat: 1 - 0.1^2 = 0.99 already at G = 2.
            7,
            "one easy prompt of pass rate 0.9, target 0.5",
            _GROUP_HINT + "an easy prompt's group is flat mostly because every answer is right.",
            mistakes=((2, _ALL_WRONG_ONLY), (6, _OFF_BY_ONE), (8, _OFF_BY_ONE)),
            relations=False,
        ),
        Case(
            (_arr(0.1), 0.5, 16),
            # the mirror image of the first case: 0.9^G is now the all-wrong term, so G = 7.
            # Counting only all-right groups flat: 1 - 0.1^2 = 0.99 already at G = 2.
            7,
            "one hard prompt of pass rate 0.1, target 0.5",
            _GROUP_HINT + "a hard prompt's group is flat mostly because every answer is wrong.",
            mistakes=((2, _ALL_RIGHT_ONLY), (6, _OFF_BY_ONE), (8, _OFF_BY_ONE)),
            relations=False,
        ),
        Case(
            (_arr(0.5, 0.5), 0.7, 16),
            3,  # G = 2: 1 - 0.25 - 0.25 = 0.5; G = 3: 1 - 0.125 - 0.125 = 0.75 >= 0.7
            "two prompts of pass rate 0.5, target 0.7",
            "the smallest G whose share reaches the target: G = 2 gives 0.5, G = 3 gives 0.75 "
            "(an answer of 2 or 4 is off by one).",
            mistakes=((2, _OFF_BY_ONE), (4, _OFF_BY_ONE)),
            relations=False,
        ),
        Case(
            (_arr(0.5), 0.75, 16),
            3,  # 1 - 2 * 0.5^3 = 0.75 exactly (powers of two are exact in floating point)
            "one prompt of pass rate 0.5, target 0.75 (reached exactly at G = 3)",
            "'reaches the target' means share >= target_share, not >.",
            mistakes=((4, "G = 3 gives exactly 0.75: 'reaches' means >=, not >."),),
            relations=False,
        ),
        Case(
            (_arr(0.1, 0.9), 0.6, 16),
            # 0.9^8 = 0.43046721 -> share 1 - 1e-8 - 0.43046721 = 0.56953278 < 0.6;
            # 0.9^9 = 0.387420489 -> share 1 - 1e-9 - 0.387420489 = 0.612579510 >= 0.6.
            9,
            "pass rates 0.1 and 0.9, target 0.6",
            _GROUP_HINT + "the share at the mean pass rate (0.5 here, which gives G = 3) is far "
            "too optimistic, since an easy or hard prompt is flat much more often.",
            mistakes=(
                (
                    3,
                    "3 is the answer for the mean pass rate 0.5; average the share over "
                    "the prompts, each at its own pass rate.",
                ),
            ),  # fmt: skip
            relations=False,
        ),
        Case(
            (_arr(0.0, 1.0, 0.5, 0.5), 0.4, 16),
            # share (0 + 0 + 2 (1 - 2 * 0.5^G)) / 4: G = 3 -> 0.375; G = 4 -> 0.4375 >= 0.4.
            4,
            "two prompts always failed or always solved, two of pass rate 0.5, target 0.4",
            "a prompt of pass rate 0 or 1 gives a flat group at every G: it still counts in the "
            "share, as 0 (leaving it out gives G = 2).",
            mistakes=((2, _SOLVED_LEFT_OUT), (3, _OFF_BY_ONE), (5, _OFF_BY_ONE)),
            relations=False,
        ),
        Case(
            (_arr(0.0, 0.5), 0.6, 32),
            None,  # the p = 0 prompt is never informative: the share stays below 0.5
            "one prompt never solved, one of pass rate 0.5, target 0.6",
            "with one prompt of two never informative, no G reaches 0.6: return None.",
            mistakes=((3, _SOLVED_LEFT_OUT),),  # only the p = 0.5 prompt: 0.75 at G = 3
            relations=False,
        ),
        Case(
            (_arr(0.1, 0.9), 0.6, 9),
            9,  # as in the fourth case: G = 9 is needed, and 9 is still allowed
            "pass rates 0.1 and 0.9, target 0.6, at most 9 per group",
            "max_group_size itself is allowed: try G = 2, 3, ..., max_group_size inclusive.",
            mistakes=((None, "no G found up to 8: max_group_size itself (9) is allowed."),),
            relations=False,
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


def check_choose_group_size(fn) -> CheckReport:
    """Public cases of exercise 5.4 (the smallest group size that keeps a target share of groups
    informative, from per-prompt pass rates)."""
    return check(fn, CHOOSE_GROUP_SIZE)
