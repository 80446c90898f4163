"""The committed seeds of chapter 1's tiny-model sweep: what made them, their shape, their
summaries recomputed from their losses, summarize_sweep on an exact law, and bad input."""

import dataclasses
import json

import numpy as np
import pytest

from labs.scaling import ChinchillaParams, TinyLMConfig, chinchilla_loss, count_params
from labs.scaling.sweep import SweepResult
from labs.scaling.sweep_seeds import (
    SETTINGS,
    VOCAB,
    _resummarize,
    flop_counts,
    load_sweep_seeds,
    summarize_sweep,
)

KEYS = (
    "E", "alpha", "beta", "a", "E_gap", "median_abs_residual",
    "a_nonemb", "a_m", "a_head", "a_all_flops", "a_all_flops_full",
)  # fmt: skip


def _sweep(n, d, d_model, steps, loss) -> SweepResult:
    n, d, loss = (np.asarray(x, dtype=np.float64) for x in (n, d, loss))
    curves = tuple(np.full(int(s), x) for s, x in zip(steps, loss, strict=True))
    return SweepResult(
        N=n, D=d, C=6 * n * d, loss=loss, d_model=np.asarray(d_model), steps=np.asarray(steps),
        curves=curves, framework="torch", schedule="matched",
    )  # fmt: skip


def test_the_committed_seeds_name_their_command_versions_and_settings():
    seeds = load_sweep_seeds()
    meta = seeds["meta"]
    assert meta["command"].startswith("python -m labs.scaling.sweep_seeds")
    assert {"python", "numpy", "scipy", "torch"} <= set(meta["versions"])
    assert meta["processor"] and meta["torch_cpu_capability"]  # kernels round per instruction set
    # the summaries were recomputed later from these losses (no training), and say so
    assert meta["resummarized"]["command"] == "python -m labs.scaling.sweep_seeds --resummarize"
    assert {k: meta["settings"][k] for k in SETTINGS} == SETTINGS
    count = len(seeds["seeds"])
    assert count >= 8 and seeds["seeds"] == list(range(count))
    runs = len(SETTINGS["widths"]) * len(SETTINGS["steps"])
    assert np.array(seeds["loss"]).shape == (count, runs)
    assert all(len(seeds[key]) == runs for key in ("N", "D", "d_model", "steps"))
    assert len(seeds["summaries"]) == count
    # the seeds differ: a training seed moves every loss (the spread the notebook reads)
    assert np.all(np.ptp(np.array(seeds["loss"]), axis=0) > 0)


def test_the_committed_summaries_follow_from_the_committed_losses():
    seeds = load_sweep_seeds()
    grid = [seeds[key] for key in ("N", "D", "d_model", "steps")]
    entropy_rate = seeds["meta"]["settings"]["entropy_rate"]
    for index in (0, len(seeds["seeds"]) - 1):
        summary = summarize_sweep(_sweep(*grid, seeds["loss"][index]), entropy_rate)
        committed = seeds["summaries"][index]
        # the fits are deterministic given the losses; another BLAS may stop L-BFGS a hair away
        for key in KEYS:
            assert summary[key] == pytest.approx(committed[key], rel=1e-3, abs=1e-5), key
        assert summary["extrapolation_runs"] == committed["extrapolation_runs"]
        np.testing.assert_allclose(
            summary["extrapolation_errors"], committed["extrapolation_errors"], atol=1e-4
        )


def test_summarize_sweep_recovers_an_exact_law():
    width, steps = np.meshgrid([4, 8, 16, 32], [50, 100, 200, 400], indexing="ij")
    width, steps = width.ravel(), steps.ravel()
    n = 64.0 * 2 * width + 32 * width + 12.0 * width**2
    d = steps * 16.0 * 32
    law = ChinchillaParams(E=2.3, A=40.0, B=400.0, alpha=0.5, beta=0.5)
    summary = summarize_sweep(_sweep(n, d, width, steps, chinchilla_loss(n, d, law)), 2.3)
    assert abs(summary["E_gap"]) < 1e-4 and abs(summary["a"] - 0.5) < 1e-4
    assert summary["median_abs_residual"] < 1e-6
    assert np.all(np.abs(summary["extrapolation_errors"]) < 1e-4)
    assert summary["extrapolation_runs"] == [9, 13, 15]
    # counting only d^2 on the same losses raises a even when the law is exact in N
    assert summary["a_nonemb"] > summary["a"] + 0.05


def test_summarize_sweep_rejects_bad_input():
    with pytest.raises(TypeError, match="sweep"):
        summarize_sweep({"N": [1.0]}, 2.3)
    seeds = load_sweep_seeds()
    grid = [seeds[key] for key in ("N", "D", "d_model", "steps")]
    sweep = _sweep(*grid, seeds["loss"][0])
    with pytest.raises(ValueError, match="entropy_rate"):
        summarize_sweep(sweep, -1.0)
    with pytest.raises(ValueError, match="path"):
        load_sweep_seeds("no_such_file.json")


def test_the_flop_counts_of_the_sweep_models():
    seeds = load_sweep_seeds()
    width = np.array(seeds["d_model"])
    # the grid's N is every parameter of a one-layer model with VOCAB tokens: the V the counts use
    config = TinyLMConfig(vocab_size=VOCAB, context=SETTINGS["context"], d_model=4, n_heads=1)
    for w, n in zip(width, seeds["N"], strict=True):
        assert count_params(dataclasses.replace(config, d_model=int(w))) == n
    counts = flop_counts(width)
    w = width.astype(float)
    np.testing.assert_array_equal(counts["a_nonemb"], 12 * w**2)
    # DeepSeek's M adds attention, 2 l d; the head adds V d: equal only because V = 2 l here
    np.testing.assert_array_equal(counts["a_m"], 12 * w**2 + 2 * SETTINGS["context"] * w)
    np.testing.assert_array_equal(counts["a_head"], 12 * w**2 + VOCAB * w)
    assert VOCAB == 2 * SETTINGS["context"]
    # causal attention is half of the whole score matrix's products
    full, causal = counts["a_all_flops_full"], counts["a_all_flops"]
    np.testing.assert_allclose(full - counts["a_head"], 2 * (causal - counts["a_head"]))
    with pytest.raises(ValueError, match="d_model"):
        flop_counts([4, 0])
    with pytest.raises(TypeError, match="d_model"):
        flop_counts([4.5])


def test_counting_every_flop_undoes_most_of_the_non_embedding_shift():
    """On every committed seed: the head's FLOPs (here also M / 6) undo 60% to 70% of the rise
    in a that non-embedding counting brings, every FLOP of the products over 75%, and the whole
    score matrix more than causal attention."""
    summaries = load_sweep_seeds()["summaries"]
    shift = np.array([s["a_nonemb"] - s["a"] for s in summaries])
    undone = {
        key: np.array([s["a_nonemb"] - s[key] for s in summaries]) / shift
        for key in ("a_head", "a_all_flops", "a_all_flops_full")
    }
    assert np.all(shift > 0.05)
    assert np.all((undone["a_head"] > 0.6) & (undone["a_head"] < 0.7))
    assert np.all(undone["a_all_flops"] > 0.75)
    assert np.all(undone["a_all_flops_full"] > undone["a_all_flops"])
    assert np.all(undone["a_all_flops_full"] < 1)  # all parameters still give the lowest a


def test_resummarize_keeps_the_losses_and_records_itself(tmp_path):
    seeds = load_sweep_seeds()
    one = {**seeds, "seeds": [0], "loss": seeds["loss"][:1], "summaries": [{}]}
    path = tmp_path / "one_seed.json"
    path.write_text(json.dumps(one))
    _resummarize(["--resummarize", "--out", str(path)])
    again = load_sweep_seeds(path)
    assert again["loss"] == one["loss"] and again["N"] == seeds["N"]
    trained = {k: v for k, v in seeds["meta"].items() if k != "resummarized"}
    assert {k: v for k, v in again["meta"].items() if k != "resummarized"} == trained
    assert again["meta"]["resummarized"]["command"].endswith("--resummarize --out " + str(path))
    for key in KEYS:
        assert again["summaries"][0][key] == pytest.approx(seeds["summaries"][0][key], rel=1e-6)


def test_the_law_misses_the_shortest_runs_by_more_than_the_longest_on_every_seed():
    """Chapter 1's reading of its one live sweep ("several percent off some of the shortest runs,
    within a few percent of the longer ones"), checked on the eight committed seeds: the largest
    miss among the runs of the two shortest budgets is over 5% and larger than among those of
    the two longest, which stays under 6%, on every seed (2026-12 record: shortest 6.3% to 10.5%,
    longest 1.8% to 5.7%; over twice as large on seven seeds, 1.09 times on seed 1). Control: the
    losses seed 0's fitted law itself predicts, fitted the same way, are missed by neither group:
    the misses are the runs', not the fitting's."""
    from labs.scaling import fit_chinchilla

    seeds = load_sweep_seeds()
    n, d, steps = (np.array(seeds[key]) for key in ("N", "D", "steps"))
    budgets = sorted(set(steps.tolist()))
    short, long = steps <= budgets[1], steps >= budgets[-2]

    def misses(loss):
        fit = fit_chinchilla(n, d, loss, starts=16)
        miss = np.abs(np.expm1(fit.residuals))
        return (miss[short].max(), miss[long].max()), fit

    found = [misses(np.array(loss)) for loss in seeds["loss"]]
    worst = np.array([w for w, _ in found])  # (seeds, 2)
    assert np.all(worst[:, 0] > 0.05) and np.all(worst[:, 1] < 0.06), worst
    assert np.all(worst[:, 0] > worst[:, 1]), worst
    assert np.sum(worst[:, 0] > 2 * worst[:, 1]) == 7  # the chapter's "over twice on seven"
    control, _ = misses(chinchilla_loss(n, d, found[0][1]))  # seed 0's fitted law's own losses
    assert max(control) < 1e-3, control
