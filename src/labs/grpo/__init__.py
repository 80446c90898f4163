"""Chapter 5, GRPO: reinforcement learning with verifiable rewards and no critic.

Framework-free: the NumPy reference of the three GRPO kernels lives here; `labs.grpo.torch` and
`labs.grpo.jax` hold the same kernels, differentiable, and a parity test feeds all three the same
inputs. Equation numbers follow DeepSeekMath (Shao et al., 2024), §4.1.

Group Relative Policy Optimization samples a group of G outputs o_1..o_G for each question q,
scores each with a reward r_i, and uses the group as its own baseline (outcome supervision):

    A_i = (r_i - mean(r)) / std(r)                                            (§4.1.2)

for every token of o_i. No value network is trained. The policy maximises (eq. 3)

    1/G sum_i 1/|o_i| sum_t { min(rho_it A_i, clip(rho_it, 1 - eps, 1 + eps) A_i)
                              - beta D_KL[pi_theta || pi_ref] }

with rho_it = pi_theta(o_it | q, o_i,<t) / pi_old(o_it | q, o_i,<t), and the KL estimated per
token by the unbiased, never-negative estimator (eq. 4)

    D_KL = pi_ref / pi_theta - log(pi_ref / pi_theta) - 1.

Numerical traps, handled here and in both frameworks the same way:

* a group whose rewards are all equal has standard deviation 0: its advantages are exactly 0
  (it carries no learning signal), never NaN;
* a sequence with no unmasked token is left out of the average over sequences; when no sequence
  has a token, the loss is 0;
* masked positions never enter a sum, so padding may hold any finite value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labs.common.facts import fact
from labs.common.validate import float_array, integer, one_of, real_number, same_shape

__all__ = [
    "GRPOConfig",
    "PPOConfig",
    "group_advantages",
    "grpo_loss",
    "kl_k3",
    "rl_memory_bytes",
]


REWARDS = ("correct_and_format", "format_only")


@dataclass(frozen=True)
class GRPOConfig:
    """Settings of a GRPO run on the toy task (defaults sized for a laptop CPU).

    Each step samples `group_size` completions for each of `prompts_per_step` training prompts,
    scores them with the rule-based reward and takes `updates_per_batch` optimiser steps (one, as
    in DeepSeekMath, makes pi_old the current policy). `reward` is "correct_and_format" (the task's
    reward) or "format_only" (checks only the format: the reward-hacking demonstration).
    """

    steps: int = 100
    prompts_per_step: int = 16
    group_size: int = 8
    lr: float = 5e-4
    clip_eps: float = 0.2
    beta: float = 0.04
    adv_eps: float = 1e-4
    temperature: float = 1.0
    format_weight: float = 0.1
    reward: str = "correct_and_format"
    updates_per_batch: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        integer("steps", self.steps, minimum=1)
        integer("prompts_per_step", self.prompts_per_step, minimum=1)
        integer("group_size", self.group_size, minimum=2)
        integer("updates_per_batch", self.updates_per_batch, minimum=1)
        integer("seed", self.seed, minimum=0)
        for name in ("lr", "clip_eps", "adv_eps", "temperature"):
            real_number(name, getattr(self, name), positive=True)
        for name in ("beta", "format_weight"):
            real_number(name, getattr(self, name), nonnegative=True)
        one_of("reward", self.reward, REWARDS)

    @property
    def samples_per_step(self) -> int:
        return self.prompts_per_step * self.group_size


@dataclass(frozen=True)
class PPOConfig(GRPOConfig):
    """PPO with a critic on the same budget: each step samples `samples_per_step` completions,
    one per prompt, so GRPO and PPO see as many completions. The KL penalty sits in the reward
    (DeepSeekMath eq. 2), advantages come from GAE over the critic's values."""

    critic_lr: float = 1e-3
    gamma: float = 1.0
    gae_lambda: float = 0.95

    def __post_init__(self) -> None:
        super().__post_init__()
        real_number("critic_lr", self.critic_lr, positive=True)
        for name in ("gamma", "gae_lambda"):
            value = real_number(name, getattr(self, name))
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")


def group_advantages(rewards, group_size: int, eps: float = 1e-4) -> np.ndarray:
    """Outcome-supervision advantages: (r - group mean) / (group std + eps), NumPy reference.

    Args:
        rewards: 1-D float array of length n * group_size; each run of `group_size` consecutive
            rewards is one group (the outputs sampled for one question).
        group_size: G >= 2 (the sample standard deviation, ddof = 1, needs two values).
        eps: small positive number added to the standard deviation.

    Returns:
        Advantages, same shape and dtype as `rewards`. A group whose rewards are all equal gets
        exactly 0.

    Raises:
        TypeError: rewards are not floating point, or group_size is not an int.
        ValueError: rewards are not 1-D or not finite, len(rewards) is not a multiple of
            group_size, group_size < 2, or eps <= 0.
    """
    rewards = float_array("rewards", rewards, min_ndim=1)
    if rewards.ndim != 1:
        raise ValueError(f"rewards must be 1-D, got shape {rewards.shape}")
    group_size = integer("group_size", group_size, minimum=2)
    eps = real_number("eps", eps, positive=True)
    if rewards.size % group_size:
        raise ValueError(
            f"len(rewards) must be a multiple of group_size={group_size}, got {rewards.size}"
        )
    groups = rewards.reshape(-1, group_size)
    centred = groups - groups.mean(axis=1, keepdims=True)
    std = groups.std(axis=1, ddof=1, keepdims=True)
    flat = groups.max(axis=1, keepdims=True) == groups.min(axis=1, keepdims=True)
    adv = np.where(flat, 0.0, centred / (std + eps))
    return adv.reshape(-1).astype(rewards.dtype, copy=False)


def kl_k3(logp, ref_logp) -> np.ndarray:
    """Per-token KL estimator pi_ref/pi - log(pi_ref/pi) - 1 from log-probabilities (eq. 4).

    With d = ref_logp - logp this is exp(d) - d - 1 >= 0, computed as expm1(d) - d (no
    cancellation when d is small) and clipped at 0 against rounding. Its expectation under pi is
    KL(pi || pi_ref).

    Args:
        logp: log pi_theta of the sampled tokens, float array of any shape.
        ref_logp: log pi_ref of the same tokens, same shape.

    Returns:
        The estimate per token, same shape as `logp`.
    """
    logp = float_array("logp", logp)
    ref_logp = float_array("ref_logp", ref_logp)
    same_shape(("logp", logp), ("ref_logp", ref_logp))
    d = ref_logp - logp
    with np.errstate(over="ignore"):
        return np.maximum(np.expm1(d) - d, 0.0)


def grpo_loss(
    logp,
    old_logp,
    ref_logp,
    advantages,
    mask,
    clip_eps: float = 0.2,
    beta: float = 0.04,
    *,
    group_size: int | None = None,
) -> tuple[float, dict[str, float]]:
    """DeepSeekMath eq. 3 as a loss to minimise, NumPy reference.

    Per token: -(min(rho A, clip(rho, 1 - clip_eps, 1 + clip_eps) A) - beta * k3), with
    rho = exp(logp - old_logp); averaged over each sequence's unmasked tokens, then over the
    sequences that have at least one unmasked token (0 if none has).

    Args:
        logp, old_logp, ref_logp: log-probabilities of the sampled tokens under the current, the
            sampling and the reference policy, shape (B, T).
        advantages: shape (B,) (one per sequence, as in outcome supervision) or (B, T).
        mask: shape (B, T), 1 for completion tokens, 0 for padding (bool or 0/1 numbers).
        clip_eps: the PPO clip range, > 0.
        beta: KL coefficient, >= 0.
        group_size: if given, the zero-advantage statistic counts groups of this many consecutive
            sequences; otherwise it counts single sequences.

    Returns:
        (loss, stats) with stats keys "clip_fraction" (share of unmasked tokens whose clipped term
        is the active one, i.e. carry no gradient), "kl" (mean k3, averaged like the loss),
        "zero_adv_fraction" (share of groups whose advantages are all 0), "ratio_mean".
    """
    logp, old_logp, ref_logp, advantages, mask, clip_eps, beta, group_size = _check_loss_args(
        logp, old_logp, ref_logp, advantages, mask, clip_eps, beta, group_size
    )
    adv = advantages[:, None] if advantages.ndim == 1 else advantages
    ratio = np.exp(np.where(mask, logp - old_logp, 0.0))
    clipped = np.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    surrogate = np.minimum(ratio * adv, clipped * adv)
    kl = kl_k3(np.where(mask, logp, 0.0), np.where(mask, ref_logp, 0.0))
    per_token = -(surrogate - beta * kl)

    counts = mask.sum(axis=1)
    has_tokens = counts > 0
    n_seq = int(has_tokens.sum())

    def seq_mean(values: np.ndarray) -> float:
        if n_seq == 0:
            return 0.0
        per_seq = np.where(mask, values, 0.0).sum(axis=1) / np.maximum(counts, 1)
        return float(per_seq[has_tokens].sum() / n_seq)

    is_clipped = ((adv > 0) & (ratio > 1 + clip_eps)) | ((adv < 0) & (ratio < 1 - clip_eps))
    n_tok = int(mask.sum())
    stats = {
        "clip_fraction": float(np.where(mask, is_clipped, False).sum() / n_tok) if n_tok else 0.0,
        "kl": seq_mean(kl),
        "zero_adv_fraction": _zero_adv_fraction(adv, group_size),
        "ratio_mean": float(np.where(mask, ratio, 0.0).sum() / n_tok) if n_tok else 0.0,
    }
    return seq_mean(per_token), stats


def _zero_adv_fraction(adv: np.ndarray, group_size: int | None) -> float:
    zero_seq = np.all(adv == 0, axis=1)
    size = group_size or 1
    return float(np.all(zero_seq.reshape(-1, size), axis=1).mean())


def check_loss_settings(logp_shape, advantages_shape, clip_eps, beta, group_size):
    """Validate the shape of `advantages` and the scalar settings of `grpo_loss`.

    Shared by the NumPy, PyTorch and JAX losses, so all three reject the same inputs with the
    same messages. Returns (clip_eps, beta, group_size) as float, float, int or None.
    """
    logp_shape, advantages_shape = tuple(logp_shape), tuple(advantages_shape)
    if advantages_shape not in (logp_shape[:1], logp_shape):
        raise ValueError(
            f"advantages must have shape {logp_shape[:1]} or {logp_shape}, got {advantages_shape}"
        )
    clip_eps = real_number("clip_eps", clip_eps, positive=True)
    beta = real_number("beta", beta, nonnegative=True)
    if group_size is not None:
        group_size = integer("group_size", group_size, minimum=1)
        if logp_shape[0] % group_size:
            raise ValueError(
                f"the batch size {logp_shape[0]} must be a multiple of group_size={group_size}"
            )
    return clip_eps, beta, group_size


def _check_loss_args(logp, old_logp, ref_logp, advantages, mask, clip_eps, beta, group_size):
    logp = float_array("logp", logp)
    if logp.ndim != 2:
        raise ValueError(f"logp must have shape (B, T), got {logp.shape}")
    old_logp = float_array("old_logp", old_logp)
    ref_logp = float_array("ref_logp", ref_logp)
    advantages = float_array("advantages", advantages)
    mask = np.asarray(mask)
    if mask.dtype.kind not in "biuf":
        raise TypeError(f"mask must hold booleans or 0/1 numbers, got dtype {mask.dtype}")
    same_shape(("logp", logp), ("old_logp", old_logp), ("ref_logp", ref_logp), ("mask", mask))
    if not np.isin(mask, (0, 1)).all():
        raise ValueError("mask must hold only 0 and 1")
    clip_eps, beta, group_size = check_loss_settings(
        tuple(logp.shape), tuple(advantages.shape), clip_eps, beta, group_size
    )
    return logp, old_logp, ref_logp, advantages, mask.astype(bool), clip_eps, beta, group_size


# --- Memory of an RL step, from parameter counts ----------------------------------------------


def rl_memory_bytes(
    policy_params: float,
    *,
    critic_params: float = 0.0,
    reward_model_params: float = 0.0,
    trained_bytes: float | None = None,
    frozen_bytes: float | None = None,
) -> dict[str, float]:
    """Model-state memory of an RL step (activations excluded), in bytes.

    A trained model (the policy, and PPO's critic) costs `trained_bytes` per parameter (weights,
    gradients, optimiser state; default: mixed-precision Adam, 16 bytes, as counted by ZeRO §3.1);
    a frozen one (the reference policy and a reward model) costs `frozen_bytes` (default: 2, bf16
    weights only). Both defaults come from the facts registry.

    Returns a dict: "policy", "reference", "critic", "reward_model", "total".
    """
    policy_params = real_number("policy_params", policy_params, positive=True)
    critic_params = real_number("critic_params", critic_params, nonnegative=True)
    reward_model_params = real_number("reward_model_params", reward_model_params, nonnegative=True)
    if trained_bytes is None:
        trained_bytes = fact("grpo_mixed_adam_bytes_per_param").value
    if frozen_bytes is None:
        frozen_bytes = fact("grpo_bf16_bytes_per_param").value
    trained_bytes = real_number("trained_bytes", trained_bytes, positive=True)
    frozen_bytes = real_number("frozen_bytes", frozen_bytes, positive=True)
    out = {
        "policy": policy_params * trained_bytes,
        "reference": policy_params * frozen_bytes,
        "critic": critic_params * trained_bytes,
        "reward_model": reward_model_params * frozen_bytes,
    }
    out["total"] = sum(out.values())
    return out
