"""Chapter 5's baseline in PyTorch: PPO with a critic the policy's size, on the GRPO budget.

Same policy, task, reference, clip and number of sampled completions per step as `train_grpo`;
the advantage comes from generalised advantage estimation over a learned value model, and the
KL penalty sits in the per-token reward (DeepSeekMath eq. 2), or, with
`PPOConfig(kl_penalty="loss")`, in the loss as in GRPO.

Taught in chapter 5, "The PPO baseline, with a critic". Reached as `labs.grpo.torch.train_ppo`.

Axes: B sequences, T completion tokens.
"""

# jaxtyping shape strings ("B T") are not forward references:
from __future__ import annotations

import time

import torch
from jaxtyping import Bool, Float

from labs.common.progress import progress
from labs.common.tasks import AdditionTask
from labs.common.validate import callable_arg, finite_loss, text
from labs.grpo.checks import check_config, check_gae_args
from labs.grpo.config import PPOConfig
from labs.grpo.policy import TinyPolicy, ValueModel, _completion_logprobs, _sample
from labs.grpo.torch_kernels import _grpo_loss
from labs.grpo.training import (
    TrainLog,
    _draw,
    _finite_weights,
    _frozen_copy,
    _generators,
    _rewards,
    _SavedActivations,
    check_models,
    measure_step,
)

__all__ = ["gae", "train_ppo"]


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """Generalised advantage estimation over completion tokens.

    Args:
        rewards, values: (B, T) float tensors; mask: (B, T) bool or 0/1, on the same device.
            Masked positions (after <eos>) are terminal.
        gamma, lam: the discount and the GAE lambda, each in [0, 1].

    Returns:
        (advantages, returns), both (B, T), zero where masked.
    """
    return _gae(*check_gae_args(rewards, values, mask, gamma, lam))


def _gae(
    rewards: Float[torch.Tensor, "B T"],
    values: Float[torch.Tensor, "B T"],
    mask: Bool[torch.Tensor, "B T"],
    gamma: float,
    lam: float,
) -> tuple[Float[torch.Tensor, "B T"], Float[torch.Tensor, "B T"]]:
    """A_t = delta_t + gamma lam A_{t+1}, delta_t = r_t + gamma V_{t+1} - V_t, backwards."""
    mask = mask.to(rewards.dtype)
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
    eq. 2); advantages by GAE, whitened over the batch's tokens. With
    `config.kl_penalty="loss"` the per-token reward is the task's alone and beta times the k3
    estimate joins the loss instead, as in GRPO. `config` defaults to `PPOConfig()`;
    `reference` to a frozen copy of `policy`.
    """
    config = PPOConfig() if config is None else check_config("config", config, PPOConfig)
    check_models(task, policy=policy)
    if reference is not None:
        check_models(task, reference=reference)
    text("desc", desc, nonempty=False)
    reference = _frozen_copy(policy) if reference is None else reference
    return _train_ppo(task, policy, reference, config, desc)


def _train_ppo(
    task: AdditionTask,
    policy: TinyPolicy,
    reference: TinyPolicy,
    config: PPOConfig,
    desc: str,
    watch=None,
) -> tuple[TinyPolicy, ValueModel, TrainLog]:
    """One answer per question; GAE over a critic; the clipped step on policy and critic.

    `watch`, as in `training._train_grpo`: called once per step (numbered from 1) on the last of
    its `updates_per_batch` updates, before that update moves the weights, as
    watch(step, policy, reference, batch) under `torch.no_grad`, with batch's "prompts",
    "completions", "mask", "logp", "old_logp", "ref_logp". It must only read them; then the run
    is bit for bit the run without it (`labs.grpo.exact_kl` reads the exact KL with it).
    """
    if watch is not None:
        callable_arg("watch", watch)
    torch.manual_seed(config.seed)
    critic = ValueModel(task.vocab_size, max_len=policy.max_len, **_arch(policy))
    trunk = {k: v for k, v in policy.state_dict().items() if not k.startswith("head.")}
    critic.load_state_dict(trunk, strict=False)
    opt = torch.optim.Adam(policy.parameters(), lr=config.lr)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=config.critic_lr)
    prompt_gen, generator = _generators(config.seed)
    tok, n, p_len = task.tokenizer, task.max_answer_tokens, task.prompt_length
    log = TrainLog()
    clip_high = config.clip_eps if config.clip_eps_high is None else config.clip_eps_high
    # the KL penalty in each token's reward (eq. 2), or beta * k3 in the loss as in GRPO (eq. 3)
    in_reward = config.kl_penalty == "reward"
    beta_reward, beta_loss = (config.beta, 0.0) if in_reward else (0.0, config.beta)
    for step in progress(range(config.steps), desc=desc):
        _finite_weights(policy, step + 1, config.steps, config.lr)  # NaN weights would sample NaN
        start = time.process_time()
        if config.distinct_prompts:  # one sample for each of samples_per_step questions
            problems = _draw(task, config.samples_per_step, prompt_gen)
        else:  # GRPO's questions at this step, each sampled group_size times
            drawn = _draw(task, config.prompts_per_step, prompt_gen)
            problems = [p for p in drawn for _ in range(config.group_size)]
        prompts = torch.as_tensor(task.prompts(problems))
        completions, mask = _sample(
            policy, prompts, n, tok.eos_id, tok.pad_id, generator, config.temperature
        )
        rewards, accuracy = _rewards(task, problems, completions, config)
        seq = torch.cat([prompts, completions], dim=1)
        with torch.no_grad():
            ref_logp = _completion_logprobs(reference, prompts, completions, config.temperature)
            old_logp = _completion_logprobs(policy, prompts, completions, config.temperature)
            values = critic._forward(seq[:, :-1]).squeeze(-1)[:, p_len - 1 :] * mask
            token_rewards = -beta_reward * (old_logp - ref_logp) * mask
            last = mask.long().sum(dim=1) - 1
            token_rewards[torch.arange(len(last)), last] += rewards
            adv, returns = _gae(token_rewards, values, mask, config.gamma, config.gae_lambda)
            valid = adv[mask]
            adv = torch.where(mask, (adv - valid.mean()) / (valid.std() + 1e-8), 0.0)
        for update in range(1, config.updates_per_batch + 1):
            with _SavedActivations(policy, critic) as saved:
                logp = _completion_logprobs(policy, prompts, completions, config.temperature)
                loss, stats = _grpo_loss(
                    logp,
                    old_logp,
                    ref_logp,
                    adv,
                    mask,
                    config.clip_eps,
                    clip_high,
                    beta_loss,
                    None,
                    config.loss_type,
                    n,
                )
                new_values = critic._forward(seq[:, :-1]).squeeze(-1)[:, p_len - 1 :]
                value_loss = 0.5 * ((new_values - returns) ** 2)[mask].mean()
            if watch is not None and update == config.updates_per_batch:
                with torch.no_grad():
                    watch(step + 1, policy, reference, {
                        "prompts": prompts, "completions": completions, "mask": mask,
                        "logp": logp.detach(), "old_logp": old_logp, "ref_logp": ref_logp,
                    })  # fmt: skip
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
            loss=finite_loss(float(loss.detach()), step + 1, config.steps, config.lr),
            value_loss=finite_loss(
                float(value_loss.detach()),
                step + 1,
                config.steps,
                config.critic_lr,
                lr_name="critic_lr",
            ),
            kl=stats["kl"],
            clip_fraction=stats["clip_fraction"],
            length=mask.sum(dim=1).float().mean(),
        )
    return policy, critic, log


def _arch(policy: TinyPolicy) -> dict[str, int]:
    first = policy.blocks[0]
    return {
        "d_model": policy.tok.embedding_dim,
        "n_layers": len(policy.blocks),
        "n_heads": first.n_heads,
    }
