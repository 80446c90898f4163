"""Chapter 6 kernels in PyTorch: soft targets and the distillation loss, differentiable.

Taught in chapter 6, "The distillation loss" (the parity cell). The NumPy reference's twins
(`labs.distill.reference`), checked by the same `labs.distill.checks`. Reached as
`labs.distill.torch.distillation_loss` and so on. Axes: V classes.
"""

from __future__ import annotations

import torch
from jaxtyping import Float, Int

from labs.distill.checks import check_distillation_args, check_soft_targets_args

__all__ = ["distillation_loss", "soft_targets"]


def soft_targets(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / temperature) along the last axis (Hinton et al., eq. 1)."""
    logits, temperature = check_soft_targets_args(logits, temperature, framework="torch")
    return _soft_targets(logits, temperature)


def _soft_targets(
    logits: Float[torch.Tensor, "... V"], temperature: float
) -> Float[torch.Tensor, "... V"]:
    """Eq. (1); torch.softmax subtracts the max."""
    return torch.softmax(logits / temperature, dim=-1)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float = 2.0,
    labels: torch.Tensor | None = None,
    alpha: float = 0.5,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Hinton et al. (2015) distillation loss, a scalar tensor; see `labs.distill.reference`.

    No gradient flows into `teacher_logits` (the teacher is fixed). `teacher_logits`, `labels` and
    `mask` must lie on the device of `student_logits` (ValueError naming the one that does not).
    """
    args = check_distillation_args(
        student_logits, teacher_logits, temperature, labels, alpha, mask, framework="torch"
    )
    return _distillation_loss(*args)


def _distillation_loss(
    s: Float[torch.Tensor, "... V"],
    t: Float[torch.Tensor, "... V"],
    temperature: float,
    labels: Int[torch.Tensor, "..."] | None,
    alpha: float,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """T^2 KL(q_t || q_s) per position, masked mean, mixed with the masked-mean cross-entropy."""
    w = torch.ones(s.shape[:-1], dtype=s.dtype, device=s.device) if mask is None else mask.to(s)
    log_qt = torch.log_softmax(t.detach() / temperature, dim=-1)  # soft targets, eq. (1)
    log_qs = torch.log_softmax(s / temperature, dim=-1)
    kl = (log_qt.exp() * (log_qt - log_qs)).sum(-1)  # (...) per position
    soft = temperature**2 * (w * kl).sum() / w.sum()  # T^2 keeps the gradient scale (§2)
    if labels is None:
        return soft
    nll = -torch.log_softmax(s, dim=-1).gather(-1, labels[..., None].long())[..., 0]
    return alpha * soft + (1 - alpha) * (w * nll).sum() / w.sum()
