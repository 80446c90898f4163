"""The committed seeds of chapter 1's tiny-model sweep: what made them, their shape, their
summaries recomputed from their losses, summarize_sweep on an exact law, and bad input."""

import numpy as np
import pytest

from labs.scaling import ChinchillaParams, chinchilla_loss
from labs.scaling.sweep import SweepResult
from labs.scaling.sweep_seeds import SETTINGS, load_sweep_seeds, summarize_sweep

KEYS = ("E", "alpha", "beta", "a", "E_gap", "median_abs_residual", "a_nonemb", "a_m")


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
