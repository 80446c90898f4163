import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest

from labs.scaling import EPOCH_2024, HOFFMANN_2022
from labs.scaling.exercises import (
    COMPUTE_OPTIMAL_SPLIT,
    check_compute_optimal_split,
    check_huber_loss,
    check_power_law_fit,
)
from labs.scaling.widgets import allocation_table, compute_explorer, plot_isoflop


def test_compute_optimal_split_correct_passes():
    def compute_optimal_split(C, params):
        p = params
        G = (p.alpha * p.A / (p.beta * p.B)) ** (1 / (p.alpha + p.beta))
        n = G * (C / 6) ** (p.beta / (p.alpha + p.beta))
        return n, C / (6 * n)

    assert check_compute_optimal_split(compute_optimal_split).passed


def test_compute_optimal_split_swapped_exponent_fails_with_hint():
    def compute_optimal_split(C, params):
        p = params
        G = (p.alpha * p.A / (p.beta * p.B)) ** (1 / (p.alpha + p.beta))
        n = G * (C / 6) ** (p.alpha / (p.alpha + p.beta))  # wrong exponent on top
        return n, C / (6 * n)

    report = check_compute_optimal_split(compute_optimal_split)
    assert report.status == "failed"
    assert report.passed_cases == 1  # the symmetric case cannot tell the exponents apart
    assert "a = beta/(alpha+beta)" in str(report)


def test_compute_optimal_split_stub_not_attempted():
    def compute_optimal_split(C, params):
        raise NotImplementedError

    assert check_compute_optimal_split(compute_optimal_split).status == "not attempted"


def test_huber_loss_checks():
    def huber_loss(r, delta):
        r = np.asarray(r, dtype=float)
        return np.where(np.abs(r) <= delta, r**2 / 2, delta * (np.abs(r) - delta / 2))

    assert check_huber_loss(huber_loss).passed

    def huber_loss_no_abs(r, delta):  # forgets |r| in the linear branch
        r = np.asarray(r, dtype=float)
        return np.where(np.abs(r) <= delta, r**2 / 2, delta * (r - delta / 2))

    report = check_huber_loss(huber_loss_no_abs)
    assert report.status == "failed" and "absolute value" in str(report)

    def huber_loss_stub(r, delta):
        raise NotImplementedError

    assert check_huber_loss(huber_loss_stub).status == "not attempted"


def test_power_law_fit_checks():
    def power_law_fit(x, y):
        p, c = np.polyfit(np.log(x), np.log(y), 1)
        return float(np.exp(c)), float(p)

    assert check_power_law_fit(power_law_fit).passed

    def power_law_fit_linear(x, y):  # fits in linear space: wrong on every case
        p, c = np.polyfit(x, y, 1)
        return float(c), float(p)

    report = check_power_law_fit(power_law_fit_linear)
    assert report.status == "failed" and report.passed_cases == 0
    assert "log y" in str(report)

    def power_law_fit_stub(x, y):
        raise NotImplementedError

    assert check_power_law_fit(power_law_fit_stub).status == "not attempted"


def test_exercise_expected_values_satisfy_the_constraint():
    for case in COMPUTE_OPTIMAL_SPLIT.cases:
        C = case.args[0]
        n, d = case.expected
        assert 6 * n * d == pytest.approx(C)


def test_widgets():
    laws = {"Hoffmann et al.": HOFFMANN_2022, "Epoch AI": EPOCH_2024}
    rows = allocation_table(5.88e23, laws)
    assert [r[0] for r in rows] == list(laws)
    assert rows[1][1] > rows[0][1]  # Epoch's law puts more into parameters at this budget
    ax = plot_isoflop(1e22, laws)
    assert len(ax.get_lines()) == 4
    plt.close("all")
    assert isinstance(compute_explorer(laws), ipywidgets.interactive)
    with pytest.raises(TypeError, match="laws"):
        allocation_table(1e22, {"bad": (1, 2)})
    with pytest.raises(ValueError, match="C must be > 0"):
        allocation_table(-1.0, laws)
