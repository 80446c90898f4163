"""The memory of an RL step, from parameter counts: what dropping the critic saves.

Taught in chapter 5, "Claim check: "orders of magnitude more efficient than normal RL"".
"""

from __future__ import annotations

from labs.common.facts import fact
from labs.common.validate import boolean
from labs.grpo.checks import check_memory_args

__all__ = ["rl_memory_bytes"]


def rl_memory_bytes(
    policy_params: float,
    *,
    critic_params: float = 0.0,
    reward_model_params: float = 0.0,
    trained_bytes: float | None = None,
    frozen_bytes: float | None = None,
    reference: bool = True,
) -> dict[str, float]:
    """Model-state memory of an RL step (activations excluded), in bytes.

    A trained model (the policy, and PPO's critic) costs `trained_bytes` per parameter (weights,
    gradients, optimiser state; default: mixed-precision Adam, 16 bytes, as counted by ZeRO §3.1);
    a frozen one (the reference policy and a reward model) costs `frozen_bytes` (default: 2, bf16
    weights only). Both defaults come from the facts registry.

    `reference=False` leaves out the frozen reference policy: with beta = 0 (no KL penalty, as in
    DAPO and TRL's default) nothing reads it.

    Parameter counts are capped at 10^15 and bytes per parameter at 64, so that no sum
    overflows.

    Returns a dict: "policy", "reference", "critic", "reward_model", "total".
    """
    if trained_bytes is None:
        trained_bytes = fact("grpo_mixed_adam_bytes_per_param").value
    if frozen_bytes is None:
        frozen_bytes = fact("grpo_bf16_bytes_per_param").value
    counts = check_memory_args(
        policy_params, critic_params, reward_model_params, trained_bytes, frozen_bytes
    )
    return _rl_memory_bytes(*counts, boolean("reference", reference))


def _rl_memory_bytes(
    policy: float,
    critic: float,
    reward_model: float,
    trained: float,
    frozen: float,
    reference: bool = True,
) -> dict[str, float]:
    """Bytes per model: trained ones at `trained` bytes per parameter, frozen ones at `frozen`."""
    out = {
        "policy": policy * trained,
        "reference": policy * frozen if reference else 0.0,  # the frozen pi_ref
        "critic": critic * trained,
        "reward_model": reward_model * frozen,
    }
    out["total"] = sum(out.values())
    return out
