"""The three GRPO kernels in PyTorch, differentiable, operation for operation as the NumPy
reference in `labs.grpo.reference` (the parity tests feed all three frameworks the same inputs).

Taught in chapter 5, "The three kernels". Reached as `labs.grpo.torch.grpo_loss` and so on.

Axes: N rewards (n groups of G), B sequences, T tokens.

The checks at the boundary (`labs.grpo.checks`) read values only for CPU tensors, so on a GPU a
call queues its work without waiting for a validation read.
"""

# jaxtyping shape strings ("B T") are not forward references:
from __future__ import annotations

import torch
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
    rewards: torch.Tensor, group_size: int, eps: float = 1e-4, *, scale_by_std: bool = True
) -> torch.Tensor:
    """(r - group mean) / (group std, ddof = 1, + eps); all-equal groups get exactly 0.

    Args:
        rewards: shape (n * group_size,), consecutive runs of `group_size` form a group.
        scale_by_std: False gives rewards minus the group mean (Dr. GRPO); see
            `labs.grpo.group_advantages`.

    Returns:
        Advantages, shape and dtype of `rewards` (no gradient flows to rewards in GRPO, but the
        function is differentiable where the group is not flat).
    """
    rewards, group_size, eps, scale_by_std = check_advantages_args(
        rewards, group_size, eps, scale_by_std, framework="torch"
    )
    return _group_advantages(rewards, group_size, eps, scale_by_std)


def _group_advantages(
    rewards: Float[torch.Tensor, " N"], group_size: int, eps: float, scale_by_std: bool = True
) -> Float[torch.Tensor, " N"]:
    """A_i = (r_i - mean(r)) / (std(r) + eps) within each group (§4.1.2); flat groups get 0."""
    groups = rewards.view(-1, group_size)  # (n, G)
    centred = groups - groups.mean(dim=1, keepdim=True)
    if scale_by_std:
        centred = centred / (groups.std(dim=1, correction=1, keepdim=True) + eps)  # §4.1.2
    flat = groups.amax(dim=1, keepdim=True) == groups.amin(dim=1, keepdim=True)
    adv = torch.where(flat, torch.zeros_like(groups), centred)  # no signal: exactly 0
    return adv.reshape(-1)


def informative_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """True for each group whose rewards are not all equal, shape (n,); see
    `labs.grpo.informative_groups`."""
    rewards, group_size = check_group_args(rewards, group_size, framework="torch")
    return _informative_groups(rewards, group_size)


def _informative_groups(
    rewards: Float[torch.Tensor, " N"], group_size: int
) -> Bool[torch.Tensor, " n"]:
    """max(r) != min(r) within each group of G consecutive rewards."""
    groups = rewards.view(-1, group_size)  # (n, G)
    return groups.amax(dim=1) != groups.amin(dim=1)


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token pi_ref/pi - log(pi_ref/pi) - 1 (DeepSeekMath eq. 4), never negative.

    The log-ratio is capped at MAX_LOG_RATIO = 64, as in the NumPy reference, so the estimate
    never overflows to inf.

    Args:
        logp, ref_logp: log-probabilities of the same tokens, any equal shapes.
    """
    logp, ref_logp = check_kl_args(logp, ref_logp, framework="torch")
    return _kl_k3(logp, ref_logp)


def _kl_k3(
    logp: Float[torch.Tensor, "*S"], ref_logp: Float[torch.Tensor, "*S"]
) -> Float[torch.Tensor, "*S"]:
    """k3 = pi_ref/pi - log(pi_ref/pi) - 1 = expm1(d) - d with d = log(pi_ref/pi)."""
    d = (ref_logp - logp).clamp_max(MAX_LOG_RATIO)
    return (torch.expm1(d) - d).clamp_min(0.0)  # eq. 4


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
    beta: float = 0.04,
    *,
    group_size: int | None = None,
    clip_eps_low: float | None = None,
    clip_eps_high: float | None = None,
    loss_type: str = "grpo",
    max_completion_length: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """DeepSeekMath eq. 3 as a loss to minimise; see `labs.grpo.grpo_loss` for the definition
    and for `loss_type` ("grpo", "bnpo", "dr_grpo", "dapo"), `clip_eps_low`/`clip_eps_high`
    and `max_completion_length`.

    Args:
        logp: (B, T) log pi_theta of the sampled tokens (carries the gradient).
        old_logp, ref_logp: (B, T), treated as constants.
        advantages: (B,) or (B, T).
        mask: (B, T) bool or 0/1.

    Returns:
        (loss, stats): a scalar tensor with a gradient, and a dict of floats ("clip_fraction",
        "kl", "zero_adv_fraction", "ratio_mean").
    """
    args = check_loss_args(
        logp, old_logp, ref_logp, advantages, mask, clip_eps, beta, group_size, framework="torch",
        clip_eps_low=clip_eps_low, clip_eps_high=clip_eps_high, loss_type=loss_type,
        max_completion_length=max_completion_length,
    )  # fmt: skip
    out = _grpo_loss(*args)
    return finite_result("the GRPO loss", out, inputs={"beta": beta, "advantages": advantages})


def _grpo_loss(
    logp: Float[torch.Tensor, "B T"],
    old_logp: Float[torch.Tensor, "B T"],
    ref_logp: Float[torch.Tensor, "B T"],
    advantages: Float[torch.Tensor, " B"] | Float[torch.Tensor, "B T"],
    mask: Bool[torch.Tensor, "B T"],
    clip_low: float,
    clip_high: float,
    beta: float,
    group_size: int | None,
    loss_type: str = "grpo",
    max_len: int | None = None,
) -> tuple[Float[torch.Tensor, ""], dict[str, float]]:
    """-(1/G sum_i 1/|o_i| sum_t [min(rho A, clip(rho) A) - beta k3]), eq. 3, with statistics."""
    old_logp, ref_logp, mask = old_logp.detach(), ref_logp.detach(), mask.bool()
    adv = advantages.detach()
    adv = adv[:, None] if adv.dim() == 1 else adv  # A_i for every token t
    zero = torch.zeros_like(logp)
    log_ratio = (logp - old_logp).clamp_max(MAX_LOG_RATIO)
    ratio = torch.exp(torch.where(mask, log_ratio, zero))  # rho_it
    clipped = ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    surrogate = torch.minimum(ratio * adv, clipped * adv)  # eq. 3, the clipped term
    kl = _kl_k3(torch.where(mask, logp, zero), torch.where(mask, ref_logp, zero))  # eq. 4
    per_token = -(surrogate - beta * kl)  # eq. 3, negated: a loss

    counts = mask.sum(dim=1)  # |o_i|
    has_tokens = counts > 0
    n_seq = has_tokens.sum().clamp_min(1)
    n_tok = mask.sum().clamp_min(1)

    def seq_mean(values: Float[torch.Tensor, "B T"]) -> Float[torch.Tensor, ""]:  # "grpo"
        per_seq = torch.where(mask, values, zero).sum(dim=1) / counts.clamp_min(1)
        return torch.where(has_tokens, per_seq, 0.0).sum() / n_seq

    def token_mean(values: Float[torch.Tensor, "B T"]) -> Float[torch.Tensor, ""]:  # "bnpo"
        return torch.where(mask, values, zero).sum() / n_tok

    if loss_type == "grpo":
        loss = seq_mean(per_token)
    elif loss_type == "dr_grpo":  # a constant divisor: B * max_completion_length
        loss = torch.where(mask, per_token, zero).sum() / (
            mask.shape[0] * (max_len or mask.shape[1])
        )
    else:
        loss = token_mean(per_token)
    with torch.no_grad():
        is_clipped = ((adv > 0) & (ratio > 1 + clip_high)) | ((adv < 0) & (ratio < 1 - clip_low))
        zero_seq = (adv == 0).all(dim=1).view(-1, group_size or 1)
        stats = {
            "clip_fraction": float((is_clipped & mask).sum().double() / n_tok),
            "kl": float(seq_mean(kl) if loss_type == "grpo" else token_mean(kl)),
            "zero_adv_fraction": float(zero_seq.all(dim=1).float().mean()),
            "ratio_mean": float(torch.where(mask, ratio, zero).sum().double() / n_tok),
        }
    return loss, stats
