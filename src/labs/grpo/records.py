"""Chapter 5's committed sweep records and the one-run recorders its later sweeps share.

`load_sweep` reads a committed record (`labs/grpo/data/*.json`, each with the command, the
library versions and the date that made it). `_ppo` trains PPO from a seed's warm-up and
measures it; `_grpo_at` and `_ppo_at` record one run of GRPO or PPO at a named setting (learning
rate, critic learning rate, where the KL penalty sits), as the sensitivity, held-out and
KL-placement sweeps record them; `_select_learning_rates` is the rule that picked the held-out
sweep's settings from the sensitivity records. The sweeps themselves are `labs.grpo.sweep` (the
ladder, PPO against GRPO, the learning-rate searches) and `labs.grpo.kl_placement` (where the KL
penalty sits), both run as `python -m labs.grpo.sweep --task ...`.

Taught in chapter 5, "PPO against GRPO, made fair".
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

from labs.common.runtime import read_results
from labs.common.tasks import AdditionTask
from labs.common.validate import one_of
from labs.grpo.config import PPOConfig
from labs.grpo.evaluation import _evaluate, _evaluate_at_k
from labs.grpo.ladder import BASE, RUNGS, block_means, ladder_config, run_rung
from labs.grpo.ppo import _train_ppo
from labs.grpo.training import _frozen_copy

__all__ = ["load_sweep"]

WARM_UP = 150  # supervised steps that give each seed's starting policy
_FILES = {
    "addition": "sweep.json",
    "countdown": "countdown.json",
    "rerun": "sweep_rerun.json",  # the whole addition sweep again, `--out` to this file
    "countdown_rerun": "countdown_rerun.json",  # the Countdown sweep again, six seeds
    "hacking": "hacking.json",  # the proxy rule against the right rule, `--task hacking`
    "ppo_sensitivity": "ppo_sensitivity.json",  # six PPO settings, `--task ppo_sensitivity`
    "grpo_sensitivity": "grpo_sensitivity.json",  # GRPO at three lrs, `--task grpo_sensitivity`
    "lr_heldout": "lr_heldout.json",  # the chosen lrs on new seeds, `--task lr_heldout`
    "ppo_kl_loss": "ppo_kl_loss.json",  # PPO with its KL penalty in the loss, `--task ppo_kl_loss`
    "grpo_kl_reward": "grpo_kl_reward.json",  # GRPO with its KL in the reward, the mirror
    "grpo_kl_cross": "grpo_kl_cross.json",  # k1 / k3 in the reward, k3 in the loss: seeds 8-14
    "kl_spike": "kl_spike_seed11.json",  # seed 11's in-reward runs again, per step, `kl_spikes`
    "exact_kl": "exact_kl.json",  # the three cross arms again with their exact KL, `exact_kl`
    "exact_kl_ppo": "exact_kl_ppo.json",  # PPO's two placement arms with their exact KL
    "vote_noise": "vote_noise.json",  # seeds 0-4 rebuilt, at 16 evaluation seeds, `vote_noise`
}
PPO_LR_SCALES = (1 / 3, 1.0, 3.0)  # times GRPO's learning rate, BASE["lr"]
PPO_CRITIC_LRS = (1e-3, 3e-3)  # PPOConfig's default first


def load_sweep(path: str | Path | None = None, *, task: str = "addition") -> dict:
    """The committed sweep results of `task` ("addition": `labs/grpo/data/sweep.json`,
    "countdown": `labs/grpo/data/countdown.json`, "rerun" and "countdown_rerun": the
    second realizations `sweep_rerun.json` and `countdown_rerun.json`, "hacking": the reward-hacking
    runs `hacking.json`, "ppo_sensitivity": six PPO settings `ppo_sensitivity.json`,
    "grpo_sensitivity": GRPO at three learning rates `grpo_sensitivity.json`, "lr_heldout": the
    settings `_select_learning_rates` picks, and the defaults, on new seeds `lr_heldout.json`,
    "ppo_kl_loss": PPO with the KL penalty in the loss beside the unchanged PPO, on those seeds
    `ppo_kl_loss.json`, "grpo_kl_reward": GRPO with the KL penalty in the reward beside the
    unchanged GRPO, on those seeds `grpo_kl_reward.json`, with the runs `labs.grpo.kl_placement`
    added to it: the std arms and the k3 cross arm), "grpo_kl_cross": the three arms of the cross
    question on seeds 8-14 `grpo_kl_cross.json`, "kl_spike": seed 11's two in-reward runs of
    that file again with a per-step look at their KL (`labs.grpo.kl_spikes`)
    `kl_spike_seed11.json`, "exact_kl": the three arms of the cross question again with the
    exact KL per step (`labs.grpo.exact_kl`) `exact_kl.json`, "exact_kl_ppo": PPO's two placement
    arms at the defaults again with the exact KL per step (`exact_kl --method ppo`)
    `exact_kl_ppo.json`, "vote_noise": each seed's warm-up and its GRPO, dynamic-sampling and PPO
    runs rebuilt (a third realization) and scored at 16 evaluation seeds (`labs.grpo.vote_noise`)
    `vote_noise.json`, or those at `path`."""
    task = one_of("task", task, tuple(_FILES))
    name = _FILES[task]
    return read_results("labs.grpo", name, path)


def _ppo(task, start, steps: int, seed: int, **overrides) -> dict:
    config = PPOConfig(**{**BASE, **RUNGS["grpo"], "steps": steps, "seed": seed, **overrides})
    policy = copy.deepcopy(start)
    begin = time.process_time()
    policy, _, log = _train_ppo(task, policy, _frozen_copy(start), config, "PPO")
    cpu = time.process_time() - begin
    keys = ("reward", "kl", "length")
    return {
        "held_out": _evaluate(policy, task, task.held_out, 8, config.format_weight, 1),
        "at_k": _evaluate_at_k(policy, task, task.held_out, 16, [1, 4, 16], 1.0, 1),
        "cpu_seconds": cpu,
        "final": {k: float(np.mean(log.history[k][-30:])) for k in keys},
        "curves": {k: block_means(log.history[k]) for k in keys},
    }


def _grpo_at(
    task: AdditionTask,
    start,
    steps: int,
    seed: int,
    lr: float,
    kl_penalty: str = "loss",
    scale_by_std: bool = True,
) -> dict:
    """Rung "grpo" at learning rate `lr` from `start`: {"lr x<lr / BASE>": record}, pass@k left
    out (the sensitivity and held-out sweeps record their GRPO runs this way); with
    `scale_by_std=False` (advantages not divided by the group's std) " no std" follows the
    learning rate and the record holds "scale_by_std"; with `kl_penalty="reward"` (PPO's
    placement of the penalty) the name ends in " kl in reward" and the record holds
    "kl_penalty"."""
    std = {} if scale_by_std else {"scale_by_std": False}
    config = ladder_config("grpo", steps=steps, seed=seed, lr=lr, kl_penalty=kl_penalty, **std)
    run = run_rung(task, start, config)
    name = f"lr x{lr / BASE['lr']:.3g}" + ("" if scale_by_std else " no std")
    return _named("grpo", seed, name, run, kl_penalty, "loss", lr=lr, **std)


def _ppo_at(
    task: AdditionTask,
    start,
    steps: int,
    seed: int,
    lr: float,
    critic_lr: float,
    kl_penalty: str = "reward",
) -> dict:
    """PPO at policy `lr` and `critic_lr` from `start`: {"lr x<lr / BASE> critic <critic_lr>":
    record}, pass@k left out; with `kl_penalty="loss"` (the KL penalty in the loss, not the
    reward) the name ends in " kl in loss" and the record holds "kl_penalty"."""
    run = _ppo(task, start, steps, seed, lr=lr, critic_lr=critic_lr, kl_penalty=kl_penalty)
    name = f"lr x{lr / BASE['lr']:.3g} critic {critic_lr:g}"
    return _named("ppo", seed, name, run, kl_penalty, "reward", lr=lr, critic_lr=critic_lr)


def _named(
    method: str, seed: int, name: str, run: dict, kl_penalty: str, default: str, **settings
) -> dict:
    """{name: settings + run} with pass@k left out; a run whose KL penalty sits elsewhere than
    `method`'s default gets " kl in <placement>" after its name and "kl_penalty" in its record."""
    del run["at_k"]
    if kl_penalty != default:
        name, run = f"{name} kl in {kl_penalty}", {"kl_penalty": kl_penalty, **run}
    print(f"seed {seed} {method} {name}: {run['held_out']} kl {run['final']['kl']:.3f} "
          f"cpu {run['cpu_seconds']:.1f}", flush=True)  # fmt: skip
    return {name: {**settings, **run}}


def _write_seeds(record: dict, out, seeds, one_seed, job, workers: int) -> None:
    """Run `one_seed(seed)` for each seed (or `job`, which returns (seed, runs), on `workers`
    spawned processes) and write `record` to `out` after each, its seeds in order: a sweep cut
    short keeps what it finished. The shared loop of the `python -m` recorders."""
    import json
    import multiprocessing as mp

    def save(seed: int, runs: dict) -> None:
        record["seeds"][str(seed)] = runs
        record["seeds"] = dict(sorted(record["seeds"].items(), key=lambda kv: int(kv[0])))
        Path(out).write_text(json.dumps(record, indent=1) + "\n")  # partial results survive
        print(f"{time.strftime('%H:%M:%S')} seed {seed} written", flush=True)

    if workers == 1:
        for seed in seeds:
            save(seed, one_seed(seed))
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            for seed, runs in pool.imap_unordered(job, seeds):
                save(seed, runs)
    print(f"wrote {out}")


def _select_learning_rates() -> dict:
    """The rule that picks each method's setting, fixed before the new seeds were run: the
    setting with the highest mean held-out reward over the seeds of the committed sensitivity
    sweeps (seeds 0-2): PPO among the six of `ppo_sensitivity.json`, GRPO among the three of
    `grpo_sensitivity.json`. Returns {"ppo": {"name", "lr", "critic_lr"}, "grpo": {"name",
    "lr"}}; ties go to the first setting in file order."""
    out = {}
    for method, task in (("ppo", "ppo_sensitivity"), ("grpo", "grpo_sensitivity")):
        seeds = load_sweep(task=task)["seeds"]
        names = list(seeds[min(seeds, key=int)][method])
        mean = {k: np.mean([s[method][k]["held_out"]["reward"] for s in seeds.values()])
                for k in names}  # fmt: skip
        best = max(names, key=lambda k: mean[k])  # the first of equals
        run = seeds[min(seeds, key=int)][method][best]
        out[method] = {"name": best, "lr": run["lr"]}
        if method == "ppo":
            out[method]["critic_lr"] = run["critic_lr"]
    return out
