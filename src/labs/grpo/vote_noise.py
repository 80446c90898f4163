"""The noise of a maj@16 change: chapter 5, "pass@k and maj@k: what RL changes".

The sweep scores maj@16 before and after RL on the same 80 held-out problems, 16 sampled answers
per problem with evaluation seed 1, one vote per problem. Since both scores cover the same
problems, which problems were drawn cancels in the change; what is left is which 16 answers each
policy happened to draw, and the records keep the scores, not the answers. This script measures
that noise. It rebuilds seeds 0-4 of the sweep: each seed's warm-up, then rung "grpo", rung
"grpo" with dynamic sampling and PPO, trained as `labs.grpo.sweep.run_seed` trains them, and
scores every policy with evaluation seeds 1-16 (`EVAL_SEEDS`, 16 samples per problem each, as the
sweep scores them). The rebuilt runs are a third realization: on the Intel Xeon that made the
record (with the AVX2 pin of `labs.common.cpu_arithmetic`) the warm-ups are the committed ones up
to rounding (seed 0's scores repeat `sweep.json`'s, seed 1's `sweep_rerun.json`'s, seeds 2-4's
neither exactly) and each RL run parts from both committed files, as those part from each other;
the record says, per policy, which committed file's scores at evaluation seed 1 it repeats to
every digit ("repeats": "addition" for `sweep.json`, "rerun" for `sweep_rerun.json`), if any.
What it measures is the evaluation's noise on a policy of each seed and method, not the committed
policies' own. It still applies to the committed changes: most of a change's variance is the
warm-up's, the policy the realizations share up to rounding (chapter 5 prints the share).

`python -m labs.grpo.vote_noise --workers 2` (about 3 minutes on two cores) writes
`data/vote_noise.json` seed by seed; chapter 5 reads it with `load_sweep(task="vote_noise")`.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

from labs.common.runtime import processor_name, provenance
from labs.common.tasks import AdditionTask
from labs.grpo.config import PPOConfig
from labs.grpo.evaluation import _evaluate, _evaluate_at_k
from labs.grpo.ladder import BASE, RUNGS, ladder_config
from labs.grpo.ppo import _train_ppo
from labs.grpo.records import WARM_UP, _write_seeds, load_sweep
from labs.grpo.training import _frozen_copy, _train_grpo, _warm_up, new_policy

__all__: list[str] = []

TASK = {"max_operand": 19, "held_out_fraction": 0.2, "seed": 0}  # as labs.grpo.sweep.TASK
EVAL_SEEDS = tuple(range(1, 17))  # seed 1 is the sweep's own evaluation
KS = (1, 4, 16)
OUT = Path(__file__).parent / "data" / "vote_noise.json"
# the path to each policy's committed scores in a sweep record
RUNS = {"before": ("before",), "grpo": ("rungs", "grpo"), "dynamic_sampling": ("dynamic_sampling",),
        "ppo": ("ppo",)}  # fmt: skip


def _policies(task: AdditionTask, seed: int, steps: int) -> dict:
    """The seed's warm-up and its three RL policies, trained as `sweep.run_seed` trains them."""
    start = new_policy(task, seed=seed)
    _warm_up(start, task, WARM_UP, 64, 3e-3, seed)
    out = {"before": start}
    for name, extra in (("grpo", {}), ("dynamic_sampling", {"dynamic_sampling": True})):
        config = ladder_config("grpo", steps=steps, seed=seed, **extra)
        out[name], _ = _train_grpo(task, copy.deepcopy(start), _frozen_copy(start), config, name)
    config = PPOConfig(**{**BASE, **RUNGS["grpo"], "steps": steps, "seed": seed})
    out["ppo"], _, _ = _train_ppo(task, copy.deepcopy(start), _frozen_copy(start), config, "PPO")
    return out


def vote_noise_seed(seed: int, steps: int = 150) -> dict:
    """One seed: for each policy of `RUNS`, "at_k" (each pass@k and maj@k as a list over
    `EVAL_SEEDS`) and "repeats" (the committed files, "addition" and "rerun", whose held-out
    scores and pass@k and maj@k of that policy at evaluation seed 1 it gives to every digit)."""
    torch.set_num_threads(1)
    task = AdditionTask(**TASK)
    committed = {f: load_sweep(task=f)["seeds"][str(seed)] for f in ("addition", "rerun")}
    out = {}
    for name, policy in _policies(task, seed, steps).items():
        scores = [_evaluate_at_k(policy, task, task.held_out, 16, KS, 1.0, s) for s in EVAL_SEEDS]
        held_out = _evaluate(policy, task, task.held_out, 8, 0.1, 1)
        repeats = []
        for file, record in committed.items():
            for key in RUNS[name]:
                record = record[key]
            if held_out == record["held_out"] and scores[0] == record["at_k"]:
                repeats.append(file)
        out[name] = {"at_k": {k: [s[k] for s in scores] for k in scores[0]}, "repeats": repeats}
        print(f"seed {seed} {name}: maj@16 {out[name]['at_k']['maj@16']} repeats {repeats}",
              flush=True)  # fmt: skip
    return out


def _job(seed: int) -> tuple[int, dict]:
    """`vote_noise_seed` for a worker process: (seed, its record)."""
    return seed, vote_noise_seed(seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(5)))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    record = {
        "meta": {
            **provenance("labs.grpo.vote_noise", argv),
            "processor": processor_name(),
            "torch_threads": 1,
            "of": "sweep.json and sweep_rerun.json: seeds 0-4, rebuilt",
            "task": TASK,
            "steps": 150,
            "eval_seeds": list(EVAL_SEEDS),
            "samples_per_problem": 16,
        },
        "seeds": {},
    }

    _write_seeds(record, args.out, args.seeds, vote_noise_seed, _job, args.workers)


if __name__ == "__main__":
    main()
