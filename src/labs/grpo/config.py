"""Chapter 5 configurations: a GRPO run and the PPO baseline on the same budget.

Taught in chapter 5, "Training on the toy task" (GRPO) and "The PPO baseline, with a critic"
(PPO). Both are keyword-only frozen dataclasses that check their fields when they are made, so a
training loop receives a configuration it can trust.
"""

from __future__ import annotations

from dataclasses import dataclass

from labs.common.validate import integer, one_of, real_number, size
from labs.grpo.checks import unit_interval

__all__ = ["REWARDS", "GRPOConfig", "PPOConfig"]

REWARDS = ("correct_and_format", "format_only")

# Caps on the sizes of a run (a mistyped size must be refused, not attempted): a step samples
# prompts_per_step * group_size completions at once, and every step takes about a second at the
# notebook's scale on a laptop CPU.
MAX_STEPS = 100_000
MAX_SAMPLES_PER_STEP = 65_536
MAX_UPDATES_PER_BATCH = 100


@dataclass(frozen=True, kw_only=True)
class GRPOConfig:
    """Settings of a GRPO run on the toy task (defaults sized for a laptop CPU).

    Each step samples `group_size` completions for each of `prompts_per_step` training prompts,
    scores them with the rule-based reward and takes `updates_per_batch` optimiser steps (one, as
    in DeepSeekMath, makes pi_old the current policy). `reward` is "correct_and_format" (the task's
    reward) or "format_only" (checks only the format: the reward-hacking demonstration).

    Sizes are capped so that a typo is refused rather than run for days: steps <= 100,000,
    prompts_per_step * group_size <= 65,536 completions per step, updates_per_batch <= 100.
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
        why_samples = "one step samples prompts_per_step * group_size completions at once"
        size("steps", self.steps, maximum=MAX_STEPS, why="a step takes about a second on a CPU")
        size("group_size", self.group_size, minimum=2, maximum=MAX_SAMPLES_PER_STEP // 2)
        size("prompts_per_step", self.prompts_per_step,
             maximum=MAX_SAMPLES_PER_STEP // self.group_size, why=why_samples)  # fmt: skip
        size("updates_per_batch", self.updates_per_batch, maximum=MAX_UPDATES_PER_BATCH)
        integer("seed", self.seed, minimum=0)
        for name in ("lr", "clip_eps", "adv_eps", "temperature"):
            real_number(name, getattr(self, name), positive=True)
        for name in ("beta", "format_weight"):
            real_number(name, getattr(self, name), nonnegative=True)
        one_of("reward", self.reward, REWARDS)

    @property
    def samples_per_step(self) -> int:
        return self.prompts_per_step * self.group_size


@dataclass(frozen=True, kw_only=True)
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
            unit_interval(name, getattr(self, name))
