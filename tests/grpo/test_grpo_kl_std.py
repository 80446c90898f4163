"""Is it the std division? The mirror's added arms (`python -m labs.grpo.sweep --task grpo_kl_std
--first-seed 3 --seeds 5`): GRPO at the default learning rate without the division by the group's
std, with the KL penalty in the reward and in the loss, and the diagnostics that runs with the
penalty in the reward log (`training._penalty_only_groups`, `ladder._diagnostics`).

Expected values come from hand-made groups, from the definitions (at step 1 the policy is its
reference, so the penalty is 0) or from the other committed runs, never from the code under test."""

import copy
import functools
import math

import numpy as np
import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.grpo import GRPOConfig
from labs.grpo import torch as gtorch
from labs.grpo.kl_placement import _merge_std
from labs.grpo.ladder import _diagnostics
from labs.grpo.sweep import BASE, _grpo_at, load_sweep
from labs.grpo.training import _frozen_copy, _penalty_only_groups, _train_grpo

TASK = AdditionTask()
KEYS = ("penalty_only_fraction", "penalty_only_abs_adv", "task_spread_abs_adv")
NEW = ["lr x1 no std kl in reward", "lr x1 no std"]


# --- the diagnostics --------------------------------------------------------------------------


def test_penalty_only_groups_on_hand_made_groups():
    # groups of 2: tied and moved by the penalty; task rewards differ; tied and not moved
    # (identical answers); tied and moved
    task = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.1, 1.1])
    penalised = torch.tensor([0.98, 0.94, -0.01, 0.97, 0.0, 0.0, 1.1, 1.08])
    advantages = torch.tensor([0.5, -0.5, -1.0, 1.0, 0.0, 0.0, 0.7, -0.7])
    out = _penalty_only_groups(task, penalised, advantages, 2)
    assert out["penalty_only_fraction"] == 0.5  # groups 0 and 3 of 4
    assert out["penalty_only_abs_adv"] == pytest.approx(0.6)  # |0.5|, |0.5|, |0.7|, |0.7|
    assert out["task_spread_abs_adv"] == pytest.approx(1.0)
    # no tied group: a mean over none is NaN, not 0
    spread = _penalty_only_groups(task[2:4], penalised[2:4], advantages[2:4], 2)
    assert spread["penalty_only_fraction"] == 0 and math.isnan(spread["penalty_only_abs_adv"])


def test_only_runs_with_the_penalty_in_the_reward_get_diagnostics():
    assert _diagnostics({"kl": [0.1, 0.2]}) == {}  # the records of every other run stay
    out = _diagnostics({k: [0.25, float("nan")] for k in KEYS})["diagnostics"]
    assert out == {k: 0.25 for k in KEYS}  # steps without such groups are left out
    none = _diagnostics({k: [float("nan")] for k in KEYS})["diagnostics"]
    assert none["task_spread_abs_adv"] is None


@functools.cache
def _history(seed: int, scale_by_std: bool, kl_penalty: str = "reward") -> dict:
    start = gtorch.new_policy(TASK, seed=seed, d_model=16, n_layers=1, n_heads=2)
    gtorch.warm_up(start, TASK, steps=40, batch_size=32, seed=seed)
    config = GRPOConfig(steps=6, prompts_per_step=8, group_size=4, updates_per_batch=2, lr=3e-3,
                        seed=seed, kl_penalty=kl_penalty, scale_by_std=scale_by_std)  # fmt: skip
    return _train_grpo(TASK, copy.deepcopy(start), _frozen_copy(start), config, "x")[1].history


@pytest.mark.parametrize("seed", [0, 1])
def test_the_std_division_scales_a_penalty_only_spread_to_full_size(seed):
    with_std, without = _history(seed, True), _history(seed, False)
    assert all(len(with_std[k]) == len(without[k]) == 6 for k in KEYS)
    # step 1 samples from the reference itself: the penalty is 0, no group is moved by it alone
    assert with_std["penalty_only_fraction"][0] == without["penalty_only_fraction"][0] == 0
    assert max(with_std["penalty_only_fraction"]) > 0 and max(without["penalty_only_fraction"]) > 0
    a_std = np.array(with_std["penalty_only_abs_adv"][1:])
    a_raw = np.array(without["penalty_only_abs_adv"][1:])
    # divided by their tiny std, such groups get advantages of the size task rewards give (about
    # 0.8 for groups of 4); undivided, the penalty's spread stays a few hundredths at most
    assert (a_std[np.isfinite(a_std)] > 0.5).all() and (a_raw[np.isfinite(a_raw)] < 0.05).all()
    assert "penalty_only_fraction" not in _history(seed, True, "loss")


# --- naming -------------------------------------------------------------------------------------


def test_the_new_arms_are_named_as_the_sweep_names_them():
    start = gtorch.new_policy(TASK, seed=0)
    runs = {}
    for placement in ("reward", "loss"):
        runs.update(_grpo_at(TASK, start, 1, 0, BASE["lr"], placement, False))
    assert list(runs) == NEW
    assert all(r["scale_by_std"] is False for r in runs.values())
    assert runs[NEW[0]]["kl_penalty"] == "reward" and "kl_penalty" not in runs[NEW[1]]
    assert set(runs[NEW[0]]["diagnostics"]) == set(KEYS) and "diagnostics" not in runs[NEW[1]]
    # with the std division the names are the mirror's as before (test_grpo_kl_reward_sweep.py)


def test_merging_refuses_a_clash_a_missing_seed_and_another_warm_up():
    data = load_sweep(task="grpo_kl_reward")
    seed = data["seeds"]["3"]
    new = {"before": seed["before"], "grpo": {"lr x1": {}}, "diagnostics": {}}
    with pytest.raises(ValueError, match="already holds"):
        _merge_std(copy.deepcopy(data), "3", new)
    with pytest.raises(ValueError, match="no seed 99"):
        _merge_std(copy.deepcopy(data), "99", new)
    with pytest.raises(ValueError, match="warm-up differs"):
        _merge_std(copy.deepcopy(data), "3", {**new, "before": {"held_out": {}}})


# --- the committed runs -----------------------------------------------------------------------


def _mirror():
    data = load_sweep(task="grpo_kl_reward")
    return data, sorted(data["seeds"], key=int)


def test_the_committed_file_holds_the_new_arms_after_the_old_ones():
    data, seeds = _mirror()
    added = data["meta"]["added"]
    command = "python -m labs.grpo.sweep --task grpo_kl_std --first-seed 3 --seeds 5"
    assert added["command"] == command
    assert added["processor"] == data["meta"]["processor"]  # the same machine as the mirror's
    assert seeds == ["3", "4", "5", "6", "7"]
    for s in seeds:
        runs = data["seeds"][s]["grpo"]
        assert list(runs)[4:6] == NEW
        assert all(runs[k]["scale_by_std"] is False and runs[k]["lr"] == BASE["lr"] for k in NEW)
        assert runs[NEW[0]]["final"]["kl"] != runs["lr x1 kl in reward"]["final"]["kl"]


def test_logging_the_diagnostics_changed_no_number_of_the_committed_runs():
    # "lr x1 kl in reward" was run again with the logging code; its final and held-out numbers
    # equal the committed run's bit for bit on every seed
    data, seeds = _mirror()
    for s in seeds:
        diag = data["seeds"][s]["diagnostics"]["lr x1 kl in reward"]
        assert diag["reproduced"] is True
        assert 0 < diag["penalty_only_fraction"] < 1


def test_the_chapter_verdict_recomputed_from_the_stored_runs():
    data, seeds = _mirror()
    runs = [data["seeds"][s] for s in seeds]

    def kl(name):
        return np.array([r["grpo"][name]["final"]["kl"] for r in runs])

    def diag(key):
        with_std = [r["diagnostics"]["lr x1 kl in reward"][key] for r in runs]
        return np.array(with_std), np.array([r["grpo"][NEW[0]]["diagnostics"][key] for r in runs])

    # the manipulation works: without the division, groups moved by the penalty alone get
    # advantages over ten times smaller than the other groups'; with it, nearly as large
    only_std, only_raw = diag("penalty_only_abs_adv")
    spread_std, spread_raw = diag("task_spread_abs_adv")
    assert (only_raw * 10 < spread_raw).all() and (only_std > 0.9 * spread_std).all()
    # ... and the drift stays: the penalty in the reward still ends over 1.5 times as far from
    # the reference as its control (in the loss, also without the division) on every seed
    assert (kl(NEW[0]) / kl(NEW[1]) > 1.5).all()
    # dropping the division moves the reward placement's KL both ways
    change = kl(NEW[0]) / kl("lr x1 kl in reward")
    assert (change < 1).any() and (change > 1).any()
