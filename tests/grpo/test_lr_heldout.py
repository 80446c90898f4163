"""The held-out learning-rate check (`python -m labs.grpo.sweep --task lr_heldout --first-seed 3
--seeds 5`): each method's setting chosen on seeds 0-2 by a rule fixed in code, and the
defaults as the control, run on new seeds; the chapter's out-of-sample summary recomputed."""

import numpy as np
import pytest

import labs.grpo.records as records
import labs.grpo.sweep as sweep
from labs.grpo.sweep import _select_learning_rates, load_sweep

GRPO_LR = 5e-4  # GRPO's default learning rate (the ladder's BASE)


def _hold():
    hold = load_sweep(task="lr_heldout")
    return hold, sorted(hold["seeds"], key=int)


def test_the_file_records_its_command_and_new_seeds_only():
    hold, seeds = _hold()
    meta = hold["meta"]
    assert meta["command"] == (
        "python -m labs.grpo.sweep --task lr_heldout --first-seed 3 --seeds 5"
    )
    assert meta["versions"]["torch"].startswith("2.13.0") and meta["steps"] == 150
    assert meta["processor"] == load_sweep(task="ppo_sensitivity")["meta"]["processor"]
    assert seeds == ["3", "4", "5", "6", "7"]
    assert not set(seeds) & set(load_sweep(task="ppo_sensitivity")["seeds"])


def test_the_file_ran_the_settings_the_rule_picks_and_the_defaults():
    hold, seeds = _hold()
    chosen = _select_learning_rates()
    assert hold["meta"]["selected"] == chosen
    for s in seeds:
        grpo, ppo = hold["seeds"][s]["grpo"], hold["seeds"][s]["ppo"]
        assert {round(r["lr"], 12) for r in grpo.values()} == {
            round(chosen["grpo"]["lr"], 12),
            GRPO_LR,
        }
        assert {(round(r["lr"], 12), r["critic_lr"]) for r in ppo.values()} == {
            (round(chosen["ppo"]["lr"], 12), chosen["ppo"]["critic_lr"]),
            (GRPO_LR, 1e-3),
        }


def test_the_rule_picks_the_best_mean_held_out_reward_recomputed():
    # recomputed from the stored runs, not through the function under test
    for method, task in (("ppo", "ppo_sensitivity"), ("grpo", "grpo_sensitivity")):
        runs = load_sweep(task=task)["seeds"]
        assert sorted(runs, key=int) == ["0", "1", "2"]
        names = list(runs["0"][method])
        means = [np.mean([runs[s][method][k]["held_out"]["reward"] for s in runs]) for k in names]
        assert _select_learning_rates()[method]["name"] == names[int(np.argmax(means))]


def test_the_rule_follows_the_rewards_not_the_file_order(monkeypatch):
    # synthetic sweeps where the first seed, the last seed and the mean each favour another setting
    def fake(path=None, *, task):
        method = "ppo" if task == "ppo_sensitivity" else "grpo"
        rewards = {"a": (0.6, 0.4), "b": (0.3, 0.9), "c": (0.55, 0.7)}  # best: a, b, mean c
        seeds = {}
        for i in range(2):
            seeds[str(i)] = {
                method: {
                    k: {"lr": j + 1.0, "critic_lr": 0.1, "held_out": {"reward": v[i]}}
                    for j, (k, v) in enumerate(rewards.items())
                }
            }
        return {"seeds": seeds}

    monkeypatch.setattr(records, "load_sweep", fake)
    picked = sweep._select_learning_rates()
    assert picked["grpo"] == {"name": "c", "lr": 3.0}
    assert picked["ppo"] == {"name": "c", "lr": 3.0, "critic_lr": 0.1}


def test_the_defaults_repeat_the_second_realization_on_its_seeds():
    # seeds 3 and 4 are also in the rerun of the addition sweep: same start, and GRPO and PPO at
    # the defaults repeat its runs to every digit (one kind of machine, one thread)
    hold, seeds = _hold()
    rerun = load_sweep(task="rerun")
    shared = [s for s in seeds if s in rerun["seeds"]]
    assert shared == ["3", "4"]
    for s in shared:
        mine, theirs = hold["seeds"][s], rerun["seeds"][s]
        assert mine["before"]["held_out"] == theirs["before"]["held_out"]
        assert mine["grpo"]["lr x1"]["held_out"] == theirs["rungs"]["grpo"]["held_out"]
        assert mine["grpo"]["lr x1"]["final"]["kl"] == theirs["rungs"]["grpo"]["final"]["kl"]
        default = mine["ppo"]["lr x1 critic 0.001"]
        assert default["held_out"] == theirs["ppo"]["held_out"]
        assert default["final"]["kl"] == theirs["ppo"]["final"]["kl"]


def test_load_sweep_names_the_new_task_in_its_error():
    with pytest.raises(ValueError, match="lr_heldout"):
        load_sweep(task="lr_held_out")


def test_the_chapter_out_of_sample_summary_recomputed_from_the_stored_runs():
    hold, seeds = _hold()
    chosen = _select_learning_rates()
    settings = {
        "grpo": ("grpo", chosen["grpo"]["name"]),
        "grpo_default": ("grpo", "lr x1"),
        "ppo": ("ppo", chosen["ppo"]["name"]),
        "ppo_default": ("ppo", "lr x1 critic 0.001"),
    }

    def per_seed(run, *path):
        method, name = settings[run]
        out = []
        for s in seeds:
            node = hold["seeds"][s][method][name]
            for key in path:
                node = node[key]
            out.append(node)
        return np.array(out)

    reward = {k: per_seed(k, "held_out", "reward") for k in settings}
    kl = {k: per_seed(k, "final", "kl") for k in settings}
    cpu = {k: per_seed(k, "cpu_seconds") for k in settings}
    diff = reward["grpo"] - reward["ppo"]
    assert (diff > 0).sum() == 2 and abs(diff.mean()) < 2 * diff.std(ddof=1) / np.sqrt(len(seeds))
    ratio = kl["ppo"] / kl["grpo"]
    assert (ratio > 1.06).all() and (ratio < 1.34).all()  # "1.07 to 1.33 times"
    assert (kl["ppo_default"] / kl["grpo_default"] > ratio).all()
    for m in ("grpo", "ppo"):
        assert ((reward[m] - reward[f"{m}_default"]) > 0).sum() == 2  # the picks' gain: 2 of 5
        assert (kl[m] < kl[f"{m}_default"]).all()  # their lower drift: 5 of 5
    assert ((reward["ppo"] - reward["grpo_default"]) > 0).sum() == 3
    assert (
        np.maximum(cpu["grpo"], cpu["grpo_default"]) < np.minimum(cpu["ppo"], cpu["ppo_default"])
    ).all()


def test_run_recorders_name_runs_as_the_committed_sweeps_do():
    """`_grpo_at` and `_ppo_at` (shared by the sensitivity and held-out sweeps) key each run as the
    committed files are keyed; a two-step run of every setting is enough to see the names."""
    from labs.common.tasks import AdditionTask
    from labs.grpo.sweep import BASE, PPO_CRITIC_LRS, PPO_LR_SCALES, _grpo_at, _ppo_at, load_sweep
    from labs.grpo.torch import new_policy

    task = AdditionTask()
    start = new_policy(task, seed=0)
    grpo, ppo = {}, {}
    for scale in PPO_LR_SCALES:
        grpo.update(_grpo_at(task, start, 2, 0, BASE["lr"] * scale))
        for critic_lr in PPO_CRITIC_LRS:
            ppo.update(_ppo_at(task, start, 2, 0, BASE["lr"] * scale, critic_lr))
    assert list(grpo) == list(load_sweep(task="grpo_sensitivity")["seeds"]["0"]["grpo"])
    assert list(ppo) == list(load_sweep(task="ppo_sensitivity")["seeds"]["0"]["ppo"])
    assert all("at_k" not in run and run["lr"] > 0 for run in (*grpo.values(), *ppo.values()))
