"""The pilot-budget exercise (chapter 1, Exercise 1.1): a decision under a
budget, scored against the hidden law's true optimum."""

from __future__ import annotations

import numpy as np
import pytest

from labs.scaling import fit_power_law
from labs.scaling.exercises import (
    _LAB_LAWS,
    PILOT_BUDGET,
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


def test_no_hidden_law_is_shown_in_the_chapter():
    """The graded hidden laws are drawn by `_draw_pilot_law` with seeds of their own: none equals
    a public law or the law the chapter measures after the exercise (seed 7), and the chapter's
    source writes out no law's parameters for the pilot exercise and none of the hidden seeds."""
    import json
    from pathlib import Path

    from labs.grading import discover_chapters
    from labs.grading.chapters import load_hidden
    from labs.scaling.exercises import _draw_pilot_law

    chapter = next(c for c in discover_chapters() if c.topic == "scaling")
    hidden = [case.args[0]._law for case in load_hidden(chapter).hidden["plan_pilot_runs"]]
    assert len(hidden) == 3
    shown = {*_LAB_LAWS, _draw_pilot_law(7)}
    assert not shown & set(hidden) and len(set(hidden)) == len(hidden)
    nb = json.loads(Path(chapter.notebook).read_text())
    source = "".join("".join(c["source"]) for c in nb["cells"])
    assert "_draw_pilot_law(7)" in source
    assert not any(f"_draw_pilot_law({seed})" in source for seed in (101, 102, 103))
    for law in hidden:
        assert f"{law.alpha:.3f}" not in source and f"{law.E:.3f}" not in source


@pytest.mark.parametrize("seed", [7, 101, 102, 103, *range(20, 28)])
def test_drawn_laws_need_a_plan_and_a_sound_plan_meets_them(seed):
    """The chapter's measured law (7), the hidden ones (101-103) and others: the rule of thumb
    misses each by 1.5 to 4 times (the negative control), the IsoFLOP plan lands within 40%."""
    from labs.scaling.exercises import _draw_pilot_law

    law = _draw_pilot_law(seed)
    truth = _true_n_opt(1e24, law)
    assert 1.5 < max((1e24 / 120) ** 0.5 / truth, truth / (1e24 / 120) ** 0.5) < 4
    ratio = _isoflop_solution(PilotLab(law, 1e21, noise=0.001, seed=seed), 1e24) / truth
    assert 0.6 < ratio < 1.4


def _truth_of_case(i):
    return _true_n_opt(1e24, _LAB_LAWS[i])


@pytest.mark.parametrize(
    ("factor", "side", "exponent"),
    [(10**0.3, "too large", "+0.100"), (10**-0.9, "too small", "-0.300")],
)
def test_a_miss_is_reported_with_its_side_and_its_size(factor, side, exponent):
    """A prediction 10^0.3 times the truth is an exponent 0.1 too large over the 3 decades from
    the 1e21-FLOP pilot budget to 1e24 (10^-0.9: 0.3 too small); the check says so."""

    def plan_pilot_runs(lab, target_C):
        return factor * _truth_of_case(0)

    report = str(check_plan_pilot_runs(plan_pilot_runs))
    assert f"your N_opt is {factor:.3g} times the true optimum, {side}" in report
    assert f"off by {exponent} over the 3 decades" in report
    assert "20 tokens per parameter" not in report  # control: not the rule of thumb's mistake


def test_the_rule_of_thumb_is_named_and_other_failures_get_no_size():
    def plan_pilot_runs(lab, target_C):
        return (target_C / 120) ** 0.5

    report = str(check_plan_pilot_runs(plan_pilot_runs))
    assert "within 40% of Chinchilla's 20 tokens per parameter" in report
    assert "times the true optimum, too small" in report  # this law wants a larger model
    for answer in ("big", -1.0, float("nan"), None):  # controls: no number to measure a miss by
        report = str(check_plan_pilot_runs(lambda lab, target_C, a=answer: a))
        assert report.startswith("[failed]") and "how far" not in report

    def raises(lab, target_C):
        raise ValueError("no plan")

    assert "how far" not in str(check_plan_pilot_runs(raises))
    assert check_plan_pilot_runs(None).status == "not attempted"


def test_the_labels_say_which_way_each_law_leans():
    """Case 1's law wants a larger model than 20 tokens per parameter gives, case 2's more data:
    the rule of thumb's N is too small for the first and too large for the second."""
    labels = [case.label for case in PILOT_BUDGET.cases]
    rule = (1e24 / 120) ** 0.5
    assert "larger model" in labels[0] and rule < _truth_of_case(0)
    assert "more data" in labels[1] and rule > _truth_of_case(1)


def test_returning_the_tokens_is_named():
    """A sound plan that returns D_opt = C / (6 N) instead of N on case 2 (381 tokens per
    parameter) is told so; the right answer is not (control)."""

    def plan_pilot_runs(lab, target_C):
        n = _isoflop_solution(lab, target_C)
        return n if n > 1e11 else target_C / (6 * n)  # N on case 1, D on case 2

    report = check_plan_pilot_runs(plan_pilot_runs)
    assert not report.passed
    assert "within 40% of D_opt = target_C / (6 N_opt)" in str(report)
    assert "return N = target_C / (6 D) instead" in str(report)
    assert "D_opt" not in str(check_plan_pilot_runs(_isoflop_solution))


def test_an_overestimate_near_a_balanced_optimum_is_not_called_the_tokens():
    """Case 1's optimum trains on 1.43 tokens per parameter, so the 40% windows around D_opt and
    N_opt overlap and an overestimate of N_opt cannot be told from D_opt: no D_opt message there.
    Case 2 (381 tokens per parameter) keeps it (control)."""
    n_opt = _true_n_opt(1e24, _LAB_LAWS[0])
    assert 1.4 < 1e24 / (6 * n_opt) / n_opt < 1.5
    for factor in (1.5, 1.9):
        report = str(check_plan_pilot_runs(lambda lab, target_C, f=factor: f * n_opt))
        assert report.startswith("[failed]") and "D_opt" not in report
    assert [len(case.mistakes) for case in PILOT_BUDGET.cases] == [1, 2]
