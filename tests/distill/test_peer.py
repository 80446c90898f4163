"""Chapter 6's committed peers of the teacher's skill: every seed of the sweep, stopped where the
sweep says, and one seed re-run against the record."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labs.common.tasks import AdditionTask
from labs.distill.peer import DEFAULT_RESULTS, _peer, _peer_steps
from labs.distill.sweep import DEFAULT_RESULTS as SWEEP_RESULTS


@pytest.fixture(scope="module")
def records():
    return json.loads(DEFAULT_RESULTS.read_text()), json.loads(SWEEP_RESULTS.read_text())


def test_the_record_holds_every_seed_of_the_sweep_at_the_teachers_level(records):
    peers, sweep = records
    assert list(peers["seeds"]) == list(sweep["seeds"])
    assert peers["meta"]["command"] == "python -m labs.distill.peer"
    teacher = sweep["teacher"]["held_out"]
    for seed, peer in peers["seeds"].items():
        assert peer["steps"] == _peer_steps(sweep, seed) > 0
        # the sweep's own answer-key arm, stopped early: the same accuracy at that evaluation
        curve = sweep["seeds"][seed]["answers"]["accuracy"]
        assert peer["held_out"] == curve[peer["steps"] // 40] >= teacher
        assert len(peer["answers"]) == len(sweep["teacher"]["answers"])


def test_a_seed_re_run_gives_the_records_answers(records):
    peers, sweep = records
    task = AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)
    seed = min(peers["seeds"], key=lambda s: peers["seeds"][s]["steps"])  # the cheapest
    again = _peer(task, sweep, seed)
    assert again["steps"] == peers["seeds"][seed]["steps"]
    assert abs(again["held_out"] - peers["seeds"][seed]["held_out"]) <= 2 / 80 + 1e-9
    differ = np.sum(np.array(again["answers"]) != np.array(peers["seeds"][seed]["answers"]))
    assert differ <= 2  # same seed, same code: only floating-point order may differ


def test_steps_refuse_a_curve_that_never_reaches_the_teacher(records):
    _, sweep = records
    flat = json.loads(json.dumps(sweep))
    flat["seeds"]["0"]["answers"]["accuracy"] = [0.0] * 5
    with pytest.raises(RuntimeError, match="never crosses"):
        _peer_steps(flat, "0")
