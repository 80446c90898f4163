"""Hidden cases of chapter 6. Expected values worked by hand; the arithmetic is beside each."""

import math

import numpy as np

from labs.common.exercises import Case


def _arr(*values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


_LN2, _LN3 = math.log(2.0), math.log(3.0)

HIDDEN = {
    "soft_targets": (
        Case(
            (_arr(3 * _LN2, 0.0, 0.0), 3.0),
            _arr(0.5, 0.25, 0.25),  # 3 ln2 / 3 = ln2: (2, 1, 1) / 4
            label="three classes at T = 3",
        ),
        Case(
            (np.array([[_LN3, 0.0], [0.0, _LN3]]) * 0.5, 0.5),
            np.array([[0.75, 0.25], [0.25, 0.75]]),  # (ln3 / 2) / (1/2) = ln3, per row
            label="T below one sharpens, two rows",
        ),
        Case(
            (_arr(-2000.0, -2000.0 + 2 * _LN3), 2.0),
            _arr(0.25, 0.75),  # shift-invariant: (0, ln3) after dividing by 2
            label="very negative logits",
        ),
    ),
    "kd_loss": (
        Case(
            (_arr(0.0, 0.0)[None], _arr(_LN3, 0.0)[None], 1.0),
            # KL(q || u) with q = (3/4, 1/4), u = (1/2, 1/2): 3/4 ln(3/2) + 1/4 ln(1/2)
            0.75 * math.log(1.5) + 0.25 * math.log(0.5),
            label="teacher and student swapped: KL is not symmetric",
        ),
        Case(
            (_arr(3 * _LN3, 0.0)[None], _arr(0.0, 0.0)[None], 3.0),
            9 * 0.5 * math.log(4.0 / 3.0),  # ln3 after /3, times T^2 = 9
            label="T = 3 scales the KL by 9",
        ),
        Case(
            (_arr(0.0, 0.0)[None], _arr(3 * _LN3, 0.0)[None], 3.0),
            # the teacher softened by T = 3: (ln3, 0) -> (3/4, 1/4); KL(q || u) times T^2 = 9
            9 * (0.75 * math.log(1.5) + 0.25 * math.log(0.5)),
            label="T = 3 softens the teacher too",
        ),
        Case(
            (np.zeros((4, 3)), np.zeros((4, 3)), 2.0),
            0.0,  # identical distributions: no divergence
            label="four examples already matched",
        ),
    ),
    "students_to_break_even": (
        Case((60.0, 1.0, 4.0), 20, label="60 / (4 - 1) = 20 exactly"),
        Case((1e6, 3.0, 10.0), 142_858, label="1e6 / 7 = 142857.1 -> 142858"),
        Case((50.0, 6.0, 4.0), -1, label="RL cheaper per student than copying"),
    ),
}
POINTS = {"soft_targets": 3, "kd_loss": 4, "students_to_break_even": 3}
FORBIDDEN = {
    "soft_targets": ("labs.distill.reference.soft_targets",),
    "kd_loss": ("labs.distill.reference.distillation_loss",),
}
