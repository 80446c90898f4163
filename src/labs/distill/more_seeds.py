"""Chapter 6's extra seeds for the comparison of distillation with GRPO: seeds beyond the sweep's
four for the arms at equal compute and for the tuned GRPO setting.

Taught in chapter 6, "Distillation against RL, in miniature". Several of its findings were read
"in every seed" over the sweep's four seeds, and four seeds agreeing is a one-in-sixteen chance
for a fair coin. This script runs, for each extra seed, the sweep's arms at equal compute
(`labs.distill.sweep.run_seed` with `arms`, the same code and settings: distillation, GRPO with
chapter 5's loop and the sweep's settings, the untrained teacher's copy, the answer key) and the
best setting of the tuning search (`labs.distill.rl_tuning.run_setting`, the setting named in
rl_tuning.json's "best"), each from the same cold start as the sweep's seed would be:

    python -m labs.distill.more_seeds 4 12                 # seeds 4 .. 11
    python -m labs.distill.more_seeds 4 8 --arms correct   # add an arm to seeds 4 .. 7
    python -m labs.distill.more_seeds 8 12 --arms correct  # and to seeds 8 .. 11
    python -m labs.distill.more_seeds 4 8 --arms distill_long greedy grpo_long

It adds to data/more_seeds.json and never rewrites what the file holds: a seed and arm already
there is skipped, and a value already there is kept bit for bit (`merge_seeds`). The file is
rewritten after every seed, so an interrupted run keeps the seeds it finished. Each arm records
its CPU seconds: on one thread the four sweep arms and the tuned run took 39 to 44 a seed in the
committed record, the filtered copy ("correct") 43 to 56 more, and the three long arms
("distill_long", "greedy", "grpo_long", seeds 4 to 7) 103 to 114 more.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

from labs.common.runtime import processor_name, provenance
from labs.common.tasks import AdditionTask
from labs.common.validate import integer
from labs.distill.rl_tuning import DEFAULT_RESULTS as TUNING_RESULTS
from labs.distill.rl_tuning import SEARCH, run_setting
from labs.distill.sweep import ARMS, run_seed
from labs.distill.teacher import load_teacher

__all__ = ["merge_seeds"]

DEFAULT_RESULTS = Path(__file__).resolve().parent / "data" / "more_seeds.json"
DEFAULT_ARMS = ("distill", "grpo", "control", "answers", "tuned")


def merge_seeds(old: dict, new: dict) -> dict:
    """`old` with the seeds and arms of `new` added: {seed: {arm: record}} both. A seed and arm
    that `old` holds keeps `old`'s record unchanged (the same object; `new` may not hold a
    different one for it: ValueError naming the seed and arm). Returns a new outer dict."""
    for name, value in (("old", old), ("new", new)):
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise TypeError(f"{name} must be a dict of seed -> {{arm: record}}, got {value!r:.80}")
    merged = {seed: dict(arms) for seed, arms in old.items()}
    for seed, arms in new.items():
        have = merged.setdefault(seed, {})
        for arm, record in arms.items():
            if arm in have and have[arm] != record:
                raise ValueError(
                    f"new must not change a record already kept: seed {seed!r}, arm {arm!r} "
                    "differs from the file's"
                )
            have.setdefault(arm, record)
    return merged


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.distill.more_seeds", description=__doc__)
    parser.add_argument("first", type=int, help="first seed (the sweep has 0 .. 3)")
    parser.add_argument("stop", type=int, help="one past the last seed")
    parser.add_argument("--arms", nargs="+", default=list(DEFAULT_ARMS),
                        help=f"from {ARMS} and 'tuned' (default: {DEFAULT_ARMS})")  # fmt: skip
    args = parser.parse_args(argv)
    first = integer("first", args.first, minimum=4, maximum=63)
    stop = integer("stop", args.stop, minimum=first + 1, maximum=64)
    unknown = [a for a in args.arms if a not in (*ARMS, "tuned")]
    if unknown:
        raise ValueError(f"--arms must name arms from {ARMS} or 'tuned', got {unknown}")
    torch.set_num_threads(1)
    task = AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)
    teacher, _ = load_teacher()
    tuning = json.loads(TUNING_RESULTS.read_text())
    best = next(s for s in SEARCH if s["name"] == tuning["best"]["name"])
    if DEFAULT_RESULTS.exists():
        results = json.loads(DEFAULT_RESULTS.read_text())
    else:
        results = {"meta": {"runs": []}, "tuned_setting": best["name"], "seeds": {}}
    if results["tuned_setting"] != best["name"]:
        raise RuntimeError("rl_tuning.json names another best setting than the file's runs")
    results["meta"]["runs"].append({**provenance("labs.distill.more_seeds", argv),
                                    "processor": processor_name(), "torch_threads": 1})  # fmt: skip
    for seed in range(first, stop):
        have = results["seeds"].get(str(seed), {})
        new = {}
        for arm in args.arms:
            if arm in have:
                continue
            begin = time.process_time()
            if arm == "tuned":
                record = run_setting(task, copy.deepcopy(best), seed)
            else:
                record = run_seed(task, teacher, seed, arms=(arm,))[arm]
            record["cpu_seconds"] = time.process_time() - begin
            new[arm] = record
        results["seeds"] = merge_seeds(results["seeds"], {str(seed): new})
        DEFAULT_RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(f"seed {seed}: " + ", ".join(f"{a} {r['cpu_seconds']:.0f} s" for a, r in new.items()),
              flush=True)  # fmt: skip
    print(f"wrote {DEFAULT_RESULTS}")


if __name__ == "__main__":
    _main(sys.argv[1:])
