"""Chapter 6's decision rules: does a copy match its teacher, and the verdicts of the claim checks.

Taught in chapter 6, "How close does the copy get?" and the two claim checks. Framework-free.

`match_teacher` compares a student with its teacher on the same problems. Each problem gives a
paired difference (student right minus teacher right, -1, 0 or 1), so problems both get right or
both get wrong cancel. The statistic is the mean difference over problems and seeds. Its interval
comes from a bootstrap that resamples the problems (the same problems for student and teacher) and
the seeds independently, so it carries both sources of noise: which problems the held-out set
happens to hold, and which seed trained the student. The verdict reads the interval against a
margin stated before the data: "matches" only when the whole interval lies within the margin,
"falls short" or "passes" when the whole interval lies beyond it, and "not resolved" when the
interval is too wide to say.

`copy_verdict` is the rule of the claim check "smaller models copy more powerful ones for a
fraction of the costs". The chapter applies it to the copy's cost counted as a sampler with a KV
cache pays, which decides the verdict, and prints its answer for the chapter's cacheless sampler
beside it as a sensitivity line.

`first_crossing` and `settled_crossing` read where a learning curve reaches a line (the claim
check's 90% of the teacher). The first is the first evaluation above the line: with a noisy curve
read at many evaluations it is the earliest of many noisy looks, so it is biased early.
`settled_crossing` asks that a running mean stay above the line to the end of the run, which the
chapter uses for its figures.
"""

from __future__ import annotations

import numpy as np

from labs.common import validate
from labs.common.validate import (
    boolean,
    float_array,
    integer,
    integer_array,
    real_number,
    same_shape,
    size,
)

__all__ = [
    "copy_verdict",
    "first_crossing",
    "match_teacher",
    "settled_crossing",
]

MAX_RESAMPLES = 100_000  # 2,000 is plenty for a 95% interval; far more only costs time
MAX_CELLS = 10_000_000  # seeds x problems: the bootstrap holds a few arrays of this size


def match_teacher(
    student_correct, teacher_correct, margin: float, *, resamples: int = 2000,
    level: float = 0.95, seed: int = 0,
) -> dict:  # fmt: skip
    """Does a student match its teacher on the same problems, within `margin`?

    Args:
        student_correct: integer array (seeds, problems) of 0 and 1, 1 where that seed's student
            answers that problem right. One seed, shape (1, problems), is a valid comparison:
            the interval then carries the problems' noise only.
        teacher_correct: integer array (problems,) of 0 and 1, the teacher on the same problems
            (one teacher: each seed's row is paired with it).
        margin: the largest difference in accuracy (a fraction, > 0 and < 1) still called a match.
        resamples: bootstrap resamples (100 to 100,000).
        level: the interval's coverage, in (0.5, 1).
        seed: seeds the bootstrap, so the interval repeats exactly (an int in [0, 2**62]).

    Returns a dict: "difference" (mean of student minus teacher over seeds and problems), "low"
    and "high" (the bootstrap percentile interval of that mean at `level`), "se_problems" and
    "se_seeds" (its standard error from the problems alone, seeds pooled, and from the seeds
    alone, problems pooled; nan, by definition, when there is one seed, or one problem, to take
    a standard deviation of), "margin", "seeds", "problems", "no_worse" (True when the interval
    lies above -margin: the student falls short of its teacher by less than the margin), and
    "verdict": "matches" if -margin < low and high < margin, "falls short" if high < -margin,
    "passes" if low > margin, else "not resolved".
    """
    student = integer_array("student_correct", student_correct, ndim=2, low=0, high=2)
    teacher = integer_array("teacher_correct", teacher_correct, ndim=1, low=0, high=2)
    if student.shape[1] != teacher.shape[0]:
        raise ValueError(
            "student_correct must have one column per problem of teacher_correct, got "
            f"{student.shape[1]} columns and {teacher.shape[0]} problems"
        )
    if student.size > MAX_CELLS:
        raise ValueError(
            f"student_correct must hold at most {MAX_CELLS:,} entries, got {student.size:,}"
        )
    margin = real_number("margin", margin, positive=True, maximum=1.0)
    if margin >= 1.0:
        raise ValueError(f"margin must be < 1 (a difference in accuracy), got {margin}")
    resamples = size("resamples", resamples, minimum=100, maximum=MAX_RESAMPLES)
    level = real_number("level", level, minimum=0.5, maximum=1.0)
    if not 0.5 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0.5 and 1, got {level}")
    seed = validate.seed("seed", seed)
    return _match_teacher(np.asarray(student), np.asarray(teacher), margin, resamples, level, seed)


def _match_teacher(student, teacher, margin, resamples, level, seed) -> dict:
    """Paired differences; a bootstrap over seeds and problems drawn as counts, so that each
    resample's mean is one weighted sum: sum_s sum_p c_s d_sp c_p / (S P)."""
    diff = student.astype(np.float64) - teacher.astype(np.float64)  # (seeds, problems)
    n_seeds, n_problems = diff.shape
    rng = np.random.default_rng(seed)
    seed_counts = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=resamples)
    problem_counts = rng.multinomial(n_problems, np.full(n_problems, 1 / n_problems), resamples)
    means = np.einsum("bs,sp,bp->b", seed_counts, diff, problem_counts) / (n_seeds * n_problems)
    tail = (1 - level) / 2
    low, high = (float(q) for q in np.quantile(means, [tail, 1 - tail]))
    by_problem, by_seed = diff.mean(0), diff.mean(1)
    if low > -margin and high < margin:
        verdict = "matches"
    elif high < -margin:
        verdict = "falls short"
    elif low > margin:
        verdict = "passes"
    else:
        verdict = "not resolved"
    return {
        "difference": float(diff.mean()),
        "low": low,
        "high": high,
        "se_problems": float(by_problem.std(ddof=1) / np.sqrt(n_problems))
        if n_problems > 1
        else float("nan"),
        "se_seeds": float(by_seed.std(ddof=1) / np.sqrt(n_seeds)) if n_seeds > 1 else float("nan"),
        "margin": margin,
        "seeds": n_seeds,
        "problems": n_problems,
        "no_worse": low > -margin,
        "verdict": verdict,
    }


def copy_verdict(cost_to_90: float, beats_own_training: bool = True, line: float = 0.25) -> str:
    """The rule of the claim "smaller models copy more powerful ones for a fraction of the costs".

    Args:
        cost_to_90: the compute, as a share of the teacher's training compute, by which the copy
            reaches 90% of its teacher's held-out accuracy in every seed; inf when it never does
            within the budget run.
        beats_own_training: whether the copy beats training the same student itself (RL) at equal
            compute.
        line: the share below which the cost counts as a small fraction (the chapter: a quarter).

    Returns "false" if the copy does not beat the student's own training; else "confirmed" if
    `cost_to_90` < `line`, and "overstated" if it is more (the copy is complete, but not for a
    small fraction) or inf (not complete within the budget).
    """
    if isinstance(cost_to_90, (float, np.floating)) and cost_to_90 == np.inf:
        cost_to_90 = np.inf  # never reached within the budget: documented, not refused
    else:
        cost_to_90 = real_number("cost_to_90", cost_to_90, nonnegative=True)
    beats_own_training = boolean("beats_own_training", beats_own_training)
    line = real_number("line", line, positive=True)
    if not beats_own_training:
        return "false"
    return "confirmed" if cost_to_90 < line else "overstated"


def _curves(cost, share, line, window=1):
    """Checks shared by the two crossing rules; returns (cost, share) as 2-D float arrays."""
    cost = float_array("cost", cost)
    share = float_array("share", share)
    if cost.ndim not in (1, 2):
        raise ValueError(
            f"cost must have 1 dimension (evaluations) or 2 (seeds, evaluations), got shape "
            f"{cost.shape}"
        )
    same_shape(("cost", cost), ("share", share))
    cost, share = np.atleast_2d(cost), np.atleast_2d(share)
    if np.any(cost < 0) or np.any(np.diff(cost, axis=1) < 0):
        raise ValueError(
            "cost must be non-negative and non-decreasing along the evaluations (compute spent "
            "so far), got a negative value or a decrease"
        )
    real_number("line", line)
    window = integer("window", window, minimum=1)
    if window > cost.shape[1]:
        raise ValueError(
            f"window must be at most the number of evaluations ({cost.shape[1]}), got {window}"
        )
    return cost, share, window


def first_crossing(cost, share, line: float) -> dict:
    """Where each curve first exceeds `line`, and where every curve is above it at once.

    This is the chapter's first statistic, kept for comparison. It is optimistic: a curve measured
    on a few problems is noisy (one seed on 80 problems has a binomial standard error near 0.056 at
    accuracy 0.5), and the first of many noisy evaluations to land above the line tends to come
    before the curve itself is there. `settled_crossing` is the fairer reading.

    Args:
        cost: float array (evaluations,) or (seeds, evaluations): the compute spent by each
            evaluation, non-negative and non-decreasing along the evaluations.
        share: float array of the same shape: the curve (e.g. accuracy over the teacher's).
        line: the level to exceed (strictly).

    Returns a dict: "per_seed", a float array (seeds,) of the cost at each curve's first
    evaluation above the line, and "every_seed", the largest of the seeds' costs at the first
    evaluation where every curve is above at once. inf is the answer "never within the run":
    in "per_seed" for a curve with no evaluation above the line, in "every_seed" when no
    evaluation has every curve above. It compares as larger than any cost, so a rule such as
    `copy_verdict`'s "cost < line" reads it as not reached; test `np.isfinite` before taking
    a mean, a ratio or a plot of it.
    """
    cost, share, _ = _curves(cost, share, line)
    above = share > line
    per_seed = np.where(above.any(1), cost[np.arange(len(cost)), above.argmax(1)], np.inf)
    every = above.all(0)
    every_seed = float(cost[:, every.argmax()].max()) if every.any() else float("inf")
    return {"per_seed": per_seed, "every_seed": every_seed}


def settled_crossing(cost, share, line: float, window: int = 3) -> dict:
    """Where each curve's running mean of `window` evaluations goes above `line` for good.

    The rule: the mean of evaluations j - window + 1 to j (a trailing mean, so it uses nothing
    after j) is above `line` at j and at every later evaluation to the end of the curve; the
    cost is read at the first such j. Why this rule: requiring the curve to stay above removes
    the first crossing's bias (a lucky evaluation that the curve then falls back from does not
    count), and the mean over `window` evaluations keeps one unlucky late evaluation from
    pushing the point to the end. It leans the other way, late: the longer a curve that hovers
    at the line is run, the more chances it has to dip. So the true point lies between the first
    crossing and this one; the chapter prints both. With window 1 it is the last evaluation
    below the line, plus one.

    Args:
        cost: float array (evaluations,) or (seeds, evaluations): the compute spent by each
            evaluation, non-negative and non-decreasing along the evaluations.
        share: float array of the same shape: the curve.
        line: the level to stay above (strictly).
        window: evaluations in the running mean, 1 to the number of evaluations.

    Returns a dict: "per_seed", a float array (seeds,) of the cost at each curve's settling
    evaluation (inf where the last running mean is not above the line), "index", those
    evaluations (-1 where none), and "every_seed": from the evaluation where the last seed
    settles on, every curve's running mean stays above; the largest of the seeds' costs there
    (inf if some seed never settles).
    """
    cost, share, window = _curves(cost, share, line, window)
    kernel = np.ones(window) / window
    smooth = np.array([np.convolve(row, kernel, mode="valid") for row in share])  # j >= window-1
    below = smooth <= line
    n = smooth.shape[1]
    # the last running mean at or below the line; settled from the one after it
    last_below = np.where(below.any(1), n - 1 - below[:, ::-1].argmax(1), -1)
    index = np.where(last_below < n - 1, last_below + 1 + window - 1, -1)
    per_seed = np.where(index >= 0, cost[np.arange(len(cost)), np.maximum(index, 0)], np.inf)
    if np.all(index >= 0):
        every_seed = float(cost[:, index.max()].max())
    else:
        every_seed = float("inf")
    return {"per_seed": per_seed, "index": index, "every_seed": every_seed}
