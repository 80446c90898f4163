"""pass@k and maj@k: what sampling k answers buys, before and after RL.

Taught in chapter 5, "pass@k and maj@k: what RL changes". DeepSeekMath (§5.2.2) reports that
RL raises maj@k (majority voting over k samples) but not pass@k (at least one of k samples
right): RL sharpens the distribution towards answers the model could already produce. The
chapter measures both on the toy task.

Framework-free (NumPy): the inputs are per-sample outcomes the sampler already produced.

Axes: P problems, n samples per problem.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Int

from labs.grpo.checks import check_at_k_args, check_targets

__all__ = ["majority_at_k", "pass_at_k"]


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
