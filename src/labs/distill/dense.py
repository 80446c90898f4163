"""Chapter 6's dense record of R1's filtering: the filtered copy ("correct") evaluated five times
as often, with each held-out problem's mark and the training loss between evaluations.

Taught in chapter 6, "A fairer reading of 'reaches 90%'". The sweep reads R1's filtering every 80
steps, and the all-seeds point it gives (23% of the teacher's compute) lies less than one such
step under the quarter line of the claim check; two seeds also fall far below the line at the same
evaluation and come back. This script runs the same arm with the same code, settings and seeds
(`labs.distill.sweep.cold_student`, then the sweep's distillation loop on correct traces, 2400
steps), evaluated every 16 steps (151 evaluations; every fifth is one of the sweep's 31, and the
chapter checks they agree). At each evaluation it keeps each of the 80 held-out problems' marks
('1' right, '0' a wrong number, '-' not a well-formed answer); between evaluations, the mean and
largest training loss, the step of the largest, the largest gradient norm and the traces kept.

    python -m labs.distill.dense 0 12     # seeds 0 .. 11; adds to data/dense_correct.json

41 to 50 CPU seconds a seed on one thread in the committed run (9.4 CPU minutes in all). It
adds to the file and never rewrites a seed it holds (`labs.distill.more_seeds.merge_seeds`); each
run's provenance is appended to meta["runs"].
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import torch

from labs.common import validate
from labs.common.runtime import processor_name, provenance
from labs.common.tasks import AdditionTask, Problem
from labs.common.validate import instance, integer, real_number, size
from labs.distill.baselines import _greedy_answers
from labs.distill.more_seeds import merge_seeds
from labs.distill.sequence import _distill_on_traces
from labs.distill.sweep import SETTINGS, cold_student
from labs.distill.teacher import load_teacher
from labs.grpo.checks import check_items
from labs.grpo.policy import TinyPolicy
from labs.grpo.training import check_models

__all__ = ["marks", "run_dense"]

DEFAULT_RESULTS = Path(__file__).resolve().parent / "data" / "dense_correct.json"
DENSE = {"steps": 2400, "eval_every": 16, "traces": "correct"}


def marks(policy: TinyPolicy, task: AdditionTask, problems=None) -> str:
    """One character per problem of `problems` (default: `task.held_out`) for `policy`'s greedy
    answer: '1' right, '0' a wrong number, '-' not a well-formed answer."""
    check_models(task)
    instance("policy", policy, TinyPolicy)
    problems = task.held_out if problems is None else check_items("problems", problems, Problem)
    answers = _greedy_answers(policy, task, problems)
    return "".join("-" if a < 0 else "1" if a == p.answer else "0"
                   for a, p in zip(answers, problems, strict=True))  # fmt: skip


def run_dense(
    task: AdditionTask,
    teacher: TinyPolicy,
    seed: int,
    *,
    steps: int = 2400,
    eval_every: int = 16,
    warm_up_steps: int = 30,
    beta2: float = 0.999,
    lr_drop_after: int | None = None,
    lr_drop_factor: float = 0.1,
    lr_cosine_floor: float | None = None,
) -> dict:
    """R1's filtering (the sweep's "correct" arm: the same cold start, loop and settings) for one
    seed, evaluated every `eval_every` steps. Returns {"flops", "accuracy", "samples", "marks",
    "intervals", "cpu_seconds"}: the curve, the held-out marks at each evaluation (`marks`), and
    "intervals": {"mean_loss", "max_loss", "max_loss_step", "max_grad_norm", "kept",
    "max_update_norm", "max_update_step"}, each a list with one value for each stretch between two
    evaluations (floats to 4 significant digits); the update norm is the length of one step's change
    of all the weights (Adam's step, learning rate included; data/dense_correct.json predates it).
    `beta2` is Adam's second-moment decay, in [0, 1): torch's default 0.999 is the sweep's.
    `lr_drop_after`, if not None, is a step in [0, steps]: every later step runs at
    `lr_drop_factor` (in (0, 1]) times the sweep's rate. None (the default) keeps the sweep's
    constant rate, and the factor is then unused. `lr_cosine_floor`, if not None, is a factor f
    in (0, 1]: the rate falls on a cosine from the sweep's at the first step to f times it at the
    last (R1's schedule with f = 0.1, `labs.distill.lr_cosine`); it cannot be combined with
    `lr_drop_after`. steps <= 100,000; seed in [0, 2**62 - 1] (as `cold_student`'s)."""
    check_models(task, teacher=teacher)
    seed = validate.seed("seed", seed)  # cold_student refuses 2**62 itself
    steps = size("steps", steps, maximum=100_000)
    eval_every = size("eval_every", eval_every, maximum=steps)
    beta2 = real_number("beta2", beta2, nonnegative=True)
    if beta2 >= 1:
        raise ValueError(f"beta2 must be < 1 (Adam's second-moment decay, in [0, 1)), got {beta2}")
    lr_drop_factor = real_number("lr_drop_factor", lr_drop_factor, positive=True, maximum=1.0)
    if lr_drop_after is not None:
        lr_drop_after = integer("lr_drop_after", lr_drop_after, minimum=0, maximum=steps)
    if lr_cosine_floor is not None:
        lr_cosine_floor = real_number("lr_cosine_floor", lr_cosine_floor, positive=True,
                                      maximum=1.0)  # fmt: skip
        if lr_drop_after is not None:
            raise ValueError("lr_cosine_floor and lr_drop_after are two schedules: give one, got "
                             f"{lr_cosine_floor} and {lr_drop_after}")  # fmt: skip
    d = SETTINGS["distill"]
    begin = time.process_time()
    student = cold_student(task, seed, warm_up_steps=warm_up_steps)
    seen = [marks(student, task)]
    intervals, losses = {}, []
    stretch = {"max_grad_norm": 0.0, "kept": 0, "max_update_norm": 0.0, "max_update_step": 0}
    before = [_flat(student)]  # the weights before the next step

    def watch(step, model, loss, kept):
        now = _flat(model)
        moved = float(torch.linalg.vector_norm(now - before[0]))
        before[0] = now
        if moved > stretch["max_update_norm"]:
            stretch.update(max_update_norm=moved, max_update_step=step)
        if loss is not None:
            grads = [p.grad.detach().reshape(-1) for p in model.parameters() if p.grad is not None]
            norm = float(torch.linalg.vector_norm(torch.cat(grads)))
            stretch["max_grad_norm"] = max(stretch["max_grad_norm"], norm)
            losses.append((loss, step))
        stretch["kept"] += kept
        if step % eval_every == 0 or step == steps:
            top = max(losses) if losses else (math.nan, step)
            mean = sum(v for v, _ in losses) / len(losses) if losses else math.nan
            row = {"mean_loss": mean, "max_loss": top[0], "max_loss_step": top[1], **stretch}
            for key, value in row.items():
                intervals.setdefault(key, []).append(_short(value))
            losses.clear()
            stretch.update(max_grad_norm=0.0, kept=0, max_update_norm=0.0, max_update_step=0)
            seen.append(marks(model, task))

    _, curve = _distill_on_traces(
        copy.deepcopy(student), teacher, task, task.held_out, steps, d["batch_size"], d["lr"],
        1.0, eval_every, seed, "correct traces, dense", DENSE["traces"], watch, beta2,
        None if lr_drop_after is None else (lr_drop_after, lr_drop_factor), lr_cosine_floor,
    )  # fmt: skip
    return {"flops": curve.flops, "accuracy": curve.accuracy, "samples": curve.samples,
            "marks": seen, "intervals": intervals,
            "cpu_seconds": time.process_time() - begin}  # fmt: skip


def _flat(model) -> torch.Tensor:
    """All of `model`'s weights as one detached vector (a copy)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


def _short(value):
    """A float to 4 significant digits (a compact record); ints unchanged."""
    return value if isinstance(value, int) else float(f"{value:.4g}")


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.distill.dense", description=__doc__)
    parser.add_argument("first", type=int, help="first seed")
    parser.add_argument("stop", type=int, help="one past the last seed")
    args = parser.parse_args(argv)
    first = integer("first", args.first, minimum=0, maximum=63)
    stop = integer("stop", args.stop, minimum=first + 1, maximum=64)
    torch.set_num_threads(1)
    task = AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)
    teacher, _ = load_teacher()
    if DEFAULT_RESULTS.exists():
        results = json.loads(DEFAULT_RESULTS.read_text())
    else:
        results = {"meta": {**DENSE, "torch_threads": 1, "runs": []}, "seeds": {}}
    if {k: results["meta"][k] for k in DENSE} != DENSE:
        raise ValueError(f"the file's settings {results['meta']} differ from this script's {DENSE}")
    results["meta"]["runs"].append({**provenance("labs.distill.dense", argv),
                                    "processor": processor_name()})  # fmt: skip
    for seed in range(first, stop):
        if str(seed) in results["seeds"]:
            print(f"seed {seed} already in the file: kept, not run again")
            continue
        record = run_dense(task, teacher, seed, steps=DENSE["steps"],
                           eval_every=DENSE["eval_every"])  # fmt: skip
        results["seeds"] = merge_seeds(results["seeds"], {str(seed): record})
        # one line a seed: the record is long (151 evaluations x 80 marks a seed)
        seeds = ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in results["seeds"].items())
        DEFAULT_RESULTS.write_text(f'{{"meta": {json.dumps(results["meta"])},\n"seeds": {{\n'
                                   f"{seeds}}}}}\n")  # fmt: skip
        print(f"seed {seed}: {record['cpu_seconds']:.0f} CPU s", flush=True)
    print(f"wrote {DEFAULT_RESULTS}")


if __name__ == "__main__":
    _main(sys.argv[1:])
