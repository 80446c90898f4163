"""The pilot-budget exercise (chapter 1, Exercise 1.1): a decision under a
budget, scored against the hidden law's true optimum."""

from __future__ import annotations

import numpy as np
import pytest

from labs.scaling import fit_power_law
from labs.scaling.exercises import (
    _LAB_LAWS,
    PilotLab,
    _true_n_opt,
    check_plan_pilot_runs,
)


def _isoflop_solution(lab, target_C):
    """Four IsoFLOP profiles of 7 sizes spending the whole budget, then approach 2."""
    weights = np.array([0.2, 0.6, 2.0, 7.0])
    budgets = weights / (7 * weights.sum()) * lab.budget
    vert_c, vert_n = [], []
    for c in budgets:
        ns = (c / 120) ** 0.5 * np.logspace(-0.6, 0.6, 7)
        losses = [lab(n, c / (6 * n)) for n in ns]
        c2, c1, _ = np.polyfit(np.log(ns), losses, 2)
        vert_c.append(c)
        vert_n.append(np.exp(-c1 / (2 * c2)))
    k, p = fit_power_law(vert_c, vert_n)
    return k * target_C**p


def test_a_sound_plan_passes():
    assert check_plan_pilot_runs(_isoflop_solution).passed


@pytest.mark.parametrize("seed", range(6))
def test_a_sound_plan_passes_across_noise_seeds(seed):
    for law in _LAB_LAWS:
        lab = PilotLab(law, 1e21, noise=0.001, seed=seed)
        ratio = _isoflop_solution(lab, 1e24) / _true_n_opt(1e24, law)
        assert 0.75 < ratio < 1.33


def test_twenty_tokens_per_parameter_fails():
    """Negative control: Chinchilla's rule of thumb, with no pilot runs, misses both laws."""

    def plan_pilot_runs(lab, target_C):
        return (target_C / 120) ** 0.5

    report = check_plan_pilot_runs(plan_pilot_runs)
    assert not report.passed
    for law in _LAB_LAWS:
        ratio = (1e24 / 120) ** 0.5 / _true_n_opt(1e24, law)
        assert ratio < 1 / 3 or ratio > 3


def test_the_budget_is_enforced():
    lab = PilotLab(_LAB_LAWS[0], 1e20, noise=0.0, seed=0)
    lab(1e8, 1e11)  # 6e19
    with pytest.raises(RuntimeError, match="pilot budget"):
        lab(1e8, 1e11)
    assert lab.spent == pytest.approx(6e19) and len(lab.log) == 1
    with pytest.raises(ValueError, match="N and D"):
        lab(float("nan"), 1e9)
