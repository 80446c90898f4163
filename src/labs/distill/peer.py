"""Chapter 6's peer of the teacher's skill, for "What does a copy inherit?": per seed, the answer
key's student stopped where its accuracy on the training problems first reaches the teacher's, and
the number it writes for each held-out problem.

Taught in chapter 6, "What does a copy inherit?". Training the four peers takes about 30 CPU
seconds, almost a third of the chapter's budget, so their answers are committed and the notebook
re-runs one seed live and checks it against the record:

    python -m labs.distill.peer             # writes src/labs/distill/data/peer.json

Each peer starts from the sweep's cold student of its seed (`labs.distill.sweep.cold_student`) and
is trained with the sweep's answer-key settings (`SETTINGS["answers"]`: batch, learning rate, the
seed offset), so its run is the sweep's "answers" arm of that seed, stopped early. The stopping
rule reads no held-out problem: every `eval_every` steps it measures the student's greedy accuracy
on the training problems, and the peer stops at the first evaluation where that accuracy reaches
the shipped teacher's greedy accuracy on the same problems. The teacher was trained on every
training problem, so the only accuracy of the teacher that uses no held-out problem is one on
problems it trained on; the peer is trained on the same problems, and the two are matched on how
well they fit what they both saw. The held-out problems are measured once, after the stop.
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
from labs.distill.sequence import _greedy_accuracy
from labs.distill.sweep import DEFAULT_RESULTS as SWEEP_RESULTS
from labs.distill.sweep import SETTINGS, cold_student

__all__: list[str] = []

DEFAULT_RESULTS = Path(__file__).resolve().parent / "data" / "peer.json"


def _answer_key(task: AdditionTask, seed: int, problems, steps: int, eval_every: int, desc: str):
    """The sweep's "answers" arm of `seed` for `steps` steps, measured on `problems`."""
    key = SETTINGS["answers"]
    return supervise_on_answers(
        cold_student(task, seed), task, problems, steps=steps, eval_every=eval_every,
        batch_size=key["batch_size"], lr=key["lr"], seed=key["seed_offset"] + seed, desc=desc,
    )  # fmt: skip


def _first_reach(task: AdditionTask, seed: int, problems, target: float, max_steps: int):
    """(steps, accuracy) at the first evaluation, every `eval_every` steps up to `max_steps`, where
    the answer key's student of `seed` has a greedy accuracy on `problems` of at least `target`.
    Reads no problem but `problems` and the training problems it is trained on."""
    every = SETTINGS["answers"]["eval_every"]
    desc = f"answer key until it reaches {target:.3f}, seed {seed}"
    _, curve = _answer_key(task, seed, problems, max_steps, every, desc)
    reached = np.array(curve.accuracy) >= target
    if not reached.any() or not reached.argmax():
        raise RuntimeError(f"the answer key of seed {seed} never crosses {target:.3f}")
    first = int(reached.argmax())
    return curve.samples[first] // SETTINGS["answers"]["batch_size"], curve.accuracy[first]


def _peer_steps(task: AdditionTask, sweep: dict, seed: str) -> tuple[int, float]:
    """Steps at which the answer key's student of `seed` first reaches the teacher's accuracy on
    the training problems (the sweep's record of it), searched over the sweep's answer-key run,
    and its accuracy on the training problems there."""
    max_steps = sweep["seeds"][seed]["answers"]["samples"][-1] // SETTINGS["answers"]["batch_size"]
    return _first_reach(task, int(seed), task.train, sweep["teacher"]["train"], max_steps)


def _peer(task: AdditionTask, sweep: dict, seed: str) -> dict:
    """One seed's peer: its steps, its accuracy on the training problems at the stop, and its
    held-out greedy accuracy and answers."""
    steps, train = _peer_steps(task, sweep, seed)
    return _peer_record(task, int(seed), steps, train)


def _peer_at(task: AdditionTask, seed: int, target: float, max_steps: int) -> dict:
    """`_peer` for a seed outside the sweep: the stop searched up to `max_steps` for `target`, the
    teacher's accuracy on the training problems."""
    steps, train = _first_reach(task, seed, task.train, target, max_steps)
    return _peer_record(task, seed, steps, train)


def _peer_record(task: AdditionTask, seed: int, steps: int, train: float) -> dict:
    """The peer of `seed` re-run to its stop at `steps`, checked against the search's `train`."""
    peer, curve = _answer_key(task, seed, task.held_out, steps, steps,
                              desc=f"answer key to the teacher's level, seed {seed}")  # fmt: skip
    if _greedy_accuracy(peer, task, task.train) != train:
        raise RuntimeError(f"seed {seed}: the re-run to the stop does not repeat the search")
    answers = _greedy_answers(peer, task, task.held_out).tolist()
    return {"steps": steps, "train": train, "held_out": curve.accuracy[-1], "answers": answers}


def _main(argv: list[str]) -> None:
    if argv:
        raise SystemExit("python -m labs.distill.peer takes no arguments")
    torch.set_num_threads(1)
    task = AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)
    sweep = json.loads(SWEEP_RESULTS.read_text())
    results = {
        "meta": {**provenance("labs.distill.peer", argv), "processor": processor_name(),
                 "torch_threads": 1, "sweep": SWEEP_RESULTS.name,
                 "rule": "first evaluation where the accuracy on the training problems reaches "
                         "the teacher's on the same problems"},
        "teacher": {"train": sweep["teacher"]["train"], "held_out": sweep["teacher"]["held_out"]},
        "seeds": {seed: _peer(task, sweep, seed) for seed in sweep["seeds"]},
    }  # fmt: skip
    DEFAULT_RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {DEFAULT_RESULTS}")


if __name__ == "__main__":
    _main(sys.argv[1:])
