"""Chapter 6 baselines of sequence-level distillation, in PyTorch: the answer key, GRPO's groups,
and the student's greedy answers.

Taught in chapter 6, "Distillation against RL, in miniature" and "What does a copy inherit?".
Reached as `labs.distill.torch.supervise_on_answers` and so on.

* `supervise_on_answers`: the student trained on the true answers, from the same cold start as
  the distilled one, with the same loss and the same curve. On this task the answer key is free,
  so it says how much of distillation's gain the teacher's knowledge explains and how much any
  correct-enough supervision would give.
* `group_statistics`: how often a GRPO group of G sampled answers holds a correct one, and how
  often its rewards differ at all (the only groups with a policy gradient), with and without the
  format term of the reward.
* `greedy_answers`: the number each policy writes greedily, for `labs.distill.inherited_errors`.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from labs.common import validate
from labs.common.progress import progress
from labs.common.tasks import AdditionTask, Problem, _parse_answer
from labs.common.validate import finite_loss, integer, real_number, size, text
from labs.distill.costs import warm_up_flops
from labs.distill.sequence import Curve, _greedy_accuracy, _positions
from labs.grpo.checks import check_items, check_loop_sizes
from labs.grpo.policy import TinyPolicy, _greedy, _sample
from labs.grpo.training import check_models

__all__ = ["greedy_answers", "group_statistics", "supervise_on_answers"]

MAX_GROUP = 64  # answers per group; more is a typo at this scale


def supervise_on_answers(
    student: TinyPolicy,
    task: AdditionTask,
    eval_problems,
    *,
    steps: int = 200,
    batch_size: int = 64,
    lr: float = 3e-3,
    eval_every: int = 20,
    seed: int = 0,
    desc: str = "answer key",
) -> tuple[TinyPolicy, Curve]:
    """Fine-tune `student` on the true answers of training prompts; returns it and its curve.

    The same loop as `labs.distill.torch.distill_on_traces` with the answer key in place of the
    teacher: each step draws `batch_size` training problems, takes one Adam step on the
    cross-entropy of their correct answers (digits and <eos>), and the curve records, every
    `eval_every` steps, the FLOPs spent (6 N_student per token: there is no teacher to run), the
    answers trained on, the CPU seconds and the greedy accuracy on `eval_problems`.
    steps <= 100,000, batch_size <= 65,536 and seed in [0, 2**62].
    """
    check_models(task, student=student)
    eval_problems = check_items("eval_problems", eval_problems, Problem)
    steps, batch_size, lr, seed = check_loop_sizes(steps, batch_size, lr, seed)
    seed = validate.seed("seed", seed)  # torch's generators take at most 2**64 - 1
    eval_every = integer("eval_every", eval_every, minimum=1, maximum=steps)
    text("desc", desc, nonempty=False)
    return _supervise_on_answers(
        student, task, eval_problems, steps, batch_size, lr, eval_every, seed, desc
    )


def _supervise_on_answers(student, task, eval_problems, steps, batch_size, lr, eval_every, seed,
                          desc):  # fmt: skip
    """Cross-entropy on the answer tokens of random training problems, Adam, a curve."""
    generator = torch.Generator().manual_seed(seed)
    prompts = torch.as_tensor(task.prompts(task.train))
    answers = torch.as_tensor(task.answers(task.train))
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    per_step = warm_up_flops(sum(p.numel() for p in student.parameters()), batch_size,
                             _positions(task))  # fmt: skip
    curve = Curve()
    curve.add(0.0, _greedy_accuracy(student, task, eval_problems), 0)
    spent = 0.0
    for step in progress(range(1, steps + 1), desc=desc):
        start = time.process_time()
        idx = torch.randint(0, len(task.train), (batch_size,), generator=generator)
        seq = torch.cat([prompts[idx], answers[idx]], dim=1)
        logits = student._forward(seq[:, :-1])[:, task.prompt_length - 1 :]
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            answers[idx].reshape(-1),
            ignore_index=task.tokenizer.pad_id,  # padding after <eos> is not trained on
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        finite_loss(float(loss.detach()), step, steps, lr)  # stop at the first NaN
        spent += time.process_time() - start
        if step % eval_every == 0 or step == steps:
            curve.add(step * per_step, _greedy_accuracy(student, task, eval_problems),
                      step * batch_size, spent)  # fmt: skip
    return student, curve


@torch.no_grad()
def group_statistics(
    policy: TinyPolicy,
    task: AdditionTask,
    problems,
    *,
    group_size: int = 8,
    format_weight: float = 0.1,
    seed: int = 0,
) -> dict[str, float]:
    """What GRPO's groups look like for `policy`: `group_size` answers sampled (temperature 1) for
    each of `problems` (a non-empty sequence of Problems, len(problems) * group_size <= 65,536),
    drawn from `seed` (in [0, 2**62]).

    Returns a dict of shares: "accuracy" (of the sampled answers), "well_formed" (of the sampled
    answers), "with_correct" (groups holding at least one correct answer), "informative" (groups
    whose rewards, correctness + format_weight x format, are not all equal: the groups with a
    policy gradient) and "informative_on_correctness" (groups whose correctness alone varies).
    """
    check_models(task, policy=policy)
    problems = check_items("problems", problems, Problem)
    group_size = size("group_size", group_size, maximum=MAX_GROUP)
    if len(problems) * group_size > 65_536:
        raise ValueError(
            f"len(problems) * group_size must be <= 65,536, got {len(problems) * group_size}"
        )
    format_weight = real_number("format_weight", format_weight, nonnegative=True)
    seed = validate.seed("seed", seed)
    return _group_statistics(policy, task, problems, group_size, format_weight, seed)


def _group_statistics(policy, task, problems, group_size, format_weight, seed):
    """Sample the groups, score them, count the groups whose rewards differ."""
    tok = task.tokenizer
    grouped = [p for p in problems for _ in range(group_size)]
    prompts = torch.as_tensor(task.prompts(grouped))
    generator = torch.Generator().manual_seed(seed)
    completions, _ = _sample(
        policy, prompts, task.max_answer_tokens, tok.eos_id, tok.pad_id, generator, 1.0
    )
    correct = task.rewards(grouped, completions, 0.0).reshape(len(problems), group_size)
    formed = task.rewards(grouped, completions, 1.0).reshape(len(problems), group_size) - correct
    reward = correct + format_weight * formed
    return {
        "accuracy": float(correct.mean()),
        "well_formed": float(formed.mean()),
        "with_correct": float((correct.max(1) > 0).mean()),
        "informative": float((reward.max(1) > reward.min(1)).mean()),
        "informative_on_correctness": float((correct.max(1) > correct.min(1)).mean()),
    }


@torch.no_grad()
def greedy_answers(policy: TinyPolicy, task: AdditionTask, problems) -> np.ndarray:
    """The number `policy` writes greedily for each of `problems`, -1 where it writes no
    well-formed number: int64 array of shape (len(problems),)."""
    check_models(task, policy=policy)
    problems = check_items("problems", problems, Problem)
    return _greedy_answers(policy, task, problems)


def _greedy_answers(policy, task, problems) -> np.ndarray:
    prompts = torch.as_tensor(task.prompts(problems))
    rows = _greedy(policy, prompts, task.max_answer_tokens).tolist()
    parsed = [_parse_answer(row) for row in rows]
    return np.array([-1 if a is None else a for a in parsed], dtype=np.int64)
