"""The committed mirror sweep (`python -m labs.grpo.sweep --task grpo_kl_reward --first-seed 3
--seeds 5`): GRPO with PPO's placement of the KL penalty (in the reward) beside the unchanged GRPO,
on the held-out seeds. Expected values come from the other committed file (lr_heldout.json,
ppo_kl_loss.json), never from the code under test."""

import numpy as np

from labs.common.tasks import AdditionTask
from labs.grpo import torch as gtorch
from labs.grpo.sweep import load_sweep

TASK = AdditionTask()


# --- the committed sweep ----------------------------------------------------------------------


def _mirror():
    data = load_sweep(task="grpo_kl_reward")
    return data, sorted(data["seeds"], key=int)


def test_the_file_records_its_command_and_the_held_out_seeds_and_settings():
    data, seeds = _mirror()
    hold = load_sweep(task="lr_heldout")
    meta = data["meta"]
    assert meta["command"] == (
        "python -m labs.grpo.sweep --task grpo_kl_reward --first-seed 3 --seeds 5"
    )
    assert meta["versions"]["torch"].startswith("2.13.0") and meta["steps"] == 150
    assert meta["processor"] == hold["meta"]["processor"]  # the control can repeat lr_heldout's
    assert seeds == sorted(hold["seeds"], key=int) == ["3", "4", "5", "6", "7"]
    assert meta["grpo_settings"] == [
        {"lr": hold["meta"]["selected"]["grpo"]["lr"]},
        hold["meta"]["control"]["grpo"],
    ]


def test_runs_are_named_as_the_sweep_names_them():
    from labs.grpo.sweep import _grpo_at

    data, seeds = _mirror()
    start = gtorch.new_policy(TASK, seed=0)
    names = {}
    for setting in data["meta"]["grpo_settings"]:
        for placement in data["meta"]["kl_penalties"]:
            run = _grpo_at(TASK, start, 1, 0, setting["lr"], placement)
            names.update({k: v.get("kl_penalty", "loss") for k, v in run.items()})
    assert set(names.values()) == {"reward", "loss"}
    for s in seeds:
        stored = dict(list(data["seeds"][s]["grpo"].items())[:4])  # then test_grpo_kl_std.py's
        assert list(stored) == list(names)
        assert {k: v.get("kl_penalty", "loss") for k, v in stored.items()} == names


def test_the_control_repeats_lr_heldout_to_every_digit():
    # the unchanged GRPO, run again in this sweep with the new code, gives the held-out sweep's
    # numbers: the default placement is today's code bit for bit
    data, seeds = _mirror()
    hold = load_sweep(task="lr_heldout")
    for s in seeds:
        mine, theirs = data["seeds"][s], hold["seeds"][s]
        assert mine["before"] == theirs["before"]
        for name, run in theirs["grpo"].items():
            for key in ("held_out", "final", "curves", "sampled_groups"):
                assert mine["grpo"][name][key] == run[key]
            assert mine["grpo"][f"{name} kl in reward"]["final"] != run["final"]


def test_the_chapter_verdict_recomputed_from_the_stored_runs():
    data, seeds = _mirror()
    ratio = {}
    for name in ("lr x0.333", "lr x1"):
        runs = [data["seeds"][s]["grpo"] for s in seeds]
        kl_reward = np.array([r[f"{name} kl in reward"]["final"]["kl"] for r in runs])
        kl_loss = np.array([r[name]["final"]["kl"] for r in runs])
        ratio[name] = kl_reward / kl_loss
    # at the defaults the penalty in the reward drifts further on every seed, by over 1.5 times
    assert (ratio["lr x1"] > 1.5).all()
    # ... at the tuned setting it goes both ways (not resolved)
    assert (ratio["lr x0.333"] < 1).any() and (ratio["lr x0.333"] > 1).any()
