"""Chapter 6's extra seeds for "What does a copy inherit?": the long sampled copy and the peer of
the teacher's skill, for seeds beyond the sweep's four.

Taught in chapter 6, "What does a copy inherit?". The measure that does not reward being right,
the share of a student's wrong answers on the teacher's wrong problems that are the teacher's
number, separates the copy from the peer by only a few problems in some seeds, so four seeds say
little about its spread. This script runs, for each extra seed, only what that measure needs: the
sweep's "distill_long" arm (`labs.distill.sweep.run_seed`, the same code and settings) and the
peer (`labs.distill.peer`, the same stopping rule). About 45 CPU seconds a seed on one thread
(39 to 50 in the committed record, which keeps each seed's `cpu_seconds`):

    python -m labs.distill.inherit_seeds 4 12    # seeds 4 .. 11; adds to data/inherit_seeds.json

It adds to the file and never rewrites what it holds, as `labs.distill.more_seeds` does: a seed
already there is skipped, and a record already there is kept bit for bit (`merge_seeds`). A run
whose settings (the sweep it reads, the arm, the peer's search length, the teacher) differ from
the file's is refused with a ValueError before anything runs. The file is rewritten after every
seed, so an interrupted run keeps the seeds it finished; each run's provenance is appended to
meta["runs"].
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from labs.common.runtime import processor_name, provenance
from labs.common.tasks import AdditionTask
from labs.common.validate import integer
from labs.distill.more_seeds import merge_seeds
from labs.distill.peer import _peer_at
from labs.distill.sweep import DEFAULT_RESULTS as SWEEP_RESULTS
from labs.distill.sweep import SETTINGS, run_seed
from labs.distill.teacher import load_teacher

__all__: list[str] = []

DEFAULT_RESULTS = Path(__file__).resolve().parent / "data" / "inherit_seeds.json"
# the settings a file's seeds share: a run with other values may not add to it
SETTING_KEYS = ("sweep", "arm", "peer_max_steps", "torch_threads")


def _merge_results(old: dict | None, new: dict) -> dict:
    """`old` (a results file, or None for none yet) with `new`'s seeds and runs added. Both hold
    "meta" (the `SETTING_KEYS` and "runs"), "teacher" and "seeds" ({seed: {"copy", "peer",
    "cpu_seconds"}}). A setting or the teacher that differs is refused (ValueError naming it); a
    seed `old` holds keeps `old`'s record (`merge_seeds`: `new` may not hold another for it)."""
    if old is None:
        return new
    for key in SETTING_KEYS:
        if old["meta"].get(key) != new["meta"].get(key):
            raise ValueError(
                f"new run's setting {key!r} must match the file's {old['meta'].get(key)!r}, got "
                f"{new['meta'].get(key)!r}: its seeds would not be comparable"
            )
    if old["teacher"] != new["teacher"]:
        raise ValueError("new run's teacher (training accuracy and held-out answers) must match "
                         "the file's: its seeds would not be comparable")  # fmt: skip
    meta = {**old["meta"], "runs": [*old["meta"]["runs"], *new["meta"]["runs"]]}
    return {**old, "meta": meta, "seeds": merge_seeds(old["seeds"], new["seeds"])}


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.distill.inherit_seeds",
                                     description=__doc__)  # fmt: skip
    parser.add_argument("first", type=int, help="first seed (the sweep has 0 .. 3)")
    parser.add_argument("stop", type=int, help="one past the last seed")
    args = parser.parse_args(argv)
    first = integer("first", args.first, minimum=4, maximum=63)
    stop = integer("stop", args.stop, minimum=first + 1, maximum=64)
    torch.set_num_threads(1)
    task = AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)
    teacher, _ = load_teacher()
    sweep = json.loads(SWEEP_RESULTS.read_text())
    # the peer's search runs as far as the sweep's answer-key arm, the same length in every seed
    max_steps = sweep["seeds"]["0"]["answers"]["samples"][-1] // SETTINGS["answers"]["batch_size"]
    run = {
        "meta": {"sweep": SWEEP_RESULTS.name, "arm": "distill_long", "peer_max_steps": max_steps,
                 "torch_threads": 1,
                 "runs": [{**provenance("labs.distill.inherit_seeds", argv),
                           "processor": processor_name()}]},
        "teacher": {"train": sweep["teacher"]["train"], "answers": sweep["teacher"]["answers"]},
        "seeds": {},
    }  # fmt: skip
    old = json.loads(DEFAULT_RESULTS.read_text()) if DEFAULT_RESULTS.exists() else None
    results = _merge_results(old, run)  # refuses other settings before anything runs
    for seed in range(first, stop):
        if str(seed) in results["seeds"]:
            print(f"seed {seed} already in the file: kept, not run again")
            continue
        begin = time.process_time()
        copy = run_seed(task, teacher, seed, arms=("distill_long",))["distill_long"]
        try:
            peer = _peer_at(task, seed, sweep["teacher"]["train"], max_steps)
        except RuntimeError as err:  # no stop within the search: kept, not dropped
            peer = {"error": str(err)}
        record = {
            "copy": {"answers": copy["answers"], "held_out": copy["accuracy"][-1],
                     "train": copy["train"]},
            "peer": peer,
            "cpu_seconds": time.process_time() - begin,
        }  # fmt: skip
        results["seeds"] = merge_seeds(results["seeds"], {str(seed): record})
        DEFAULT_RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(f"seed {seed} done in {record['cpu_seconds']:.0f} CPU s", flush=True)
    print(f"wrote {DEFAULT_RESULTS}")


if __name__ == "__main__":
    _main(sys.argv[1:])
