"""Chapter 6's instant checks name the mistakes they were written for, and pass the reference."""

import math

import labs.distill.exercises as ex
from tests.grading.solutions import distill as solutions


def _break_even_equal_only(teacher_cost, distill_cost, rl_cost):
    """Returns -1 only when RL and copying cost the same per student."""
    if rl_cost == distill_cost:
        return -1
    return max(1, math.ceil(teacher_cost / (rl_cost - distill_cost)))


def test_the_reference_solutions_pass_every_public_case():
    assert ex.check_students_to_break_even(solutions.students_to_break_even).status == "passed"
    assert solutions.students_to_break_even(100.0, 6.0, 5.0) == -1  # the new case's answer


def test_break_even_names_rl_cheaper_than_copying():
    report = ex.check_students_to_break_even(_break_even_equal_only)
    assert report.status == "failed" and report.passed_cases == 4  # every other case passes
    assert any("RL cheaper per student than copying" in d for d in report.details)
    assert any("test rl_cost <= distill_cost, not ==" in d for d in report.details)
