"""Chapter 6's teacher: a policy trained with the GRPO chapter's loop, made, saved and loaded.

Taught in chapter 6, "Sequence-level distillation". Training the teacher takes about a minute on
a CPU, more than the chapter's budget, so the package ships a checkpoint that this module makes:

    python -m labs.distill.teacher          # writes src/labs/distill/data/teacher.pt and .json

The recipe uses chapter 5's loop (`labs.grpo.training`) but is not chapter 5's run: a fresh
`TinyPolicy` (width 64, 2 layers, 4 heads), 150 supervised warm-up steps, then 250 GRPO steps (16
prompts x 8 answers, lr 5e-4, two updates per batch), seed 0, one CPU thread. Chapter 5's GRPO run
takes four updates per batch for 150 steps. The JSON beside the weights records the recipe, the
compute it took (FLOPs, `labs.distill.costs`), its held-out accuracy and the versions that made
it. A test regenerates a small teacher with the same code. `time_teacher_recipe` times a few steps
of each phase of the recipe in the calling process, for "When does copying pay?" in CPU seconds.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from labs.common.tasks import AdditionTask
from labs.common.validate import size
from labs.distill.checks import check_teacher_checkpoint, check_teacher_recipe, check_teacher_save
from labs.distill.costs import grpo_step_flops, warm_up_flops
from labs.grpo.config import GRPOConfig
from labs.grpo.policy import TinyPolicy
from labs.grpo.training import new_policy, train_grpo, warm_up

__all__ = [
    "DEFAULT_CHECKPOINT",
    "load_teacher",
    "save_teacher",
    "time_teacher_recipe",
    "train_teacher",
]

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "data" / "teacher.pt"
WARM_UP_BATCH = 64  # labs.grpo.training.warm_up's default batch


def train_teacher(
    task: AdditionTask, *, warmup_steps: int = 150, rl_steps: int = 250, seed: int = 0
) -> tuple[TinyPolicy, dict]:
    """Chapter 5's loop, the teacher's settings: warm-up then GRPO on a fresh default TinyPolicy.

    Returns the policy and its record: the recipe, its parameter count and its training compute
    in FLOPs. warmup_steps and rl_steps <= 10,000 (minutes each at most).
    """
    warmup_steps, rl_steps, seed = check_teacher_recipe(task, warmup_steps, rl_steps, seed)
    policy = new_policy(task, seed=seed)
    warm_up(policy, task, steps=warmup_steps, seed=seed)
    config = _teacher_config(rl_steps, seed)
    policy, _ = train_grpo(task, policy, config, desc="teacher GRPO")
    params = sum(p.numel() for p in policy.parameters())
    flops = _teacher_flops(task, params, warmup_steps, config)
    record = {
        "recipe": {"warmup_steps": warmup_steps, "rl_steps": rl_steps, "seed": seed,
                   "grpo": dataclasses.asdict(config)},
        "task": {"max_operand": task.max_operand, "seed": task.seed},
        "params": params,
        "train_flops": flops,
    }  # fmt: skip
    return policy, record


def _teacher_config(rl_steps: int, seed: int) -> GRPOConfig:
    """The teacher's GRPO settings: 16 prompts x 8 answers, lr 5e-4, two updates per batch."""
    return GRPOConfig(
        steps=rl_steps, prompts_per_step=16, group_size=8, lr=5e-4, updates_per_batch=2, seed=seed
    )


def _teacher_flops(task: AdditionTask, params: int, warmup_steps: int, config: GRPOConfig) -> float:
    """Training FLOPs of the recipe: the warm-up's 6N per token, then config.steps GRPO steps."""
    tokens = task.prompt_length + task.max_answer_tokens - 1
    return warm_up_flops(params, warmup_steps * WARM_UP_BATCH, tokens) + config.steps * (
        grpo_step_flops(params, config.samples_per_step, tokens, config.updates_per_batch)
    )


def time_teacher_recipe(
    task: AdditionTask,
    *,
    warmup_steps: int = 150,
    rl_steps: int = 250,
    seed: int = 0,
    timed_warmup_steps: int = 10,
    timed_rl_steps: int = 20,
) -> dict[str, float]:
    """CPU seconds of `train_teacher`'s recipe in this process, estimated from a short run of it.

    A fresh policy (`seed`) takes one untimed warm-up step (one-time set-up costs stay out), then
    `timed_warmup_steps` warm-up steps and `timed_rl_steps` GRPO steps with the teacher's settings,
    timed with `time.process_time` as the sweep times its arms. Each phase's seconds per step (the
    warm-up's mean; GRPO's median step, the first dropped) are scaled to the recipe's
    `warmup_steps` and `rl_steps`. Returns {"seconds": the recipe's estimated CPU seconds,
    "flops": its training FLOPs as `train_teacher` counts them, "warmup_step_seconds",
    "rl_step_seconds"}. Steps <= 10,000 for the recipe, <= 1,000 for the timed run.
    """
    warmup_steps, rl_steps, seed = check_teacher_recipe(task, warmup_steps, rl_steps, seed)
    timed_warmup_steps = size("timed_warmup_steps", timed_warmup_steps, maximum=1_000)
    timed_rl_steps = size("timed_rl_steps", timed_rl_steps, maximum=1_000)
    policy = new_policy(task, seed=seed)
    warm_up(policy, task, steps=1, seed=seed)  # untimed: the first step pays one-time costs
    begin = time.process_time()
    warm_up(policy, task, steps=timed_warmup_steps, seed=seed)
    warmup_step = (time.process_time() - begin) / timed_warmup_steps
    _, log = train_grpo(task, policy, _teacher_config(timed_rl_steps, seed), desc="teacher, timed")
    rl_step = log.median_step_seconds
    params = sum(p.numel() for p in policy.parameters())
    return {
        "seconds": warmup_steps * warmup_step + rl_steps * rl_step,
        "flops": _teacher_flops(task, params, warmup_steps, _teacher_config(rl_steps, seed)),
        "warmup_step_seconds": warmup_step,
        "rl_step_seconds": rl_step,
    }


def save_teacher(policy: TinyPolicy, record: dict, path) -> Path:
    """Write the weights to `path` (a .pt file) and, beside it (same name, .json), the record
    with the policy's sizes and the versions added (any JSON-serialisable dict, empty included)."""
    path = check_teacher_save(policy, record, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.clone() for k, v in policy.state_dict().items()}, path)
    meta = {
        **record,
        "sizes": {"vocab_size": policy.vocab_size, "max_len": policy.max_len,
                  "d_model": policy.tok.embedding_dim, "n_layers": len(policy.blocks),
                  "n_heads": policy.blocks[0].n_heads},
        "made_by": "python -m labs.distill.teacher",
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__},
    }  # fmt: skip
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return path


def load_teacher(path=None) -> tuple[TinyPolicy, dict]:
    """The teacher saved at `path` (default: the checkpoint shipped with the package) and its
    record. The weights load with `weights_only=True`: a checkpoint cannot run code."""
    path = DEFAULT_CHECKPOINT if path is None else path
    path = check_teacher_checkpoint(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    sizes = meta["sizes"]
    policy = TinyPolicy(
        sizes["vocab_size"], max_len=sizes["max_len"], d_model=sizes["d_model"],
        n_layers=sizes["n_layers"], n_heads=sizes["n_heads"],
    )  # fmt: skip
    policy.load_state_dict(torch.load(path, weights_only=True))
    policy.eval()
    for p in policy.parameters():
        p.requires_grad_(False)
    return policy, meta


def _main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else DEFAULT_CHECKPOINT
    torch.set_num_threads(1)
    task = AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)
    policy, record = train_teacher(task)
    from labs.distill.sequence import greedy_accuracy

    record["held_out_greedy_accuracy"] = greedy_accuracy(policy, task, task.held_out)
    print(f"wrote {save_teacher(policy, record, out)}: {record['held_out_greedy_accuracy']:.3f}")


if __name__ == "__main__":
    _main(sys.argv[1:])
