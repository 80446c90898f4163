"""The cross arm that separates the estimator from the placement (`python -m labs.grpo.sweep --task
grpo_kl_k3 --first-seed 3 --seeds 5`, added to `grpo_kl_reward.json`): GRPO with the KL penalty
in the reward, as the mirror, but the summed k3 instead of the summed k1.

Expected values come from the other committed runs of the same file and from the definitions,
never from the code under test. What the penalty subtracts is tested in test_grpo_kl_penalty.py."""

import copy
import json

import pytest

from labs.common.tasks import AdditionTask
from labs.grpo import torch as gtorch
from labs.grpo.kl_placement import _merge_runs, _merge_std
from labs.grpo.sweep import BASE, _grpo_at, load_sweep

TASK = AdditionTask()
NAME = "lr x1 kl in reward_k3"
NAME_LOW = "lr x0.333 kl in reward_k3"  # the cross arm at GRPO's picked lr, `--task grpo_kl_k3_low`


def _mirror():
    data = load_sweep(task="grpo_kl_reward")
    return data, sorted(data["seeds"], key=int)


def test_the_cross_arm_is_named_and_recorded_as_the_sweep_names_it():
    tiny = gtorch.new_policy(TASK, seed=0, d_model=16, n_layers=1, n_heads=2)
    run = _grpo_at(TASK, tiny, 1, 0, BASE["lr"], "reward_k3")
    assert list(run) == [NAME]
    assert run[NAME]["kl_penalty"] == "reward_k3" and run[NAME]["lr"] == BASE["lr"]
    assert "penalty_only_fraction" in run[NAME]["diagnostics"]  # logged as in the mirror


def test_merging_refuses_a_clash_a_missing_seed_and_another_warm_up():
    data = load_sweep(task="grpo_kl_reward")
    before = data["seeds"]["3"]["before"]
    with pytest.raises(ValueError, match="already holds"):
        _merge_runs(copy.deepcopy(data), "3", {"before": before, "grpo": {"lr x1": {}}})
    with pytest.raises(ValueError, match="no seed 99"):
        _merge_runs(copy.deepcopy(data), "99", {"before": before, "grpo": {"x": {}}})
    with pytest.raises(ValueError, match="warm-up differs"):
        _merge_runs(copy.deepcopy(data), "3", {"before": {"held_out": {}}, "grpo": {"x": {}}})
    # the std arms' merge also refuses a seed that already holds their diagnostics
    with pytest.raises(ValueError, match=r"already holds \['diagnostics'\]"):
        _merge_std(copy.deepcopy(data), "3", {"before": before, "grpo": {"x": {}}})
    merged = copy.deepcopy(data)
    _merge_runs(merged, "3", {"before": before, "grpo": {"x": {"final": 1}}})
    assert list(merged["seeds"]["3"]["grpo"])[-1] == "x"
    assert merged["seeds"]["4"] == data["seeds"]["4"]  # the other seeds untouched


def test_the_committed_cross_arm_follows_the_mirror_on_the_same_machine():
    data, seeds = _mirror()
    added = data["meta"]["added_k3"]
    command = "python -m labs.grpo.sweep --task grpo_kl_k3 --first-seed 3 --seeds 5"
    assert added["command"] == command and added["kl_penalties"] == ["reward_k3"]
    assert added["processor"] == data["meta"]["processor"]  # comparable with the mirror's runs
    assert added["versions"] == data["meta"]["versions"]
    assert seeds == ["3", "4", "5", "6", "7"]
    for s in seeds:
        runs = data["seeds"][s]["grpo"]
        assert list(runs)[6:] == [NAME, NAME_LOW]  # after the mirror's four and the std arms' two
        mine = runs[NAME]
        assert mine["kl_penalty"] == "reward_k3" and mine["lr"] == BASE["lr"]
        # not a copy of either neighbour: its own run
        assert mine["final"]["kl"] != runs["lr x1 kl in reward"]["final"]["kl"]
        assert mine["final"]["kl"] != runs["lr x1"]["final"]["kl"]


# --- the split: the recorded commands still run the same sweeps --------------------------------


@pytest.mark.parametrize("name", ["ppo_kl_loss", "grpo_kl_reward", "grpo_kl_cross"])
def test_the_recorded_commands_still_dispatch_with_the_recorded_meta(monkeypatch, tmp_path, name):
    # the placement sweeps moved to labs.grpo.kl_placement; the command each record names must
    # still reach them, and write the meta the record holds (the runs themselves faked)
    from labs.grpo import kl_placement, sweep

    data = load_sweep(task=name)
    argv = data["meta"]["command"].split()[3:]  # after "python -m labs.grpo.sweep"
    seen = []

    def fake(task, seed, steps):
        seen.append((seed, steps))
        return {"seed": seed}

    monkeypatch.setattr(kl_placement, f"run_{name}_seed", fake)
    out = tmp_path / "record.json"
    sweep.main([*argv, "--out", str(out)])
    got = json.loads(out.read_text())
    first = 8 if name == "grpo_kl_cross" else 3  # the cross record's new seeds: 8-14
    seeds = range(first, first + len(data["seeds"]))
    assert seen == [(s, 150) for s in seeds]
    assert list(got["seeds"]) == [str(s) for s in seeds] == list(data["seeds"])
    made_by = {"command", "date", "versions", "machine", "torch_cpu_capability", "processor"}
    added = {"added", "added_k3", "added_k3_low"}
    expected = {k: v for k, v in data["meta"].items() if k not in made_by | added}
    assert {k: v for k, v in got["meta"].items() if k not in made_by} == expected
    assert list(got["meta"]) == [k for k in data["meta"] if k not in added]


# --- the cross arm at x1/3 (seeds 3-7) and on new seeds (8-14) ----------------------------------


def test_the_committed_low_lr_cross_arm_sits_beside_its_neighbours():
    data, seeds = _mirror()
    added = data["meta"]["added_k3_low"]
    command = "python -m labs.grpo.sweep --task grpo_kl_k3_low --first-seed 3 --seeds 5"
    assert added["command"] == command and added["kl_penalties"] == ["reward_k3"]
    assert added["processor"] == data["meta"]["processor"]
    assert added["grpo_settings"] == [{"lr": data["meta"]["grpo_settings"][0]["lr"]}]
    for s in seeds:
        runs = data["seeds"][s]["grpo"]
        mine = runs[NAME_LOW]
        assert mine["kl_penalty"] == "reward_k3"
        assert mine["lr"] == runs["lr x0.333"]["lr"] == runs["lr x0.333 kl in reward"]["lr"]
        assert mine["final"]["kl"] != runs["lr x0.333 kl in reward"]["final"]["kl"]
        assert mine["final"]["kl"] != runs["lr x0.333"]["final"]["kl"]
        assert mine["final"]["kl"] != runs[NAME]["final"]["kl"]


def test_the_cross_record_holds_three_arms_per_new_seed_on_the_mirrors_machine():
    cross, mirror = load_sweep(task="grpo_kl_cross"), load_sweep(task="grpo_kl_reward")
    meta = cross["meta"]
    assert (
        meta["command"] == "python -m labs.grpo.sweep --task grpo_kl_cross --first-seed 8 --seeds 7"
    )
    assert meta["processor"] == mirror["meta"]["processor"]
    assert meta["versions"] == mirror["meta"]["versions"]
    assert meta["kl_penalties"] == ["reward", "loss", "reward_k3"]
    assert list(cross["seeds"]) == [str(s) for s in range(8, 15)]
    assert not set(cross["seeds"]) & set(mirror["seeds"])  # new seeds, none of the mirror's
    befores = set()
    for record in cross["seeds"].values():
        runs = record["grpo"]
        assert list(runs) == ["lr x1 kl in reward", "lr x1", NAME]
        assert "kl_penalty" not in runs["lr x1"]  # the unchanged GRPO
        assert [runs[n].get("kl_penalty") for n in runs] == ["reward", None, "reward_k3"]
        assert len({runs[n]["final"]["kl"] for n in runs}) == 3  # three runs, not copies
        befores.add(json.dumps(record["before"], sort_keys=True))
    assert len(befores) == 7  # each seed its own warm-up


def test_the_curves_read_the_recorded_window():
    """Chapter 5 reads a run's 10-step KL curve (its spike count, seed 11's and seed 3's windows)
    as covering the same 30 steps as the recorded final KL. That holds only if every committed
    curve has one block per 10 steps and the final is the mean of its last three blocks."""
    for task in ("grpo_kl_reward", "grpo_kl_cross"):
        data = load_sweep(task=task)
        steps = data["meta"]["steps"]
        for record in data["seeds"].values():
            for run in record["grpo"].values():
                blocks = run["curves"]["kl"]
                assert len(blocks) == steps // 10
                assert sum(blocks[-3:]) / 3 == pytest.approx(run["final"]["kl"], rel=1e-12)
