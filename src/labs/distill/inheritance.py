"""Chapter 6: does a copy inherit its teacher's mistakes? Framework-free.

Taught in chapter 6, "What does a copy inherit?". On the problems where the teacher writes a
well-formed wrong number, how often does a student write that same wrong number? A student that
learned the task from the answer key, not from the teacher, repeats the teacher's wrong answer
only by chance or because both err alike on hard problems: it is the baseline against which a
distilled student's rate means inheritance.
"""

from __future__ import annotations

import numpy as np

from labs.common.validate import integer_array

__all__ = ["inherited_errors"]

MAX_ANSWER = 100  # answers have one or two digits


def inherited_errors(teacher_answers, student_answers, truth) -> dict[str, float]:
    """How often a student repeats the teacher's exact wrong answers.

    Args:
        teacher_answers, student_answers, truth: 1-D integer arrays of one length, one entry per
            problem: the number each wrote (-1 for no well-formed number) and the right answer,
            all below 100 (the task's answers have at most two digits).

    Returns a dict: "teacher_wrong" (how many problems the teacher answers with a well-formed
    wrong number), "copied" (share of those where the student writes the teacher's number),
    "student_wrong" (share of those the student also gets wrong) and "copied_when_wrong" (share of
    the student's wrong answers there that are the teacher's; nan when the student is right on all
    of them). "copied" is nan when the teacher is never wrong.
    """
    teacher = integer_array("teacher_answers", teacher_answers, ndim=1, low=-1, high=MAX_ANSWER)
    student = integer_array("student_answers", student_answers, ndim=1, low=-1, high=MAX_ANSWER)
    truth = integer_array("truth", truth, ndim=1, low=0, high=MAX_ANSWER)
    if not teacher.shape == student.shape == truth.shape:
        raise ValueError(
            "teacher_answers, student_answers and truth must have one length, got "
            f"{teacher.shape[0]}, {student.shape[0]} and {truth.shape[0]}"
        )
    return _inherited_errors(teacher, student, truth)


def _inherited_errors(teacher: np.ndarray, student: np.ndarray, truth: np.ndarray) -> dict:
    """Restrict to the teacher's well-formed wrong answers; count exact repeats."""
    wrong = (teacher != truth) & (teacher >= 0)  # the teacher's well-formed mistakes
    n = int(wrong.sum())
    same = student[wrong] == teacher[wrong]
    student_wrong = student[wrong] != truth[wrong]
    return {
        "teacher_wrong": n,
        "copied": float(same.mean()) if n else float("nan"),
        "student_wrong": float(student_wrong.mean()) if n else float("nan"),
        "copied_when_wrong": float(same.sum() / student_wrong.sum())
        if student_wrong.any()
        else float("nan"),
    }
