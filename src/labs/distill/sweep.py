"""Chapter 6's sweep: distillation against GRPO and against the answer key, several seeds.

Taught in chapter 6, "Distillation against RL, in miniature" and the sections after it. The
sweep takes tens of minutes (45 on a shared two-core machine), far more than the chapter's
budget, so its results are committed and the notebook re-runs a prefix of one seed live and
checks it against seed 0 of the committed run:

    python -m labs.distill.sweep            # writes src/labs/distill/data/r1_sweep.json

For each seed the same cold-started student (a fresh `TinyPolicy` of width 32, 1 layer, 2 heads,
then 30 supervised warm-up steps that teach the format) is trained in each of `ARMS`:

* "distill", "grpo", "control": at about equal compute (240 distillation steps, 6 x 25 GRPO
  steps): distillation from the shipped teacher (`labs.distill.teacher`), GRPO on the student
  itself, and distillation from an untrained teacher of the teacher's size (the negative control).
  The GRPO arms run chapter 5's loop with the teacher's settings, not chapter 5's run: two updates
  per batch where chapter 5 takes four, and the optimiser restarts every round of 25 steps;
* "answers": supervised on the true answers (the answer key, free on this task) for as many FLOPs
  as "distill" spends, which is 3.4 times its steps, since no teacher runs; its curve passes
  equal samples (step 240) on the way;
* "grpo_no_format": "grpo" with the format term of the reward set to 0, the check of what that
  term does;
* "distill_long", "grpo_long": ten times distillation's steps (until the held-out curve is flat)
  and four times GRPO's, for the copy's plateau and the bound on the crossover;
* "correct", "greedy": distillation as long as "distill_long" on only the teacher's correct traces
  (R1's rejection sampling) and on the teacher's greedy answers (Kim and Rush's).

Each arm records its curve (FLOPs, held-out greedy accuracy, samples, CPU seconds), its final
accuracy on the training and the shifted problems, and its greedy answer to each held-out problem;
the GRPO arms also the statistics of their groups at the start and the end. The file also
records the teacher's CPU seconds of training, measured by re-training it with its recipe
(`teacher.retrained`: the seconds, and the re-trained copy's held-out accuracy).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

from labs.common import validate
from labs.common.runtime import library_versions, processor_name, provenance
from labs.common.tasks import AdditionTask, Problem
from labs.common.validate import integer, size
from labs.distill.baselines import _greedy_answers, _group_statistics, supervise_on_answers
from labs.distill.costs import distill_step_flops, warm_up_flops
from labs.distill.sequence import (
    Curve,
    _greedy_accuracy,
    _params,
    _positions,
    distill_on_traces,
    grpo_on_student,
)
from labs.distill.teacher import load_teacher, train_teacher
from labs.grpo.config import GRPOConfig
from labs.grpo.policy import TinyPolicy
from labs.grpo.training import check_models, new_policy, warm_up

__all__ = ["ARMS", "SETTINGS", "cold_student", "run_seed", "shifted_problems"]

DEFAULT_RESULTS = Path(__file__).resolve().parent / "data" / "r1_sweep.json"
SETTINGS = {
    "student": {"d_model": 32, "n_layers": 1, "n_heads": 2},
    "cold_start_steps": 30,
    "distill": {"steps": 240, "batch_size": 64, "lr": 3e-3, "eval_every": 40},
    "grpo": {"steps": 25, "chunks": 6, "prompts_per_step": 16, "group_size": 8, "lr": 5e-4,
             "updates_per_batch": 2, "format_weight": 0.1},
    "answers": {"batch_size": 64, "lr": 3e-3, "eval_every": 40, "seed_offset": 1000},
    "long": {"distill_steps": 2400, "eval_every": 80, "grpo_chunks": 24},
}  # fmt: skip
# The GRPO arms seed round r of their run 100 x seed + r (r < 1,000 rounds), and every seed must
# stay <= 2**62 (`labs.common.validate.seed`): the largest seed a run takes.
MAX_RUN_SEED = (validate.MAX_SEED - 999) // 100
ARMS = ("distill", "grpo", "control", "answers", "grpo_no_format", "distill_long", "grpo_long",
        "correct", "greedy")  # fmt: skip


def shifted_problems(low: int = 20, high: int = 29) -> list[Problem]:
    """Problems outside the training range: a in [low, high], b in [0, 19] (sums up to 48)."""
    low = integer("low", low, minimum=0, maximum=49)
    high = integer("high", high, minimum=low, maximum=49)
    return [Problem(a, b) for a in range(low, high + 1) for b in range(20)]


def cold_student(task: AdditionTask, seed: int, *, warm_up_steps: int = 30) -> TinyPolicy:
    """The student every arm starts from: a fresh small TinyPolicy, then `warm_up_steps`
    supervised steps that teach the format (seeded; the sweep's 30 by default, at most 10,000).
    seed in [0, 2**62 - 1] (the policy is seeded seed + 1)."""
    check_models(task)
    seed = validate.seed("seed", seed)
    if seed == validate.MAX_SEED:
        raise ValueError(
            f"seed must be < 2**62 (the policy is seeded seed + 1, at most 2**62), got {seed}"
        )
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
    long_steps: int = 2400,
    long_eval_every: int = 80,
    long_grpo_chunks: int = 24,
    arms=ARMS,
) -> dict[str, dict]:
    """The arms named in `arms` (a sequence drawn from `ARMS`) for one seed, all from
    `cold_student(task, seed, warm_up_steps)`: `distill_steps` steps of distillation (from the
    teacher, and from an untrained teacher), `grpo_chunks` rounds of `grpo_steps` GRPO steps (with
    and without the format term), the answer key for as many FLOPs as `distill_steps` steps of
    distillation, each measured every `eval_every` steps or every round; and the long arms,
    `long_steps` steps of distillation (all traces, only the correct ones, greedy ones) measured
    every `long_eval_every` steps and `long_grpo_chunks` rounds of GRPO.
    The defaults are the committed sweep's; the notebook re-runs a shorter prefix of a few arms.
    Returns {arm: {"flops", "accuracy", "samples", "seconds", "ood", "train", "answers"}}, plus
    "groups" ({"start", "end"}: `group_statistics` on the training problems) for the GRPO arms.
    Step counts are capped at 100,000; seed at `MAX_RUN_SEED` (the GRPO arms are seeded 100 x seed).
    """
    check_models(task, teacher=teacher)
    seed = check_run_seed(seed)
    steps = size("distill_steps", distill_steps, maximum=100_000)
    eval_every = size("eval_every", eval_every, maximum=steps)
    chunks = size("grpo_chunks", grpo_chunks, maximum=1_000)
    grpo_steps = size("grpo_steps", grpo_steps, maximum=100_000)
    long_steps = size("long_steps", long_steps, maximum=100_000)
    long_eval_every = size("long_eval_every", long_eval_every, maximum=long_steps)
    long_chunks = size("long_grpo_chunks", long_grpo_chunks, maximum=1_000)
    arms = _check_arms(arms)
    d, g, a = SETTINGS["distill"], SETTINGS["grpo"], SETTINGS["answers"]
    start = cold_student(task, seed, warm_up_steps=warm_up_steps)
    control_teacher = new_policy(task, seed=10_000 + seed)  # untrained, the teacher's size
    ood = shifted_problems()
    # the answer key runs for the FLOPs of `steps` distillation steps (no teacher to run)
    positions, n_student = _positions(task), _params(start)
    answer_steps = round(
        distill_step_flops(_params(teacher), n_student, d["batch_size"], positions)
        * steps / warm_up_flops(n_student, a["batch_size"], positions)
    )  # fmt: skip

    def distil(source, n, every, traces, desc):
        return lambda s: distill_on_traces(
            s, source, task, task.held_out, steps=n, batch_size=d["batch_size"], lr=d["lr"],
            eval_every=every, seed=seed, desc=desc, traces=traces,
        )  # fmt: skip

    def grpo(n_chunks, format_weight, desc):
        config = GRPOConfig(steps=grpo_steps, prompts_per_step=g["prompts_per_step"],
                            group_size=g["group_size"], lr=g["lr"],
                            updates_per_batch=g["updates_per_batch"], seed=100 * seed,
                            format_weight=format_weight)  # fmt: skip
        return lambda s: grpo_on_student(s, task, task.held_out, config, chunks=n_chunks,
                                         desc=desc)  # fmt: skip

    recipes = {
        "distill": distil(teacher, steps, eval_every, "sampled", "distil"),
        "grpo": grpo(chunks, g["format_weight"], "GRPO on the student"),
        "control": distil(control_teacher, steps, eval_every, "sampled", "untrained teacher"),
        "answers": lambda s: supervise_on_answers(
            s, task, task.held_out, steps=answer_steps, batch_size=a["batch_size"], lr=a["lr"],
            eval_every=eval_every, seed=a["seed_offset"] + seed,
        ),
        "grpo_no_format": grpo(chunks, 0.0, "GRPO, no format term"),
        "distill_long": distil(teacher, long_steps, long_eval_every, "sampled", "distil, long"),
        "grpo_long": grpo(long_chunks, g["format_weight"], "GRPO, long"),
        "correct": distil(teacher, long_steps, long_eval_every, "correct", "correct traces"),
        "greedy": distil(teacher, long_steps, long_eval_every, "greedy", "greedy traces"),
    }  # fmt: skip
    out = {}
    for name in arms:
        student, curve = recipes[name](copy.deepcopy(start))
        out[name] = _record(curve, student, task, ood)
        if name.startswith("grpo"):
            out[name]["groups"] = {
                "start": _groups(start, task, seed),
                "end": _groups(student, task, seed),
            }
    return out


def check_run_seed(seed) -> int:
    """`seed` of a run whose GRPO arm is seeded 100 x seed (+ one a round): an int in
    [0, MAX_RUN_SEED]; TypeError/ValueError naming `seed` otherwise."""
    seed = validate.seed("seed", seed)
    if seed > MAX_RUN_SEED:
        raise ValueError(
            f"seed must be <= {MAX_RUN_SEED} (the GRPO arms are seeded 100 x seed plus one a "
            f"round, and a seed is at most 2**62), got {seed}"
        )
    return seed


def _check_arms(arms) -> tuple[str, ...]:
    if isinstance(arms, str) or not hasattr(arms, "__iter__"):
        raise TypeError(f"arms must be a sequence of arm names from {ARMS}, got {arms!r}")
    arms = tuple(arms)
    unknown = [arm for arm in arms if arm not in ARMS]
    if not arms or unknown or len(set(arms)) != len(arms):
        raise ValueError(f"arms must be distinct names from {ARMS}, at least one, got {arms!r}")
    return arms


def _groups(policy: TinyPolicy, task: AdditionTask, seed: int) -> dict[str, float]:
    """GRPO's groups for `policy` on every training problem, 8 answers each."""
    g = SETTINGS["grpo"]
    return _group_statistics(policy, task, task.train, g["group_size"], g["format_weight"],
                             seed)  # fmt: skip


def _record(curve: Curve, student: TinyPolicy, task: AdditionTask, ood) -> dict:
    return {
        "flops": curve.flops,
        "accuracy": curve.accuracy,
        "samples": curve.samples,
        "seconds": curve.seconds,
        "ood": _greedy_accuracy(student, task, ood),
        "train": _greedy_accuracy(student, task, task.train),
        "answers": _greedy_answers(student, task, task.held_out).tolist(),
    }


def _teacher_seconds(task: AdditionTask, meta: dict) -> dict[str, float]:
    """CPU seconds of re-training the teacher with its recipe, and the re-trained teacher's
    held-out accuracy. The weights need not match the shipped checkpoint's: chapter 5's loop has
    changed its random streams since the checkpoint was made; the recipe, so the FLOPs, are the
    same, and so is the work the seconds measure."""
    recipe = meta["recipe"]
    begin = time.process_time()
    again, record = train_teacher(task, warmup_steps=recipe["warmup_steps"],
                                  rl_steps=recipe["rl_steps"], seed=recipe["seed"])  # fmt: skip
    seconds = time.process_time() - begin
    if record["train_flops"] != meta["train_flops"]:
        raise RuntimeError("re-training the teacher did not follow the shipped teacher's recipe")
    return {"seconds": seconds, "held_out": _greedy_accuracy(again, task, task.held_out)}


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.distill.sweep", description=__doc__)
    parser.add_argument("seeds", nargs="?", type=int, default=4, help="seeds 0 .. seeds-1")
    parser.add_argument("--out", default=None, help=f"default: {DEFAULT_RESULTS}")
    args = parser.parse_args(argv)
    seeds = size("seeds", args.seeds, maximum=32)
    out = Path(args.out) if args.out else DEFAULT_RESULTS
    torch.set_num_threads(1)
    task = AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)
    teacher, meta = load_teacher()
    results = {
        "settings": SETTINGS,
        "teacher": {"params": meta["params"], "train_flops": meta["train_flops"],
                    "retrained": _teacher_seconds(task, meta),
                    "held_out": _greedy_accuracy(teacher, task, task.held_out),
                    "train": _greedy_accuracy(teacher, task, task.train),
                    "ood": _greedy_accuracy(teacher, task, shifted_problems()),
                    "answers": _greedy_answers(teacher, task, task.held_out).tolist()},
        "seeds": {str(seed): run_seed(task, teacher, seed) for seed in range(seeds)},
        "made_by": "python -m labs.distill.sweep " + " ".join(argv or [str(seeds)]),
        "versions": library_versions(),
        "date": provenance("labs.distill.sweep", argv)["date"],
        "processor": processor_name(),
    }  # fmt: skip
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    _main(sys.argv[1:])
