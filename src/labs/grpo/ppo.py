"""Chapter 5's baseline in PyTorch: PPO with a critic the policy's size, on the GRPO budget.

Same policy, task, reference, clip and number of sampled completions per step as `train_grpo`;
the advantage comes from generalised advantage estimation over a learned value model, and the
KL penalty sits in the per-token reward (DeepSeekMath eq. 2).
"""

from __future__ import annotations

import time

import torch

from labs.common.progress import progress
from labs.common.tasks import AdditionTask
from labs.common.validate import real_number
from labs.grpo import PPOConfig
from labs.grpo.torch import TinyPolicy, ValueModel, completion_logprobs, grpo_loss, sample
from labs.grpo.training import (
    TrainLog,
    _check_policy,
    _check_task,
    _draw,
    _frozen_copy,
    _rewards,
    _SavedActivations,
    measure_step,
)

__all__ = ["gae", "train_ppo"]


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """Generalised advantage estimation over completion tokens.

    Args:
        rewards, values, mask: (B, T); masked positions (after <eos>) are terminal.

    Returns:
        (advantages, returns), both (B, T), zero where masked.
    """
    for name, t in (("rewards", rewards), ("values", values), ("mask", mask)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 2 or t.shape != rewards.shape:
            raise ValueError(
                f"{name} must have the shape (B, T) of rewards {tuple(rewards.shape)}, "
                f"got {tuple(t.shape)}"
            )
    for name, value in (("gamma", gamma), ("lam", lam)):
        if not 0 <= real_number(name, value) <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    mask = mask.float()
    adv = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    next_value = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        adv[:, t] = running
        next_value = values[:, t] * mask[:, t]
    return adv, (adv + values) * mask


def train_ppo(
    task: AdditionTask,
    policy: TinyPolicy,
    config: PPOConfig | None = None,
    *,
    reference: TinyPolicy | None = None,
    desc: str = "PPO",
) -> tuple[TinyPolicy, ValueModel, TrainLog]:
    """Train `policy` with PPO and a critic the policy's size; returns (policy, critic, log).

    The critic starts from the policy's trunk with a new scalar head. Per-token reward:
    -beta * (log pi_old - log pi_ref), plus the task's reward on the last token (DeepSeekMath
    eq. 2); advantages by GAE, whitened over the batch's tokens.
    """
    _check_task(task)
    _check_policy(policy)
    config = config or PPOConfig()
    if not isinstance(config, PPOConfig):
        raise TypeError(f"config must be a PPOConfig, got {type(config).__name__}")
    reference = _check_policy(reference) if reference is not None else _frozen_copy(policy)
    torch.manual_seed(config.seed)
    critic = ValueModel(task.vocab_size, max_len=policy.max_len, **_arch(policy))
    trunk = {k: v for k, v in policy.state_dict().items() if not k.startswith("head.")}
    critic.load_state_dict(trunk, strict=False)
    opt = torch.optim.Adam(policy.parameters(), lr=config.lr)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=config.critic_lr)
    generator = torch.Generator().manual_seed(config.seed)
    tok, n, p_len = task.tokenizer, task.max_answer_tokens, task.prompt_length
    log = TrainLog()
    for step in progress(range(config.steps), desc=desc):
        start = time.process_time()
        problems = _draw(task, config.samples_per_step, generator)  # one sample per prompt
        prompts = torch.as_tensor(task.prompts(problems))
        completions, mask = sample(
            policy, prompts, n, eos_id=tok.eos_id, pad_id=tok.pad_id, generator=generator,
            temperature=config.temperature,
        )  # fmt: skip
        rewards, accuracy = _rewards(task, problems, completions, config)
        seq = torch.cat([prompts, completions], dim=1)
        with torch.no_grad():
            ref_logp = completion_logprobs(reference, prompts, completions)
            old_logp = completion_logprobs(policy, prompts, completions)
            values = critic(seq[:, :-1])[:, p_len - 1 :] * mask
            token_rewards = -config.beta * (old_logp - ref_logp) * mask
            last = mask.long().sum(dim=1) - 1
            token_rewards[torch.arange(len(last)), last] += rewards
            adv, returns = gae(token_rewards, values, mask, config.gamma, config.gae_lambda)
            valid = adv[mask]
            adv = torch.where(mask, (adv - valid.mean()) / (valid.std() + 1e-8), 0.0)
        for _ in range(config.updates_per_batch):
            with _SavedActivations(policy, critic) as saved:
                logp = completion_logprobs(policy, prompts, completions)
                loss, stats = grpo_loss(logp, old_logp, ref_logp, adv, mask, config.clip_eps, 0.0)
                new_values = critic(seq[:, :-1])[:, p_len - 1 :]
                value_loss = 0.5 * ((new_values - returns) ** 2)[mask].mean()
            opt.zero_grad()
            critic_opt.zero_grad()
            (loss + value_loss).backward()
            opt.step()
            critic_opt.step()
        log.step_seconds.append(time.process_time() - start)
        if step == 0:
            log.memory = measure_step([policy, critic], [reference], [opt, critic_opt], saved.bytes)
        log.log(
            reward=rewards.mean(),
            accuracy=accuracy,
            loss=loss.detach(),
            value_loss=value_loss.detach(),
            kl=stats["kl"],
            clip_fraction=stats["clip_fraction"],
        )
    return policy, critic, log


def _arch(policy: TinyPolicy) -> dict[str, int]:
    first = policy.blocks[0]
    return {
        "d_model": policy.tok.embedding_dim,
        "n_layers": len(policy.blocks),
        "n_heads": first.n_heads,
    }
