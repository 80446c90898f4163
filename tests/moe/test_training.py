"""The tiny MoE language model: what each balancing does to load and to loss, over three seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labs.moe import training
from labs.moe.training import best_loss, layer_throughput, train_tiny_lm

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def runs():
    out = {
        (b, s): train_tiny_lm(b, steps=150, seed=s) for b in ("none", "aux", "bias") for s in SEEDS
    }
    for s in SEEDS:
        out["dense", s] = train_tiny_lm(dense=True, steps=150, seed=s)
        out["no ffn", s] = train_tiny_lm(ffn=False, steps=150, seed=s)
    return out


def _late(run, key):
    return float(np.mean(run[key][-20:]))


def test_every_ffn_beats_the_model_without_one_by_more_than_the_seed_spread(runs):
    """The control: the task needs the FFN (embeddings alone add one logit term per context
    token), so a loss comparison between FFN variants can resolve differences of this size."""
    none = [_late(runs["no ffn", s], "loss") for s in SEEDS]
    for kind in ("none", "aux", "bias", "dense"):
        losses = [_late(runs[kind, s], "loss") for s in SEEDS]
        gap = np.mean(none) - np.mean(losses)
        assert max(losses) < min(none)
        assert gap > 2 * max(np.ptp(losses), np.ptp(none))


def test_skewed_router_starts_unbalanced_and_stays_so_without_balancing(runs):
    for s in SEEDS:
        assert runs["none", s]["imbalance"][:5].mean() > 2.0
        assert _late(runs["none", s], "imbalance") > 2.0  # collapse persists on its own


def test_bias_balancing_lowers_imbalance_over_steps(runs):
    for s in SEEDS:
        run = runs["bias", s]
        assert _late(run, "imbalance") < 1.4
        assert _late(run, "imbalance") < 0.6 * run["imbalance"][:5].mean()


def test_aux_loss_reaches_partial_balance_and_balancing_helps_the_loss_on_every_seed(runs):
    """At alpha = 0.01 the auxiliary loss balances part of the way: less than the bias, more than
    nothing. Runs of one seed share their data and initial weights, so differences are paired:
    no balancing ends above the bias on every seed (at this scale the skew itself costs loss)."""
    for s in SEEDS:
        assert _late(runs["aux", s], "imbalance") < _late(runs["none", s], "imbalance")
        assert _late(runs["bias", s], "imbalance") < _late(runs["aux", s], "imbalance")
        assert _late(runs["none", s], "loss") > _late(runs["bias", s], "loss")


def test_runs_of_one_seed_are_paired():
    """Same seed, same data and initial weights: the first loss of a MoE run does not depend on
    its balancing (the bias and the aux loss act only after the first forward pass), and
    another seed starts elsewhere."""
    first = {b: train_tiny_lm(b, steps=1, seed=3)["loss"][0] for b in ("none", "aux", "bias")}
    assert first["none"] == first["aux"] == first["bias"]
    assert train_tiny_lm("none", steps=1, seed=4)["loss"][0] != first["none"]


def test_losses_approach_but_do_not_pass_the_entropy_rate(runs):
    floor = best_loss()
    for run in runs.values():
        assert floor < _late(run, "loss") < run["loss"][:5].mean()


def test_dense_run_and_throughput_report_what_they_measured():
    dense = train_tiny_lm(dense=True, steps=20)
    assert "load" not in dense and "bias" not in dense and len(dense["loss"]) == 20
    assert np.all(np.diff(dense["seconds"]) > 0)
    assert "load" not in train_tiny_lm(ffn=False, steps=2)
    speeds = layer_throughput(d_model=16, n_experts=4, d_expert=8, tokens=128, repeats=2)
    assert speeds["moe"] > 0 and speeds["dense"] > 0 and speeds["dense_total"] > 0


def test_dense_of_the_total_width_is_a_different_and_larger_model():
    """dense_width="total" trains a SwiGLU of width (1 + n_experts) x d_expert: with the same
    seed and data as the active-width one it starts elsewhere, and a small MoE's dense_total
    run at n_experts = k (total = active width) is the active-width run itself."""
    active = train_tiny_lm(dense=True, steps=5, seed=1)
    total = train_tiny_lm(dense=True, dense_width="total", steps=5, seed=1)
    assert not np.allclose(active["loss"], total["loss"])
    same = {"dense": True, "steps": 5, "seed": 1, "n_experts": 2, "k": 2}
    np.testing.assert_array_equal(
        train_tiny_lm(**same)["loss"], train_tiny_lm(**same, dense_width="total")["loss"]
    )


def test_affinity_and_bias_logs():
    """The per-step logs: mean sigmoid affinities in (0, 1); the bias moves by exactly gamma per
    step and expert (up, down or not at all), so after n steps it lies on the grid gamma x
    {-n..n}; without the bias it stays zero."""
    gamma, steps = 0.01, 12
    run = train_tiny_lm("bias", steps=steps, gamma=gamma, batch=64)
    assert run["affinity"].shape == run["bias"].shape == (steps, 8)
    assert ((run["affinity"] > 0) & (run["affinity"] < 1)).all()
    moves = np.diff(np.vstack([np.zeros(8), run["bias"]]), axis=0) / gamma
    np.testing.assert_allclose(np.abs(moves), np.round(np.abs(moves)), atol=1e-4)
    assert set(np.round(moves).ravel()) <= {-1.0, 0.0, 1.0} and np.abs(moves).sum() > 0
    assert not train_tiny_lm("none", steps=3, batch=64)["bias"].any()


def test_init_noise_perturbs_the_run_and_zero_noise_does_not():
    base = train_tiny_lm("bias", steps=3, batch=64)
    np.testing.assert_array_equal(base["loss"], train_tiny_lm("bias", steps=3, batch=64,
                                                              init_noise=0.0)["loss"])  # fmt: skip
    moved = train_tiny_lm("bias", steps=3, batch=64, init_noise=1e-3)["loss"]
    assert not np.array_equal(base["loss"], moved)
    np.testing.assert_allclose(base["loss"], moved, atol=0.05)  # a perturbation, not a new model


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"dense_width": "half"}, ValueError, "dense_width"),
        ({"init_noise": -1e-6}, ValueError, "init_noise"),
        ({"init_noise": 0.5}, ValueError, "init_noise"),
        ({"init_noise": "small"}, TypeError, "init_noise"),
    ],
)
def test_new_arguments_are_checked(kwargs, error, words):
    with pytest.raises(error, match=words):
        train_tiny_lm(steps=1, **kwargs)


def test_first_order_chain_needs_no_ffn():
    """The old task, a bigram chain whose vocabulary exceeds the width: the logits' rank is
    bounded by d_model with or without the FFN, so the FFN gains nothing measurable there."""
    kw = {"steps": 150, "vocab": 64, "order": 1}
    ffn = [_late(train_tiny_lm(dense=True, seed=s, **kw), "loss") for s in SEEDS]
    none = [_late(train_tiny_lm(ffn=False, seed=s, **kw), "loss") for s in SEEDS]
    assert abs(np.mean(ffn) - np.mean(none)) < 0.5 * (np.mean(none) - best_loss(64, 1))


def test_train_tiny_lm_stops_at_the_first_nan_loss(monkeypatch):
    """A model whose weights hold NaN gives a NaN loss on step 1. Before the check the loop ran
    all its steps and the final check named the settings but not the step; now it stops at step 1
    and names it with the learning rate. The control, the same short run with sound weights,
    trains through."""
    sound = train_tiny_lm(steps=3, batch=16)
    assert np.all(np.isfinite(sound["loss"]))

    class NaNModel(training._TinyLM):
        def __init__(self, *args):
            super().__init__(*args)
            with torch.no_grad():
                self.head.weight.fill_(float("nan"))

    monkeypatch.setattr(training, "_TinyLM", NaNModel)
    with pytest.raises(ValueError, match=r"became nan at step 1 of 3 with lr = 0.01: the run"):
        train_tiny_lm(steps=3, batch=16)
