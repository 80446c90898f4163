"""Chapter 5 configurations: a GRPO run and the PPO baseline on the same budget.

Taught in chapter 5, "Training on the toy task" (GRPO) and "The PPO baseline, with a critic"
(PPO). Both are keyword-only frozen dataclasses that check their fields when they are made, so a
training loop receives a configuration it can trust.
"""

from __future__ import annotations

from dataclasses import dataclass

from labs.grpo.checks import (
    GRPO_KL_PENALTIES,
    KL_PENALTIES,
    REWARDS,
    check_grpo_fields,
    check_ppo_fields,
)

__all__ = ["REWARDS", "GRPOConfig", "PPOConfig"]


@dataclass(frozen=True, kw_only=True)
class GRPOConfig:
    """Settings of a GRPO run on the toy task (defaults sized for a laptop CPU).

    Each step samples `group_size` completions for each of `prompts_per_step` training prompts,
    scores them with the rule-based reward and takes `updates_per_batch` optimiser steps (one, as
    in DeepSeekMath, makes pi_old the current policy). `reward` is "correct_and_format" (the task's
    reward), "format_only" (checks only the format) or "at_least_sum" (a proxy that checks
    less than it should, >= where == was meant: any stated number at least the sum earns the
    accuracy reward; addition only). The last two are chapter 5's reward-hacking demonstrations.

    The variants of the issue's ladder: `loss_type` ("grpo", "bnpo", "dr_grpo", "dapo") is how
    `grpo_loss` averages over tokens, `scale_by_std=False` drops the std of the advantages
    (Dr. GRPO), `clip_eps_high` (None: `clip_eps`) is DAPO's clip-higher. `temperature` is used
    both to sample and to score the completions. `baseline=False` uses the raw reward as the
    advantage (REINFORCE, the first rung of `labs.grpo.ladder`; `scale_by_std` is then unused).

    Zero-advantage groups (every answer right, or every answer wrong) carry no policy gradient.
    `dynamic_sampling=True` is DAPO's remedy (Yu et al. 2025, §3.2): keep drawing batches of
    `prompts_per_step` questions, at most `max_sampling_rounds` per step, keep only the groups
    whose rewards differ, and train on the first `prompts_per_step` of them (on fewer when the
    rounds run out; the step is skipped when none is informative). The log records how many
    groups were sampled per step, so the extra sampling cost is visible.

    `kl_penalty` says where the KL penalty sits: "loss" (the default) adds beta times the k3
    estimate to the loss, recomputed at every update (DeepSeekMath eq. 3); "reward" is PPO's
    placement mirrored: each completion's reward loses beta * sum_t log(pi_old / pi_ref) over
    its tokens (the per-token penalty of eq. 2, summed, computed once per batch from the
    sampling policy) before the group advantages are computed, and the loss has no KL term.
    With beta = 0 the two agree. "reward_k3" is the cross arm that separates the estimator from
    the placement: in the reward, as "reward", but each completion loses beta times its summed
    k3 (eq. 4) of pi_old against pi_ref instead of the summed k1 (GRPO only; PPO refuses it).
    With "reward" (or "reward_k3"), `dynamic_sampling=True` still filters on the
    task rewards, before the penalty is added, as DAPO filters on accuracy (DAPO itself has no
    KL penalty): the penalty would make nearly every group's rewards unequal, so filtering
    after it would keep every group. The kept groups then pay the penalty like any other. The logged
    `zero_adv_fraction` also counts groups flat in task reward; with "reward" and the std
    division their advantages are not 0 but the group-normalised penalties. With
    `baseline=False` the advantage is the task reward minus the summed penalty, unnormalised.

    Sizes are capped so that a typo is refused rather than run for days: steps <= 100,000,
    prompts_per_step * group_size <= 65,536 completions per step, updates_per_batch <= 100,
    max_sampling_rounds <= 16.
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
    loss_type: str = "grpo"
    scale_by_std: bool = True
    clip_eps_high: float | None = None
    baseline: bool = True
    dynamic_sampling: bool = False
    max_sampling_rounds: int = 4
    kl_penalty: str = "loss"
    KL_PENALTIES = GRPO_KL_PENALTIES  # the values kl_penalty takes (a class constant, no field)

    def __post_init__(self) -> None:
        check_grpo_fields(self)

    @property
    def samples_per_step(self) -> int:
        return self.prompts_per_step * self.group_size


@dataclass(frozen=True, kw_only=True)
class PPOConfig(GRPOConfig):
    """PPO with a critic on the same budget: each step samples `samples_per_step` completions,
    so GRPO and PPO see as many completions. By default they are the same `prompts_per_step`
    questions GRPO draws at that step (same seed), each sampled `group_size` times: the fair
    comparison. `distinct_prompts=True` draws `samples_per_step` different questions instead,
    one completion each (PPO's usual setting, 8x more distinct questions per step). Advantages
    come from GAE over the critic's values (Schulman et al. 2016). `kl_penalty` says where the
    KL penalty sits: "reward" (the default) puts -beta * log(pi_old / pi_ref) into each token's
    reward (DeepSeekMath eq. 2), so it reaches the policy only through the advantages, fixed for
    the batch's updates; "loss" leaves the reward alone and adds beta times the k3 estimate to
    the loss, recomputed at every update, as GRPO does (eq. 3). With beta = 0 the two agree.
    Note the defaults differ: GRPO's penalty is in the loss, PPO's in the reward."""

    critic_lr: float = 1e-3
    gamma: float = 1.0
    gae_lambda: float = 0.95
    distinct_prompts: bool = False
    kl_penalty: str = "reward"  # PPO's own default; GRPOConfig's is "loss"
    KL_PENALTIES = KL_PENALTIES  # without GRPO's cross arm "reward_k3"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ppo_fields(self)
