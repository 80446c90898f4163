"""Chapter 6 in JAX: soft targets and the distillation loss as pure, jitted functions.

Taught in chapter 6, "The distillation loss" (the parity cell). The NumPy reference's twins; the
checks (`labs.distill.checks`) run outside `jit`. Axes: V classes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Float, Int

from labs.distill.checks import check_distillation_args, check_soft_targets_args

__all__ = ["distillation_loss", "soft_targets"]


def soft_targets(logits, temperature: float) -> jax.Array:
    """softmax(logits / temperature) along the last axis (Hinton et al., eq. 1)."""
    logits, temperature = check_soft_targets_args(logits, temperature, framework="jax")
    return _soft_targets(jnp.asarray(logits), temperature)


@jax.jit
def _soft_targets(
    logits: Float[jax.Array, "... V"], temperature: float
) -> Float[jax.Array, "... V"]:
    """Eq. (1); jax.nn.softmax subtracts the max."""
    return jax.nn.softmax(logits / temperature, axis=-1)


def distillation_loss(
    student_logits,
    teacher_logits,
    temperature: float = 2.0,
    labels=None,
    alpha: float = 0.5,
    mask=None,
) -> jax.Array:
    """Hinton et al. (2015) distillation loss, a scalar; see `labs.distill.reference`.

    No gradient flows into `teacher_logits` (the teacher is fixed).
    """
    s, t, temperature, labels, alpha, mask = check_distillation_args(
        student_logits, teacher_logits, temperature, labels, alpha, mask, framework="jax"
    )
    labels = None if labels is None else jnp.asarray(labels)
    mask = None if mask is None else jnp.asarray(mask)
    return _distillation_loss(jnp.asarray(s), jnp.asarray(t), temperature, labels, alpha, mask)


@jax.jit
def _distillation_loss(
    s: Float[jax.Array, "... V"],
    t: Float[jax.Array, "... V"],
    temperature: float,
    labels: Int[jax.Array, "..."] | None,
    alpha: float,
    mask: jax.Array | None,
) -> jax.Array:
    """T^2 KL(q_t || q_s) per position, masked mean, mixed with the masked-mean cross-entropy."""
    w = jnp.ones(s.shape[:-1], s.dtype) if mask is None else mask.astype(s.dtype)
    log_qt = jax.nn.log_softmax(jax.lax.stop_gradient(t) / temperature, axis=-1)  # eq. (1)
    log_qs = jax.nn.log_softmax(s / temperature, axis=-1)
    kl = (jnp.exp(log_qt) * (log_qt - log_qs)).sum(-1)  # (...) per position
    soft = temperature**2 * (w * kl).sum() / w.sum()  # T^2 keeps the gradient scale (§2)
    if labels is None:  # decided at trace time: None is an empty pytree
        return soft
    nll = -jnp.take_along_axis(jax.nn.log_softmax(s, axis=-1), labels[..., None], axis=-1)[..., 0]
    return alpha * soft + (1 - alpha) * (w * nll).sum() / w.sum()
