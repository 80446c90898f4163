"""Chapter 5 in JAX: the three GRPO kernels as pure, jit-compiled, differentiable functions.

They follow the NumPy reference in `labs.grpo` operation for operation. Arguments are checked in
Python (shapes and dtypes are static under jit) before the compiled core runs; `jax.grad` of
`grpo_loss(...)[0]` with respect to `logp` gives the policy gradient of eq. 3.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from labs.common.validate import integer, real_number, same_shape
from labs.grpo import check_loss_settings

__all__ = ["group_advantages", "grpo_loss", "kl_k3"]


def _concrete(x) -> bool:
    # Values are checked when they are known; under an outer jit they are tracers and the
    # check is left to the caller (the shapes are still checked).
    return not isinstance(x, jax.core.Tracer)


def _float_array(name: str, x, min_ndim: int = 0) -> jax.Array:
    if not isinstance(x, jax.Array) and not hasattr(x, "__array__"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name} must hold floating-point numbers, got dtype {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got {x.shape}")
    if _concrete(x) and not np.isfinite(np.asarray(x)).all():
        raise ValueError(f"{name} must be finite; it holds NaN or inf")
    return x


def group_advantages(rewards: jax.Array, group_size: int, eps: float = 1e-4) -> jax.Array:
    """(r - group mean) / (group std, ddof = 1, + eps); all-equal groups get exactly 0.

    Args:
        rewards: shape (n * group_size,); consecutive runs of `group_size` form a group.

    Returns:
        Advantages, shape and dtype of `rewards`.
    """
    rewards = _float_array("rewards", rewards, min_ndim=1)
    if rewards.ndim != 1:
        raise ValueError(f"rewards must be 1-D, got shape {rewards.shape}")
    group_size = integer("group_size", group_size, minimum=2)
    eps = real_number("eps", eps, positive=True)
    if rewards.size % group_size:
        raise ValueError(
            f"len(rewards) must be a multiple of group_size={group_size}, got {rewards.size}"
        )
    return _group_advantages(rewards, group_size, eps)


@partial(jax.jit, static_argnums=(1,))
def _group_advantages(rewards: jax.Array, group_size: int, eps: float) -> jax.Array:
    groups = rewards.reshape(-1, group_size)
    centred = groups - groups.mean(axis=1, keepdims=True)
    std = groups.std(axis=1, ddof=1, keepdims=True)
    flat = groups.max(axis=1, keepdims=True) == groups.min(axis=1, keepdims=True)
    # where() picks 0 for flat groups; the division there (0 / eps) is finite, so no NaN leaks
    # into the gradient either.
    return jnp.where(flat, 0.0, centred / (std + eps)).reshape(-1).astype(rewards.dtype)


def kl_k3(logp: jax.Array, ref_logp: jax.Array) -> jax.Array:
    """Per-token pi_ref/pi - log(pi_ref/pi) - 1 (DeepSeekMath eq. 4), never negative."""
    logp = _float_array("logp", logp)
    ref_logp = _float_array("ref_logp", ref_logp)
    same_shape(("logp", logp), ("ref_logp", ref_logp))
    return _kl_k3(logp, ref_logp)


@jax.jit
def _kl_k3(logp: jax.Array, ref_logp: jax.Array) -> jax.Array:
    d = ref_logp - logp
    return jnp.maximum(jnp.expm1(d) - d, 0.0)


def grpo_loss(
    logp: jax.Array,
    old_logp: jax.Array,
    ref_logp: jax.Array,
    advantages: jax.Array,
    mask: jax.Array,
    clip_eps: float = 0.2,
    beta: float = 0.04,
    *,
    group_size: int | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """DeepSeekMath eq. 3 as a loss to minimise; see `labs.grpo.grpo_loss` for the definition.

    Args:
        logp, old_logp, ref_logp: (B, T) log-probabilities (only `logp` should carry a gradient).
        advantages: (B,) or (B, T).
        mask: (B, T) bool or 0/1.

    Returns:
        (loss, stats): a scalar and a dict of scalars ("clip_fraction", "kl",
        "zero_adv_fraction", "ratio_mean").
    """
    logp = _float_array("logp", logp)
    if logp.ndim != 2:
        raise ValueError(f"logp must have shape (B, T), got {logp.shape}")
    old_logp = _float_array("old_logp", old_logp)
    ref_logp = _float_array("ref_logp", ref_logp)
    advantages = _float_array("advantages", advantages)
    if not isinstance(mask, jax.Array) and not hasattr(mask, "__array__"):
        raise TypeError(f"mask must be an array, got {type(mask).__name__}")
    mask = jnp.asarray(mask)
    same_shape(("logp", logp), ("old_logp", old_logp), ("ref_logp", ref_logp), ("mask", mask))
    if _concrete(mask) and not np.isin(np.asarray(mask), (0, 1)).all():
        raise ValueError("mask must hold only 0 and 1")
    clip_eps, beta, group_size = check_loss_settings(
        tuple(logp.shape), tuple(advantages.shape), clip_eps, beta, group_size
    )
    return _grpo_loss(
        logp, old_logp, ref_logp, advantages, mask.astype(bool), clip_eps, beta, group_size or 1
    )


@partial(jax.jit, static_argnums=(7,))
def _grpo_loss(logp, old_logp, ref_logp, advantages, mask, clip_eps, beta, group_size):
    adv = advantages[:, None] if advantages.ndim == 1 else advantages
    old_logp = jax.lax.stop_gradient(old_logp)
    ref_logp = jax.lax.stop_gradient(ref_logp)
    adv = jax.lax.stop_gradient(adv)
    ratio = jnp.exp(jnp.where(mask, logp - old_logp, 0.0))
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    surrogate = jnp.minimum(ratio * adv, clipped * adv)
    d = jnp.where(mask, ref_logp - logp, 0.0)
    kl = jnp.maximum(jnp.expm1(d) - d, 0.0)
    per_token = -(surrogate - beta * kl)

    counts = mask.sum(axis=1)
    has_tokens = counts > 0
    n_seq = has_tokens.sum()

    def seq_mean(values):
        per_seq = jnp.where(mask, values, 0.0).sum(axis=1) / jnp.maximum(counts, 1)
        return jnp.where(has_tokens, per_seq, 0.0).sum() / jnp.maximum(n_seq, 1)

    is_clipped = ((adv > 0) & (ratio > 1 + clip_eps)) | ((adv < 0) & (ratio < 1 - clip_eps))
    n_tok = mask.sum()
    safe = jnp.maximum(n_tok, 1)
    zero_seq = jnp.all(adv == 0, axis=1).reshape(-1, group_size)
    stats = {
        "clip_fraction": jax.lax.stop_gradient((is_clipped & mask).sum() / safe),
        "kl": jax.lax.stop_gradient(seq_mean(kl)),
        "zero_adv_fraction": jnp.all(zero_seq, axis=1).mean(),
        "ratio_mean": jax.lax.stop_gradient(jnp.where(mask, ratio, 0.0).sum() / safe),
    }
    return seq_mean(per_token), stats
