"""The PPO sensitivity sweep (`python -m labs.grpo.sweep --task ppo_sensitivity --seeds 3`) and
the summary chapter 5 draws from it, recomputed from the stored runs."""

import numpy as np

from labs.grpo.sweep import load_sweep

LRS = (5e-4 / 3, 5e-4, 1.5e-3)  # a third, one and three times GRPO's 5e-4
CRITIC_LRS = (1e-3, 3e-3)


def _runs():
    sens = load_sweep(task="ppo_sensitivity")
    seeds = sorted(sens["seeds"], key=int)
    return sens, seeds


def test_the_sensitivity_sweep_records_its_grid_and_provenance():
    sens, seeds = _runs()
    meta = sens["meta"]
    assert meta["command"] == "python -m labs.grpo.sweep --task ppo_sensitivity --seeds 3"
    assert meta["versions"]["torch"].startswith("2.13.0") and meta["steps"] == 150
    assert seeds == ["0", "1", "2"]
    for s in seeds:
        runs = sens["seeds"][s]["ppo"]
        grid = sorted((r["lr"], r["critic_lr"]) for r in runs.values())
        expected = sorted((lr, c) for lr in LRS for c in CRITIC_LRS)
        np.testing.assert_allclose(grid, expected, rtol=1e-12)


def test_the_sweep_is_paired_with_the_second_realization():
    # the same warm-up, and GRPO and PPO at the default setting repeat the rerun's runs
    sens, seeds = _runs()
    rerun = load_sweep(task="rerun")
    for s in seeds:
        mine, theirs = sens["seeds"][s], rerun["seeds"][s]
        assert mine["before"]["held_out"] == theirs["before"]["held_out"]
        assert mine["grpo"]["held_out"] == theirs["rungs"]["grpo"]["held_out"]
        default = [r for r in mine["ppo"].values() if r["lr"] == 5e-4 and r["critic_lr"] == 1e-3]
        assert default[0]["held_out"] == theirs["ppo"]["held_out"]
        assert default[0]["final"]["kl"] == theirs["ppo"]["final"]["kl"]


def test_the_chapter_summary_recomputed_from_the_stored_runs():
    sens, seeds = _runs()
    grpo = np.array([[sens["seeds"][s]["grpo"][k] for s in seeds] for k in ("cpu_seconds",)])[0]
    g_reward = np.array([sens["seeds"][s]["grpo"]["held_out"]["reward"] for s in seeds])
    g_kl = np.array([sens["seeds"][s]["grpo"]["final"]["kl"] for s in seeds])
    ppo = {}
    for s in seeds:
        for run in sens["seeds"][s]["ppo"].values():
            row = ppo.setdefault((run["lr"], run["critic_lr"]), [])
            row.append((run["held_out"]["reward"], run["final"]["kl"], run["cpu_seconds"]))
    ppo = {k: np.array(v) for k, v in ppo.items()}
    best = max(ppo, key=lambda k: ppo[k][:, 0].mean())
    assert np.isclose(best[0], LRS[0]) and best[1] == CRITIC_LRS[0]
    assert (ppo[best][:, 0] > g_reward).all()  # ahead on held-out reward on every seed
    assert (ppo[best][:, 1] < g_kl).all()  # and closer to the reference on every seed
    default = ppo[min(ppo, key=lambda k: abs(k[0] - LRS[1]) + abs(k[1] - CRITIC_LRS[0]))]
    assert (default[:, 1] > g_kl).all()  # at the shared learning rate PPO drifts further
    assert all((run[:, 2] > grpo).all() for run in ppo.values())  # GRPO cheaper than every one


def test_grpo_gets_the_same_learning_rate_search():
    # `python -m labs.grpo.sweep --task grpo_sensitivity --seeds 3`: rung "grpo" at the same three
    # learning rates; the chapter's comparison, best against best and at each matched learning
    # rate (PPO with the default critic), recomputed from the stored runs of both files
    sens, seeds = _runs()
    gsens = load_sweep(task="grpo_sensitivity")
    meta = gsens["meta"]
    assert meta["command"] == "python -m labs.grpo.sweep --task grpo_sensitivity --seeds 3"
    assert meta["versions"]["torch"].startswith("2.13.0") and meta["steps"] == 150
    assert meta["processor"] == sens["meta"]["processor"]
    assert sorted(gsens["seeds"], key=int) == seeds
    grpo, ppo = {}, {}
    for s in seeds:
        mine, theirs = gsens["seeds"][s], sens["seeds"][s]
        assert mine["before"] == theirs["before"]
        np.testing.assert_allclose(sorted(r["lr"] for r in mine["grpo"].values()), LRS, rtol=1e-12)
        default = [r for r in mine["grpo"].values() if r["lr"] == 5e-4][0]
        assert default["held_out"] == theirs["grpo"]["held_out"]  # repeats to every digit
        assert default["final"] == theirs["grpo"]["final"]
        for run in mine["grpo"].values():
            row = grpo.setdefault(round(run["lr"], 12), [])
            row.append((run["held_out"]["reward"], run["final"]["kl"], run["cpu_seconds"]))
        for run in theirs["ppo"].values():
            row = ppo.setdefault((round(run["lr"], 12), run["critic_lr"]), [])
            row.append((run["held_out"]["reward"], run["final"]["kl"], run["cpu_seconds"]))
    grpo = {k: np.array(v) for k, v in grpo.items()}
    ppo = {k: np.array(v) for k, v in ppo.items()}
    g_best = max(grpo, key=lambda k: grpo[k][:, 0].mean())
    p_best = max(ppo, key=lambda k: ppo[k][:, 0].mean())
    assert np.isclose(g_best, LRS[0]) and np.isclose(p_best[0], LRS[0])
    g_default = grpo[min(grpo, key=lambda k: abs(k - LRS[1]))]
    assert (grpo[g_best][:, 0] > g_default[:, 0]).all() and (
        grpo[g_best][:, 1] < g_default[:, 1]
    ).all()
    pairs = [(grpo[g_best], ppo[p_best])]
    pairs += [(grpo[lr], ppo[min(ppo, key=lambda k: abs(k[0] - lr) + abs(k[1] - CRITIC_LRS[0]))])
              for lr in grpo]  # fmt: skip
    for g, p in pairs:
        ahead = (g[:, 0] > p[:, 0]).sum()
        assert 0 < ahead < len(seeds)  # no winner on held-out reward
        assert (g[:, 1] < p[:, 1]).all()  # GRPO closer to the reference on every seed
    assert (ppo[p_best][:, 1] - grpo[g_best][:, 1]).max() < 0.05  # "a few hundredths"
    x3 = grpo[min(grpo, key=lambda k: abs(k - LRS[2]))]
    p_x3 = ppo[min(ppo, key=lambda k: abs(k[0] - LRS[2]) + abs(k[1] - CRITIC_LRS[0]))]
    assert (p_x3[:, 1] > 10 * x3[:, 1]).all()
    g_cpu = np.max([v[:, 2] for v in grpo.values()], axis=0)
    assert (g_cpu < np.min([v[:, 2] for v in ppo.values()], axis=0)).all()
