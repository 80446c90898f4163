"""Chapter 6's run of R1's filtering with R1's learning-rate schedule: a cosine down to a tenth.

Taught in chapter 6, "R1's filtering with R1's schedule". The dense record (`labs.distill.dense`,
data/dense_correct.json) runs R1's filtering with Adam at the sweep's constant rate, 3e-3. R1 did
not: it fine-tuned its students with "a cosine decay learning rate scheduler that gradually
decreases the learning rate to one-tenth of its initial value" (R1's supplement, B.4.3; the
registry's note on `r1_distill_epochs` quotes it). The rate-cut test (`labs.distill.lr_decay`)
showed that the late loss spikes of seeds 3, 6 and 11 need the full constant rate, and the dips
after them carry two of the three settled readings of the verdict over the quarter line. This run
puts R1's schedule on all 12 seeds, so that the verdict is read on the recipe R1 used.

The run: the dense record's code, settings and seeds 0 to 11 (the same cold students, 2400 steps
on correct traces, an evaluation every 16 steps, beta2 = 0.999), except that step t of T = 2400
runs at 3e-3 * (1 - 0.9 (1 - cos(pi (t - 1) / (T - 1))) / 2): the full rate at the first step, a
tenth of it (3e-4) at the last, 0.78 of it near step 800 and 0.37 of it at step 1513. The traces
drawn do not depend on the rate, so each seed trains on the dense record's traces: the same FLOPs
and samples at every evaluation, a paired comparison.

The rules (not committed separately before the run, as the earlier tests were; their parameters,
RULES, are written into the record's meta["rules"] by this script at run time, and it refuses a
file whose settings differ):
  * The hook: each seed's FLOPs and samples must equal the dense record's at all 151 evaluations,
    and its first evaluation (the cold student) too. If not, nothing below is read.
  * The verdict of the claim check is read on this run (a choice made after the dense record's
    windows 3 and 1 were known to be over the line), by the rule fixed before the dense run: the
    settled crossing with a window of 11 evaluations (160 steps), 90% of the teacher's held-out
    accuracy, in all 12 seeds, with sampling counted with a KV cache, through `copy_verdict`. The
    dense record's constant-rate reading becomes the sensitivity line beside it.
  * Printed, deciding nothing: windows 3 and 1 and the first crossing; the cacheless count; each
    seed's settled point against its constant-rate one; each seed's largest loss spike (the
    chapter's ratio: a 16-step stretch's largest loss over the median of the 10 stretches before)
    and its evaluations under the line after step 1200.

What came of the first rule: it holds in seeds 0 to 10, at all 151 evaluations. In seed 11 the
traces kept part in the stretch of steps 401 to 416 (755 in the dense record, 754 here) and the FLOP
counts differ from there on, by under 1e-4 of them. The dense record was made on an AMD EPYC, this
run on an Intel Xeon (both AVX2 kernels). The traces drawn do not depend on the rate, so the
schedule is not the cause; the two machines' arithmetic giving one of the teacher's traces
differently is the likely one, but no record here shows it. By the rule, nothing would be read.
Chapter 6 reads the run anyway, says so, and prints its figures on seeds 0 to 10 alone beside those
on all 12 (the same verdict). Seed 11 is read with its own FLOP counts; from step 401 on its
comparison with the constant rate is not on the very same traces.

    python -m labs.distill.lr_cosine 0 12 --workers 2    # writes data/lr_cosine.json

24 to 27 CPU seconds a seed on one thread in the committed run (the dense record's 41 to 50 were
on another machine); the record keeps each seed's `cpu_seconds`. It adds to
the file and never rewrites a seed it holds (`labs.distill.more_seeds.merge_seeds`); each run's
provenance is appended to meta["runs"]. Once the file holds all 12 seeds it also holds
"summary" (`_summary`): per seed the settled point (window 11, with a cache) and the largest
spike, and the point where all 12 have settled.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch

from labs.common.runtime import processor_name, provenance
from labs.common.tasks import AdditionTask
from labs.common.validate import integer, size
from labs.distill.dense import DENSE, run_dense
from labs.distill.more_seeds import merge_seeds
from labs.distill.teacher import load_teacher
from labs.distill.verdicts import settled_crossing

__all__: list[str] = []

DEFAULT_RESULTS = Path(__file__).resolve().parent / "data" / "lr_cosine.json"
SEEDS = tuple(range(12))
SCHEDULE = {"lr_cosine_floor": 0.1}
RULES = {"line": 0.9, "window": 11, "spike_ratio": 16, "late_after_step": 1200}


def _largest_spike(max_loss: list[float]) -> tuple[float, int]:
    """(ratio, stretch) of a run's largest spike: a stretch's largest loss over the median of the
    10 stretches before it, from the 11th stretch on."""
    top = np.asarray(max_loss)
    ratios = [top[j] / np.median(top[j - 10 : j]) for j in range(10, len(top))]
    return float(max(ratios)), 10 + int(np.argmax(ratios))


def _summary(seeds: dict, teacher_meta: dict) -> dict:
    """The record's reading by the rules above: {"per_seed_settled", "every_seed_settled",
    "largest_spike", "largest_spike_step", "late_falls"}, seeds in the record's order."""
    cost = np.array([rec["flops"] for rec in seeds.values()]) / teacher_meta["train_flops"]
    share = np.array([rec["accuracy"] for rec in seeds.values()])
    share = share / teacher_meta["held_out_greedy_accuracy"]
    settled = settled_crossing(cost, share, RULES["line"], window=RULES["window"])
    spikes = [_largest_spike(rec["intervals"]["max_loss"]) for rec in seeds.values()]
    late = np.arange(share.shape[1]) * DENSE["eval_every"] > RULES["late_after_step"]
    return {
        "per_seed_settled": [float(c) for c in settled["per_seed"]],
        "every_seed_settled": settled["every_seed"],
        "largest_spike": [round(r, 2) for r, _ in spikes],
        "largest_spike_step": [rec["intervals"]["max_loss_step"][j]
                               for rec, (_, j) in zip(seeds.values(), spikes, strict=True)],
        "late_falls": [int(np.sum(late & (row <= RULES["line"]))) for row in share],
    }  # fmt: skip


def _job(seed: int) -> tuple[int, dict]:
    """One seed of the run, in a worker process."""
    torch.set_num_threads(1)
    task = AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)
    teacher, _ = load_teacher()
    record = run_dense(task, teacher, seed, steps=DENSE["steps"], eval_every=DENSE["eval_every"],
                       **SCHEDULE)  # fmt: skip
    return seed, record


def _write(results: dict) -> None:
    """One line a seed: the record is long (151 evaluations x 80 marks a seed)."""
    seeds = ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in results["seeds"].items())
    tail = f',\n"summary": {json.dumps(results["summary"])}' if "summary" in results else ""
    DEFAULT_RESULTS.write_text(f'{{"meta": {json.dumps(results["meta"])},\n"seeds": {{\n'
                               f"{seeds}}}{tail}}}\n")  # fmt: skip


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.distill.lr_cosine", description=__doc__)
    parser.add_argument("first", type=int, help="first seed")
    parser.add_argument("stop", type=int, help="one past the last seed")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    args = parser.parse_args(argv)
    first = integer("first", args.first, minimum=0, maximum=len(SEEDS) - 1)
    stop = integer("stop", args.stop, minimum=first + 1, maximum=len(SEEDS))
    workers = size("workers", args.workers, maximum=16)
    torch.set_num_threads(1)
    _, teacher_meta = load_teacher()
    settings = {**DENSE, **SCHEDULE, "beta2": 0.999, "torch_threads": 1, "rules": RULES}
    if DEFAULT_RESULTS.exists():
        results = json.loads(DEFAULT_RESULTS.read_text())
    else:
        results = {"meta": {**settings, "runs": []}, "seeds": {}}
    if {k: results["meta"].get(k) for k in settings} != settings:
        raise ValueError(f"the file's settings {results['meta']} differ from this script's "
                         f"{settings}")  # fmt: skip
    results["meta"]["runs"].append({**provenance("labs.distill.lr_cosine", argv),
                                    "processor": processor_name()})  # fmt: skip
    todo = [s for s in range(first, stop) if str(s) not in results["seeds"]]
    with ProcessPoolExecutor(workers) as pool:
        for done in as_completed([pool.submit(_job, s) for s in todo]):
            seed, record = done.result()
            results["seeds"] = merge_seeds(results["seeds"], {str(seed): record})
            _write(results)
            print(f"seed {seed}: {record['cpu_seconds']:.0f} CPU s, {time.ctime()}", flush=True)
    have = results["seeds"]
    results["seeds"] = {str(s): have[str(s)] for s in SEEDS if str(s) in have}  # in seed order
    if len(results["seeds"]) == len(SEEDS):
        results["summary"] = _summary(results["seeds"], teacher_meta)
    _write(results)
    print(f"wrote {DEFAULT_RESULTS}")


if __name__ == "__main__":
    _main(sys.argv[1:])
