"""Chapter 6's sweep: distillation against GRPO on the small student, several seeds.

Taught in chapter 6, "Distillation against RL, in miniature". The sweep takes minutes, more than
the chapter's budget, so its results are committed and the notebook re-runs one seed live and
checks that it falls inside the committed spread:

    python -m labs.distill.sweep            # writes src/labs/distill/data/r1_sweep.json

For each seed the same cold-started student (a fresh `TinyPolicy` of width 32, 1 layer, 2 heads,
then 30 supervised warm-up steps that teach the format) is trained three ways at about equal
compute: by distillation from the shipped teacher (`labs.distill.teacher`), by GRPO on itself,
and by distillation from an untrained teacher of the teacher's size (the negative control).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import torch

from labs.common.runtime import library_versions
from labs.common.tasks import AdditionTask, Problem
from labs.common.validate import integer, size
from labs.distill.sequence import Curve, _greedy_accuracy, distill_on_traces, grpo_on_student
from labs.distill.teacher import load_teacher
from labs.grpo.config import GRPOConfig
from labs.grpo.policy import TinyPolicy
from labs.grpo.training import check_models, new_policy, warm_up

__all__ = ["SETTINGS", "cold_student", "run_seed", "shifted_problems"]

DEFAULT_RESULTS = Path(__file__).resolve().parent / "data" / "r1_sweep.json"
SETTINGS = {
    "student": {"d_model": 32, "n_layers": 1, "n_heads": 2},
    "cold_start_steps": 30,
    "distill": {"steps": 240, "batch_size": 64, "lr": 3e-3, "eval_every": 40},
    "grpo": {"steps": 25, "chunks": 6, "prompts_per_step": 16, "group_size": 8, "lr": 5e-4,
             "updates_per_batch": 2},
}  # fmt: skip


def shifted_problems(low: int = 20, high: int = 29) -> list[Problem]:
    """Problems outside the training range: a in [low, high], b in [0, 19] (sums up to 48)."""
    low = integer("low", low, minimum=0, maximum=49)
    high = integer("high", high, minimum=low, maximum=49)
    return [Problem(a, b) for a in range(low, high + 1) for b in range(20)]


def cold_student(task: AdditionTask, seed: int, *, warm_up_steps: int = 30) -> TinyPolicy:
    """The student every arm starts from: a fresh small TinyPolicy, then `warm_up_steps`
    supervised steps that teach the format (seeded; the sweep's 30 by default, at most 10,000)."""
    check_models(task)
    seed = integer("seed", seed, minimum=0)
    warm_up_steps = size("warm_up_steps", warm_up_steps, maximum=10_000)
    student = new_policy(task, seed=seed + 1, **SETTINGS["student"])
    warm_up(student, task, steps=warm_up_steps, seed=seed)
    return student


def run_seed(
    task: AdditionTask,
    teacher: TinyPolicy,
    seed: int,
    *,
    distill_steps: int = 240,
    eval_every: int = 40,
    grpo_chunks: int = 6,
    grpo_steps: int = 25,
    warm_up_steps: int = 30,
) -> dict[str, dict]:
    """The three arms for one seed: `distill_steps` steps of distillation (from the teacher, and
    from an untrained teacher), `grpo_chunks` rounds of `grpo_steps` GRPO steps, each measured
    every `eval_every` steps or every round, all from `cold_student(task, seed, warm_up_steps)`.
    The defaults are the committed sweep's; the notebook
    re-runs a shorter prefix. Returns {arm: {"flops", "accuracy", "samples", "ood", "train"}}.
    Step counts are capped at 100,000."""
    check_models(task, teacher=teacher)
    seed = integer("seed", seed, minimum=0)
    steps = size("distill_steps", distill_steps, maximum=100_000)
    eval_every = size("eval_every", eval_every, maximum=steps)
    chunks = size("grpo_chunks", grpo_chunks, maximum=1_000)
    grpo_steps = size("grpo_steps", grpo_steps, maximum=100_000)
    d, g = SETTINGS["distill"], SETTINGS["grpo"]
    start = cold_student(task, seed, warm_up_steps=warm_up_steps)
    control_teacher = new_policy(task, seed=10_000 + seed)  # untrained, the teacher's size
    ood = shifted_problems()
    out = {}
    arms = {
        "distill": lambda s: distill_on_traces(
            s, teacher, task, task.held_out, steps=steps, batch_size=d["batch_size"], lr=d["lr"],
            eval_every=eval_every, seed=seed, desc="distil",
        ),
        "grpo": lambda s: grpo_on_student(
            s, task, task.held_out,
            GRPOConfig(steps=grpo_steps, prompts_per_step=g["prompts_per_step"],
                       group_size=g["group_size"], lr=g["lr"],
                       updates_per_batch=g["updates_per_batch"], seed=100 * seed),
            chunks=chunks, desc="GRPO on the student",
        ),
        "control": lambda s: distill_on_traces(
            s, control_teacher, task, task.held_out, steps=steps, batch_size=d["batch_size"],
            lr=d["lr"], eval_every=eval_every, seed=seed, desc="untrained teacher",
        ),
    }  # fmt: skip
    for name, train in arms.items():
        student, curve = train(copy.deepcopy(start))
        out[name] = _record(curve, student, task, ood)
    return out


def _record(curve: Curve, student: TinyPolicy, task: AdditionTask, ood) -> dict:
    return {
        "flops": curve.flops,
        "accuracy": curve.accuracy,
        "samples": curve.samples,
        "seconds": curve.seconds,
        "ood": _greedy_accuracy(student, task, ood),
        "train": _greedy_accuracy(student, task, task.train),
    }


def _main(argv: list[str]) -> None:
    seeds = size("seeds", int(argv[0]) if argv else 4, maximum=32)
    torch.set_num_threads(1)
    task = AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)
    teacher, meta = load_teacher()
    results = {
        "settings": SETTINGS,
        "teacher": {"params": meta["params"], "train_flops": meta["train_flops"],
                    "held_out": _greedy_accuracy(teacher, task, task.held_out),
                    "train": _greedy_accuracy(teacher, task, task.train),
                    "ood": _greedy_accuracy(teacher, task, shifted_problems())},
        "seeds": {str(seed): run_seed(task, teacher, seed) for seed in range(seeds)},
        "made_by": f"python -m labs.distill.sweep {seeds}",
        "versions": library_versions(),
    }  # fmt: skip
    DEFAULT_RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {DEFAULT_RESULTS}")


if __name__ == "__main__":
    _main(sys.argv[1:])
