"""Chapter 5 in JAX: the three GRPO kernels as pure, jit-compiled, differentiable functions.

Taught in chapter 5, "The three kernels". They follow the NumPy reference in
`labs.grpo.reference` operation for operation. Arguments are checked in Python with the checks
the NumPy and PyTorch paths share (shapes and dtypes are static under jit; values are read only
when they are concrete and on the host) before the compiled core runs; `jax.grad` of
`grpo_loss(...)[0]` with respect to `logp` gives the policy gradient of eq. 3.

Axes: N rewards (n groups of G), B sequences, T tokens.
"""

# jaxtyping shape strings ("B T") are not forward references:
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jaxtyping import Bool, Float

from labs.common.validate import finite_result
from labs.grpo.checks import (
    check_advantages_args,
    check_group_args,
    check_kl_args,
    check_loss_args,
)
from labs.grpo.reference import MAX_LOG_RATIO

__all__ = ["group_advantages", "grpo_loss", "informative_groups", "kl_k3"]


def group_advantages(
    rewards: jax.Array, group_size: int, eps: float = 1e-4, *, scale_by_std: bool = True
) -> jax.Array:
    """(r - group mean) / (group std, ddof = 1, + eps); all-equal groups get exactly 0.

    Args:
        rewards: shape (n * group_size,); consecutive runs of `group_size` form a group.
        scale_by_std: False gives rewards minus the group mean (Dr. GRPO); see
            `labs.grpo.group_advantages`.

    Returns:
        Advantages, shape and dtype of `rewards`.
    """
    rewards, group_size, eps, scale_by_std = check_advantages_args(
        rewards, group_size, eps, scale_by_std, framework="jax"
    )
    return _group_advantages(jnp.asarray(rewards), group_size, eps, scale_by_std)


@partial(jax.jit, static_argnums=(1, 3))
def _group_advantages(
    rewards: Float[jax.Array, " N"], group_size: int, eps: float, scale_by_std: bool = True
) -> Float[jax.Array, " N"]:
    """A_i = (r_i - mean(r)) / (std(r) + eps) within each group (§4.1.2); flat groups get 0."""
    groups = rewards.reshape(-1, group_size)  # (n, G)
    centred = groups - groups.mean(axis=1, keepdims=True)
    if scale_by_std:
        centred = centred / (groups.std(axis=1, ddof=1, keepdims=True) + eps)  # §4.1.2
    flat = groups.max(axis=1, keepdims=True) == groups.min(axis=1, keepdims=True)
    # where() picks 0 for flat groups; 0 / eps there is finite, so no NaN reaches the gradient.
    return jnp.where(flat, 0.0, centred).reshape(-1).astype(rewards.dtype)


def informative_groups(rewards: jax.Array, group_size: int) -> jax.Array:
    """True for each group whose rewards are not all equal, shape (n,); see
    `labs.grpo.informative_groups`."""
    rewards, group_size = check_group_args(rewards, group_size, framework="jax")
    return _informative_groups(jnp.asarray(rewards), group_size)


@partial(jax.jit, static_argnums=(1,))
def _informative_groups(rewards: Float[jax.Array, " N"], group_size: int) -> Bool[jax.Array, " n"]:
    """max(r) != min(r) within each group of G consecutive rewards."""
    groups = rewards.reshape(-1, group_size)  # (n, G)
    return groups.max(axis=1) != groups.min(axis=1)


def kl_k3(logp: jax.Array, ref_logp: jax.Array) -> jax.Array:
    """Per-token pi_ref/pi - log(pi_ref/pi) - 1 (DeepSeekMath eq. 4), never negative.

    The log-ratio is capped at MAX_LOG_RATIO = 64, as in the NumPy reference.
    """
    logp, ref_logp = check_kl_args(logp, ref_logp, framework="jax")
    return _kl_k3(jnp.asarray(logp), jnp.asarray(ref_logp))


@jax.jit
def _kl_k3(
    logp: Float[jax.Array, "*S"], ref_logp: Float[jax.Array, "*S"]
) -> Float[jax.Array, "*S"]:
    """k3 = pi_ref/pi - log(pi_ref/pi) - 1 = expm1(d) - d with d = log(pi_ref/pi)."""
    d = jnp.minimum(ref_logp - logp, MAX_LOG_RATIO)
    return jnp.maximum(jnp.expm1(d) - d, 0.0)  # eq. 4


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
    clip_eps_low: float | None = None,
    clip_eps_high: float | None = None,
    loss_type: str = "grpo",
    max_completion_length: int | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """DeepSeekMath eq. 3 as a loss to minimise; see `labs.grpo.grpo_loss` for the definition
    and for `loss_type` ("grpo", "bnpo", "dr_grpo", "dapo"), `clip_eps_low`/`clip_eps_high`
    and `max_completion_length`.

    Args:
        logp, old_logp, ref_logp: (B, T) log-probabilities (only `logp` should carry a gradient).
        advantages: (B,) or (B, T).
        mask: (B, T) bool or 0/1.

    Returns:
        (loss, stats): a scalar and a dict of scalars ("clip_fraction", "kl",
        "zero_adv_fraction", "ratio_mean").
    """
    checked = check_loss_args(
        logp, old_logp, ref_logp, advantages, mask, clip_eps, beta, group_size, framework="jax",
        clip_eps_low=clip_eps_low, clip_eps_high=clip_eps_high, loss_type=loss_type,
        max_completion_length=max_completion_length,
    )  # fmt: skip
    arrays = (jnp.asarray(a) for a in checked[:4])
    mask = jnp.asarray(checked[4]).astype(bool)
    clip_low, clip_high, beta, group_size, loss_type, max_len = checked[5:]
    out = _grpo_loss(*arrays, mask, clip_low, clip_high, beta, group_size or 1, loss_type, max_len)
    return finite_result("the GRPO loss", out, inputs={"beta": beta, "advantages": advantages})


@partial(jax.jit, static_argnums=(8, 9, 10))
def _grpo_loss(
    logp: Float[jax.Array, "B T"],
    old_logp: Float[jax.Array, "B T"],
    ref_logp: Float[jax.Array, "B T"],
    advantages: Float[jax.Array, " B"] | Float[jax.Array, "B T"],
    mask: Bool[jax.Array, "B T"],
    clip_low: float,
    clip_high: float,
    beta: float,
    group_size: int,
    loss_type: str = "grpo",
    max_len: int | None = None,
) -> tuple[Float[jax.Array, ""], dict[str, Float[jax.Array, ""]]]:
    """-(1/G sum_i 1/|o_i| sum_t [min(rho A, clip(rho) A) - beta k3]), eq. 3, with statistics."""
    adv = advantages[:, None] if advantages.ndim == 1 else advantages  # A_i for every token t
    old_logp = jax.lax.stop_gradient(old_logp)
    ref_logp = jax.lax.stop_gradient(ref_logp)
    adv = jax.lax.stop_gradient(adv)
    log_ratio = jnp.minimum(logp - old_logp, MAX_LOG_RATIO)
    ratio = jnp.exp(jnp.where(mask, log_ratio, 0.0))  # rho_it
    clipped = jnp.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)
    surrogate = jnp.minimum(ratio * adv, clipped * adv)  # eq. 3, the clipped term
    kl = _kl_k3(jnp.where(mask, logp, 0.0), jnp.where(mask, ref_logp, 0.0))  # eq. 4
    per_token = -(surrogate - beta * kl)  # eq. 3, negated: a loss

    counts = mask.sum(axis=1)  # |o_i|
    has_tokens = counts > 0
    n_seq = has_tokens.sum()
    n_tok = jnp.maximum(mask.sum(), 1)

    def seq_mean(values: Float[jax.Array, "B T"]) -> Float[jax.Array, ""]:  # "grpo"
        per_seq = jnp.where(mask, values, 0.0).sum(axis=1) / jnp.maximum(counts, 1)
        return jnp.where(has_tokens, per_seq, 0.0).sum() / jnp.maximum(n_seq, 1)

    def token_mean(values: Float[jax.Array, "B T"]) -> Float[jax.Array, ""]:  # "bnpo", "dapo"
        return jnp.where(mask, values, 0.0).sum() / n_tok

    if loss_type == "grpo":  # static: one branch is traced
        loss = seq_mean(per_token)
    elif loss_type == "dr_grpo":  # a constant divisor: B * max_completion_length
        loss = jnp.where(mask, per_token, 0.0).sum() / (mask.shape[0] * (max_len or mask.shape[1]))
    else:
        loss = token_mean(per_token)
    is_clipped = ((adv > 0) & (ratio > 1 + clip_high)) | ((adv < 0) & (ratio < 1 - clip_low))
    zero_seq = jnp.all(adv == 0, axis=1).reshape(-1, group_size)
    stats = {
        "clip_fraction": jax.lax.stop_gradient((is_clipped & mask).sum() / n_tok),
        "kl": jax.lax.stop_gradient(seq_mean(kl) if loss_type == "grpo" else token_mean(kl)),
        "zero_adv_fraction": jnp.all(zero_seq, axis=1).mean(),
        "ratio_mean": jax.lax.stop_gradient(jnp.where(mask, ratio, 0.0).sum() / n_tok),
    }
    return loss, stats
