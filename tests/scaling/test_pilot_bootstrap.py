"""The committed bootstrap of chapter 1's pilot fits: what made it, its shape, two replicates
reproduced from their seeds, a replicate on an exact law, and bad input."""

import platform

import numpy as np
import pytest
import scipy

from labs.scaling import ChinchillaParams, chinchilla_loss, load_chinchilla_points, training_flops
from labs.scaling.pilot_bootstrap import (
    DESIGN,
    SETTINGS,
    _chinchilla_budget,
    load_pilot_bootstrap,
    main,
    pilot_replicate,
)

KEYS = (
    "n_opt",
    "median_error",
    "median_error_resampled",
    "control_error",
    "control_error_resampled",
)


def test_the_committed_bootstrap_names_its_command_versions_and_settings():
    boot = load_pilot_bootstrap()
    meta = boot["meta"]
    assert meta["command"].startswith("python -m labs.scaling.pilot_bootstrap")
    assert {"python", "numpy", "scipy"} <= set(meta["versions"])
    assert {k: meta["settings"][k] for k in SETTINGS} == SETTINGS
    assert meta["design"] == DESIGN  # made by this resampling scheme, not an older one
    assert meta["settings"]["runs"] == len(load_chinchilla_points()[0]) == 240
    assert meta["settings"]["target_C"] == pytest.approx(5.88e23, rel=1e-12)  # 6 x 70B x 1.4T
    replicates, thresholds = meta["replicates"], len(SETTINGS["thresholds"])
    assert replicates >= 50 and boot["seeds"] == list(range(replicates))
    for key in KEYS:
        values = np.array(boot[key])
        assert values.shape == (replicates, thresholds), key
        assert np.all(np.isfinite(values)) and np.all(values > 0), key
    assert np.array(boot["params"]).shape == (replicates, thresholds, 5)


def _assert_row_matches(row: dict, boot: dict, index: int) -> None:
    # The same seed on another CPU may sum in another order; L-BFGS then stops a hair elsewhere.
    # Replicates differ by tens of percent in N_opt and in the errors (seed to seed), so 0.1%
    # tells a reproduction from another seed or another configuration.
    for key in (*KEYS, "params"):
        np.testing.assert_allclose(row[key], boot[key][index], rtol=1e-3, err_msg=key)


def test_two_replicates_reproduce_the_committed_rows(tmp_path):
    boot = load_pilot_bootstrap()
    # Another NumPy or SciPy (their BLAS, L-BFGS-B) may stop each refit elsewhere by more than
    # the tolerance, so the strict comparison holds only with the versions that made the file.
    installed = {"python": platform.python_version(), "numpy": np.__version__,
                 "scipy": scipy.__version__}  # fmt: skip
    committed = boot["meta"]["versions"]
    if {k: committed.get(k) for k in installed} != installed:
        pytest.skip(f"the committed rows were made with {committed}; installed: {installed}")
    out = tmp_path / "boot.json"
    main(["--replicates", "1", "--out", str(out)])  # seed 0, through the command line
    _assert_row_matches({k: v[0] for k, v in load_pilot_bootstrap(out).items() if k != "meta"},
                        boot, 0)  # fmt: skip
    last = boot["seeds"][-1]
    N, D, loss = load_chinchilla_points(SETTINGS["exclude_highest_loss"])
    row = pilot_replicate(
        N,
        D,
        loss,
        SETTINGS["thresholds"],
        holdout_above=SETTINGS["holdout_above"],
        target_C=_chinchilla_budget(),
        starts=SETTINGS["starts"],
        seed=last,
    )
    _assert_row_matches(row, boot, last)
    # the two seeds drew different resamples: matching both is not matching a constant
    assert not np.allclose(boot["n_opt"][0], boot["n_opt"][last], rtol=1e-2)


def test_on_an_exact_law_every_refit_recovers_it():
    # No noise: any resample of the runs lies on the law, so every refit predicts the held-out
    # runs exactly and finds the law's own optimum; the best pilot run's loss does not.
    law = ChinchillaParams(E=1.8, A=400.0, B=1500.0, alpha=0.33, beta=0.36)
    rng = np.random.default_rng(0)
    n, d = 10 ** rng.uniform(7, 10, 120), 10 ** rng.uniform(8.5, 11.5, 120)
    loss = chinchilla_loss(n, d, law)
    c = training_flops(n, d)
    cut = float(np.quantile(c, 0.9))
    n_true = law.G * (1e22 / 6) ** law.a  # eq. 4, written out here
    for seed in (0, 1):
        row = pilot_replicate(n, d, loss, [np.quantile(c, 0.5), cut], holdout_above=cut,
                              target_C=1e22, starts=4, seed=seed)  # fmt: skip
        assert max(row["median_error"] + row["median_error_resampled"]) < 1e-3
        np.testing.assert_allclose(row["n_opt"], n_true, rtol=0.02)
        assert min(row["control_error"]) > 0.01


def test_the_pilot_resamples_are_nested():
    # A second ceiling equal to the first adds an empty band: a nested resample keeps the pilot
    # set, so the two refits are the same fit; a fresh resample per ceiling would redraw it.
    N, D, loss = load_chinchilla_points()
    for seed in (0, 1):
        row = pilot_replicate(N, D, loss, [3e19, 3e19, 1e20], holdout_above=1e21,
                              target_C=5.88e23, starts=1, seed=seed)  # fmt: skip
        assert row["params"][0] == row["params"][1]
        assert row["params"][1] != row["params"][2]  # the next band does enter the fit


@pytest.mark.parametrize(
    "kwargs, exc, fragment",
    [
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"target_C": None}, TypeError, "target_C"),
        ({"target_C": -1.0}, ValueError, "target_C"),
        ({"thresholds": [1e22]}, ValueError, "thresholds"),
        ({"starts": 0}, ValueError, "starts"),
    ],
)
def test_bad_input(kwargs, exc, fragment):
    N, D, loss = load_chinchilla_points()
    args = {"thresholds": [3e19], "holdout_above": 1e21, "target_C": 5.88e23, "seed": 0}
    with pytest.raises(exc, match=fragment):
        pilot_replicate(N, D, loss, **{**args, **kwargs})


def test_load_pilot_bootstrap_rejects_a_bad_path(tmp_path):
    with pytest.raises(TypeError, match="path must be a str"):
        load_pilot_bootstrap(3)
    with pytest.raises(ValueError, match="path must name an existing .json file"):
        load_pilot_bootstrap(tmp_path / "missing.json")
