"""Chapter 5 training loops in PyTorch: supervised warm-up, GRPO, and what a step costs.

Taught in chapter 5, "Training on the toy task" (and "Reward hacking"). Reached as
`labs.grpo.torch.train_grpo` and so on.

The PPO baseline lives in `labs.grpo.ppo` and shares the helpers below. How a policy scores
(`evaluate`, `evaluate_at_k`, `check_models`) is `labs.grpo.evaluation`; how the bytes of a
step are counted (`measure_step`, re-exported here) is `labs.grpo.step_cost`.

Both RL loops see the same number of sampled completions per step, use the same policy, the same
frozen reference and the same clipped ratio; they differ in where the advantage comes from:

* GRPO: G completions per prompt, advantage = the group-normalised reward (no critic);
* PPO: one completion per prompt, advantage = GAE over a learned value model (the critic, a copy
  of the policy's architecture with a scalar head), KL penalty folded into the per-token reward.

Each loop records, beside the learning curves, what a step costs: the bytes of the trained and
frozen weights, of gradients and optimiser state, the activations saved for the backward pass
(counted with autograd's saved-tensor hooks) and the time per step, measured as the process's
CPU time so that other programs on a shared machine do not skew the comparison.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from labs.common import validate
from labs.common.progress import progress
from labs.common.tasks import AdditionTask, Problem, _parse_answer
from labs.common.validate import callable_arg, finite_loss, size, text
from labs.grpo.checks import (
    MAX_STEPS,
    check_config,
    check_loop_sizes,
)
from labs.grpo.config import GRPOConfig, PPOConfig
from labs.grpo.evaluation import _length, check_models
from labs.grpo.policy import TinyPolicy, _completion_logprobs, _sample
from labs.grpo.step_cost import _SavedActivations as _SavedActivations  # used by labs.grpo.ppo
from labs.grpo.step_cost import measure_step as measure_step
from labs.grpo.torch_kernels import (
    _group_advantages,
    _grpo_loss,
    _informative_groups,
    _kl_k3,
)

__all__ = [
    "TrainLog",
    "measure_step",
    "new_policy",
    "train_grpo",
    "warm_up",
]


@dataclass
class TrainLog:
    """Per-step history of a run and the memory/time of a step.

    `history` maps a name ("reward", "accuracy", "kl", "zero_adv_fraction", "clip_fraction",
    "loss", "length" (mean completion tokens), for GRPO "sampled_groups" (questions sampled,
    more than prompts_per_step under dynamic sampling), for GRPO with kl_penalty="reward" the
    three of `_penalty_only_groups` and for PPO "value_loss") to a list with one value per step.
    `memory` maps a component to bytes (see `measure_step`); `step_seconds` is the CPU time of
    each step (`time.process_time`: the policy trains on the CPU, and other programs' load is
    left out).
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    memory: dict[str, int] = field(default_factory=dict)
    step_seconds: list[float] = field(default_factory=list)

    def log(self, **values: float) -> None:
        for key, value in values.items():
            self.history.setdefault(key, []).append(float(value))

    @property
    def median_step_seconds(self) -> float:
        return float(np.median(self.step_seconds[1:] or self.step_seconds))


def new_policy(task: AdditionTask, seed: int = 0, **kwargs) -> TinyPolicy:
    """A freshly initialised TinyPolicy sized for `task` (seeded); `kwargs` go to TinyPolicy."""
    check_models(task)
    torch.manual_seed(validate.seed("seed", seed))
    return TinyPolicy(task.vocab_size, max_len=_length(task), **kwargs)


def warm_up(
    policy: TinyPolicy,
    task: AdditionTask,
    *,
    steps: int = 150,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
) -> list[float]:
    """Brief supervised fine-tuning on the training answers; returns the loss per step.

    steps <= 100,000 and batch_size <= 65,536 (a typo must not run for days).
    """
    check_models(task, policy=policy)
    steps, batch_size, lr, seed = check_loop_sizes(steps, batch_size, lr, seed)
    return _warm_up(policy, task, steps, batch_size, lr, seed)


def _warm_up(
    policy: TinyPolicy, task: AdditionTask, steps: int, batch_size: int, lr: float, seed: int
) -> list[float]:
    """Cross-entropy on the answer tokens of random training problems, Adam."""
    generator = torch.Generator().manual_seed(seed)
    prompts = torch.as_tensor(task.prompts(task.train))
    answers = torch.as_tensor(task.answers(task.train))
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    losses = []
    for step in progress(range(1, steps + 1), desc="warm-up"):
        idx = torch.randint(0, len(task.train), (batch_size,), generator=generator)
        seq = torch.cat([prompts[idx], answers[idx]], dim=1)
        logits = policy._forward(seq[:, :-1])[:, task.prompt_length - 1 :]
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            answers[idx].reshape(-1),
            ignore_index=task.tokenizer.pad_id,
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(finite_loss(float(loss.detach()), step, steps, lr))  # stop at a NaN
    return losses


def _rewards(task: AdditionTask, problems, completions: torch.Tensor, config: GRPOConfig):
    comp = completions.numpy()
    if config.reward == "format_only":
        values = task.rewards(problems, comp, 1.0) - task.rewards(problems, comp, 0.0)
    elif config.reward == "at_least_sum":
        values = _at_least_sum(problems, comp, config.format_weight)
    else:
        values = task.rewards(problems, comp, config.format_weight)
    accuracy = task.accuracy(problems, comp)
    return torch.as_tensor(values, dtype=torch.float32), accuracy


def _at_least_sum(problems, completions, format_weight: float) -> np.ndarray:
    """A proxy that checks less than it should: 1 when the stated number is at least the sum (a
    rule written with >= where == was meant: the right sum passes, and so does every larger
    number), plus the format reward."""
    out = []
    for problem, row in zip(problems, completions, strict=True):
        if not isinstance(problem, Problem):
            raise ValueError(
                'reward="at_least_sum" is defined for addition problems only, got '
                f"{type(problem).__name__}"
            )
        answer = _parse_answer([int(t) for t in row])
        passed = answer is not None and answer >= problem.answer
        out.append(float(passed) + format_weight * (answer is not None))
    return np.array(out)


def _frozen_copy(policy: TinyPolicy) -> TinyPolicy:
    ref = copy.deepcopy(policy)
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


def _draw(task: AdditionTask, n: int, generator: torch.Generator):
    idx = torch.randint(0, len(task.train), (n,), generator=generator).tolist()
    return [task.train[i] for i in idx]


def train_grpo(
    task: AdditionTask,
    policy: TinyPolicy | None = None,
    config: GRPOConfig | None = None,
    *,
    reference: TinyPolicy | None = None,
    warmup_steps: int = 0,
    desc: str = "GRPO",
) -> tuple[TinyPolicy, TrainLog]:
    """Train `policy` with GRPO on `task`; returns the (same, updated) policy and its log.

    Args:
        task: the verifiable task.
        policy: the starting policy; a new seeded `TinyPolicy` when None.
        config: a `GRPOConfig` (defaults when None).
        reference: the frozen reference pi_ref; a frozen copy of the starting policy when None
            (taken after the warm-up).
        warmup_steps: supervised warm-up steps before RL (0: none; at most 100,000).
        desc: the progress bar's label.
    """
    config = GRPOConfig() if config is None else config
    check_config("config", config, GRPOConfig, not_a=PPOConfig)
    given = {"policy": policy, "reference": reference}
    check_models(task, **{name: model for name, model in given.items() if model is not None})
    warmup_steps = size("warmup_steps", warmup_steps, minimum=0, maximum=MAX_STEPS)
    text("desc", desc, nonempty=False)
    policy = new_policy(task, seed=config.seed) if policy is None else policy
    if warmup_steps:
        warm_up(policy, task, steps=warmup_steps, seed=config.seed)
    reference = _frozen_copy(policy) if reference is None else reference
    return _train_grpo(task, policy, reference, config, desc)


def _train_grpo(
    task: AdditionTask,
    policy: TinyPolicy,
    reference: TinyPolicy,
    config: GRPOConfig,
    desc: str,
    watch=None,
) -> tuple[TinyPolicy, TrainLog]:
    """Sample G answers per question, score, normalise in the group, step on eq. 3.

    `watch`, if given, is called once per step, on the last of its `updates_per_batch` updates
    (the one whose loss and KL the log keeps), after the loss is computed and before the weights
    move: watch(step, policy, reference, batch), under `torch.no_grad`. `batch` maps "prompts"
    (B, P), "completions", "mask" (B, N) and the per-token log-probabilities "logp" (the
    policy's now, detached), "old_logp" (as sampled) and "ref_logp" (the reference's) to the
    step's tensors. The watch must only read them (no weight change, no draw from the loop's
    generators): then the run is bit for bit the run without it (`labs.grpo.kl_spikes` looks
    at the KL with it). A step that dynamic sampling left without an update is not watched.
    """
    if watch is not None:
        callable_arg("watch", watch)
    opt = torch.optim.Adam(policy.parameters(), lr=config.lr)
    prompt_gen, generator = _generators(config.seed)
    g, n = config.group_size, task.max_answer_tokens
    log = TrainLog()
    clip_high = config.clip_eps if config.clip_eps_high is None else config.clip_eps_high
    # beta * k3 in the loss (eq. 3), or PPO's penalty in the reward, fixed for the batch
    in_reward = config.kl_penalty in ("reward", "reward_k3")
    beta_loss = 0.0 if in_reward else config.beta
    for step in progress(range(1, config.steps + 1), desc=desc):
        _finite_weights(policy, step, config.steps, config.lr)  # NaN weights would sample NaN
        start = time.process_time()
        batch, zero_adv, sampled = _sample_groups(task, policy, config, prompt_gen, generator)
        if batch is None:  # dynamic sampling found no informative group: nothing to learn
            log.step_seconds.append(time.process_time() - start)
            log.log(reward=zero_adv["reward"], accuracy=zero_adv["accuracy"], loss=0.0,
                    clip_fraction=0.0, kl=log.history["kl"][-1] if log.history.get("kl") else 0.0,
                    zero_adv_fraction=1.0, ratio_mean=1.0, length=zero_adv["length"],
                    sampled_groups=sampled)  # fmt: skip
            if in_reward:
                log.log(penalty_only_fraction=0.0, penalty_only_abs_adv=float("nan"),
                        task_spread_abs_adv=float("nan"))  # fmt: skip
            continue
        prompts, completions, mask, rewards, accuracy, first_round = batch
        with torch.no_grad():
            ref_logp = _completion_logprobs(reference, prompts, completions, config.temperature)
            old_logp = _completion_logprobs(policy, prompts, completions, config.temperature)
            task_rewards = rewards
            if config.kl_penalty == "reward":  # PPO's per-token penalty (eq. 2), summed
                rewards = rewards - config.beta * ((old_logp - ref_logp) * mask).sum(dim=1)
            elif in_reward:  # the cross arm: k3 (eq. 4) of pi_old against pi_ref, summed
                rewards = rewards - config.beta * (_kl_k3(old_logp, ref_logp) * mask).sum(dim=1)
        advantages = _advantages(rewards, config)  # A_i
        if in_reward:  # reads the tensors only: every number of the run stays as it was
            log.log(**_penalty_only_groups(task_rewards, rewards, advantages, g))
        for update in range(1, config.updates_per_batch + 1):
            with _SavedActivations(policy) as saved:
                logp = _completion_logprobs(policy, prompts, completions, config.temperature)
                loss, stats = _grpo_loss(
                    logp, old_logp, ref_logp, advantages, mask, config.clip_eps, clip_high,
                    beta_loss, g, config.loss_type, n,
                )  # fmt: skip
            if watch is not None and update == config.updates_per_batch:
                with torch.no_grad():
                    watch(step, policy, reference, {
                        "prompts": prompts, "completions": completions, "mask": mask,
                        "logp": logp.detach(), "old_logp": old_logp, "ref_logp": ref_logp,
                    })  # fmt: skip
            opt.zero_grad()
            loss.backward()
            opt.step()
        log.step_seconds.append(time.process_time() - start)
        if not log.memory:
            log.memory = measure_step([policy], [reference], [opt], saved.bytes)
        stats["zero_adv_fraction"] = zero_adv  # of the first batch drawn, before any filter
        loss_value = finite_loss(float(loss.detach()), step, config.steps, config.lr)  # at a NaN
        log.log(reward=first_round["reward"], accuracy=first_round["accuracy"],
                loss=loss_value, length=first_round["length"], sampled_groups=sampled,
                **stats)  # fmt: skip
    return policy, log


def _penalty_only_groups(
    task_rewards: torch.Tensor, rewards: torch.Tensor, advantages: torch.Tensor, g: int
) -> dict[str, float]:
    """With the KL penalty in the reward, what it does to one batch's groups of `g`:
    "penalty_only_fraction", the share of groups whose task rewards are all equal but whose
    penalised rewards differ (the penalty alone sets their spread); "penalty_only_abs_adv", the
    mean |advantage| in those groups; "task_spread_abs_adv", the same in the groups whose task
    rewards differ. A mean over no group is NaN."""
    task_rewards, rewards = task_rewards.reshape(-1, g), rewards.reshape(-1, g)
    size = advantages.abs().reshape(-1, g)
    tied = task_rewards.amax(dim=1) == task_rewards.amin(dim=1)
    only = tied & (rewards.amax(dim=1) > rewards.amin(dim=1))

    def mean_size(groups: torch.Tensor) -> float:
        return float(size[groups].mean()) if bool(groups.any()) else float("nan")

    return {
        "penalty_only_fraction": float(only.float().mean()),
        "penalty_only_abs_adv": mean_size(only),
        "task_spread_abs_adv": mean_size(~tied),
    }


def _finite_weights(policy: torch.nn.Module, step: int, steps: int, lr: float) -> None:
    """ValueError unless every weight of `policy` is finite as step `step` of `steps` begins: a
    NaN weight makes the sampling probabilities NaN, which torch.multinomial refuses from deep
    inside with no word of which step or weight. One pass over one flat copy of the weights
    (about 0.3 ms for the chapter's 100k-weight policy), one read."""
    if bool(torch.nn.utils.parameters_to_vector(policy.parameters()).isfinite().all()):
        return
    name = next(n for n, w in policy.named_parameters() if not bool(w.isfinite().all()))
    why = "the policy given holds them" if step == 1 else "the run diverged; lower lr"
    raise ValueError(
        f"the policy's weight {name!r} holds NaN or inf at step {step} of {steps} with "
        f"lr = {lr:g}: {why}"
    )


def _generators(seed: int) -> tuple[torch.Generator, torch.Generator]:
    """Two streams: the questions drawn at each step, and the sampled tokens. With the seed
    fixed, GRPO and PPO draw the same questions at every step whatever their samples are.
    `seed` <= 2**62 (`labs.common.validate.seed`), so the offset stays in torch's 64 bits."""
    seed = validate.seed("seed", seed)
    return torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1_000_003)


def _advantages(rewards: torch.Tensor, config: GRPOConfig) -> torch.Tensor:
    """Group-relative advantages (§4.1.2), or the raw reward for REINFORCE (baseline=False)."""
    if not config.baseline:
        return rewards.clone()
    return _group_advantages(rewards, config.group_size, config.adv_eps, config.scale_by_std)


def _sample_groups(task, policy, config: GRPOConfig, prompt_gen, generator):
    """One step's batch: `prompts_per_step` groups of G completions (DAPO's dynamic sampling
    keeps drawing, up to `max_sampling_rounds` batches, and keeps only informative groups).

    Returns (batch, zero_adv_fraction of the first round, groups sampled); batch is None when
    dynamic sampling found no informative group, and then the second item holds the first
    round's statistics instead.
    """
    tok, g, n = task.tokenizer, config.group_size, task.max_answer_tokens
    rounds = config.max_sampling_rounds if config.dynamic_sampling else 1
    kept, first, zero_adv, sampled = [], None, 0.0, 0
    for _ in range(rounds):
        problems = _draw(task, config.prompts_per_step, prompt_gen)
        grouped = [p for p in problems for _ in range(g)]  # G copies of each question
        prompts = torch.as_tensor(task.prompts(grouped))
        completions, mask = _sample(
            policy, prompts, n, tok.eos_id, tok.pad_id, generator, config.temperature
        )
        rewards, accuracy = _rewards(task, grouped, completions, config)
        sampled += len(problems)
        informative = _informative_groups(rewards, g)
        if first is None:
            zero_adv = float((~informative).float().mean())
            first = {"reward": float(rewards.mean()), "accuracy": accuracy,
                     "length": float(mask.sum(dim=1).float().mean())}  # fmt: skip
        if not config.dynamic_sampling:
            return (prompts, completions, mask, rewards, accuracy, first), zero_adv, sampled
        keep = informative.repeat_interleave(g)
        kept.append((prompts[keep], completions[keep], mask[keep], rewards[keep]))
        if sum(len(k[0]) for k in kept) >= config.prompts_per_step * g:
            break
    parts = [torch.cat(items)[: config.prompts_per_step * g] for items in zip(*kept, strict=True)]
    if len(parts[0]) == 0:
        return None, first, sampled
    prompts, completions, mask, rewards = parts
    accuracy = first["accuracy"]
    return (prompts, completions, mask, rewards, accuracy, first), zero_adv, sampled
