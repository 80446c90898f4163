"""Where the KL penalty sits: the placement sweeps of chapter 5, "PPO against GRPO, made fair".

Each is run as `python -m labs.grpo.sweep --task <name> --first-seed 3 --seeds 5` (the held-out
seeds 3-7 of `lr_heldout.json`; `labs.grpo.sweep` hands these tasks to `run_task`), from each
seed's warm-up and on the same questions as every other run of that seed.

`--task ppo_kl_loss` (`run_ppo_kl_loss_seed`, `load_sweep(task="ppo_kl_loss")`, about 15
minutes for five seeds) asks why PPO drifts further than GRPO: at the two PPO settings of
`lr_heldout.json`, it trains PPO with its KL penalty moved from the per-token reward into the
loss (`PPOConfig(kl_penalty="loss")`, beta times k3, as GRPO has it) and, as the control, the
unchanged PPO again. Its control runs are those of `lr_heldout.json`.

`--task grpo_kl_reward` (`run_grpo_kl_reward_seed`, `load_sweep(task="grpo_kl_reward")`, about
8 minutes for five seeds) is the mirror: at the two GRPO settings of `lr_heldout.json` it trains
GRPO with PPO's placement of the penalty (`GRPOConfig(kl_penalty="reward")`: each completion's
reward loses beta times its summed log(pi_old / pi_ref), before the group advantages) and, as
the control, the unchanged GRPO. Its control runs are those of `lr_heldout.json`.

`--task grpo_kl_std` (`run_grpo_kl_std_seed`, about 6 minutes for five seeds) asks whether the
mirror's extra drift comes from the division by the group's std: at the default learning rate it
trains GRPO with `scale_by_std=False`, the penalty in the reward and, as the control, in the loss
("lr x1 no std kl in reward", "lr x1 no std"), and runs "lr x1 kl in reward" again for the
diagnostics a run with the penalty in the reward logs (`_penalty_only_groups`). It adds them to
`grpo_kl_reward.json` (`_merge_std`; every earlier number kept bit for bit; meta "added").

`--task grpo_kl_k3` (`run_grpo_kl_k3_seed`, about 2.5 minutes of CPU time for five seeds)
separates the estimator from the placement: the mirror changed both (k3 averaged over tokens in
the loss became the summed k1 in the reward). At the default learning rate it trains the cross
arm, GRPO with the penalty in the reward but the summed k3 of pi_old against pi_ref
(`GRPOConfig(kl_penalty="reward_k3")`, "lr x1 kl in reward_k3"), and adds it to
`grpo_kl_reward.json` beside its two neighbours, "lr x1" (k3, loss) and "lr x1 kl in reward"
(k1, reward) (`_merge_runs`; meta "added_k3"). It was made on the mirror's processor, and its
warm-ups equal the committed ones (`_merge_runs` checks).

`--task grpo_kl_k3_low` (`run_grpo_kl_k3_low_seed`) is the cross arm at GRPO's picked learning
rate (x1/3) on seeds 3-7, "lr x0.333 kl in reward_k3", added to `grpo_kl_reward.json` after it
(meta "added_k3_low"): does the placement's effect hold where the mirror found little?

`--task grpo_kl_cross` (`run_grpo_kl_cross_seed`, `load_sweep(task="grpo_kl_cross")`, about 80
CPU seconds a seed) puts the cross question to new seeds: at the default learning rate, from
each seed's warm-up, the three arms side by side, "lr x1 kl in reward" (summed k1 in the
reward), "lr x1" (k3 in the loss) and "lr x1 kl in reward_k3". Run with `--first-seed 8
--seeds 7`: with the mirror's seeds 3-7 that makes twelve, 3-14.

Taught in chapter 5, "PPO against GRPO, made fair" (why PPO drifts further, the mirror, the std
division, estimator or placement).
"""

from __future__ import annotations

import json
from pathlib import Path

from labs.common.runtime import processor_name, provenance
from labs.common.tasks import AdditionTask
from labs.grpo.config import PPOConfig
from labs.grpo.evaluation import _evaluate
from labs.grpo.ladder import BASE, RUNGS
from labs.grpo.records import WARM_UP, _grpo_at, _ppo_at, _select_learning_rates
from labs.grpo.training import _warm_up, new_policy

__all__: list[str] = []

TASKS = (
    "ppo_kl_loss",
    "grpo_kl_reward",
    "grpo_kl_std",
    "grpo_kl_k3",
    "grpo_kl_k3_low",
    "grpo_kl_cross",
)
ADDED = ("grpo_kl_std", "grpo_kl_k3", "grpo_kl_k3_low")  # tasks that add runs to the mirror's file


def _start(task: AdditionTask, seed: int) -> tuple:
    """The seed's warm-up and its held-out scores: (start, {"before": ...})."""
    start = new_policy(task, seed=seed)
    _warm_up(start, task, WARM_UP, 64, 3e-3, seed)
    return start, {"before": {"held_out": _evaluate(start, task, task.held_out, 8, 0.1, 1)}}


def run_ppo_kl_loss_seed(task: AdditionTask, seed: int, steps: int) -> dict:
    """Why does PPO drift further? At each PPO setting of `run_lr_heldout_seed` (the pick, then
    the default), PPO with its KL penalty in the loss (beta * k3, as GRPO) and, as the control,
    the unchanged PPO (penalty in the reward), from the seed's warm-up and on the same questions;
    keyed as `_ppo_at` keys them, pass@k left out."""
    chosen = _select_learning_rates()["ppo"]
    start, out = _start(task, seed)
    out["ppo"] = {}
    default = (BASE["lr"], PPOConfig().critic_lr)
    for lr, critic_lr in dict.fromkeys(((chosen["lr"], chosen["critic_lr"]), default)):
        for placement in ("loss", "reward"):
            out["ppo"].update(_ppo_at(task, start, steps, seed, lr, critic_lr, placement))
    return out


def run_grpo_kl_reward_seed(task: AdditionTask, seed: int, steps: int) -> dict:
    """The mirror of `run_ppo_kl_loss_seed`: at each GRPO setting of `run_lr_heldout_seed` (the
    pick, then the default), GRPO with PPO's placement of the KL penalty (in the reward, summed
    over each completion's tokens, before the group advantages) and, as the control, the
    unchanged GRPO (beta * k3 in the loss), from the seed's warm-up and on the same questions;
    keyed as `_grpo_at` keys them, pass@k left out."""
    chosen = _select_learning_rates()["grpo"]
    start, out = _start(task, seed)
    out["grpo"] = {}
    for lr in dict.fromkeys((chosen["lr"], BASE["lr"])):
        for placement in ("reward", "loss"):
            out["grpo"].update(_grpo_at(task, start, steps, seed, lr, placement))
    return out


def run_grpo_kl_std_seed(task: AdditionTask, seed: int, steps: int) -> dict:
    """Is it the std division? At GRPO's default learning rate, from the seed's warm-up and on the
    same questions as `run_grpo_kl_reward_seed`: GRPO without the division by the group's std
    (`scale_by_std=False`) with the KL penalty in the reward and, as its control, in the loss;
    then the committed "lr x1 kl in reward" run again, for its diagnostics (`_diagnostics`).
    Returns {"before", "grpo": the two new runs keyed as `_grpo_at` keys them, "diagnostics":
    {"lr x1 kl in reward": the rerun's diagnostics, "final" and "held_out"}}."""
    start, out = _start(task, seed)
    out["grpo"] = {}
    for placement in ("reward", "loss"):
        out["grpo"].update(_grpo_at(task, start, steps, seed, BASE["lr"], placement, False))
    rerun = _grpo_at(task, start, steps, seed, BASE["lr"], "reward")
    out["diagnostics"] = {
        name: {k: run[k] for k in ("diagnostics", "final", "held_out")}
        for name, run in rerun.items()
    }
    return out


def run_grpo_kl_k3_seed(task: AdditionTask, seed: int, steps: int) -> dict:
    """The cross arm: at GRPO's default learning rate, from the seed's warm-up and on the same
    questions as `run_grpo_kl_reward_seed`, GRPO with the KL penalty in the reward (as the
    mirror) but the summed k3 of pi_old against pi_ref (as GRPO's loss has it, per token) instead
    of the summed k1. Returns {"before", "grpo": {"lr x1 kl in reward_k3": the run, with its
    diagnostics}}."""
    start, out = _start(task, seed)
    out["grpo"] = _grpo_at(task, start, steps, seed, BASE["lr"], "reward_k3")
    return out


def run_grpo_kl_k3_low_seed(task: AdditionTask, seed: int, steps: int) -> dict:
    """The cross arm at GRPO's picked learning rate (`_select_learning_rates`, x1/3), as
    `run_grpo_kl_k3_seed` runs it at the default: {"before", "grpo": {"lr x0.333 kl in
    reward_k3": the run}}."""
    start, out = _start(task, seed)
    lr = _select_learning_rates()["grpo"]["lr"]
    out["grpo"] = _grpo_at(task, start, steps, seed, lr, "reward_k3")
    return out


def run_grpo_kl_cross_seed(task: AdditionTask, seed: int, steps: int) -> dict:
    """The three arms of the estimator-or-placement question on one seed, at GRPO's default
    learning rate, from the seed's warm-up and on the same questions: summed k1 in the reward,
    k3 in the loss (the unchanged GRPO) and summed k3 in the reward; keyed as `_grpo_at` keys
    them ("lr x1 kl in reward", "lr x1", "lr x1 kl in reward_k3")."""
    start, out = _start(task, seed)
    out["grpo"] = {}
    for placement in ("reward", "loss", "reward_k3"):
        out["grpo"].update(_grpo_at(task, start, steps, seed, BASE["lr"], placement))
    return out


def _merge_runs(old: dict, seed: str, new: dict, absent: str | None = None) -> dict:
    """Add the runs `new["grpo"]` of `seed` to the mirror's file `old` in place, after the seed's
    runs, and return the seed's record; ValueError if the seed is missing, started elsewhere
    ("before" differs), or already holds a run of that name (or the key `absent`)."""
    if seed not in old["seeds"]:
        raise ValueError(f"the mirror's file has no seed {seed}; its seeds: {list(old['seeds'])}")
    mine = old["seeds"][seed]
    if mine["before"] != new["before"]:
        raise ValueError(f"seed {seed}'s warm-up differs from the committed one: not merged")
    clash = [name for name in new["grpo"] if name in mine["grpo"]]
    if not clash and absent is not None and absent in mine:
        clash = [absent]
    if clash:
        raise ValueError(f"seed {seed} already holds {clash}: not merged")
    mine["grpo"].update(new["grpo"])
    return mine


def _merge_std(old: dict, seed: str, new: dict) -> None:
    """Add `run_grpo_kl_std_seed`'s runs of `seed` to the mirror's file `old` in place
    (`_merge_runs`, which also refuses a seed that already holds "diagnostics"), and
    "diagnostics" with "reproduced" (whether the rerun's "final" and "held_out" equal the
    committed run's bit for bit)."""
    mine = _merge_runs(old, seed, new, absent="diagnostics")
    mine["diagnostics"] = {}
    for name, run in new["diagnostics"].items():
        same = all(run[k] == mine["grpo"][name][k] for k in ("final", "held_out"))
        mine["diagnostics"][name] = {**run["diagnostics"], "reproduced": same}


def _meta(name: str) -> dict:
    """What a new placement record's meta adds to the sweep's: the settings and placements."""
    if name == "ppo_kl_loss":
        return {
            "rungs": {"grpo": dict(RUNGS["grpo"])},
            "ppo_settings": [
                {k: v for k, v in _select_learning_rates()["ppo"].items() if k != "name"},
                {"lr": BASE["lr"], "critic_lr": PPOConfig().critic_lr},
            ],
            "kl_penalties": ["loss", "reward"],
        }
    if name == "grpo_kl_cross":
        return {
            "rungs": {"grpo": dict(RUNGS["grpo"])},
            "grpo_settings": [{"lr": BASE["lr"]}],
            "kl_penalties": ["reward", "loss", "reward_k3"],
        }
    return {
        "rungs": {"grpo": dict(RUNGS["grpo"])},
        "grpo_settings": [{"lr": _select_learning_rates()["grpo"]["lr"]}, {"lr": BASE["lr"]}],
        "kl_penalties": ["reward", "loss"],
    }


def run_task(task: AdditionTask, args, argv: list[str] | None, meta: dict) -> None:
    """`python -m labs.grpo.sweep --task <one of TASKS>`: a new record at `args.out` with the
    sweep's `meta` (ppo_kl_loss, grpo_kl_reward, grpo_kl_cross), or runs added to the mirror's
    file there (grpo_kl_std, grpo_kl_k3, grpo_kl_k3_low). The file is rewritten after each seed."""
    if args.task in ADDED:
        _add_arms(task, args, argv)
        return
    runner = {
        "ppo_kl_loss": run_ppo_kl_loss_seed,
        "grpo_kl_reward": run_grpo_kl_reward_seed,
        "grpo_kl_cross": run_grpo_kl_cross_seed,
    }
    results = {"meta": {**meta, **_meta(args.task)}, "seeds": {}}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        results["seeds"][str(seed)] = runner[args.task](task, seed, args.steps)
        Path(args.out).write_text(json.dumps(results, indent=1))  # partial results survive
    print(f"wrote {args.out}")


def _add_arms(task: AdditionTask, args, argv: list[str] | None) -> None:
    """`--task grpo_kl_std` or `grpo_kl_k3`: the task's runs for each seed, merged into the
    mirror's file at `--out` (`_merge_std`, `_merge_runs`), which is rewritten after each seed;
    the file's meta gains "added" (grpo_kl_std) or "added_k3" (grpo_kl_k3): what made the new
    runs. Every earlier number is kept bit for bit."""
    results = json.loads(Path(args.out).read_text())
    made = {**provenance("labs.grpo.sweep", argv), "processor": processor_name()}
    if args.task == "grpo_kl_std":
        results["meta"]["added"] = {
            **made,
            "grpo_settings": [{"lr": BASE["lr"], "scale_by_std": False}],
            "kl_penalties": ["reward", "loss"],
            "diagnostics_of": ["lr x1 kl in reward"],
        }
        run, merge = run_grpo_kl_std_seed, _merge_std
    else:
        low = args.task == "grpo_kl_k3_low"
        lr = _select_learning_rates()["grpo"]["lr"] if low else BASE["lr"]
        results["meta"]["added_k3_low" if low else "added_k3"] = {
            **made,
            "grpo_settings": [{"lr": lr}],
            "kl_penalties": ["reward_k3"],
        }
        run = run_grpo_kl_k3_low_seed if low else run_grpo_kl_k3_seed
        merge = _merge_runs
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        merge(results, str(seed), run(task, seed, args.steps))
        Path(args.out).write_text(json.dumps(results, indent=1))  # partial results survive
    print(f"wrote {args.out}")
