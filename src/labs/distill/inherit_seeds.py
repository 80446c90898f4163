"""Chapter 6's extra seeds for "What does a copy inherit?": the long sampled copy and the peer of
the teacher's skill, for seeds beyond the sweep's four.

Taught in chapter 6, "What does a copy inherit?". The measure that does not reward being right,
the share of a student's wrong answers on the teacher's wrong problems that are the teacher's
number, separates the copy from the peer by only a few problems in some seeds, so four seeds say
little about its spread. This script runs, for each extra seed, only what that measure needs: the
sweep's "distill_long" arm (`labs.distill.sweep.run_seed`, the same code and settings) and the
peer (`labs.distill.peer`, the same stopping rule). About 45 CPU seconds a seed on one thread
(39 to 50 in the committed record, which keeps each seed's `cpu_seconds`):

    python -m labs.distill.inherit_seeds 4 12    # seeds 4 .. 11; writes data/inherit_seeds.json

The file is rewritten after every seed, so an interrupted run keeps the seeds it finished.
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
from labs.distill.peer import _peer_at
from labs.distill.sweep import DEFAULT_RESULTS as SWEEP_RESULTS
from labs.distill.sweep import SETTINGS, run_seed
from labs.distill.teacher import load_teacher

__all__: list[str] = []

DEFAULT_RESULTS = Path(__file__).resolve().parent / "data" / "inherit_seeds.json"


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
    results = {
        "meta": {**provenance("labs.distill.inherit_seeds", argv), "processor": processor_name(),
                 "torch_threads": 1, "sweep": SWEEP_RESULTS.name, "arm": "distill_long",
                 "peer_max_steps": max_steps},
        "teacher": {"train": sweep["teacher"]["train"], "answers": sweep["teacher"]["answers"]},
        "seeds": {},
    }  # fmt: skip
    for seed in range(first, stop):
        begin = time.process_time()
        copy = run_seed(task, teacher, seed, arms=("distill_long",))["distill_long"]
        try:
            peer = _peer_at(task, seed, sweep["teacher"]["train"], max_steps)
        except RuntimeError as err:  # no stop within the search: kept, not dropped
            peer = {"error": str(err)}
        results["seeds"][str(seed)] = {
            "copy": {"answers": copy["answers"], "held_out": copy["accuracy"][-1],
                     "train": copy["train"]},
            "peer": peer,
            "cpu_seconds": time.process_time() - begin,
        }  # fmt: skip
        DEFAULT_RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        print(f"seed {seed} done in {results['seeds'][str(seed)]['cpu_seconds']:.0f} CPU s")
    print(f"wrote {DEFAULT_RESULTS}")


if __name__ == "__main__":
    _main(sys.argv[1:])
