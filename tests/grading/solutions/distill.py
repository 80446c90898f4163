"""Reference solutions of chapter 6's exercises (SciPy's softmax, independent of the course's)."""

import math

import numpy as np
from scipy.special import log_softmax, softmax


def soft_targets(logits, temperature):
    return softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=-1)


def kd_loss(student_logits, teacher_logits, temperature):
    teacher_log = log_softmax(np.asarray(teacher_logits, dtype=np.float64) / temperature, axis=-1)
    student_log = log_softmax(np.asarray(student_logits, dtype=np.float64) / temperature, axis=-1)
    per_example = np.sum(np.exp(teacher_log) * (teacher_log - student_log), axis=-1)
    return float(per_example.mean() * temperature * temperature)


def students_to_break_even(teacher_cost, distill_cost, rl_cost):
    if rl_cost <= distill_cost:  # copying never saves anything per student
        return -1
    return max(1, math.ceil(teacher_cost / (rl_cost - distill_cost)))
