"""Chapter 6's peer of the teacher's skill, for "What does a copy inherit?": per seed, the answer
key's student stopped where the committed sweep's answer-key arm first reaches the teacher's
held-out accuracy, and the number it writes for each held-out problem.

Taught in chapter 6, "What does a copy inherit?". Training the four peers takes about 20 CPU
seconds, a fifth of the chapter's budget, so their answers are committed and the notebook re-runs
one seed live and checks it against the record:

    python -m labs.distill.peer             # writes src/labs/distill/data/peer.json

Each peer starts from the sweep's cold student of its seed (`labs.distill.sweep.cold_student`) and
is trained with the sweep's answer-key settings (`SETTINGS["answers"]`: batch, learning rate, the
seed offset) for the number of steps at which the sweep's record of that seed's "answers" arm
first reaches the shipped teacher's held-out greedy accuracy (its evaluations fall every
`eval_every` steps). Same seed, same code: the run is the sweep's own arm, stopped early.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from labs.common.runtime import processor_name, provenance
from labs.common.tasks import AdditionTask
from labs.distill.baselines import _greedy_answers, supervise_on_answers
from labs.distill.sweep import DEFAULT_RESULTS as SWEEP_RESULTS
from labs.distill.sweep import SETTINGS, cold_student

__all__: list[str] = []

DEFAULT_RESULTS = Path(__file__).resolve().parent / "data" / "peer.json"


def _peer_steps(sweep: dict, seed: str) -> int:
    """Steps at which the sweep's answer-key arm of `seed` first reaches the teacher's level."""
    curve = np.array(sweep["seeds"][seed]["answers"]["accuracy"])
    reached = curve >= sweep["teacher"]["held_out"]
    if not reached.any() or not reached.argmax():
        raise RuntimeError(f"the sweep's answer key of seed {seed} never crosses the teacher")
    return int(reached.argmax()) * SETTINGS["answers"]["eval_every"]


def _peer(task: AdditionTask, sweep: dict, seed: str) -> dict:
    """One seed's peer: its steps, held-out greedy accuracy and held-out answers."""
    key = SETTINGS["answers"]
    steps = _peer_steps(sweep, seed)
    peer, curve = supervise_on_answers(
        cold_student(task, int(seed)), task, task.held_out, steps=steps, eval_every=steps,
        batch_size=key["batch_size"], lr=key["lr"], seed=key["seed_offset"] + int(seed),
        desc=f"answer key to the teacher's level, seed {seed}",
    )  # fmt: skip
    answers = _greedy_answers(peer, task, task.held_out).tolist()
    return {"steps": steps, "held_out": curve.accuracy[-1], "answers": answers}


def _main(argv: list[str]) -> None:
    if argv:
        raise SystemExit("python -m labs.distill.peer takes no arguments")
    torch.set_num_threads(1)
    task = AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)
    sweep = json.loads(SWEEP_RESULTS.read_text())
    results = {
        "meta": {**provenance("labs.distill.peer", argv), "processor": processor_name(),
                 "torch_threads": 1, "sweep": SWEEP_RESULTS.name},
        "seeds": {seed: _peer(task, sweep, seed) for seed in sweep["seeds"]},
    }  # fmt: skip
    DEFAULT_RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {DEFAULT_RESULTS}")


if __name__ == "__main__":
    _main(sys.argv[1:])
