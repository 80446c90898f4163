"""Chapter 5's argument checks for the kernels: group advantages, the k3 KL estimate, the GRPO
loss (with its loss types) and pass@k / maj@k, written once for the NumPy, PyTorch and JAX entry
points. Each public kernel calls one of these at its boundary, then runs a bare kernel that does
no checking. Errors name the parameter, what was expected and what came, with the same words in
every framework.

Taught in chapter 5, "The three kernels", "The k3 estimator, and why the KL sits in the loss"
and "pass@k and maj@k: what RL changes".

Helpers of the public API, not part of it: `__all__` is empty, and the hostile-input suite
attacks them through the entry points that call them. `labs.grpo.checks` re-exports every name.
"""

from __future__ import annotations

import numpy as np

from labs.common.validate import (
    array,
    boolean,
    integer,
    one_of,
    real_number,
    same_shape,
    size,
)
from labs.grpo.checks_base import (
    LOSS_TYPES,
    MAX_ADVANTAGE,
    MAX_COMPLETION,
    host_values,
    mask_array,
    same_device,
)

__all__: list[str] = []

# --- The three kernels ---------------------------------------------------------------------------


def check_group_args(rewards, group_size, *, framework: str):
    """Checked (rewards, group_size): a 1-D float array of whole groups of `group_size` >= 2."""
    rewards = array("rewards", rewards, framework=framework)
    if rewards.ndim != 1:
        raise ValueError(f"rewards must be 1-D, got shape {tuple(rewards.shape)}")
    group_size = integer("group_size", group_size, minimum=2)
    n = int(rewards.shape[0])
    if n % group_size:
        raise ValueError(f"len(rewards) must be a multiple of group_size={group_size}, got {n}")
    return rewards, group_size


def check_advantages_args(rewards, group_size, eps, scale_by_std=True, *, framework: str):
    """Checked (rewards, group_size, eps, scale_by_std) of `group_advantages`, for any framework."""
    rewards, group_size = check_group_args(rewards, group_size, framework=framework)
    eps = real_number("eps", eps, positive=True)
    scale_by_std = boolean("scale_by_std", scale_by_std)
    return rewards, group_size, eps, scale_by_std


def check_at_k_args(values, k, *, name: str, dtype: tuple[str, ...], divides: bool = False):
    """Checked (values, k) of pass@k / maj@k: a (P, n) NumPy array and 1 <= k <= n (dividing n
    when `divides`). 0/1 values are required where `dtype` allows floats."""
    values = array(name, values, framework="numpy", dtype=dtype, ndim=2)
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(f"{name} must have shape (P >= 1, n >= 1), got {values.shape}")
    n = int(values.shape[1])
    k = integer("k", k, minimum=1, maximum=n)
    if "float" in dtype and not np.isin(values, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1 (or booleans)")
    if divides and n % k:
        raise ValueError(f"k must divide the number of samples n={n}, got {k}")
    if "int" in dtype and values.dtype.kind in "iu" and values.min() < -1:
        raise ValueError(f"{name} must be >= 0, or -1 for a malformed sample, got {values.min()}")
    return values, k


def check_targets(targets, n_problems: int):
    """The right answers of maj@k: a 1-D integer NumPy array with one entry per problem."""
    targets = array("targets", targets, framework="numpy", dtype="int", ndim=1)
    if targets.shape[0] != n_problems:
        raise ValueError(f"targets must have shape ({n_problems},), got {targets.shape}")
    if targets.min() < 0:
        raise ValueError(f"targets must be >= 0 (answers are non-negative), got {targets.min()}")
    return targets


# How far above zero a log-probability may read: log_softmax in float32 rounds a certain token's
# log-probability to 0 or to a few units of 1e-7 either side, never to 1e-4.
LOGP_SLACK = 1e-4


def log_probabilities(name: str, value):
    """Refuse an array of log-probabilities with an entry above zero (host-resident data only, as
    labs.common.validate's finite check): logits or probabilities passed where log-probabilities
    belong give a wrong loss without an error."""
    host = host_values(value)
    if host is not None and host.size and float(host.max()) > LOGP_SLACK:
        raise ValueError(
            f"{name} must hold log-probabilities (at most 0), got an entry of "
            f"{float(host.max()):.4g}: logits or probabilities where log-probabilities belong?"
        )
    return value


def check_kl_args(logp, ref_logp, *, framework: str):
    """Checked (logp, ref_logp) of `kl_k3`: floating arrays of one shape."""
    logp = log_probabilities("logp", array("logp", logp, framework=framework))
    ref_logp = log_probabilities("ref_logp", array("ref_logp", ref_logp, framework=framework))
    same_shape(("logp", logp), ("ref_logp", ref_logp))
    if framework == "torch":
        same_device(("logp", logp), ("ref_logp", ref_logp))
    return logp, ref_logp


def check_loss_settings(
    logp_shape,
    advantages_shape,
    clip_eps,
    beta,
    group_size,
    *,
    clip_eps_low=None,
    clip_eps_high=None,
    loss_type="grpo",
    max_completion_length=None,
):
    """Validate the shape of `advantages` and the scalar settings of `grpo_loss`.

    Shared by the NumPy, PyTorch and JAX losses, so all three reject the same inputs with the
    same messages. Returns (clip_low, clip_high, beta, group_size, loss_type, max_len): the clip
    range below and above 1 (each defaults to `clip_eps`), beta, group_size (int or None), the
    loss type, and the length "dr_grpo" divides by (`max_completion_length`, or the width T of
    `logp` when None; it may not be shorter than T).
    """
    logp_shape, advantages_shape = tuple(logp_shape), tuple(advantages_shape)
    if advantages_shape not in (logp_shape[:1], logp_shape):
        raise ValueError(
            f"advantages must have shape {logp_shape[:1]} or {logp_shape}, got {advantages_shape}"
        )
    clip_eps = real_number("clip_eps", clip_eps, positive=True)
    clip_low = clip_eps if clip_eps_low is None else clip_eps_low
    clip_high = clip_eps if clip_eps_high is None else clip_eps_high
    clip_low = real_number("clip_eps_low", clip_low, positive=True)
    clip_high = real_number("clip_eps_high", clip_high, positive=True)
    beta = real_number("beta", beta, nonnegative=True)
    if group_size is not None:
        group_size = integer("group_size", group_size, minimum=1)
        if logp_shape[0] % group_size:
            raise ValueError(
                f"the batch size {logp_shape[0]} must be a multiple of group_size={group_size}"
            )
    loss_type = one_of("loss_type", loss_type, LOSS_TYPES)
    width = int(logp_shape[1])
    if max_completion_length is None:
        max_len = max(width, 1)
    else:
        why = "a generation cap beyond 2^20 tokens is a typo, and the loss divides by it"
        max_len = size("max_completion_length", max_completion_length, maximum=MAX_COMPLETION,
                       why=why)  # fmt: skip
        if max_len < width:
            raise ValueError(
                f"max_completion_length must be at least the completions' length T={width}, "
                f"got {max_len}"
            )
    return clip_low, clip_high, beta, group_size, loss_type, max_len


def check_loss_args(
    logp,
    old_logp,
    ref_logp,
    advantages,
    mask,
    clip_eps,
    beta,
    group_size,
    *,
    framework: str,
    clip_eps_low=None,
    clip_eps_high=None,
    loss_type="grpo",
    max_completion_length=None,
):
    """Checked arguments of `grpo_loss`, for any framework: the five arrays, then the settings
    of `check_loss_settings` (clip_low, clip_high, beta, group_size, loss_type, max_len)."""
    logp = log_probabilities("logp", array("logp", logp, framework=framework))
    if logp.ndim != 2:
        raise ValueError(f"logp must have shape (B, T), got {tuple(logp.shape)}")
    old_logp = log_probabilities("old_logp", array("old_logp", old_logp, framework=framework))
    ref_logp = log_probabilities("ref_logp", array("ref_logp", ref_logp, framework=framework))
    advantages = array("advantages", advantages, framework=framework)
    host = host_values(advantages)
    if host is not None and host.size and np.abs(host).max() > MAX_ADVANTAGE:
        raise ValueError(
            f"advantages must be at most {MAX_ADVANTAGE:g} in magnitude (larger ones overflow the "
            f"loss's sums), got {float(np.abs(host).max()):g}"
        )
    same_shape(("logp", logp), ("old_logp", old_logp), ("ref_logp", ref_logp))
    mask = mask_array("mask", mask, logp.shape, framework=framework)
    if framework == "torch":
        same_device(("logp", logp), ("old_logp", old_logp), ("ref_logp", ref_logp),
                    ("advantages", advantages), ("mask", mask))  # fmt: skip
    settings = check_loss_settings(
        logp.shape,
        advantages.shape,
        clip_eps,
        beta,
        group_size,
        clip_eps_low=clip_eps_low,
        clip_eps_high=clip_eps_high,
        loss_type=loss_type,
        max_completion_length=max_completion_length,
    )
    return (logp, old_logp, ref_logp, advantages, mask, *settings)
