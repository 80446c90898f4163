"""The chapter's multi-seed sweep: the ladder, PPO against GRPO, SFT, R1-Zero-style, pass@k.

Run as `python -m labs.grpo.sweep` (about 15 minutes on one CPU core); it writes
`labs/grpo/data/sweep.json` with the command, the library versions and the date that made it,
which chapter 5 reads (`load_sweep`). The notebook re-runs seed 0 of the main configuration live
and asserts that it falls inside the spread committed here.

For each seed: a supervised warm-up (150 steps) gives the starting policy; from it every rung of
`labs.grpo.ladder` trains for the same number of steps; then rung "grpo" with DAPO's dynamic
sampling; PPO with a critic on the same questions per step (`PPOConfig`, same clip, beta,
learning rate and updates); supervised training on the reference answers for as much CPU time
as the GRPO run took; and GRPO from an untrained policy (R1-Zero-style, no warm-up).

`--task countdown` runs the Countdown-style task (`run_countdown_seed`). `labs/grpo/data/
sweep_rerun.json` (`load_sweep(task="rerun")`) is the whole addition sweep run again on another
day with the same code and seeds (`--out` to that file): a second realization, whose RL runs part
from the first file's (the warm-ups of seeds 0 and 1 score alike to every digit, those of seeds
2-4 slightly differently). Not because the code changed: the code the first file was made from
(5c85bf5) and later code give the second file's numbers to the last bit on an AVX2 AMD EPYC, and
a run repeated on one machine repeats to the last bit; the first file was made where the
arithmetic rounded differently (its processor is not recorded; every run took less CPU time), as
a second thread or kernels for another instruction set round differently (tests/grpo/
test_sweep_reproduces.py pins the first steps of one run to the second file). The same holds
for `countdown_rerun.json` (`load_sweep(task="countdown_rerun")`, `--task countdown --seeds 6
--out` to that file), the Countdown task again: seeds 0-2 again, and three more seeds, 3-5; the
code countdown.json was made from (0fead2b) gives the rerun's numbers, not the first file's.

`--task hacking` (`run_hacking_seed`, `load_sweep(task="hacking")`, about 4 minutes for five
seeds) trains rung "grpo" from each seed's warm-up twice, on the proxy rule (answer >= sum) and
on the right rule, and records which way the wrong greedy answers are wrong (chapter 5, "Reward
hacking"). It was made on one machine with the code of this commit, so its seed 0 is the
chapter's live run on that machine.

`--task ppo_sensitivity` (`run_ppo_sensitivity_seed`, `load_sweep(task="ppo_sensitivity")`,
about 13 minutes for three seeds) asks whether the PPO baseline was under-tuned: from each seed's
warm-up it trains PPO at six settings, the learning rate at 1/3, 1 and 3 times GRPO's
(`PPO_LR_SCALES`) crossed with two critic learning rates (`PPO_CRITIC_LRS`; the default first),
on the same questions as every other run of that seed, beside rung "grpo" run again on the same
machine (so that the CPU times compare). The value-loss coefficient is not swept:
policy and critic have their own Adam optimisers, and Adam's step does not change when a loss is
multiplied by a constant, so the critic's learning rate is the knob that acts. Run with
`--seeds 3`; its 1x setting and its GRPO run are those of the addition sweep.

`--task grpo_sensitivity` (`run_grpo_sensitivity_seed`, `load_sweep(task="grpo_sensitivity")`,
about 4 minutes for three seeds) gives GRPO the same learning-rate search: rung "grpo" at
`PPO_LR_SCALES` times its learning rate from each seed's warm-up, on the same questions. Its 1x
run is the GRPO run of `ppo_sensitivity.json` again, so that the three learning rates compare on
one machine. Run with `--seeds 3`.

`--task lr_heldout` (`run_lr_heldout_seed`, `load_sweep(task="lr_heldout")`, about 10 minutes for
five seeds) judges those two searches on seeds they did not see: `_select_learning_rates` fixes
the rule (per method, the setting with the highest mean held-out reward on seeds 0-2), and each
new seed trains the two picks and, as the control, the defaults of both, from its warm-up and on
the same questions. Run with `--first-seed 3 --seeds 5` (seeds 3-7); its default runs of seeds 3
and 4 are those of `sweep_rerun.json`.

`--task ppo_kl_loss`, `grpo_kl_reward`, `grpo_kl_std`, `grpo_kl_k3`, `grpo_kl_k3_low` and
`grpo_kl_cross` are the KL-placement sweeps (where the penalty sits, and which estimator it
uses): `labs.grpo.kl_placement` runs them (`run_task`) and says what each does. The committed
records and the one-run recorders the later sweeps share (`load_sweep`, `_grpo_at`, `_ppo_at`,
`_select_learning_rates`) are in `labs.grpo.records`.

Taught in chapter 5, "The ladder", "Reward hacking", "PPO against GRPO, made fair" and "pass@k
and maj@k".
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from labs.common.runtime import processor_name, provenance
from labs.common.tasks import AdditionTask
from labs.grpo import kl_placement
from labs.grpo.config import PPOConfig
from labs.grpo.countdown import CountdownTask
from labs.grpo.evaluation import _evaluate, _evaluate_at_k
from labs.grpo.hacking import _wrong_answer_gaps
from labs.grpo.ladder import BASE, RUNGS, block_means, ladder_config, run_rung
from labs.grpo.records import (  # noqa: F401 (importable here, where the chapter and tests read them)
    _FILES,
    PPO_CRITIC_LRS,
    PPO_LR_SCALES,
    WARM_UP,
    _grpo_at,
    _ppo,
    _ppo_at,
    _select_learning_rates,
    load_sweep,
)
from labs.grpo.training import (
    _frozen_copy,
    _train_grpo,
    _warm_up,
    new_policy,
)

__all__ = ["load_sweep"]

TASK = {"max_operand": 19, "held_out_fraction": 0.2, "seed": 0}
COUNTDOWN_TASK = {"n_problems": 600, "held_out_fraction": 0.2, "seed": 0}
COUNTDOWN_RUNGS = ("grpo", "dapo", "dr_grpo")
SFT_BATCH = 64


def _sft(task, start, cpu_budget: float, seed: int) -> dict:
    """Supervised steps on the reference answers until `cpu_budget` seconds are spent."""
    policy = copy.deepcopy(start)
    steps, begin = 0, time.process_time()
    while time.process_time() - begin < cpu_budget and steps < 5_000:
        _warm_up(policy, task, 10, SFT_BATCH, 3e-3, seed + 7 * steps + 1)
        steps += 10
    return {
        "held_out": _evaluate(policy, task, task.held_out, 8, 0.1, 1),
        "at_k": _evaluate_at_k(policy, task, task.held_out, 16, [1, 4, 16], 1.0, 1),
        "cpu_seconds": time.process_time() - begin,
        "steps": steps,
    }


def run_seed(task: AdditionTask, seed: int, steps: int) -> dict:
    """Every run of one seed (see the module docstring)."""
    start = new_policy(task, seed=seed)
    _warm_up(start, task, WARM_UP, 64, 3e-3, seed)
    out = {
        "before": {
            "held_out": _evaluate(start, task, task.held_out, 8, 0.1, 1),
            "at_k": _evaluate_at_k(start, task, task.held_out, 16, [1, 4, 16], 1.0, 1),
        },
        "rungs": {},
    }
    for rung in RUNGS:
        out["rungs"][rung] = run_rung(task, start, ladder_config(rung, steps=steps, seed=seed))
        print(f"seed {seed} {rung}: {out['rungs'][rung]['held_out']}", flush=True)
    dyn = ladder_config("grpo", steps=steps, seed=seed, dynamic_sampling=True)
    out["dynamic_sampling"] = run_rung(task, start, dyn)
    out["ppo"] = _ppo(task, start, steps, seed)
    out["sft"] = _sft(task, start, out["rungs"]["grpo"]["cpu_seconds"], seed)
    fresh = new_policy(task, seed=seed)
    out["zero"] = run_rung(task, fresh, ladder_config("grpo", steps=steps, seed=seed))
    out["zero_before"] = {
        "held_out": _evaluate(fresh, task, task.held_out, 8, 0.1, 1),
        "at_k": _evaluate_at_k(fresh, task, task.held_out, 16, [1, 4, 16], 1.0, 1),
    }
    return out


def _countdown_run(task, start, rung: str, steps: int, seed: int) -> dict:
    """One GRPO run on the Countdown-style task: held-out scores, CPU time, curves."""
    config = ladder_config(rung, steps=steps, seed=seed)
    policy, reference = copy.deepcopy(start), _frozen_copy(start)
    begin = time.process_time()
    policy, log = _train_grpo(task, policy, reference, config, rung)
    cpu = time.process_time() - begin
    keys = ("reward", "kl", "zero_adv_fraction", "length")
    return {
        "held_out": _evaluate(policy, task, task.held_out, 8, config.format_weight, 1),
        "cpu_seconds": cpu,
        "final": {k: float(np.mean(log.history[k][-30:])) for k in keys},
        "curves": {k: block_means(log.history[k]) for k in keys},
    }


def run_countdown_seed(seed: int, steps: int) -> dict:
    """The Countdown-style task for one seed: GRPO, DAPO and Dr. GRPO after a warm-up, SFT for
    GRPO's CPU time, and GRPO from an untrained policy (R1-Zero-style)."""
    task = CountdownTask(**COUNTDOWN_TASK)
    start = new_policy(task, seed=seed)
    _warm_up(start, task, WARM_UP, 64, 3e-3, seed)
    out = {"before": {"held_out": _evaluate(start, task, task.held_out, 8, 0.1, 1)}, "rungs": {}}
    for rung in COUNTDOWN_RUNGS:
        out["rungs"][rung] = _countdown_run(task, start, rung, steps, seed)
        print(f"countdown seed {seed} {rung}: {out['rungs'][rung]['held_out']}", flush=True)
    policy, sft_steps, begin = copy.deepcopy(start), 0, time.process_time()
    while time.process_time() - begin < out["rungs"]["grpo"]["cpu_seconds"] and sft_steps < 5_000:
        _warm_up(policy, task, 10, SFT_BATCH, 3e-3, seed + 7 * sft_steps + 1)
        sft_steps += 10
    out["sft"] = {
        "held_out": _evaluate(policy, task, task.held_out, 8, 0.1, 1),
        "cpu_seconds": time.process_time() - begin,
        "steps": sft_steps,
    }
    fresh = new_policy(task, seed=seed)
    out["zero_before"] = {"held_out": _evaluate(fresh, task, task.held_out, 8, 0.1, 1)}
    out["zero"] = _countdown_run(task, fresh, "grpo", steps, seed)
    return out


def run_hacking_seed(task: AdditionTask, seed: int, steps: int) -> dict:
    """Reward hacking for one seed: from the seed's warm-up, rung "grpo" trained on the proxy
    rule (answer >= sum) and on the right rule, with the same seed and questions; for the start
    and both runs, the held-out scores and `wrong_answer_gaps` on the held-out problems."""
    start = new_policy(task, seed=seed)
    _warm_up(start, task, WARM_UP, 64, 3e-3, seed)
    out = {
        "before": {
            "held_out": _evaluate(start, task, task.held_out, 8, 0.1, 1),
            "gaps": _wrong_answer_gaps(start, task, task.held_out).tolist(),
        }
    }
    for name, rule in (("proxy", "at_least_sum"), ("right_rule", "correct_and_format")):
        config = ladder_config("grpo", steps=steps, seed=seed, reward=rule)
        policy = copy.deepcopy(start)
        begin = time.process_time()
        policy, log = _train_grpo(task, policy, _frozen_copy(start), config, name)
        h = log.history
        out[name] = {
            "held_out": _evaluate(policy, task, task.held_out, 8, config.format_weight, 1),
            "gaps": _wrong_answer_gaps(policy, task, task.held_out).tolist(),
            "cpu_seconds": time.process_time() - begin,
            "first": {k: float(np.mean(h[k][:30])) for k in ("reward", "accuracy")},
            "final": {k: float(np.mean(h[k][-30:])) for k in ("reward", "accuracy")},
        }
        print(f"hacking seed {seed} {name}: {out[name]['held_out']}", flush=True)
    return out


def run_ppo_sensitivity_seed(task: AdditionTask, seed: int, steps: int) -> dict:
    """Rung "grpo", then PPO at every pair of `PPO_LR_SCALES` x `PPO_CRITIC_LRS`, from the seed's
    warm-up (the same start and questions as `run_seed`); the PPO runs keyed "lr x<scale> critic
    <critic_lr>", pass@k left out. GRPO is run again so that its CPU time is measured with the
    same code and on the same machine as PPO's."""
    start = new_policy(task, seed=seed)
    _warm_up(start, task, WARM_UP, 64, 3e-3, seed)
    out = {"before": {"held_out": _evaluate(start, task, task.held_out, 8, 0.1, 1)}, "ppo": {}}
    out["grpo"] = run_rung(task, start, ladder_config("grpo", steps=steps, seed=seed))
    print(f"ppo seed {seed} grpo: {out['grpo']['held_out']}", flush=True)
    for scale in PPO_LR_SCALES:
        for critic_lr in PPO_CRITIC_LRS:
            out["ppo"].update(_ppo_at(task, start, steps, seed, BASE["lr"] * scale, critic_lr))
    return out


def run_grpo_sensitivity_seed(task: AdditionTask, seed: int, steps: int) -> dict:
    """Rung "grpo" at `PPO_LR_SCALES` times its learning rate, from the seed's warm-up (the same
    start and questions as `run_ppo_sensitivity_seed`); the runs keyed "lr x<scale>", pass@k
    left out."""
    start = new_policy(task, seed=seed)
    _warm_up(start, task, WARM_UP, 64, 3e-3, seed)
    out = {"before": {"held_out": _evaluate(start, task, task.held_out, 8, 0.1, 1)}, "grpo": {}}
    for scale in PPO_LR_SCALES:
        out["grpo"].update(_grpo_at(task, start, steps, seed, BASE["lr"] * scale))
    return out


def run_lr_heldout_seed(task: AdditionTask, seed: int, steps: int) -> dict:
    """Each method's setting chosen on seeds 0-2 (`_select_learning_rates`), and as the control
    the defaults (GRPO's learning rate, PPO's default critic), from the seed's warm-up and on the
    same questions as the other sweeps; keyed as in the sensitivity sweeps, pass@k left out."""
    chosen = _select_learning_rates()
    start = new_policy(task, seed=seed)
    _warm_up(start, task, WARM_UP, 64, 3e-3, seed)
    out = {"before": {"held_out": _evaluate(start, task, task.held_out, 8, 0.1, 1)}}
    out["grpo"], out["ppo"] = {}, {}
    for lr in dict.fromkeys((chosen["grpo"]["lr"], BASE["lr"])):
        out["grpo"].update(_grpo_at(task, start, steps, seed, lr))
    default = (BASE["lr"], PPOConfig().critic_lr)
    for lr, critic_lr in dict.fromkeys(
        ((chosen["ppo"]["lr"], chosen["ppo"]["critic_lr"]), default)
    ):
        out["ppo"].update(_ppo_at(task, start, steps, seed, lr, critic_lr))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.grpo.sweep", description=__doc__)
    parser.add_argument("--seeds", type=int, default=5, help="how many seeds")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first .. first+seeds-1")
    parser.add_argument("--steps", type=int, default=150, help="RL steps of every run")
    parser.add_argument(
        "--task",
        choices=(
            "addition",
            "countdown",
            "hacking",
            "ppo_sensitivity",
            "grpo_sensitivity",
            "lr_heldout",
            "ppo_kl_loss",
            "grpo_kl_reward",
            "grpo_kl_std",
            "grpo_kl_k3",
            "grpo_kl_k3_low",
            "grpo_kl_cross",
        ),
        default="addition",
    )
    parser.add_argument(
        "--out", default=None, help="default: data/<task>.json (sweep.json for addition)"
    )
    args = parser.parse_args(argv)
    file = _FILES["grpo_kl_reward" if args.task in kl_placement.ADDED else args.task]
    args.out = args.out or str(Path(__file__).parent / "data" / file)
    torch.set_num_threads(1)
    task = AdditionTask(**TASK)
    meta = {
        **provenance("labs.grpo.sweep", argv),
        "torch_threads": 1,
        "task": TASK,
        "warm_up_steps": WARM_UP,
        "steps": args.steps,
        "base": BASE,
        "rungs": {k: dict(v) for k, v in RUNGS.items()},
        "processor": processor_name(),
    }
    if args.task == "countdown":
        meta.update(task=COUNTDOWN_TASK, rungs={k: dict(RUNGS[k]) for k in COUNTDOWN_RUNGS})
    if args.task == "hacking":
        meta.update(
            rungs={"grpo": dict(RUNGS["grpo"])}, rules=["at_least_sum", "correct_and_format"]
        )
    if args.task == "ppo_sensitivity":
        meta.update(
            rungs={"grpo": dict(RUNGS["grpo"])},
            ppo_lr_scales=list(PPO_LR_SCALES),
            ppo_critic_lrs=list(PPO_CRITIC_LRS),
        )
    if args.task == "grpo_sensitivity":
        meta.update(rungs={"grpo": dict(RUNGS["grpo"])}, grpo_lr_scales=list(PPO_LR_SCALES))
    if args.task == "lr_heldout":
        meta.update(
            rungs={"grpo": dict(RUNGS["grpo"])},
            rule="per method, the setting with the highest mean held-out reward on the seeds of "
            "ppo_sensitivity.json / grpo_sensitivity.json (0-2), fixed before these seeds ran",
            selected=_select_learning_rates(),
            control={
                "grpo": {"lr": BASE["lr"]},
                "ppo": {"lr": BASE["lr"], "critic_lr": PPOConfig().critic_lr},
            },
        )
    if args.task in kl_placement.TASKS:
        kl_placement.run_task(task, args, argv, meta)
        return
    results = {"meta": meta, "seeds": {}}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        if args.task == "countdown":
            results["seeds"][str(seed)] = run_countdown_seed(seed, args.steps)
        elif args.task == "hacking":
            results["seeds"][str(seed)] = run_hacking_seed(task, seed, args.steps)
        elif args.task == "ppo_sensitivity":
            results["seeds"][str(seed)] = run_ppo_sensitivity_seed(task, seed, args.steps)
        elif args.task == "grpo_sensitivity":
            results["seeds"][str(seed)] = run_grpo_sensitivity_seed(task, seed, args.steps)
        elif args.task == "lr_heldout":
            results["seeds"][str(seed)] = run_lr_heldout_seed(task, seed, args.steps)
        else:
            results["seeds"][str(seed)] = run_seed(task, seed, args.steps)
        Path(args.out).write_text(json.dumps(results, indent=1))  # partial results survive
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
