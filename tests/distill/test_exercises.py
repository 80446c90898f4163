"""Chapter 6's instant checks name the mistakes they were written for, and pass the reference."""

import math

import numpy as np
from scipy.special import log_softmax

import labs.distill.exercises as ex
from tests.grading.solutions import distill as solutions


def _logs(student_logits, teacher_logits, temperature):
    t = log_softmax(np.asarray(teacher_logits, dtype=np.float64) / temperature, axis=-1)
    s = log_softmax(np.asarray(student_logits, dtype=np.float64) / temperature, axis=-1)
    return t, s


def _kd_cross_entropy(student_logits, teacher_logits, temperature):
    """The cross-entropy with the soft targets: the KL plus the teacher's entropy."""
    t, s = _logs(student_logits, teacher_logits, temperature)
    return float(-(np.exp(t) * s).sum(-1).mean() * temperature**2)


def _kd_mean_over_entries(student_logits, teacher_logits, temperature):
    """A mean over all N x V entries instead of a sum over classes, then a mean over examples."""
    t, s = _logs(student_logits, teacher_logits, temperature)
    return float((np.exp(t) * (t - s)).mean() * temperature**2)


def _kd_times_t(student_logits, teacher_logits, temperature):
    """The KL multiplied by T instead of T^2: right at T = 1, half the answer at T = 2."""
    t, s = _logs(student_logits, teacher_logits, temperature)
    return float((np.exp(t) * (t - s)).sum(-1).mean() * temperature)


def _kd_teacher_unsoftened(student_logits, teacher_logits, temperature):
    """Divides only the student's logits by T: the teacher's targets stay those of T = 1."""
    t = log_softmax(np.asarray(teacher_logits, dtype=np.float64), axis=-1)
    s = log_softmax(np.asarray(student_logits, dtype=np.float64) / temperature, axis=-1)
    return float((np.exp(t) * (t - s)).sum(-1).mean() * temperature**2)


def _break_even_equal_only(teacher_cost, distill_cost, rl_cost):
    """Returns -1 only when RL and copying cost the same per student."""
    if rl_cost == distill_cost:
        return -1
    return max(1, math.ceil(teacher_cost / (rl_cost - distill_cost)))


def test_the_reference_solutions_pass_every_public_case():
    assert ex.check_kd_loss(solutions.kd_loss).status == "passed"
    assert ex.check_students_to_break_even(solutions.students_to_break_even).status == "passed"
    assert solutions.students_to_break_even(100.0, 6.0, 5.0) == -1  # the new case's answer


def test_kd_loss_names_the_cross_entropy_and_the_mean_over_classes():
    report = ex.check_kd_loss(_kd_cross_entropy)
    assert report.status == "failed" and report.passed_cases == 0
    assert any("you returned the cross-entropy" in d and "Subtract the teacher's entropy" in d
               for d in report.details)  # fmt: skip
    report = ex.check_kd_loss(_kd_mean_over_entries)
    assert report.status == "failed" and report.passed_cases == 0
    assert any("sum the KL's terms over the classes" in d for d in report.details)
    assert not any("a factor of 2 left out" in d for d in report.details)


def test_kd_loss_names_the_kl_multiplied_by_t_not_the_classes():
    report = ex.check_kd_loss(_kd_times_t)
    assert report.status == "failed" and report.passed_cases == 1  # T = 1 cannot tell them apart
    assert any("multiplied by T, not T^2" in d for d in report.details)
    assert not any("divided by the number of classes" in d for d in report.details)


def test_kd_loss_names_a_teacher_left_unsoftened():
    """Every T = 2 case before it has a uniform teacher, which T leaves as it is: this slip passes
    them, and the case with a teacher that T softens names it."""
    report = ex.check_kd_loss(_kd_teacher_unsoftened)
    assert report.status == "failed" and report.passed_cases == 2
    assert any("your teacher's targets were not softened" in d for d in report.details)


def test_break_even_names_rl_cheaper_than_copying():
    report = ex.check_students_to_break_even(_break_even_equal_only)
    assert report.status == "failed" and report.passed_cases == 4  # every other case passes
    assert any("RL cheaper per student than copying" in d for d in report.details)
    assert any("test rl_cost <= distill_cost, not ==" in d for d in report.details)
