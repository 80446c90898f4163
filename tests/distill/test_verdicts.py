"""Chapter 6's decision rules on constructed inputs: the paired match test gives each of its four
verdicts where it should, its interval covers a known difference, and the claim-check rules give
each verdict, the failing ones included."""

from __future__ import annotations

import numpy as np
import pytest

from labs.distill.verdicts import (
    copy_verdict,
    first_crossing,
    match_teacher,
    settled_crossing,
)

PROBLEMS = 400


def _pair(student_rate, teacher_rate=0.5, seeds=4, problems=PROBLEMS, seed=0):
    """A teacher right on a fraction `teacher_rate` of the problems; students drawn independently
    per problem at `student_rate`."""
    rng = np.random.default_rng(seed)
    teacher = (rng.uniform(size=problems) < teacher_rate).astype(int)
    student = (rng.uniform(size=(seeds, problems)) < student_rate).astype(int)
    return student, teacher


def test_a_copy_of_the_teacher_on_many_problems_matches():
    # Students that agree with the teacher on 98% of problems: the interval is narrow and inside.
    rng = np.random.default_rng(1)
    teacher = (rng.uniform(size=2000) < 0.5).astype(int)
    flip = rng.uniform(size=(4, 2000)) < 0.02
    student = np.where(flip, 1 - teacher, teacher)
    out = match_teacher(student, teacher, 0.05)
    assert out["verdict"] == "matches" and out["no_worse"]
    assert -0.05 < out["low"] < out["high"] < 0.05


@pytest.mark.parametrize(("rate", "verdict"), [(0.2, "falls short"), (0.8, "passes")])
def test_a_student_far_from_its_teacher_falls_short_or_passes(rate, verdict):
    student, teacher = _pair(rate)
    out = match_teacher(student, teacher, 0.05)
    assert out["verdict"] == verdict
    assert out["no_worse"] == (verdict == "passes")


def test_too_few_problems_leave_it_not_resolved():
    # The same rates as a clear match, but on 20 problems: the interval is wider than the margin.
    student, teacher = _pair(0.5, problems=20)
    out = match_teacher(student, teacher, 0.05)
    assert out["verdict"] == "not resolved"
    assert out["high"] - out["low"] > 2 * 0.05


def test_the_interval_covers_a_known_difference_and_narrows_with_problems():
    widths = []
    for problems in (100, 1600):
        student, teacher = _pair(0.6, 0.5, problems=problems, seed=3)
        out = match_teacher(student, teacher, 0.05)
        assert out["low"] < 0.1 < out["high"]  # the true difference of the rates
        widths.append(out["high"] - out["low"])
    assert widths[1] < 0.5 * widths[0]  # four times the problems: about half the width


def test_problem_noise_and_seed_noise_are_told_apart():
    rng = np.random.default_rng(4)
    teacher = (rng.uniform(size=200) < 0.5).astype(int)
    # every seed writes the same answers: no seed-to-seed spread at all
    same = np.tile((rng.uniform(size=200) < 0.5).astype(int), (5, 1))
    out = match_teacher(same, teacher, 0.05)
    assert out["se_seeds"] == 0 and out["se_problems"] > 0.03


def test_the_bootstrap_repeats_with_its_seed():
    student, teacher = _pair(0.55, problems=80)
    a, b = match_teacher(student, teacher, 0.05), match_teacher(student, teacher, 0.05)
    c = match_teacher(student, teacher, 0.05, seed=1)
    assert a == b and (a["low"], a["high"]) != (c["low"], c["high"])


def test_match_teacher_refuses_bad_input():
    student, teacher = _pair(0.5, problems=10)
    with pytest.raises(ValueError, match="student_correct"):
        match_teacher(student[:, :9], teacher, 0.05)
    with pytest.raises(ValueError, match="student_correct"):
        match_teacher(student * 2, teacher, 0.05)
    with pytest.raises(ValueError, match="teacher_correct"):
        match_teacher(student, teacher - 1, 0.05)
    with pytest.raises(TypeError, match="student_correct"):
        match_teacher(student.astype(float), teacher, 0.05)
    with pytest.raises(ValueError, match="margin"):
        match_teacher(student, teacher, 1.0)
    with pytest.raises(ValueError, match="margin"):
        match_teacher(student, teacher, 0.0)
    with pytest.raises(ValueError, match="level"):
        match_teacher(student, teacher, 0.05, level=1.0)
    with pytest.raises(ValueError, match="resamples"):
        match_teacher(student, teacher, 0.05, resamples=10)


@pytest.mark.parametrize(
    ("cost", "beats", "verdict"),
    [(0.2, True, "confirmed"), (0.3, True, "overstated"), (np.inf, True, "overstated"),
     (0.2, False, "false"), (np.inf, False, "false")],
)  # fmt: skip
def test_copy_verdict_gives_each_verdict(cost, beats, verdict):
    assert copy_verdict(cost, beats) == verdict


def test_copy_verdict_moves_with_its_line():
    assert copy_verdict(0.3, True, line=0.5) == "confirmed"
    assert copy_verdict(0.3, True, line=0.25) == "overstated"


def test_the_verdict_rules_refuse_bad_input():
    with pytest.raises(ValueError, match="cost_to_90"):
        copy_verdict(-0.1, True)
    with pytest.raises(ValueError, match="cost_to_90"):
        copy_verdict(float("nan"), True)
    with pytest.raises(TypeError, match="beats_own_training"):
        copy_verdict(0.2, "yes")
    with pytest.raises(ValueError, match="line"):
        copy_verdict(0.2, True, line=0.0)


# --- where a curve reaches a line: the first crossing against the settled one ---

COST = np.arange(10.0)  # compute spent by evaluation 0 to 9


def test_a_lucky_early_evaluation_moves_the_first_crossing_but_not_the_settled_one():
    # One evaluation spikes above the line at 2, the curve then falls back and climbs for good at 6.
    share = np.array([0.1, 0.3, 0.95, 0.4, 0.5, 0.7, 0.95, 1.0, 1.0, 1.0])
    first = first_crossing(COST, share, 0.9)
    settled = settled_crossing(COST, share, 0.9, window=3)
    assert first["per_seed"].tolist() == [2.0]
    # running means of 3 end at evaluations 2..9: 0.45, 0.55, 0.62, 0.53, 0.72, 0.88, 0.98, 1.0
    assert settled["per_seed"].tolist() == [8.0] and settled["index"].tolist() == [8]
    # without the mean, the last evaluation at or below the line is 5: settled from 6
    assert settled_crossing(COST, share, 0.9, window=1)["per_seed"].tolist() == [6.0]


def test_one_late_dip_breaks_the_strict_rule_but_not_the_running_mean():
    share = np.array([0.2, 0.5, 0.95, 1.0, 1.0, 1.0, 0.8, 1.0, 1.0, 1.0])
    assert settled_crossing(COST, share, 0.9, window=1)["per_seed"].tolist() == [7.0]
    # running means of 3 at evaluations 2..9: 0.55, 0.82, 0.98, 1, then 0.93 three times (the dip
    # is averaged with two 1s), 1: above from 4 on
    assert settled_crossing(COST, share, 0.9, window=3)["per_seed"].tolist() == [4.0]
    # a deeper dip pulls even the running mean down to the line: (1 + 1 + 0.7) / 3 is 0.9
    deep = np.where(share == 0.8, 0.7, share)
    assert settled_crossing(COST, deep, 0.9, window=3)["per_seed"].tolist() == [9.0]


def test_a_curve_that_ends_at_or_below_the_line_never_settles():
    share = np.array([[0.2, 0.95, 1.0, 1.0, 0.5, 0.5, 0.6, 0.8, 0.85, 0.9], np.linspace(0, 1, 10)])
    out = settled_crossing(COST[None].repeat(2, 0), share, 0.9, window=3)
    assert np.isinf(out["per_seed"][0]) and out["index"][0] == -1
    assert np.isinf(out["every_seed"])  # one seed never settles: no all-seeds point
    assert first_crossing(COST, share[0], 0.9)["per_seed"].tolist() == [1.0]  # the optimistic one


def test_every_seed_waits_for_the_last_seed_and_reads_the_largest_cost():
    share = np.array([np.r_[np.zeros(3), np.ones(7)], np.r_[np.zeros(6), np.ones(4)]])
    cost = np.array([COST, 2 * COST])  # the second seed spends twice as much by each evaluation
    out = settled_crossing(cost, share, 0.9, window=1)
    assert out["index"].tolist() == [3, 6] and out["per_seed"].tolist() == [3.0, 12.0]
    assert out["every_seed"] == 12.0
    # the first crossing's every-seed point: the first evaluation where both are above at once
    assert first_crossing(cost, share, 0.9)["every_seed"] == 12.0
    first = first_crossing(cost, share[::-1], 0.9)  # the slow curve now spends less
    assert first["every_seed"] == 12.0 and first["per_seed"].tolist() == [6.0, 6.0]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"cost": COST[:5]}, ValueError, "share must have the shape of cost"),
        ({"cost": COST[::-1].copy()}, ValueError, "non-decreasing"),
        ({"cost": -COST}, ValueError, "non-negative"),
        ({"cost": np.zeros((2, 2, 10))}, ValueError, "cost must have 1 dimension"),
        ({"share": np.arange(10)}, TypeError, "share must hold"),
        ({"share": np.full(10, np.nan)}, ValueError, "share must be finite"),
        ({"line": "0.9"}, TypeError, "line"),
        ({"window": 11}, ValueError, "window must be at most the number of evaluations"),
        ({"window": 0}, ValueError, "window"),
        ({"window": 2.5}, TypeError, "window"),
    ],
)
def test_the_crossing_rules_refuse_bad_input(kwargs, error, match):
    args = {"cost": COST, "share": np.linspace(0, 1, 10), "line": 0.9, "window": 3, **kwargs}
    with pytest.raises(error, match=match):
        settled_crossing(**args)
    if "window" not in kwargs:
        with pytest.raises(error, match=match):
            first_crossing(args["cost"], args["share"], args["line"])
