"""Chapter 6 exercises: soft targets, the distillation loss, and when copying pays.

Taught in chapter 6, "Exercise 6.0 (a prediction)" (scored by `score_prediction`), "Exercise
6.1: soft targets", "Exercise 6.2: the distillation loss" and
"Exercise 6.3: how many students before copying pays".

Expected values are worked out by hand (the arithmetic is written next to each case), not taken
from the package's own kernels.
"""

from __future__ import annotations

import math

import numpy as np

from labs.common.exercises import Case, CheckReport, Exercise, check
from labs.common.validate import one_of, real_number


def _arr(*values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


_LN3 = math.log(3.0)

SOFT_TARGETS = Exercise(
    name="soft_targets",
    signature="soft_targets(logits: np.ndarray, temperature: float) -> np.ndarray",
    cases=(
        Case(
            (_arr(_LN3, 0.0), 1.0),
            _arr(0.75, 0.25),  # e^ln3 = 3: 3 / (3 + 1)
            "T = 1 is the ordinary softmax",
            "exponentiate and normalise along the last axis: exp(z_i) / sum_j exp(z_j).",
        ),
        Case(
            (_arr(2 * _LN3, 0.0), 2.0),
            _arr(0.75, 0.25),  # 2 ln3 / 2 = ln3
            "T = 2 halves the logits first",
            "divide the logits by the temperature before the softmax, not the probabilities.",
        ),
        Case(
            (np.array([[4000.0, 4000.0], [0.0, 0.0]]), 4.0),
            np.array([[0.5, 0.5], [0.5, 0.5]]),
            "large logits, two rows",
            "subtract the row's maximum before exp (4000 / 4 = 1000, and exp(1000) overflows to "
            "inf in float64), and normalise each row along the last axis.",
        ),
    ),
)

# KL(u || q) with u = (1/2, 1/2), q = (3/4, 1/4): 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3).
_KL = 0.5 * math.log(4.0 / 3.0)
# KL(q || u) = 3/4 ln(3/2) + 1/4 ln(1/2): the wrong direction.
# Two known wrong answers, named in each case below. The cross-entropy with the soft targets,
# -sum_i q_teacher,i log q_student,i, is the KL plus the teacher's entropy; every teacher here is
# uniform over V = 2 classes, entropy ln 2. A mean over all N x V entries of
# q_teacher (log q_teacher - log q_student), not a sum over classes, divides the answer by V = 2.
_LN2 = math.log(2.0)
_CROSS_ENTROPY = (
    "you returned the cross-entropy with the soft targets, -sum_i q_teacher,i log q_student,i: it "
    "is the KL plus the teacher's entropy, -sum_i q_teacher,i log q_teacher,i. Subtract the "
    "teacher's entropy (or sum q_teacher * (log q_teacher - log q_student) directly)."
)
# A teacher that is not uniform, against a uniform student u: KL(q || u) with q = (3/4, 1/4), the
# teacher (2 ln3, 0) softened by T = 2; unsoftened, its softmax is (9/10, 1/10).
_KL_SOFT_TEACHER = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
_KL_HARD_TEACHER = 0.9 * math.log(1.8) + 0.1 * math.log(0.2)
_TEACHER_UNSOFTENED = (
    "your teacher's targets were not softened: divide the teacher's logits by T as well as the "
    "student's (at T = 2 its soft targets are (3/4, 1/4), not the (9/10, 1/10) of T = 1)."
)
_MEAN_OVER_CLASSES = (
    "your answer is the expected one divided by the number of classes: sum the KL's terms over "
    "the classes (the last axis), then average over the examples; a mean over all N x V entries "
    "divides by V as well."
)

_TIMES_T = (
    "your answer is half the expected one: at T = 2 that is the KL multiplied by T, not T^2 "
    "(Hinton et al. §2: the soft term's gradients scale as 1/T^2). Multiply by T**2."
)


def _kd_mistakes(expected: float, temperature: float) -> tuple:
    """The two named wrong answers of a kd_loss case whose teachers are uniform over 2 classes."""
    return (
        (expected + temperature**2 * _LN2, _CROSS_ENTROPY),  # T^2 (KL + H(teacher))
        (expected / 2, _MEAN_OVER_CLASSES),  # divided by V = 2
    )


DISTILLATION_LOSS = Exercise(
    name="kd_loss",
    signature="kd_loss(student_logits: np.ndarray, teacher_logits: np.ndarray, "
    "temperature: float) -> float",
    cases=(
        Case(
            (_arr(_LN3, 0.0)[None], _arr(0.0, 0.0)[None], 1.0),
            _KL,  # T = 1: no scaling
            "one example, T = 1",
            "the loss is KL(teacher || student) = sum_i q_teacher,i (log q_teacher,i - "
            "log q_student,i); KL(student || teacher) would give 3/4 ln(3/2) + 1/4 ln(1/2).",
            mistakes=_kd_mistakes(_KL, 1.0),
        ),
        Case(
            (_arr(2 * _LN3, 0.0)[None], _arr(0.0, 0.0)[None], 2.0),
            4 * _KL,  # the same soft distributions, times T^2 = 4
            "one example, T = 2",
            "divide both sets of logits by T before the softmaxes, then multiply the KL by T^2 "
            "(Hinton et al. §2: the soft term's gradients scale as 1/T^2, and T^2 restores them).",
            mistakes=(
                (4 * _KL + 4.0 * _LN2, _CROSS_ENTROPY),  # T^2 (KL + H(teacher)) at T = 2
                # half of T^2 KL: at T = 2, T KL. (A mean over classes also halves it, but that
                # fails case 1 first, so a solution that reaches this case multiplied by T.)
                (2 * _KL, _TIMES_T),
            ),
        ),
        Case(
            (_arr(0.0, 0.0)[None], _arr(2 * _LN3, 0.0)[None], 2.0),
            4 * _KL_SOFT_TEACHER,  # the teacher softened: (2 ln3, 0) / 2 -> (3/4, 1/4); T^2 = 4
            "one example, T = 2, a teacher that T softens",
            "divide the teacher's logits by T too: at T = 2 its soft targets are (3/4, 1/4), "
            "then KL(teacher || student), times T^2.",
            mistakes=(
                (4 * _KL_HARD_TEACHER, _TEACHER_UNSOFTENED),
                (4 * _LN2, _CROSS_ENTROPY),  # T^2 (KL + H(3/4, 1/4)) = T^2 ln 2: the student is
            ),  # uniform, so the cross-entropy is ln 2 whatever the teacher
        ),
        Case(
            (np.array([[_LN3, 0.0], [1.0, 1.0]]), np.array([[0.0, 0.0], [5.0, 5.0]]), 1.0),
            _KL / 2,  # the second example's two distributions agree: KL 0; mean of the two
            "two examples, the second already matched",
            "average the per-example KL over examples (mean, not sum).",
            mistakes=_kd_mistakes(_KL / 2, 1.0),
        ),
    ),
)

BREAK_EVEN = Exercise(
    name="students_to_break_even",
    signature="students_to_break_even(teacher_cost: float, distill_cost: float, "
    "rl_cost: float) -> int",
    cases=(
        Case(
            (100.0, 2.0, 12.0),
            10,  # 100 / (12 - 2) = 10 students: 100 + 10 * 2 = 120 = 10 * 12
            "the saving per student divides the teacher's cost",
            "copying k students costs teacher + k * distill, RL costs k * rl: find the smallest "
            "integer k with teacher + k * distill <= k * rl.",
        ),
        Case(
            (100.0, 2.0, 5.0),
            34,  # 100 / 3 = 33.3 -> 34
            "a fractional break-even rounds up",
            "a fraction of a student is not a student: round k = teacher / (rl - distill) up.",
        ),
        Case(
            (0.0, 2.0, 5.0),
            1,  # the teacher exists already: the first student pays
            "a teacher someone else paid for",
            "with a teacher cost of 0 the first student already pays: the answer is 1, not 0.",
        ),
        Case(
            (100.0, 5.0, 5.0),
            -1,
            "RL costs no more than copying",
            "when rl_cost <= distill_cost copying never pays: return -1.",
        ),
        Case(
            (100.0, 6.0, 5.0),
            -1,  # rl < distill: each copy costs more than RL, so no k pays; 100 / (5 - 6) < 0
            "RL cheaper per student than copying",
            "when rl_cost <= distill_cost copying never pays: return -1.",
            mistakes=(
                (
                    1,
                    "RL here costs less per student than copying (5 < 6), so copying never pays, "
                    "not only when the two are equal: test rl_cost <= distill_cost, not ==, "
                    "before dividing (100 / (5 - 6) is negative, and max(1, ...) hides it).",
                ),
            ),
        ),
    ),
)


def check_soft_targets(fn) -> CheckReport:
    """Public cases of exercise 6.1 (softmax of logits / T along the last axis)."""
    return check(fn, SOFT_TARGETS)


def check_kd_loss(fn) -> CheckReport:
    """Public cases of exercise 6.2 (T^2 KL(teacher || student), averaged over examples)."""
    return check(fn, DISTILLATION_LOSS)


def check_students_to_break_even(fn) -> CheckReport:
    """Public cases of exercise 6.3 (the number of students before copying pays)."""
    return check(fn, BREAK_EVEN)


ARMS = ("distillation", "grpo")


def score_prediction(
    prediction=None,
    *,
    winner: str,
    accuracy: float,
    spread: float,
    other_accuracy: float | None = None,
    other_spread: float | None = None,
) -> str:
    """Score Exercise 6.0: `prediction` is (arm, held-out accuracy of that arm) or None; `winner`
    is the arm that measured higher and `accuracy` its measured mean, `spread` its seed-to-seed
    standard error. `other_accuracy` and `other_spread` are the same for the other arm: with them a
    prediction of the wrong arm has its number scored against the arm it named; without them it is
    not scored. Returns (and prints) a verdict on the arm and the size of the miss."""
    winner = one_of("winner", winner, ARMS)
    accuracy = real_number("accuracy", accuracy, minimum=0.0, maximum=1.0)
    spread = real_number("spread", spread, nonnegative=True)
    if (other_accuracy is None) != (other_spread is None):
        raise ValueError(
            "other_accuracy and other_spread go together (the other arm's mean and its standard "
            f"error), got other_accuracy={other_accuracy!r}, other_spread={other_spread!r}"
        )
    if other_accuracy is not None:
        other_accuracy = real_number("other_accuracy", other_accuracy, minimum=0.0, maximum=1.0)
        other_spread = real_number("other_spread", other_spread, nonnegative=True)
    if prediction is None:
        report = (
            f"no prediction: set prediction = (arm, accuracy) first. Measured: {winner} ends "
            f"higher, at {accuracy:.3f}."
        )
        print(report)
        return report
    if not isinstance(prediction, tuple | list) or len(prediction) != 2:
        raise TypeError(
            f"prediction must be a pair (arm, accuracy) such as ('grpo', 0.2), got {prediction!r}"
        )
    arm = one_of("prediction[0] (the arm)", prediction[0], ARMS)
    guess = real_number("prediction[1] (the accuracy)", prediction[1], minimum=0.0, maximum=1.0)
    if arm != winner:
        if other_accuracy is None:
            size = "that arm's accuracy was not given, so your number is not scored"
        else:
            size = f"your {guess:.3f} is {_miss(guess - other_accuracy, other_spread)}"
            size = f"it ends at {other_accuracy:.3f}; {size}"
        report = (
            f"wrong arm: you picked {arm} ({size}); {winner} ends higher, at {accuracy:.3f} "
            "held-out accuracy."
        )
    else:
        report = (
            f"right arm: {winner} ends at {accuracy:.3f}; your {guess:.3f} is "
            f"{_miss(guess - accuracy, spread)}."
        )
    print(report)
    return report


def _miss(miss: float, spread: float) -> str:
    """How far a guess lies from a measured mean, against two standard errors of it."""
    if abs(miss) <= 2 * spread:
        return f"within two seed-to-seed standard errors ({2 * spread:.3f}) of it"
    return (
        f"{'above' if miss > 0 else 'below'} it by {abs(miss):.3f}, more than two "
        f"seed-to-seed standard errors ({2 * spread:.3f})"
    )
