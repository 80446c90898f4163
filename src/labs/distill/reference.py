"""Chapter 6 NumPy reference: soft targets and the distillation loss of Hinton et al. (2015).

Taught in chapter 6, "Soft targets" and "The distillation loss". Axes: N positions (examples, or
examples x sequence positions flattened), V classes (the vocabulary).

    q_i = exp(z_i / T) / sum_j exp(z_j / T)                              (Hinton et al., §2, eq. 1)

    L = alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(s, y)   (§2)

with s the student's and t the teacher's logits. The gradient of the soft term with respect to
the student's logits scales as 1/T^2, so the T^2 factor keeps the two terms in proportion when T
changes. Both terms are averaged over the positions the mask selects.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from labs.distill.checks import check_distillation_args, check_soft_targets_args

__all__ = ["distillation_loss", "soft_targets"]


def soft_targets(logits, temperature: float) -> np.ndarray:
    """softmax(logits / temperature) along the last axis (Hinton et al., eq. 1), NumPy reference.

    Args:
        logits: float array (..., V).
        temperature: T > 0; T = 1 is the ordinary softmax, larger T flattens it.

    Returns:
        Probabilities of the shape of `logits`, summing to 1 along the last axis.
    """
    logits, temperature = check_soft_targets_args(logits, temperature)
    return _soft_targets(logits, temperature)


def _soft_targets(
    logits: Float[np.ndarray, "... V"], temperature: float
) -> Float[np.ndarray, "... V"]:
    """Eq. (1) with the max subtracted."""
    z = logits / temperature
    e = np.exp(z - z.max(axis=-1, keepdims=True))  # every exponent <= 0
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(z: Float[np.ndarray, "... V"]) -> Float[np.ndarray, "... V"]:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def distillation_loss(
    student_logits,
    teacher_logits,
    temperature: float = 2.0,
    labels=None,
    alpha: float = 0.5,
    mask=None,
) -> float:
    """Knowledge-distillation loss of Hinton et al. (2015, §2), NumPy reference.

    Args:
        student_logits, teacher_logits: float arrays of one shape (..., V): (N, V) for
            classification, (B, T, V) for sequences.
        temperature: 0 < T <= 1,000 (see `labs.distill.checks`), applied to both sets of logits
            in the soft term.
        labels: None, or integer ids in [0, V) of shape (...): adds the hard-label term.
        alpha: weight of the soft term in [0, 1] when labels are given (ignored without labels).
        mask: None, or 0/1 weights of shape (...): positions with 0 are left out of both averages.

    Returns:
        T^2 * mean KL(softmax(t/T) || softmax(s/T)) without labels; with labels,
        alpha * that + (1 - alpha) * mean cross-entropy of softmax(s) (unscaled) on the labels.
    """
    args = check_distillation_args(student_logits, teacher_logits, temperature, labels, alpha, mask)
    return float(_distillation_loss(*args))


def _distillation_loss(
    s: Float[np.ndarray, "... V"],
    t: Float[np.ndarray, "... V"],
    temperature: float,
    labels: Int[np.ndarray, "..."] | None,
    alpha: float,
    mask: Float[np.ndarray, "..."] | None,
) -> np.ndarray:
    """T^2 KL(q_t || q_s) per position, masked mean, mixed with the masked-mean cross-entropy."""
    w = np.ones(s.shape[:-1]) if mask is None else np.asarray(mask, dtype=np.float64)
    log_qt = _log_softmax(t / temperature)  # teacher's soft targets, eq. (1)
    log_qs = _log_softmax(s / temperature)
    kl = (np.exp(log_qt) * (log_qt - log_qs)).sum(axis=-1)  # (...) per position
    soft = temperature**2 * (w * kl).sum() / w.sum()  # T^2 keeps the gradient scale (§2)
    if labels is None:
        return soft
    nll = -np.take_along_axis(_log_softmax(s), labels[..., None], axis=-1)[..., 0]
    return alpha * soft + (1 - alpha) * (w * nll).sum() / w.sum()
