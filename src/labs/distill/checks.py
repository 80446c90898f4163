"""Chapter 6 argument checks, written once for the NumPy, torch and JAX entry points.

Taught in chapter 6, "Soft targets" (the checks run before every kernel of the chapter). Each
check takes anything with `.shape` and `.dtype` and raises a `ValueError` or `TypeError` naming
the parameter, before a framework sees the data.
"""

from __future__ import annotations

import numpy as np

from labs.common.validate import (
    array,
    host_values,
    integer_array,
    real_number,
    same_shape,
)

__all__ = ["check_distillation_args", "check_soft_targets_args"]


def _temperature(temperature) -> float:
    return real_number("temperature", temperature, positive=True)


def check_soft_targets_args(logits, temperature, *, framework: str = "numpy"):
    """(logits, temperature) once checked: float logits with a class axis, temperature > 0."""
    logits = array("logits", logits, framework=framework, min_ndim=1)
    return logits, _temperature(temperature)


def check_distillation_args(
    student_logits,
    teacher_logits,
    temperature=2.0,
    labels=None,
    alpha=0.5,
    mask=None,
    *,
    framework: str = "numpy",
):
    """Arguments of `distillation_loss`, checked once for every framework.

    Logits: float arrays of one shape (..., V) with at least one example axis; labels: None or
    integer ids in [0, V) of shape (...); mask: None or 0/1 weights of shape (...) (float, int or
    bool) selecting at least one position; temperature > 0; alpha in [0, 1].
    """
    student = array("student_logits", student_logits, framework=framework, min_ndim=2)
    teacher = array("teacher_logits", teacher_logits, framework=framework, min_ndim=2)
    same_shape(("student_logits", student), ("teacher_logits", teacher))
    temperature = _temperature(temperature)
    alpha = real_number("alpha", alpha, minimum=0.0, maximum=1.0)
    positions, vocab = tuple(student.shape[:-1]), int(student.shape[-1])
    if labels is not None:
        labels = integer_array("labels", labels, framework=framework, low=0, high=vocab)
        if tuple(labels.shape) != positions:
            raise ValueError(
                f"labels must have shape {positions} (the logits without their class axis), "
                f"got {tuple(labels.shape)}"
            )
    if mask is not None:
        mask = array("mask", mask, framework=framework, dtype=("float", "int", "bool"))
        if tuple(mask.shape) != positions:
            raise ValueError(
                f"mask must have shape {positions} (the logits without their class axis), "
                f"got {tuple(mask.shape)}"
            )
        values = host_values(mask)
        if values is not None:
            values = values.astype(np.float64)
            if not np.all((values == 0) | (values == 1)):
                raise ValueError("mask must hold only 0 and 1 (or False and True)")
            if values.sum() == 0:
                raise ValueError("mask must select at least one position; it is all zero")
    return student, teacher, temperature, labels, alpha, mask
