"""The exact KL of the estimator-or-placement runs: chapter 5, "PPO against GRPO, made fair".

The chapter reads each run's final KL as the mean over its last 30 steps of the logged k3 (eq. 4)
of the policy against the reference on the sampled tokens, read after three of a step's four
updates on tokens drawn from pi_old. k3 is unbiased only on tokens drawn from the policy itself,
so this reading is biased as well as heavy-tailed: one token carried 85% of seed 11's window
(`labs.grpo.kl_spikes`). This script re-runs the three arms
of the comparison at GRPO's default learning rate ("lr x1": k3 in the loss, "lr x1 kl in
reward_k3", "lr x1 kl in reward") from each seed's warm-up, and reads, through the loop's `watch`
hook, the exact KL(pi || pi_ref) summed over the vocabulary at the same positions
(`kl_spikes._look`). The watch only reads, so each rerun must give the committed sampled final KL
and curves bit for bit (`grpo_kl_reward.json` for seeds 3-7, `grpo_kl_cross.json` for 8-14); the
record says whether it did. Held-out evaluation is skipped.

`python -m labs.grpo.exact_kl --seeds 3 4 ... 14 --workers 2` writes `data/exact_kl.json`, seed
by seed as they finish, so a stopped run leaves only complete seeds. The reading and its rule
were fixed before any run: `data/PREREGISTRATION_exact_kl.md`.

`--method ppo` does the same for PPO's placement runs at the defaults (`ppo_kl_loss.json`,
seeds 3-7: PPO with its penalty in the reward, and moved into the loss), through the PPO loop's
`watch`: `python -m labs.grpo.exact_kl --method ppo --seeds 3 4 5 6 7 --workers 2` writes
`data/exact_kl_ppo.json`; rule: `data/PREREGISTRATION_ppodrift_exact.md`.

`--method grpo_low` reruns two arms at GRPO's picked learning rate (x1/3): k3 in the loss and k3
in the reward (`LOW_ARMS`), on seeds 3-7 (committed in `grpo_kl_reward.json`, so checked bit for
bit) and on seeds with no run at that rate (8 and up, recorded with "reproduced": None):
`python -m labs.grpo.exact_kl --method grpo_low --seeds 3 4 ... 12 --workers 2` writes
`data/exact_kl_low.json`; rule: `data/PREREGISTRATION_exact_kl_low.md`, a test of the direction the
chapter's gradient table gives, committed before any of these runs. Its replication on fresh seeds,
`--method grpo_low_fresh --seeds 13 14 ... 22`, writes `data/exact_kl_low_fresh.json`; rule:
`data/PREREGISTRATION_exact_kl_low_fresh.md`.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import numpy as np
import torch

from labs.common.runtime import processor_name, provenance
from labs.common.tasks import AdditionTask
from labs.grpo import training
from labs.grpo.config import PPOConfig
from labs.grpo.kl_placement import _start
from labs.grpo.kl_spikes import _look
from labs.grpo.ladder import BASE, RUNGS, block_means, ladder_config
from labs.grpo.ppo import _train_ppo
from labs.grpo.records import _select_learning_rates, _write_seeds, load_sweep

__all__: list[str] = []

ARMS = {"lr x1": "loss", "lr x1 kl in reward_k3": "reward_k3", "lr x1 kl in reward": "reward"}
OUT = Path(__file__).parent / "data" / "exact_kl.json"
PPO_ARMS = {"lr x1 critic 0.001": "reward", "lr x1 critic 0.001 kl in loss": "loss"}
PPO_OUT = Path(__file__).parent / "data" / "exact_kl_ppo.json"
LOW_ARMS = {"lr x0.333": "loss", "lr x0.333 kl in reward_k3": "reward_k3"}
LOW_OUT = Path(__file__).parent / "data" / "exact_kl_low.json"
LOW_FRESH_OUT = Path(__file__).parent / "data" / "exact_kl_low_fresh.json"  # seeds 13-22
# what picks the arithmetic's code paths: on a newer processor, AVX2 paths repeat an AVX2 machine
# (exact_kl_ppo.json was made with MKL_ENABLE_INSTRUCTIONS=AVX2, which `import labs` now sets too)
_ARITHMETIC_ENV = (
    "ATEN_CPU_CAPABILITY",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "ONEDNN_MAX_CPU_ISA",
)


def _committed(seed: int) -> dict:
    """The seed's committed runs of the three arms: the mirror's file for seeds 3-7, else the
    cross sweep's."""
    task = "grpo_kl_reward" if 3 <= seed <= 7 else "grpo_kl_cross"
    return load_sweep(task=task)["seeds"][str(seed)]["grpo"]


def _record(rows: list, log, curves: tuple, begin: float, run: str, steps: int) -> dict:
    """One run's record from its watched rows and its log: per-step exact and sampled KL, their
    means over the last 30 steps, 10-step means of the logged `curves`, and the wall time."""
    exact = [r["exact"] for r in rows]
    if len(exact) != len(log.history["kl"]):  # a step without an update is not watched
        raise RuntimeError(f"{run}: {len(exact)} watched steps of {steps}")
    return {
        "exact": exact,
        "sampled": log.history["kl"],
        "final": {
            "exact": float(np.mean(exact[-30:])),
            "sampled": float(np.mean(log.history["kl"][-30:])),
        },
        "curves": {k: block_means(log.history[k]) for k in curves},
        "wall_seconds": time.time() - begin,
    }


def exact_run(
    task: AdditionTask, start, seed: int, kl_penalty: str, steps: int = 150, lr: float | None = None
) -> dict:
    """One arm again from `start` with the exact-KL watch, at learning rate `lr` (GRPO's default,
    BASE["lr"], if None): {"exact" and "sampled": per-step lists, "final": {"exact", "sampled"}
    (means of the last 30 steps), "curves": 10-step means of the logged "kl" and "reward",
    "wall_seconds"}."""
    policy, reference = copy.deepcopy(start), copy.deepcopy(start)
    for p in reference.parameters():
        p.requires_grad_(False)
    lr = BASE["lr"] if lr is None else lr
    config = ladder_config("grpo", steps=steps, seed=seed, lr=lr, kl_penalty=kl_penalty)
    rows: list = []
    begin = time.time()
    _, log = training._train_grpo(
        task, policy, reference, config, "exact kl", watch=_look(config.temperature, rows)
    )
    return _record(rows, log, ("kl", "reward"), begin, f"seed {seed} {kl_penalty}", steps)


def _against(run: dict, old: dict) -> dict:
    """`run` with "committed_sampled" (the committed run's final KL) and "reproduced" (its final
    sampled KL and every curve it records equal the committed run's)."""
    run["committed_sampled"] = old["final"]["kl"]
    run["reproduced"] = run["final"]["sampled"] == old["final"]["kl"] and all(
        run["curves"][k] == old["curves"][k] for k in run["curves"]
    )
    return run


def exact_seed(seed: int, steps: int = 150) -> dict:
    """The three arms of `seed` with the watch, each with "committed_sampled" (the committed
    final KL) and "reproduced" (final KL and KL and reward curves equal the committed ones)."""
    torch.set_num_threads(1)
    task = AdditionTask()
    start, _ = _start(task, seed)
    committed = _committed(seed)
    out = {}
    for name, placement in ARMS.items():
        out[name] = _against(exact_run(task, start, seed, placement, steps), committed[name])
    return out


def exact_low_seed(seed: int, steps: int = 150) -> dict:
    """The two arms of `LOW_ARMS` at GRPO's picked learning rate on `seed`, with the watch. Seeds
    3-7 have committed runs at that rate (`grpo_kl_reward.json`): each run gets
    "committed_sampled" and "reproduced" as in `exact_seed`. Other seeds have none: both None."""
    torch.set_num_threads(1)
    picked = _select_learning_rates()["grpo"]
    if set(LOW_ARMS) != {picked["name"], f"{picked['name']} kl in reward_k3"}:
        raise RuntimeError(f"the picked rate is {picked['name']}, not the arms' x0.333")
    task = AdditionTask()
    start, _ = _start(task, seed)
    committed = _committed(seed) if 3 <= seed <= 7 else None
    out = {}
    for name, placement in LOW_ARMS.items():
        run = exact_run(task, start, seed, placement, steps, lr=picked["lr"])
        if committed is None:
            run["committed_sampled"], run["reproduced"] = None, None
        else:
            run = _against(run, committed[name])
        out[name] = run
    return out


def exact_ppo_run(task: AdditionTask, start, seed: int, kl_penalty: str, steps: int = 150) -> dict:
    """PPO at the defaults (GRPO's learning rate, the default critic) from `start` with the
    exact-KL watch, as `records._ppo` runs it: the keys of `exact_run`, curves also of "length"."""
    settings = {"steps": steps, "seed": seed, "critic_lr": PPOConfig().critic_lr}
    config = PPOConfig(**{**BASE, **RUNGS["grpo"], **settings, "kl_penalty": kl_penalty})
    policy, reference = copy.deepcopy(start), copy.deepcopy(start)
    for p in reference.parameters():
        p.requires_grad_(False)
    rows: list = []
    begin = time.time()
    _, _, log = _train_ppo(
        task, policy, reference, config, "exact kl", watch=_look(config.temperature, rows)
    )
    return _record(
        rows, log, ("kl", "reward", "length"), begin, f"seed {seed} PPO {kl_penalty}", steps
    )


def exact_ppo_seed(seed: int, steps: int = 150) -> dict:
    """PPO's two placement arms of `seed` with the watch, each with "committed_sampled" and
    "reproduced" (final KL and KL, reward and length curves equal `ppo_kl_loss.json`'s)."""
    torch.set_num_threads(1)
    task = AdditionTask()
    start, _ = _start(task, seed)
    committed = load_sweep(task="ppo_kl_loss")["seeds"][str(seed)]["ppo"]
    out = {}
    for name, placement in PPO_ARMS.items():
        out[name] = _against(exact_ppo_run(task, start, seed, placement, steps), committed[name])
    return out


def _job(seed: int) -> tuple[int, dict]:
    """`exact_seed` for a worker process: (seed, its runs)."""
    return seed, exact_seed(seed)


def _ppo_job(seed: int) -> tuple[int, dict]:
    """`exact_ppo_seed` for a worker process: (seed, its runs)."""
    return seed, exact_ppo_seed(seed)


def _low_job(seed: int) -> tuple[int, dict]:
    """`exact_low_seed` for a worker process: (seed, its runs)."""
    return seed, exact_low_seed(seed)


_METHODS = {  # --method: (default out, record of, arms, rule, one seed, worker job)
    "grpo": (OUT, ["grpo_kl_reward.json (seeds 3-7)", "grpo_kl_cross.json (seeds 8-14)"], ARMS,
             "PREREGISTRATION_exact_kl.md", exact_seed, _job),
    "ppo": (PPO_OUT, ["ppo_kl_loss.json (seeds 3-7)"], PPO_ARMS,
            "PREREGISTRATION_ppodrift_exact.md", exact_ppo_seed, _ppo_job),
    "grpo_low": (LOW_OUT, ["grpo_kl_reward.json (seeds 3-7; none at this rate for 8 and up)"],
                 LOW_ARMS, "PREREGISTRATION_exact_kl_low.md", exact_low_seed, _low_job),
    "grpo_low_fresh": (LOW_FRESH_OUT, ["no committed runs: fresh seeds"], LOW_ARMS,
                       "PREREGISTRATION_exact_kl_low_fresh.md", exact_low_seed, _low_job),
}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(3, 15)))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--method", choices=tuple(_METHODS), default="grpo")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out, of, arms, rule, one_seed, job = _METHODS[args.method]
    args.out = args.out or str(out)
    record = {
        "meta": {
            **provenance("labs.grpo.exact_kl", argv),
            "processor": processor_name(),
            "of": of,
            "arms": arms,
            "steps": 150,
            "rule": rule,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "env": {k: os.environ.get(k) for k in _ARITHMETIC_ENV},
        },
        "seeds": {},
    }

    _write_seeds(record, args.out, args.seeds, one_seed, job, args.workers)


if __name__ == "__main__":
    main()
