"""The committed balancing sweep of chapter 4: what made it, its shape, one run reproduced, and
the reproduction check failing where it should."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labs.moe import sweep
from labs.moe.training import best_loss


@pytest.fixture(scope="module")
def committed():
    return sweep.load_sweep()


def test_the_committed_sweep_names_its_command_versions_and_configurations(committed):
    meta = committed["meta"]
    assert meta["command"].startswith("python -m labs.moe.sweep")
    assert {"python", "numpy", "torch"} <= set(meta["versions"])
    assert meta["settings"] == dict(sweep.SETTINGS)
    assert meta["configs"] == {name: dict(kw) for name, kw in sweep.CONFIGS.items()}
    assert committed["best_loss"] == pytest.approx(best_loss(), rel=1e-12)
    for kind in ("runs", "perturbed"):
        assert set(committed[kind]) == set(sweep.CONFIGS)
        for name, fields in committed[kind].items():
            moe = sweep.CONFIGS[name].get("ffn", True) and not sweep.CONFIGS[name].get("dense")
            assert len(fields) == (6 if moe else 1), name
            for values in fields.values():
                assert len(values) == meta["seeds"] >= 3 and np.isfinite(values).all(), name


def test_seed_zero_of_the_bias_reproduces_the_committed_run(committed):
    name = "bias"
    run = sweep.run_config(name, seed=0)
    gaps = sweep.compare_with_sweep(name, 0, run, committed)
    assert set(gaps) == {"start_imbalance", "loss", "final_imbalance"}
    for key, (live, kept, tolerance) in gaps.items():
        assert abs(live - kept) <= tolerance, (key, live, kept, tolerance)


def test_the_reproduction_check_fails_for_another_seed_or_configuration(committed):
    """The negative control: the first steps' imbalance tells the seeds apart; the end of the
    run tells the configurations apart (the bias acts from the second step on, so its first
    steps can look like no balancing's)."""
    run = sweep.run_config("bias", seed=1)
    live, kept, tolerance = sweep.compare_with_sweep("bias", 0, run, committed)["start_imbalance"]
    assert abs(live - kept) > tolerance
    other_config = sweep.compare_with_sweep("none", 1, run, committed)
    assert any(abs(live - kept) > tol for live, kept, tol in other_config.values())


def test_rounding_drift_is_small_but_not_zero(committed):
    """A 1e-6 perturbation does not change the first steps, but routing decisions that flip
    later carry some runs a little way by their end: far less than the seeds differ."""
    drift = sweep.rounding_drift(committed)
    assert drift["start_imbalance"] < 1e-3
    assert 0 < drift["loss"] < np.ptp(committed["runs"]["none"]["loss"])
    assert 0 < drift["final_imbalance"] < 0.5


def test_run_summary_fields():
    run = sweep.run_config("bias", seed=0, steps=30)
    summary = sweep.run_summary(run, early=5, late=10)
    assert summary["loss"] == pytest.approx(np.mean(run["loss"][-10:]))
    assert summary["start_imbalance"] == pytest.approx(np.mean(run["imbalance"][:5]))
    assert summary["final_bias_spread"] == pytest.approx(np.ptp(run["bias"][-1]))
    assert set(sweep.run_summary(sweep.run_config("dense", steps=30))) == {"loss"}


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: sweep.run_config("bias, gamma 3"), ValueError, "name"),
        (lambda: sweep.run_config("bias", seed=-1), ValueError, "seed"),
        (lambda: sweep.run_summary([1.0, 2.0]), TypeError, "run"),
        (lambda: sweep.run_summary({"loss": np.array([np.nan, 1.0])}), ValueError, "loss"),
        (lambda: sweep.run_summary({"loss": np.ones(3)}, early=1, late=5), ValueError, "late"),
        (
            lambda: sweep.run_summary({"loss": np.ones(3), "imbalance": np.ones(3)}, 1, 1),
            ValueError,
            "affinity",
        ),  # fmt: skip
        (lambda: sweep.rounding_drift({"runs": {}}), TypeError, "sweep"),
        (lambda: sweep.compare_with_sweep("bias", 0, {"loss": np.ones(3)}), ValueError, "early"),
        (lambda: sweep.compare_with_sweep("bias", 99, {"loss": np.ones(150)}), ValueError, "seed"),
    ],
)
def test_bad_input_is_refused_with_the_parameter_named(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_a_run_of_another_length_is_refused(committed):
    with pytest.raises(ValueError, match="150 steps"):
        sweep.compare_with_sweep("dense", 0, sweep.run_config("dense", steps=40), committed)


def test_load_sweep_rejects_a_bad_path(tmp_path):
    with pytest.raises(TypeError, match="path must be a str"):
        sweep.load_sweep(3)
    with pytest.raises(ValueError, match="path must name an existing .json file"):
        sweep.load_sweep(tmp_path / "missing.json")


def test_main_writes_every_configuration_with_its_provenance(tmp_path, monkeypatch):
    configs = {name: sweep.CONFIGS[name] for name in ("bias", "dense")}
    monkeypatch.setattr(sweep, "CONFIGS", configs)
    monkeypatch.setattr(sweep, "SETTINGS", {**sweep.SETTINGS, "steps": 25, "late": 10})
    out = tmp_path / "sweep.json"
    sweep.main(["--seeds", "2", "--out", str(out)])
    written = json.loads(out.read_text())
    assert written["meta"]["command"] == f"python -m labs.moe.sweep --seeds 2 --out {out}"
    assert set(written["runs"]) == set(written["perturbed"]) == {"bias", "dense"}
    assert len(written["runs"]["bias"]["loss"]) == 2
    assert written["runs"]["bias"]["loss"] != written["perturbed"]["bias"]["loss"]
    with pytest.raises(SystemExit):
        sweep.main(["--seeds", "0", "--out", str(out)])


def test_a_configuration_may_name_its_own_length(monkeypatch):
    """The control for the step size: a configuration with its own `steps` runs that long unless
    the call says otherwise, and the reproduction check asks a live run for that length."""
    assert sweep.CONFIGS["none, skew 0, 450 steps"]["steps"] == 3 * sweep.SETTINGS["steps"]
    configs = {"short": {**sweep.CONFIGS["none, skew 0"], "steps": 25}}
    monkeypatch.setattr(sweep, "CONFIGS", configs)
    run = sweep.run_config("short")
    assert len(run["loss"]) == 25
    assert len(sweep.run_config("short", steps=4)["loss"]) == 4
    one = {"short": {key: [value] for key, value in sweep.run_summary(run).items()}}
    kept = {"meta": {"settings": dict(sweep.SETTINGS), "configs": configs}, "runs": one,
            "perturbed": one}  # fmt: skip
    with pytest.raises(ValueError, match="25 steps for 'short'"):
        sweep.compare_with_sweep("short", 0, sweep.run_config("short", steps=21), kept)
    gaps = sweep.compare_with_sweep("short", 0, run, kept)
    assert all(live == stored for live, stored, _ in gaps.values()) and len(gaps) == 3
