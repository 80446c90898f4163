"""The exact-KL reading of PPO's placement runs (`labs.grpo.exact_kl --method ppo`,
`exact_kl_ppo.json`) against its pre-registered rule (`PREREGISTRATION_ppodrift_exact.md`).

The record is checked against the committed sweep (`ppo_kl_loss.json`, loaded here), and the
rule's three parts are recomputed here from the per-step numbers, with GRPO's exact KL from
`exact_kl.json`; the outcome the chapter reports is asserted, and so is the negative control."""

import numpy as np
import pytest

from labs.grpo.records import load_sweep

REWARD, LOSS = ARMS = ("lr x1 critic 0.001", "lr x1 critic 0.001 kl in loss")
SEEDS = ["3", "4", "5", "6", "7"]


@pytest.fixture(scope="module")
def record():
    return load_sweep(task="exact_kl_ppo")


def _final_exact(record, name):
    return np.array([np.mean(record["seeds"][s][name]["exact"][-30:]) for s in SEEDS])


def test_every_rerun_repeats_the_committed_ppo_run_bit_for_bit(record):
    committed = load_sweep(task="ppo_kl_loss")["seeds"]
    assert sorted(record["seeds"], key=int) == SEEDS
    # the settings that held the arithmetic to the committed file's AVX2 code paths are recorded
    assert record["meta"]["env"]["ATEN_CPU_CAPABILITY"] == "avx2"
    for seed, runs in record["seeds"].items():
        assert set(runs) == set(ARMS)
        for name, run in runs.items():
            old = committed[seed]["ppo"][name]
            sampled, exact = np.array(run["sampled"]), np.array(run["exact"])
            assert len(sampled) == len(exact) == 150
            assert run["reproduced"] is True
            assert sampled[-30:].mean() == old["final"]["kl"]
            assert np.allclose(sampled.reshape(15, 10).mean(1), old["curves"]["kl"], rtol=1e-12,
                               atol=0)  # fmt: skip
            assert run["final"]["exact"] == pytest.approx(exact[-30:].mean(), rel=1e-12)
            assert (exact >= -1e-6).all()
            # the exact KL is not the sampled one: a check that the two records differ
            assert not np.allclose(exact, sampled)


def test_the_preregistered_rule_recomputed_from_the_runs(record):
    in_reward, in_loss = _final_exact(record, REWARD), _final_exact(record, LOSS)
    grpo_record = load_sweep(task="exact_kl")["seeds"]
    grpo = np.array([np.mean(grpo_record[s]["lr x1"]["exact"][-30:]) for s in SEEDS])
    move = in_loss / in_reward
    direction = bool((move < 1).all())
    premise = bool((in_reward > grpo).all())
    closed = (in_reward - in_loss) / (in_reward - grpo)
    main_reason = premise and bool((closed > 0.5).all())
    beyond_noise = bool((in_reward / in_loss).min() > 1.18)
    # the outcome chapter 5 reports: the move lowers PPO's exact KL on 4 seeds of 5, not all
    # (seed 6 ends a hair above, 1.001), so by the rule the placement result does not survive;
    # nor is it the main reason (seed 3's gap closed by 0.03), nor beyond seed noise
    assert (direction, main_reason, beyond_noise) == (False, False, False)
    assert int((move < 1).sum()) == 4 and SEEDS[int(np.argmax(move))] == "6"
    assert 1 < move.max() < 1.002 and round(closed.min(), 2) == -0.03
    # the premise holds: with its penalty in the reward PPO ends above GRPO on every seed, by
    # 1.04 to 1.47 times (sampled: 1.6 to 10)
    assert premise and round((in_reward / grpo).min(), 2) == 1.04
    assert round((in_reward / grpo).max(), 2) == 1.47
    # the negative control: the control arm's exact KL over its pair's (4 over 3, 6 over 5)
    placebo = in_reward[[1, 3]] / in_reward[[0, 2]]
    # on two pairs it can only show the seed-to-seed spread (0.69 to 0.90), which is wider than
    # every effect of the move (0.82 to 1.00)
    assert round(placebo.min(), 2) == 0.69 and round(placebo.max(), 2) == 0.9
    assert abs(np.log(placebo)).max() > abs(np.log(move)).max()
