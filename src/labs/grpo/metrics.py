"""pass@k and maj@k: what sampling k answers buys, before and after RL.

Taught in chapter 5, "pass@k and maj@k: what RL changes". DeepSeekMath (§5.2.2) reports that
RL raises maj@k (majority voting over k samples) but not pass@k (at least one of k samples
right): RL sharpens the distribution towards answers the model could already produce. The
chapter measures both on the toy task.

Also here, for chapter 5's Exercise 5.4 ("how large a group?"), the expected share of informative
groups at a group size G from per-prompt pass rates, and the smallest G that reaches a target
share (the exercise's reference answer, kept out of the chapter's cells).

Framework-free (NumPy): the inputs are per-sample outcomes the sampler already produced.

Axes: P problems, n samples per problem.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Int

from labs.common.validate import float_array, integer, real_number
from labs.grpo.checks import check_at_k_args, check_targets

__all__ = ["informative_share", "majority_at_k", "pass_at_k", "smallest_group_size"]

MAX_GROUP = 65_536  # as GRPOConfig's cap on completions per step


def pass_at_k(correct, k: int) -> float:
    """Unbiased pass@k from n >= k samples per problem, averaged over problems.

    For a problem with c correct answers among n samples, the probability that at least one
    of k samples drawn without replacement is correct is 1 - C(n - c, k) / C(n, k) (Chen et
    al. 2021, eq. 1), computed as a product so that no binomial coefficient overflows.

    Args:
        correct: (P, n) array of booleans or 0/1, one row per problem.
        k: 1 <= k <= n.

    Returns:
        The mean over problems, in [0, 1].
    """
    correct, k = check_at_k_args(correct, k, name="correct", dtype=("bool", "int", "float"))
    return _pass_at_k(correct.astype(bool), k)


def _pass_at_k(correct: Bool[np.ndarray, "P n"], k: int) -> float:
    """1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n - c + 1}^{n} (1 - k / i), per problem."""
    n = correct.shape[1]
    out = []
    for c in correct.sum(axis=1):
        if n - c < k:  # every draw of k contains a correct answer
            out.append(1.0)
        else:
            out.append(1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1))))
    return float(np.mean(out))


def majority_at_k(answers, targets, k: int) -> float:
    """maj@k: the share of votes of k samples whose most frequent answer is the right one.

    The n samples of each problem are split into n // k disjoint runs of k consecutive samples;
    each run votes. Malformed samples (answer -1) do not vote; a run with no valid answer
    counts as wrong; a tie goes to the tied answer that appears first in the run.

    Args:
        answers: (P, n) integer array of the parsed answers, -1 where a sample is malformed.
        targets: (P,) integer array, the right answers.
        k: 1 <= k <= n, dividing n.

    Returns:
        The mean over problems and runs, in [0, 1].
    """
    answers, k = check_at_k_args(answers, k, name="answers", dtype=("int",), divides=True)
    targets = check_targets(targets, answers.shape[0])
    return _majority_at_k(answers, targets, k)


def _majority_at_k(
    answers: Int[np.ndarray, "P n"], targets: Int[np.ndarray, " P"], k: int
) -> float:
    """Vote in each run of k samples; right when the most frequent valid answer is the target."""
    hits = []
    for row, target in zip(answers, targets, strict=True):
        for run in row.reshape(-1, k):
            valid = run[run >= 0]
            if valid.size == 0:
                hits.append(False)
                continue
            values, first, counts = np.unique(valid, return_index=True, return_counts=True)
            best = counts == counts.max()
            winner = values[best][np.argmin(first[best])]  # ties: the first one in the run
            hits.append(bool(winner == target))
    return float(np.mean(hits))


def _pass_rates(pass_rates) -> np.ndarray:
    rates = float_array("pass_rates", pass_rates, ndim=1)
    if ((rates < 0) | (rates > 1)).any():
        raise ValueError(
            f"pass_rates must lie in [0, 1], got values from {rates.min()!r} to {rates.max()!r}"
        )
    return rates.astype(np.float64)


def informative_share(pass_rates, group_sizes) -> np.ndarray:
    """Expected share of informative groups (not all right, not all wrong), one group per prompt.

    Args:
        pass_rates: (P,) floats in [0, 1], each prompt's chance that one answer is right; answers
            are taken as independent.
        group_sizes: (S,) integers from 1 to 65,536, the group sizes G to evaluate.

    Returns:
        (S,) floats: the mean over prompts of 1 - p^G - (1 - p)^G at each G.
    """
    rates = _pass_rates(pass_rates)
    sizes = np.asarray(group_sizes)
    if sizes.ndim != 1 or sizes.size == 0 or sizes.dtype.kind not in "iu":
        raise TypeError(
            "group_sizes must be a non-empty 1-D array of integers, got "
            f"{type(group_sizes).__name__} of dtype {sizes.dtype} and shape {sizes.shape}"
        )
    if sizes.min() < 1 or sizes.max() > MAX_GROUP:
        raise ValueError(
            f"group_sizes must lie in 1..{MAX_GROUP:,}, got {sizes.min()} to {sizes.max()}"
        )
    return _informative_share(rates, sizes)


def _informative_share(rates: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    flat = rates[:, None] ** sizes + (1 - rates[:, None]) ** sizes  # (P, S)
    return 1 - flat.mean(axis=0)


def smallest_group_size(pass_rates, target_share: float, max_group_size: int) -> int | None:
    """The smallest G in 2..max_group_size whose expected informative share reaches
    `target_share` (>=), or None when none does.

    Args:
        pass_rates: (P,) floats in [0, 1], one per prompt.
        target_share: a float in (0, 1].
        max_group_size: an integer from 2 to 65,536.
    """
    rates = _pass_rates(pass_rates)
    target = real_number("target_share", target_share, positive=True, maximum=1.0)
    largest = integer("max_group_size", max_group_size, minimum=2, maximum=MAX_GROUP)
    sizes = np.arange(2, largest + 1)
    reached = _informative_share(rates, sizes) >= target
    return int(sizes[np.argmax(reached)]) if reached.any() else None
