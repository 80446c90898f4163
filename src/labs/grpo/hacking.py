"""Reward hacking: which way a policy's wrong answers are wrong.

Taught in chapter 5, "Reward hacking: a rule that checks less than it should". The proxy rule
(`GRPOConfig(reward="at_least_sum")`) pays for any well-formed number at least the sum. A policy
trained on it should move its errors above the sum rather than remove them; a policy trained on
the right rule has no reason to. `wrong_answer_gaps` measures that: the stated number minus the
true sum for every well-formed wrong greedy answer. The chapter and the multi-seed runs
(`python -m labs.grpo.sweep --task hacking`, `labs/grpo/data/hacking.json`) both call it.

Reached as `labs.grpo.hacking` (imports torch).
"""

from __future__ import annotations

import numpy as np
import torch

from labs.common.tasks import AdditionTask, Problem, _parse_answer
from labs.common.validate import instance
from labs.grpo.checks import check_items
from labs.grpo.policy import TinyPolicy, _greedy
from labs.grpo.training import check_models

__all__ = ["wrong_answer_gaps"]


def wrong_answer_gaps(policy: TinyPolicy, task: AdditionTask, problems=None) -> np.ndarray:
    """Stated number minus the true sum, for each well-formed wrong greedy answer of `policy`.

    Args:
        policy: a TinyPolicy sized for `task`.
        task: an AdditionTask (the sum is what the proxy rule compares with).
        problems: a sequence of the task's `Problem`s; the held-out problems when None.

    Returns:
        A 1-D int64 array, one entry per problem whose greedy answer is well formed and wrong,
        in the order of `problems` (never 0; malformed answers are left out).
    """
    instance("task", task, AdditionTask, "an AdditionTask")
    check_models(task, policy=policy)
    problems = task.held_out if problems is None else check_items("problems", problems, Problem)
    return _wrong_answer_gaps(policy, task, problems)


def _wrong_answer_gaps(policy: TinyPolicy, task: AdditionTask, problems) -> np.ndarray:
    """Greedy answers, parsed; stated - true where well formed and wrong."""
    prompts = torch.as_tensor(task.prompts(problems))
    answers = _greedy(policy, prompts, task.max_answer_tokens).tolist()
    gaps = []
    for problem, row in zip(problems, answers, strict=True):
        stated = _parse_answer(row)
        if stated is not None and stated != problem.answer:
            gaps.append(stated - problem.answer)
    return np.array(gaps, dtype=np.int64)
