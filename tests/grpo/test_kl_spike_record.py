"""Seed 11's per-step KL record (`labs.grpo.kl_spikes`) against the committed cross sweep."""

import numpy as np
import pytest

from labs.grpo.records import load_sweep


def test_kl_spike_record_matches_the_committed_runs():
    spike, cross = load_sweep(task="kl_spike"), load_sweep(task="grpo_kl_cross")
    committed = cross["seeds"][str(spike["meta"]["seed"])]["grpo"]
    names = {"reward": "lr x1 kl in reward", "reward_k3": "lr x1 kl in reward_k3"}
    assert set(spike["runs"]) == set(names)
    for placement, run in spike["runs"].items():
        steps = {k: np.array(v) for k, v in run["steps"].items()}
        assert all(len(v) == 150 for v in steps.values())
        blocks = steps["kl"].reshape(15, 10).mean(1)  # the sweep's 10-step curve, recomputed here
        assert np.allclose(blocks, committed[names[placement]]["curves"]["kl"], rtol=1e-12)
        # the logged KL is the sampled k3 the look recomputed; the exact KL is never negative
        assert np.allclose(steps["k3"], steps["kl"], rtol=1e-5)
        assert (steps["exact"] >= -1e-6).all() and (steps["max_answer_k3"] >= steps["kl"]).all()


def test_kl_spikes_rejects_an_unknown_record():
    with pytest.raises(ValueError, match="task"):
        load_sweep(task="kl_spikes")
