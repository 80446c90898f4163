"""The three GRPO kernels in NumPy: the reference the PyTorch and JAX kernels are tested against.

Taught in chapter 5, "The three kernels" (and "The k3 estimator, and why the KL sits in the
loss"). Equation numbers follow DeepSeekMath (Shao et al., 2024), §4.1.

Axes: N rewards (n groups of G), G answers per group, B sequences, T tokens.

The variants public projects call "GRPO" are keywords of the same two kernels: `loss_type`
("grpo": eq. 3; "bnpo"/"dapo": DAPO's token-level mean, Yu et al. 2025; "dr_grpo": a constant
divisor, Liu et al. 2025), `clip_eps_low`/`clip_eps_high` (DAPO's clip-higher) and
`scale_by_std=False` (Dr. GRPO's advantages), defined as TRL documents them (TRL names the
last two `epsilon`/`epsilon_high` and `scale_rewards`).

Numerical traps, handled here and in both frameworks the same way:

* a group whose rewards are all equal has standard deviation 0: its advantages are exactly 0
  (it carries no learning signal), never NaN;
* a sequence with no unmasked token is left out of the average over sequences; when no sequence
  has a token, the loss is 0;
* masked positions never enter a sum, so padding may hold any finite value;
* advantages above 1e4 in magnitude are refused (checked on the host): with the ratio at its cap
  below, such a value could overflow a float32 sum, and one near float64's maximum overflows
  even there;
* log-ratios are capped at MAX_LOG_RATIO = 64 before exp(): e^64 ~ 6e27 stays finite in float32
  (and bfloat16) even summed over 10^10 tokens, so neither the ratio rho nor k3 overflows to inf
  (and then NaN) in any framework, while no sampled token comes near such a gap in practice.
"""

# jaxtyping shape strings ("B T") are not forward references:
from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Float

from labs.grpo.checks import (
    check_advantages_args,
    check_group_args,
    check_kl_args,
    check_loss_args,
)

__all__ = ["MAX_LOG_RATIO", "group_advantages", "grpo_loss", "informative_groups", "kl_k3"]

MAX_LOG_RATIO = 64.0


def group_advantages(
    rewards, group_size: int, eps: float = 1e-4, *, scale_by_std: bool = True
) -> np.ndarray:
    """Outcome-supervision advantages: (r - group mean) / (group std + eps), NumPy reference.

    Args:
        rewards: 1-D float array of length n * group_size; each run of `group_size` consecutive
            rewards is one group (the outputs sampled for one question).
        group_size: G >= 2 (the sample standard deviation, ddof = 1, needs two values; the
            paper writes only std(r), so ddof = 1 is this course's choice, as torch.std's default).
        eps: small positive number added to the standard deviation.
        scale_by_std: True divides by the group's std (DeepSeekMath §4.1.2); False gives the
            rewards minus the group mean (Dr. GRPO, Liu et al. 2025, which shows the division
            weights questions by their difficulty). `eps` is then unused.

    Returns:
        Advantages, same shape and dtype as `rewards`. A group whose rewards are all equal gets
        exactly 0.
    """
    rewards, group_size, eps, scale_by_std = check_advantages_args(
        rewards, group_size, eps, scale_by_std, framework="numpy"
    )
    return _group_advantages(rewards, group_size, eps, scale_by_std)


def _group_advantages(
    rewards: Float[np.ndarray, " N"], group_size: int, eps: float, scale_by_std: bool = True
) -> Float[np.ndarray, " N"]:
    """A_i = (r_i - mean(r)) / (std(r) + eps) within each group (§4.1.2); flat groups get 0."""
    groups = rewards.reshape(-1, group_size)  # (n, G)
    centred = groups - groups.mean(axis=1, keepdims=True)
    if scale_by_std:
        centred = centred / (groups.std(axis=1, ddof=1, keepdims=True) + eps)  # §4.1.2
    flat = groups.max(axis=1, keepdims=True) == groups.min(axis=1, keepdims=True)
    adv = np.where(flat, 0.0, centred)  # a flat group carries no signal: exactly 0
    return adv.reshape(-1).astype(rewards.dtype, copy=False)


def informative_groups(rewards, group_size: int) -> np.ndarray:
    """Which groups carry a learning signal: True where a group's rewards are not all equal.

    A flat group (every answer right, or every answer wrong) gets advantage 0 for every member,
    with or without the std division, so it adds nothing to the policy gradient. The share of
    False is the zero-advantage fraction the training loop logs; DAPO's dynamic sampling keeps
    only the True groups (Yu et al. 2025, §3.2).

    Args:
        rewards: 1-D float array of length n * group_size, consecutive runs forming groups.
        group_size: G >= 2.

    Returns:
        Boolean array of shape (n,).
    """
    rewards, group_size = check_group_args(rewards, group_size, framework="numpy")
    return _informative_groups(rewards, group_size)


def _informative_groups(
    rewards: Float[np.ndarray, " N"], group_size: int
) -> Bool[np.ndarray, " n"]:
    """max(r) != min(r) within each group of G consecutive rewards."""
    groups = rewards.reshape(-1, group_size)  # (n, G)
    return groups.max(axis=1) != groups.min(axis=1)


def kl_k3(logp, ref_logp) -> np.ndarray:
    """Per-token KL estimator pi_ref/pi - log(pi_ref/pi) - 1 from log-probabilities (eq. 4).

    With d = ref_logp - logp this is exp(d) - d - 1 >= 0, computed as expm1(d) - d (no
    cancellation when d is small) and clipped at 0 against rounding; d is capped at
    MAX_LOG_RATIO = 64 so the estimate never overflows to inf. Its expectation under pi is
    KL(pi || pi_ref).

    Args:
        logp: log pi_theta of the sampled tokens, float array of any shape.
        ref_logp: log pi_ref of the same tokens, same shape.

    Returns:
        The estimate per token, same shape as `logp`.
    """
    logp, ref_logp = check_kl_args(logp, ref_logp, framework="numpy")
    return _kl_k3(logp, ref_logp)


def _kl_k3(
    logp: Float[np.ndarray, "*S"], ref_logp: Float[np.ndarray, "*S"]
) -> Float[np.ndarray, "*S"]:
    """k3 = pi_ref/pi - log(pi_ref/pi) - 1 = expm1(d) - d with d = log(pi_ref/pi)."""
    d = np.minimum(ref_logp - logp, MAX_LOG_RATIO)
    return np.maximum(np.expm1(d) - d, 0.0)  # eq. 4


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
    clip_eps_low: float | None = None,
    clip_eps_high: float | None = None,
    loss_type: str = "grpo",
    max_completion_length: int | None = None,
) -> tuple[float, dict[str, float]]:
    """DeepSeekMath eq. 3 as a loss to minimise, NumPy reference.

    Per token: -(min(rho A, clip(rho, 1 - clip_eps_low, 1 + clip_eps_high) A) - beta * k3),
    with rho = exp(logp - old_logp). How the per-token terms are averaged is `loss_type`, with
    the definitions TRL documents:

    * "grpo" (DeepSeekMath eq. 3, the default): over each sequence's unmasked tokens, then over
      the sequences that have at least one unmasked token (0 if none has);
    * "bnpo" and "dapo" (DAPO's token-level loss): over all unmasked tokens of the batch, so a
      long answer weighs in proportion to its length (0 if there is no token). TRL's "dapo"
      divides by the tokens of the whole accumulated global batch; in one process with one
      batch that is this batch, the same number as "bnpo";
    * "dr_grpo" (Dr. GRPO): the sum over unmasked tokens divided by B * max_completion_length,
      a constant, so neither length nor batch composition rescales a token's gradient.

    Args:
        logp, old_logp, ref_logp: log-probabilities of the sampled tokens under the current, the
            sampling and the reference policy, shape (B, T).
        advantages: shape (B,) (one per sequence, as in outcome supervision) or (B, T), at most
            1e4 in magnitude (group advantages stay below sqrt(G); larger values could overflow
            the sums to inf - inf = NaN).
        mask: shape (B, T), 1 for completion tokens, 0 for padding (bool or 0/1 numbers).
        clip_eps: the PPO clip range, > 0.
        beta: KL coefficient, >= 0.
        group_size: if given, the zero-advantage statistic counts groups of this many consecutive
            sequences; otherwise it counts single sequences.
        clip_eps_low, clip_eps_high: the clip range below and above 1 (DAPO's clip-higher uses a
            larger `clip_eps_high`); each defaults to `clip_eps`.
        loss_type: "grpo", "bnpo", "dr_grpo" or "dapo" (above).
        max_completion_length: the constant "dr_grpo" divides by (with B), an integer >= T and
            <= 2^20; None uses T. Other loss types ignore it.

    Returns:
        (loss, stats) with stats keys "clip_fraction" (share of unmasked tokens whose clipped term
        is the active one, i.e. carry no gradient), "kl" (mean k3: per sequence then over
        sequences for "grpo", over all unmasked tokens otherwise), "zero_adv_fraction" (share of
        groups whose advantages are all 0), "ratio_mean".
    """
    args = check_loss_args(
        logp, old_logp, ref_logp, advantages, mask, clip_eps, beta, group_size, framework="numpy",
        clip_eps_low=clip_eps_low, clip_eps_high=clip_eps_high, loss_type=loss_type,
        max_completion_length=max_completion_length,
    )  # fmt: skip
    return _grpo_loss(*args)


def _grpo_loss(
    logp: Float[np.ndarray, "B T"],
    old_logp: Float[np.ndarray, "B T"],
    ref_logp: Float[np.ndarray, "B T"],
    advantages: Float[np.ndarray, " B"] | Float[np.ndarray, "B T"],
    mask: Bool[np.ndarray, "B T"],
    clip_low: float,
    clip_high: float,
    beta: float,
    group_size: int | None,
    loss_type: str = "grpo",
    max_len: int | None = None,
) -> tuple[float, dict[str, float]]:
    """-(1/G sum_i 1/|o_i| sum_t [min(rho A, clip(rho) A) - beta k3]), eq. 3, with statistics."""
    mask = mask.astype(bool)
    adv = advantages[:, None] if advantages.ndim == 1 else advantages  # A_i for every token t
    ratio = np.exp(np.where(mask, np.minimum(logp - old_logp, MAX_LOG_RATIO), 0.0))  # rho_it
    clipped = np.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)
    surrogate = np.minimum(ratio * adv, clipped * adv)  # eq. 3, the clipped term
    kl = _kl_k3(np.where(mask, logp, 0.0), np.where(mask, ref_logp, 0.0))  # eq. 4
    per_token = -(surrogate - beta * kl)  # eq. 3, negated: a loss

    counts = mask.sum(axis=1)  # |o_i|
    has_tokens = counts > 0
    n_seq = int(has_tokens.sum())
    n_tok = int(mask.sum())

    def seq_mean(values: Float[np.ndarray, "B T"]) -> float:  # "grpo": eq. 3's 1/G sum 1/|o_i|
        if n_seq == 0:
            return 0.0
        per_seq = np.where(mask, values, 0.0).sum(axis=1) / np.maximum(counts, 1)
        return float(per_seq[has_tokens].sum() / n_seq)

    def token_mean(values: Float[np.ndarray, "B T"]) -> float:  # "bnpo", "dapo"
        return float(np.where(mask, values, 0.0).sum() / n_tok) if n_tok else 0.0

    if loss_type == "grpo":
        loss = seq_mean(per_token)
    elif loss_type == "dr_grpo":  # a constant divisor: B * max_completion_length
        loss = float(
            np.where(mask, per_token, 0.0).sum() / (mask.shape[0] * (max_len or mask.shape[1]))
        )
    else:
        loss = token_mean(per_token)
    is_clipped = ((adv > 0) & (ratio > 1 + clip_high)) | ((adv < 0) & (ratio < 1 - clip_low))
    zero_seq = np.all(adv == 0, axis=1).reshape(-1, group_size or 1)
    stats = {
        "clip_fraction": token_mean(is_clipped.astype(float)),
        "kl": seq_mean(kl) if loss_type == "grpo" else token_mean(kl),
        "zero_adv_fraction": float(np.all(zero_seq, axis=1).mean()),
        "ratio_mean": token_mean(ratio),
    }
    return loss, stats
