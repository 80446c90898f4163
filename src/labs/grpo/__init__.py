"""Chapter 5, GRPO: reinforcement learning with verifiable rewards and no critic.

Framework-free: this module re-exports the configurations (`labs.grpo.config`), the NumPy
reference of the three GRPO kernels and `informative_groups` (`labs.grpo.reference`), pass@k and
maj@k (`labs.grpo.metrics`) and the memory model of an RL step, model state alone or with
activations and the rollout KV cache (`labs.grpo.memory`). Beside them:
`labs.grpo.kl_gradients` (which KL the k3 penalty's gradient follows), `labs.grpo.countdown` (a
Countdown-style task with several right answers), and, with torch, `labs.grpo.ladder` (the
ablation ladder from REINFORCE to DAPO and Dr. GRPO) and `labs.grpo.sweep` (the committed
multi-seed results, `python -m labs.grpo.sweep`). `labs.grpo.torch` and `labs.grpo.jax` hold
the same kernels, differentiable, and a parity test feeds all three the same inputs. Equation
numbers follow DeepSeekMath (Shao et al., 2024), §4.1. Taught in chapter 5, from "From the policy
gradient to GRPO" to the claim check.

Group Relative Policy Optimization samples a group of G outputs o_1..o_G for each question q,
scores each with a reward r_i, and uses the group as its own baseline (outcome supervision):

    A_i = (r_i - mean(r)) / std(r)                                            (§4.1.2)

for every token of o_i. No value network is trained. The policy maximises (eq. 3)

    1/G sum_i 1/|o_i| sum_t { min(rho_it A_i, clip(rho_it, 1 - eps, 1 + eps) A_i)
                              - beta D_KL[pi_theta || pi_ref] }

with rho_it = pi_theta(o_it | q, o_i,<t) / pi_old(o_it | q, o_i,<t), and the KL estimated per
token by the unbiased, never-negative estimator (eq. 4)

    D_KL = pi_ref / pi_theta - log(pi_ref / pi_theta) - 1.

The numerical traps (flat groups, empty sequences, padding, huge log-ratios) are listed in
`labs.grpo.reference`, and handled the same way in every framework.

Public projects disagree on what "GRPO" means, so the kernels take the variants as keywords,
with `loss_type` as TRL names it (the defaults are eq. 3 as DeepSeekMath writes it):
`grpo_loss(..., loss_type="grpo" | "bnpo" | "dr_grpo" | "dapo", max_completion_length=None)`
(how the per-token terms are averaged), `clip_eps_low` / `clip_eps_high` (DAPO's clip-higher;
TRL's `epsilon` / `epsilon_high`), and `group_advantages(..., scale_by_std=False)` (Dr. GRPO:
rewards minus the group mean; TRL's `scale_rewards`).
"""

from labs.grpo.checks import check_loss_settings as check_loss_settings  # shared by 3 frameworks
from labs.grpo.config import REWARDS, GRPOConfig, PPOConfig
from labs.grpo.memory import rl_memory_bytes, rl_step_memory
from labs.grpo.metrics import majority_at_k, pass_at_k
from labs.grpo.reference import (
    MAX_LOG_RATIO,
    group_advantages,
    grpo_loss,
    informative_groups,
    kl_k3,
)

__all__ = [
    "MAX_LOG_RATIO",
    "REWARDS",
    "GRPOConfig",
    "PPOConfig",
    "group_advantages",
    "grpo_loss",
    "informative_groups",
    "kl_k3",
    "majority_at_k",
    "pass_at_k",
    "rl_memory_bytes",
    "rl_step_memory",
]
