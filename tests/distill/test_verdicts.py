"""Chapter 6's decision rules on constructed inputs: the paired match test gives each of its four
verdicts where it should, its interval covers a known difference, and the claim-check rules give
each verdict, the failing ones included."""

from __future__ import annotations

import numpy as np
import pytest

from labs.distill.verdicts import claim_verdict, copy_verdict, match_teacher

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


@pytest.mark.parametrize(
    ("with_cache", "without_cache", "verdict"),
    [("confirmed", "confirmed", "confirmed"), ("overstated", "overstated", "overstated"),
     ("false", "false", "false"), ("confirmed", "overstated", "recomputed"),
     ("overstated", "confirmed", "recomputed"), ("confirmed", "false", "recomputed")],
)  # fmt: skip
def test_claim_verdict_gives_each_verdict(with_cache, without_cache, verdict):
    # agreeing counts keep their verdict, the failing "false" included; disagreeing ones give
    # "recomputed", which the ledger row must qualify with its condition
    assert claim_verdict(with_cache, without_cache) == verdict


def test_the_verdict_rules_refuse_bad_input():
    with pytest.raises(ValueError, match="cost_to_90"):
        copy_verdict(-0.1, True)
    with pytest.raises(ValueError, match="cost_to_90"):
        copy_verdict(float("nan"), True)
    with pytest.raises(TypeError, match="beats_own_training"):
        copy_verdict(0.2, "yes")
    with pytest.raises(ValueError, match="with_cache"):
        claim_verdict("recomputed", "confirmed")
    with pytest.raises(ValueError, match="without_cache"):
        claim_verdict("confirmed", "Confirmed")
