"""Chapter 6's committed peers of the teacher's skill: every seed of the sweep, stopped where its
accuracy on the training problems reaches the teacher's, one seed re-run against the record, and
the stopping rule shown to read no held-out problem."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from labs.common.tasks import AdditionTask
from labs.distill import peer as peer_module
from labs.distill.peer import DEFAULT_RESULTS, _first_reach, _peer, _peer_record, _peer_steps
from labs.distill.sequence import _greedy_accuracy
from labs.distill.sweep import DEFAULT_RESULTS as SWEEP_RESULTS
from labs.distill.teacher import load_teacher

SEED = "3"  # the cheapest peer of the record (360 steps)


@pytest.fixture(scope="module")
def records():
    return json.loads(DEFAULT_RESULTS.read_text()), json.loads(SWEEP_RESULTS.read_text())


@pytest.fixture(scope="module")
def task():
    return AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)


class _Unreadable(list):
    """A held-out set that fails the moment anything reads it."""

    def _refuse(self, *args, **kwargs):
        raise AssertionError("the held-out problems were read")

    __iter__ = __len__ = __getitem__ = __bool__ = _refuse


def test_the_record_holds_every_seed_of_the_sweep_at_the_teachers_training_accuracy(records):
    peers, sweep = records
    assert list(peers["seeds"]) == list(sweep["seeds"])
    assert peers["meta"]["command"] == "python -m labs.distill.peer"
    assert peers["teacher"]["train"] == sweep["teacher"]["train"]
    for peer in peers["seeds"].values():
        # stopped at an evaluation of the sweep's answer-key run (every 40 steps, 824 in all)
        assert 0 < peer["steps"] <= 824 and peer["steps"] % 40 == 0
        assert peer["train"] >= sweep["teacher"]["train"]
        assert 0 <= peer["held_out"] <= 1
        assert len(peer["answers"]) == len(sweep["teacher"]["answers"])


def test_a_seed_re_run_blind_to_the_held_out_problems_gives_the_records_steps_and_answers(
    records, task
):
    """The search runs on a task whose held-out problems fail the moment anything reads them (so
    the stopping rule reads none), then the peer is re-run to that stop as `_peer` does."""
    peers, sweep = records
    assert SEED == min(peers["seeds"], key=lambda s: peers["seeds"][s]["steps"])
    blind = copy.copy(task)
    blind.held_out = _Unreadable(task.held_out)
    steps, train = _peer_steps(blind, sweep, SEED)
    again, record = _peer_record(task, int(SEED), steps, train), peers["seeds"][SEED]
    assert again["steps"] == record["steps"]
    assert abs(again["train"] - record["train"]) <= 2 / len(task.train) + 1e-9
    assert abs(again["held_out"] - record["held_out"]) <= 2 / len(task.held_out) + 1e-9
    differ = np.sum(np.array(again["answers"]) != np.array(record["answers"]))
    assert differ <= 2  # same seed, same code: only floating-point order may differ


def test_peer_re_runs_to_the_stop_its_search_found(monkeypatch, task):
    """`_peer` (what `python -m labs.distill.peer` records) is the search and the re-run tested
    above, joined: the re-run gets the search's steps and accuracy, the seed as an int."""
    calls = []
    monkeypatch.setattr(peer_module, "_peer_steps", lambda t, sw, s: calls.append(s) or (120, 0.5))
    monkeypatch.setattr(peer_module, "_peer_record", lambda *args: args)
    assert _peer(task, {}, "7") == (task, 7, 120, 0.5) and calls == ["7"]


def test_the_old_held_out_stopping_rule_reads_the_held_out_problems(task):
    # Negative control of the test above: the old rule, stopped where the held-out accuracy first
    # reaches the teacher's, reads them: it fails on the unreadable set, and dropping half of the
    # held-out problems moves its stop (280 steps on all 80, 240 on the even half, 320 on the odd
    # half).
    teacher, _ = load_teacher()

    def held_out_rule(held_out):
        changed = copy.copy(task)
        changed.held_out = held_out
        level = _greedy_accuracy(teacher, changed, held_out)
        return _first_reach(changed, int(SEED), held_out, level, 400)[0]

    with pytest.raises(AssertionError, match="were read"):
        held_out_rule(_Unreadable(task.held_out))
    old = [held_out_rule(h) for h in (task.held_out, task.held_out[::2], task.held_out[1::2])]
    assert len(set(old)) == 3, old


def test_steps_refuse_a_student_that_never_reaches_the_target(task):
    with pytest.raises(RuntimeError, match="never crosses"):
        _first_reach(task, 0, task.train[:8], 1.01, 40)


def test_the_extra_seeds_are_new_seeds_with_a_copy_and_a_peer_each(records):
    """The extra seeds for "What does a copy inherit?" continue the sweep's (none repeats one of
    its seeds), each holds the long copy's and the peer's held-out answers, and every peer stopped
    at an evaluation within the search, at or above the teacher's accuracy on the training set."""
    from labs.distill.inherit_seeds import DEFAULT_RESULTS as EXTRA

    _, sweep = records
    extra = json.loads(EXTRA.read_text())
    seeds = [int(s) for s in extra["seeds"]]
    assert seeds == list(range(len(sweep["seeds"]), len(sweep["seeds"]) + len(seeds)))
    assert len(seeds) >= 4 and extra["meta"]["arm"] == "distill_long"
    assert extra["teacher"]["answers"] == sweep["teacher"]["answers"]
    for record in extra["seeds"].values():
        peer, copy_ = record["peer"], record["copy"]
        assert 0 < peer["steps"] <= extra["meta"]["peer_max_steps"] and peer["steps"] % 40 == 0
        assert peer["train"] >= sweep["teacher"]["train"]
        assert len(peer["answers"]) == len(copy_["answers"]) == len(sweep["teacher"]["answers"])
