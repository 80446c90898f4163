"""How a chapter 5 policy scores: greedy and sampled held-out scores, pass@k and maj@k.

`check_models` checks that a task and its policies fit together (`labs.grpo.training` and
chapter 6 import it from there); `evaluate` and `evaluate_at_k`
(reached as `labs.grpo.torch.evaluate` and so on) score
a policy on a list of problems. The training loops (`labs.grpo.training`, `labs.grpo.ppo`) and
the sweeps call the unchecked `_evaluate` and `_evaluate_at_k` with fixed seeds.

Taught in chapter 5, "Training on the toy task" and "pass@k and maj@k".
"""

from __future__ import annotations

import numpy as np
import torch

from labs.common import validate
from labs.common.tasks import AdditionTask, Problem, _parse_answer
from labs.common.validate import instance, integer, real_number, size
from labs.grpo.checks import MAX_BATCH, check_fits, check_items, check_ks
from labs.grpo.countdown import CountdownProblem, CountdownTask
from labs.grpo.metrics import _majority_at_k, _pass_at_k
from labs.grpo.policy import TinyPolicy, _greedy, _sample

__all__ = ["evaluate", "evaluate_at_k"]


def check_models(task, **policies) -> None:
    """TypeError/ValueError unless `task` is an AdditionTask or a CountdownTask and each given
    policy a TinyPolicy that reads the task's vocabulary and sequence length."""
    instance("task", task, (AdditionTask, CountdownTask), "an AdditionTask or a CountdownTask")
    for name, policy in policies.items():
        instance(name, policy, TinyPolicy, "a TinyPolicy")
        check_fits(name, policy.vocab_size, policy.max_len, task.vocab_size, _length(task))


def _length(task: AdditionTask) -> int:
    return task.prompt_length + task.max_answer_tokens


@torch.no_grad()
def evaluate(
    policy: TinyPolicy,
    task: AdditionTask,
    problems,
    *,
    samples: int = 4,
    format_weight: float = 0.1,
    seed: int = 0,
) -> dict[str, float]:
    """Greedy accuracy, and mean sampled reward and accuracy (`samples` draws per problem).

    `problems` is a non-empty sequence of Problems; len(problems) * samples <= 65,536.

    Returns a dict: "greedy_accuracy", "reward", "accuracy", "format" (share well formed).
    """
    check_models(task, policy=policy)
    problems = check_items("problems", problems, (Problem, CountdownProblem))
    samples = size("samples", samples, maximum=max(1, MAX_BATCH // len(problems)))
    format_weight = real_number("format_weight", format_weight, nonnegative=True)
    seed = validate.seed("seed", seed)
    return _evaluate(policy, task, problems, samples, format_weight, seed)


def _evaluate(
    policy: TinyPolicy,
    task: AdditionTask,
    problems: list[Problem],
    samples: int,
    format_weight: float,
    seed: int,
) -> dict[str, float]:
    """Greedy accuracy, then `samples` sampled completions per problem."""
    prompts = torch.as_tensor(task.prompts(problems))
    n = task.max_answer_tokens
    greedy_acc = task.accuracy(problems, _greedy(policy, prompts, n).numpy())
    generator = torch.Generator().manual_seed(seed)
    rep = [p for p in problems for _ in range(samples)]
    tok = task.tokenizer
    repeated = prompts.repeat_interleave(samples, dim=0)
    comp, _ = _sample(policy, repeated, n, tok.eos_id, tok.pad_id, generator, 1.0)
    comp = comp.numpy()
    return {
        "greedy_accuracy": greedy_acc,
        "reward": float(task.rewards(rep, comp, format_weight).mean()),
        "accuracy": task.accuracy(rep, comp),
        "format": _format_rate(task, rep, comp),
    }


@torch.no_grad()
def evaluate_at_k(
    policy: TinyPolicy,
    task: AdditionTask,
    problems,
    *,
    samples: int = 16,
    ks=(1, 4, 16),
    temperature: float = 1.0,
    seed: int = 0,
) -> dict[str, float]:
    """pass@k and maj@k of `samples` sampled answers per problem (see `labs.grpo.metrics`).

    `problems` is a non-empty sequence of Problems, len(problems) * samples <= 65,536; each k
    in `ks` must divide `samples`.

    Returns a dict with keys "pass@k" and "maj@k" for each k in `ks`.
    """
    check_models(task, policy=policy)
    instance("task", task, AdditionTask, "an AdditionTask (answers are numbers to vote on)")
    problems = check_items("problems", problems, Problem)
    samples = size("samples", samples, maximum=max(1, MAX_BATCH // len(problems)))
    ks = [integer("ks[i]", k, minimum=1, maximum=samples) for k in check_ks(ks)]
    for k in ks:
        if samples % k:
            raise ValueError(f"every k in ks must divide samples={samples}, got {k}")
    temperature = real_number("temperature", temperature, positive=True)
    seed = validate.seed("seed", seed)
    return _evaluate_at_k(policy, task, problems, samples, ks, temperature, seed)


def _evaluate_at_k(policy, task, problems, samples, ks, temperature, seed) -> dict[str, float]:
    """Sample `samples` answers per problem, parse them, score pass@k and maj@k."""
    tok = task.tokenizer
    prompts = torch.as_tensor(task.prompts(problems)).repeat_interleave(samples, dim=0)
    generator = torch.Generator().manual_seed(seed)
    comp, _ = _sample(
        policy, prompts, task.max_answer_tokens, tok.eos_id, tok.pad_id, generator, temperature
    )
    parsed = [_parse_answer(row) for row in comp.tolist()]
    answers = np.array([-1 if a is None else a for a in parsed]).reshape(len(problems), samples)
    targets = np.array([p.answer for p in problems])
    out = {}
    for k in ks:
        out[f"pass@{k}"] = _pass_at_k(answers == targets[:, None], k)
        out[f"maj@{k}"] = _majority_at_k(answers, targets, k)
    return out


def _format_rate(task: AdditionTask, problems, completions) -> float:
    # reward with weight 1 minus correctness = format reward
    full = task.rewards(problems, completions, 1.0)
    correct = task.rewards(problems, completions, 0.0)
    return float((full - correct).mean())
