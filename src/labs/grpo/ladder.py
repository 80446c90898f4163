"""The ablation ladder: what each piece of GRPO buys, one rung at a time.

Taught in chapter 5, "The ladder: from REINFORCE to GRPO, DAPO and Dr. GRPO". Public projects
call different algorithms "GRPO"; the ladder adds the pieces one by one, on the same task, from
the same warmed-up policy, with the same number of sampled completions per step, so that a
difference between two neighbouring rungs is the effect of one piece:

1. REINFORCE: the raw reward as the advantage (Williams 1992);
2. + a group-mean baseline: rewards minus the mean of the G answers to the same question;
3. + std normalisation: divide by the group's std (DeepSeekMath §4.1.2);
4. + clipped ratio, several updates per batch (PPO's clip, Schulman et al. 2017);
5. + KL penalty, beta = 0.04: GRPO as DeepSeekMath writes it (eq. 3);
6. DAPO: rung 5 with the token-level loss, clip-higher (0.2 / 0.28) and no KL (Yu et al. 2025);
7. Dr. GRPO: rung 5 without the std and with a constant length divisor (Liu et al. 2025).

`ladder_config` builds the `GRPOConfig` of a rung; `run_rung` trains it and reports what the
chapter plots. The multi-seed sweep is `python -m labs.grpo.sweep`.

Reached as `labs.grpo.ladder` (imports torch).
"""

from __future__ import annotations

import copy
import time

import numpy as np

from labs.common.facts import fact
from labs.common.tasks import AdditionTask
from labs.common.validate import read_only
from labs.grpo.checks import (
    check_block_means_args,
    check_ladder_args,
    check_run_rung_args,
)
from labs.grpo.config import GRPOConfig
from labs.grpo.evaluation import _evaluate, _evaluate_at_k, check_models
from labs.grpo.policy import TinyPolicy
from labs.grpo.training import _train_grpo

__all__ = ["RUNGS", "block_means", "ladder_config", "run_rung"]

# Settings shared by every rung: the chapter's main run (rung 5) is DeepSeekMath's GRPO.
BASE = {"prompts_per_step": 16, "group_size": 8, "lr": 5e-4, "clip_eps": 0.2}

_RUNGS = {
    "reinforce": {"baseline": False, "beta": 0.0, "updates_per_batch": 1},
    "group_mean": {"scale_by_std": False, "beta": 0.0, "updates_per_batch": 1},
    "std_norm": {"beta": 0.0, "updates_per_batch": 1},
    "clip_updates": {"beta": 0.0, "updates_per_batch": 4},
    "grpo": {"beta": 0.04, "updates_per_batch": 4},
    "dapo": {
        "beta": 0.0,
        "updates_per_batch": 4,
        "loss_type": "dapo",
        "clip_eps": fact("dapo_clip_eps_low").value,
        "clip_eps_high": fact("dapo_clip_eps_high").value,
    },
    "dr_grpo": {
        "beta": 0.04,
        "updates_per_batch": 4,
        "loss_type": "dr_grpo",
        "scale_by_std": False,
    },
}
RUNGS = read_only({name: read_only(settings) for name, settings in _RUNGS.items()})


def ladder_config(rung: str, *, steps: int = 150, seed: int = 0, **overrides) -> GRPOConfig:
    """The GRPOConfig of one rung of the ladder (`RUNGS`), with `overrides` on top.

    Args:
        rung: a key of `RUNGS`, in ladder order.
        steps: RL steps (<= 100,000).
        seed: the run's seed.
        overrides: further GRPOConfig fields (for example dynamic_sampling=True).
    """
    rung, steps, seed = check_ladder_args(rung, steps, seed, RUNGS)
    return GRPOConfig(**{**BASE, **RUNGS[rung], "steps": steps, "seed": seed, **overrides})


def block_means(values, block: int = 10) -> list[float]:
    """Means of consecutive blocks of `block` values (the last, shorter block included)."""
    values, block = check_block_means_args(values, block)
    return [float(values[i : i + block].mean()) for i in range(0, len(values), block)]


def run_rung(
    task: AdditionTask, start: TinyPolicy, config: GRPOConfig, *, eval_seed: int = 1
) -> dict:
    """Train a copy of `start` with `config` and measure it on the held-out problems.

    Returns a dict: "held_out" (greedy accuracy, sampled reward and accuracy, 8 samples per
    problem), "at_k" (pass@k and maj@k for k = 1, 4, 16 from 16 samples), "cpu_seconds" (process
    time of training), "final" (means over the last 30 steps of reward, KL, zero-advantage
    fraction and completion length), "curves" (10-step means of the same) and, for a run with
    kl_penalty="reward", "diagnostics" (`_diagnostics`).
    """
    check_models(task, start=start)
    eval_seed = check_run_rung_args(config, eval_seed, GRPOConfig)
    policy = copy.deepcopy(start)
    reference = copy.deepcopy(start)
    for p in reference.parameters():
        p.requires_grad_(False)
    begin = time.process_time()
    policy, log = _train_grpo(task, policy, reference, config, desc="ladder")
    cpu = time.process_time() - begin
    keys = ("reward", "kl", "zero_adv_fraction", "length")
    return {
        "held_out": _evaluate(policy, task, task.held_out, 8, config.format_weight, eval_seed),
        "at_k": _evaluate_at_k(policy, task, task.held_out, 16, [1, 4, 16], 1.0, eval_seed),
        "cpu_seconds": cpu,
        "final": {k: float(np.mean(log.history[k][-30:])) for k in keys},
        "curves": {k: block_means(log.history[k]) for k in keys},
        "sampled_groups": float(np.sum(log.history["sampled_groups"])),
        **_diagnostics(log.history),
    }


def _diagnostics(history: dict) -> dict:
    """{"diagnostics": the run's mean over steps of each of `_penalty_only_groups`' values (None
    where no step had such groups)} for a run with its KL penalty in the reward; {} for the rest,
    whose records stay as they were."""
    keys = ("penalty_only_fraction", "penalty_only_abs_adv", "task_spread_abs_adv")
    if keys[0] not in history:
        return {}
    out = {}
    for key in keys:
        values = np.asarray(history[key], dtype=float)
        values = values[np.isfinite(values)]
        out[key] = float(values.mean()) if values.size else None
    return {"diagnostics": out}
