"""Valid calls for chapter 5 (labs.grpo): one per public callable, as small as possible.

GRPO training is slow, so the loops run one step of the tiniest valid configuration (one prompt,
a group of two) on a one-layer policy of width 8.
"""

from __future__ import annotations

import numpy as np

from tests.hostile.harness import call

REWARDS = np.array([1.0, 0.0, 0.0, 1.0])
LOGP = np.log(np.array([[0.5, 0.4], [0.3, 0.2]]))
OLD = np.log(np.array([[0.4, 0.4], [0.3, 0.25]]))
REF = np.log(np.array([[0.45, 0.3], [0.2, 0.2]]))
ADV = np.array([1.0, -1.0])
MASK = np.array([[1.0, 1.0], [1.0, 0.0]])
TINY = {"d_model": 8, "n_layers": 1, "n_heads": 2}


def _torch(a):
    import torch

    return torch.tensor(a)


def _jax(a):
    import jax.numpy as jnp

    return jnp.asarray(a, dtype=jnp.float32)


def _task():
    from labs.common.tasks import AdditionTask

    return AdditionTask()


def _policy(task=None):
    from labs.grpo.training import new_policy

    return new_policy(task or _task(), seed=0, **TINY)


def _prompts(task):
    import torch

    return torch.as_tensor(task.prompts(task.train[:2]))


def _sample():
    import torch

    task = _task()
    return call(
        policy=_policy(task),
        prompts=_prompts(task),
        max_new_tokens=2,
        eos_id=task.tokenizer.eos_id,
        pad_id=task.tokenizer.pad_id,
        generator=torch.Generator().manual_seed(0),
        temperature=0.9,
    )


def _greedy():
    task = _task()
    return call(policy=_policy(task), prompts=_prompts(task), max_new_tokens=2)


def _logprobs():
    import torch

    task = _task()
    completions = torch.as_tensor(task.answers(task.train[:2]))
    return call(
        policy=_policy(task), prompts=_prompts(task), completions=completions, temperature=0.7
    )


def _forward(kind):
    from labs.grpo.policy import TinyPolicy, ValueModel

    model = (TinyPolicy if kind == "policy" else ValueModel)(12, max_len=6, **TINY)
    return call(model.forward, ids=_torch(np.array([[1, 2, 3], [4, 5, 6]])))


def _measure_step():
    import torch

    policy = _policy()
    opt = torch.optim.Adam(policy.parameters())
    return call(trained=[policy], frozen=[_policy()], optimizers=[opt], activation_bytes=64)


def _gae():
    import torch

    return call(
        rewards=torch.tensor([[0.0, 1.0, 0.0]]),
        values=torch.tensor([[0.2, 0.5, 9.0]]),
        mask=torch.tensor([[True, True, False]]),
        gamma=1.0,
        lam=0.95,
    )


def _config(kind):
    fields = {
        "steps": 1,
        "prompts_per_step": 1,
        "group_size": 2,
        "lr": 1e-3,
        "clip_eps": 0.2,
        "beta": 0.04,
        "adv_eps": 1e-4,
        "temperature": 1.0,
        "format_weight": 0.1,
        "updates_per_batch": 1,
        "seed": 0,
        "loss_type": "dr_grpo",
        "scale_by_std": False,
        "clip_eps_high": 0.28,
        "baseline": True,
        "dynamic_sampling": kind == "grpo",
        "max_sampling_rounds": 2,
        "kl_penalty": "reward",  # GRPO with PPO's placement; the PPO example moves it back
    }
    if kind == "ppo":
        fields.update(
            critic_lr=1e-3, gamma=1.0, gae_lambda=0.95, distinct_prompts=True, kl_penalty="loss"
        )
    return call(**fields)


def _tiny_config(kind):
    from labs.grpo import GRPOConfig, PPOConfig

    cls = GRPOConfig if kind == "grpo" else PPOConfig
    return cls(steps=1, prompts_per_step=1, group_size=2)


def _student_advantages(rewards, group_size):
    from labs.grpo import group_advantages

    return group_advantages(rewards, group_size)


def _student_k3(logp, ref_logp):
    from labs.grpo import kl_k3

    return kl_k3(logp, ref_logp)


def _student_clip(ratio, advantage, clip_eps):
    return np.minimum(ratio * advantage, np.clip(ratio, 1 - clip_eps, 1 + clip_eps) * advantage)


def _student_group_size(pass_rates, target_share, max_group_size):
    p = np.asarray(pass_rates)[:, None]
    sizes = np.arange(2, max_group_size + 1)
    reached = np.nonzero(np.mean(1 - p**sizes - (1 - p) ** sizes, axis=0) >= target_share)[0]
    return int(sizes[reached[0]]) if reached.size else None


_LOSS = {"logp": LOGP, "old_logp": OLD, "ref_logp": REF, "advantages": ADV, "mask": MASK}
# The settings every grpo_loss example passes: clip-higher and Dr. GRPO's constant divisor.
_SETTINGS = {
    "clip_eps": 0.2,
    "beta": 0.04,
    "group_size": 2,
    "clip_eps_low": 0.2,
    "clip_eps_high": 0.28,
    "loss_type": "dr_grpo",
    "max_completion_length": 4,
}


def _rung():
    from labs.grpo.ladder import ladder_config

    config = ladder_config("dapo", steps=1, prompts_per_step=1, group_size=2)
    return call(task=_task(), start=_policy(), config=config, eval_seed=0)


def _countdown(method=None):
    from labs.grpo.countdown import CountdownTask

    task = CountdownTask(n_problems=10, held_out_fraction=0.2, seed=0)
    if method is None:
        return task
    probs = task.train[:2]
    if method == "prompts":
        return call(task.prompts, problems=probs)
    if method == "answers":
        return call(task.answers, problems=probs)
    completions = task.answers(probs)
    if method == "rewards":
        return call(task.rewards, problems=probs, completions=completions, format_weight=0.1)
    return call(task.accuracy, problems=probs, completions=completions)


def _cd_ids(text):
    from labs.common.tasks import TOKENIZER

    return np.array(TOKENIZER.encode(text, eos=True))


def _cd_problem():
    from labs.grpo.countdown import CountdownProblem

    return CountdownProblem(numbers=(3, 11, 7, 4), solution=(3, 4))


def _sweep_file():
    from importlib import resources

    return str(resources.files("labs.grpo").joinpath("data/sweep.json"))


EXAMPLES = {
    # labs.grpo (config, reference, memory)
    "labs.grpo.config.GRPOConfig": lambda: _config("grpo"),
    "labs.grpo.config.PPOConfig": lambda: _config("ppo"),
    "labs.grpo.reference.group_advantages": lambda: call(
        rewards=REWARDS, group_size=2, eps=1e-4, scale_by_std=False
    ),
    "labs.grpo.reference.kl_k3": lambda: call(logp=LOGP, ref_logp=REF),
    "labs.grpo.reference.grpo_loss": lambda: call(**_LOSS, **_SETTINGS),
    "labs.grpo.reference.informative_groups": lambda: call(rewards=REWARDS, group_size=2),
    "labs.grpo.metrics.pass_at_k": lambda: call(correct=np.array([[1, 0, 0, 1]]), k=2),
    "labs.grpo.metrics.informative_share": lambda: call(
        pass_rates=np.array([0.0, 0.5, 0.9]), group_sizes=np.array([2, 8])
    ),
    "labs.grpo.metrics.smallest_group_size": lambda: call(
        pass_rates=np.array([0.1, 0.9]), target_share=0.6, max_group_size=16
    ),
    "labs.grpo.metrics.majority_at_k": lambda: call(
        answers=np.array([[3, 3, -1, 4]]), targets=np.array([3]), k=2
    ),
    "labs.grpo.kl_gradients.kl_gradients": lambda: call(
        logits=np.array([0.5, -1.0, 2.0]), ref_logits=np.array([0.0, 0.3, 1.0])
    ),
    "labs.grpo.ladder.ladder_config": lambda: call(rung="dr_grpo", steps=2, seed=0),
    "labs.grpo.ladder.block_means": lambda: call(values=np.array([1.0, 2.0, 4.0]), block=2),
    "labs.grpo.ladder.run_rung": _rung,
    "labs.grpo.records.load_sweep": lambda: call(path=_sweep_file(), task="addition"),
    "labs.grpo.countdown.CountdownProblem": lambda: call(numbers=(3, 11, 7, 4), solution=(3, 4)),
    "labs.grpo.countdown.CountdownTask": lambda: call(n_problems=10, held_out_fraction=0.2, seed=0),
    "labs.grpo.countdown.CountdownTask.prompts": lambda: _countdown("prompts"),
    "labs.grpo.countdown.CountdownTask.answers": lambda: _countdown("answers"),
    "labs.grpo.countdown.CountdownTask.rewards": lambda: _countdown("rewards"),
    "labs.grpo.countdown.CountdownTask.accuracy": lambda: _countdown("accuracy"),
    "labs.grpo.countdown.parse_terms": lambda: call(completion=_cd_ids("3+4")),
    "labs.grpo.countdown.countdown_reward": lambda: call(
        problem=_cd_problem(), completion=_cd_ids("3+4"), format_weight=0.1
    ),
    "labs.grpo.memory.rl_memory_bytes": lambda: call(
        policy_params=7e9,
        critic_params=7e9,
        reward_model_params=1e9,
        trained_bytes=16.0,
        frozen_bytes=2.0,
        reference=False,
    ),  # fmt: skip
    "labs.grpo.memory.rl_step_memory": lambda: call(
        policy_params=7e9,
        n_layers=30,
        d_model=4096,
        n_heads=32,
        seq_len=1024,
        train_batch=4,
        rollout_batch=64,
        n_kv_heads=8,
        critic=True,
        reward_model_params=7e9,
        reference=False,
        kv_bytes=2,
        checkpointing=True,
        attention_scores=False,
        grads_during_generation=True,
    ),  # fmt: skip
    # labs.grpo.torch (kernels, policy, loops)
    "labs.grpo.peak_memory.peak_memory": lambda: call(fn=lambda: 0, device="cpu"),
    "labs.grpo.torch_kernels.group_advantages": lambda: call(
        rewards=_torch(REWARDS), group_size=2, eps=1e-4, scale_by_std=False
    ),
    "labs.grpo.torch_kernels.informative_groups": lambda: call(
        rewards=_torch(REWARDS), group_size=2
    ),
    "labs.grpo.torch_kernels.kl_k3": lambda: call(logp=_torch(LOGP), ref_logp=_torch(REF)),
    "labs.grpo.torch_kernels.grpo_loss": lambda: call(
        **{k: _torch(v) for k, v in _LOSS.items()}, **_SETTINGS
    ),
    "labs.grpo.policy.TinyPolicy": lambda: call(
        vocab_size=12, max_len=6, d_model=8, n_layers=1, n_heads=2, out_dim=3
    ),
    "labs.grpo.policy.TinyPolicy.forward": lambda: _forward("policy"),
    "labs.grpo.policy.ValueModel": lambda: call(vocab_size=12, max_len=6, d_model=8),
    "labs.grpo.policy.ValueModel.forward": lambda: _forward("value"),
    "labs.grpo.policy.num_parameters": lambda: call(module=_policy()),
    "labs.grpo.policy.sample": _sample,
    "labs.grpo.policy.greedy": _greedy,
    "labs.grpo.policy.completion_logprobs": _logprobs,
    "labs.grpo.training.TrainLog": lambda: call(),
    "labs.grpo.training.new_policy": lambda: call(task=_task(), seed=0, d_model=8, n_layers=1),
    "labs.grpo.training.warm_up": lambda: call(
        policy=_policy(), task=_task(), steps=1, batch_size=2, lr=1e-3, seed=0
    ),
    "labs.grpo.evaluation.evaluate": lambda: call(
        policy=_policy(),
        task=_task(),
        problems=_task().train[:2],
        samples=1,
        format_weight=0.1,
        seed=0,
    ),  # fmt: skip
    "labs.grpo.step_cost.measure_step": _measure_step,
    "labs.grpo.evaluation.evaluate_at_k": lambda: call(
        policy=_policy(),
        task=_task(),
        problems=_task().train[:2],
        samples=2,
        ks=(1, 2),
        temperature=1.0,
        seed=0,
    ),  # fmt: skip
    "labs.grpo.training.train_grpo": lambda: call(
        task=_task(),
        policy=_policy(),
        config=_tiny_config("grpo"),
        reference=_policy(),
        warmup_steps=1,
        desc="GRPO",
    ),  # fmt: skip
    "labs.grpo.hacking.wrong_answer_gaps": lambda: call(
        policy=_policy(), task=_task(), problems=_task().held_out[:2]
    ),
    "labs.grpo.ppo.gae": _gae,
    "labs.grpo.ppo.train_ppo": lambda: call(
        task=_task(),
        policy=_policy(),
        config=_tiny_config("ppo"),
        reference=_policy(),
        desc="PPO",
    ),  # fmt: skip
    # labs.grpo.jax
    "labs.grpo.jax.group_advantages": lambda: call(
        rewards=_jax(REWARDS), group_size=2, eps=1e-4, scale_by_std=False
    ),
    "labs.grpo.jax.informative_groups": lambda: call(rewards=_jax(REWARDS), group_size=2),
    "labs.grpo.jax.kl_k3": lambda: call(logp=_jax(LOGP), ref_logp=_jax(REF)),
    "labs.grpo.jax.grpo_loss": lambda: call(**{k: _jax(v) for k, v in _LOSS.items()}, **_SETTINGS),
    # labs.grpo.exercises: a check takes whatever the student wrote, attacked by
    # tests/common/test_exercises_hostile.py.
    "labs.grpo.exercises.check_advantages_from_rewards": lambda: call(
        fn=_student_advantages, fixed=("fn",)
    ),
    "labs.grpo.exercises.check_k3_estimator": lambda: call(fn=_student_k3, fixed=("fn",)),
    "labs.grpo.exercises.check_clipped_objective": lambda: call(fn=_student_clip, fixed=("fn",)),
    "labs.grpo.exercises.check_choose_group_size": lambda: call(
        fn=_student_group_size, fixed=("fn",)
    ),
    # labs.grpo.widgets
    "labs.grpo.widgets.plot_group_advantages": lambda: call(group_size=4, n_correct=1, ax=None),
    "labs.grpo.widgets.advantage_explorer": lambda: call(max_group_size=16),
}

# (key, parameter, mutation) -> why this hostile class is a legitimate input there.
ACCEPTED: dict[tuple[str, str, str], str] = {
    ("labs.grpo.config.GRPOConfig", "seed", "huge-int"): "any seed in [0, 2**62] seeds torch",
    ("labs.grpo.config.PPOConfig", "seed", "huge-int"): "any seed in [0, 2**62] seeds torch",
    ("labs.grpo.training.new_policy", "seed", "huge-int"): "any seed in [0, 2**62] seeds torch",
    ("labs.grpo.training.warm_up", "seed", "huge-int"): "any seed in [0, 2**62] seeds torch",
    ("labs.grpo.evaluation.evaluate", "seed", "huge-int"): "any seed in [0, 2**62] seeds torch",
    (
        "labs.grpo.evaluation.evaluate_at_k",
        "seed",
        "huge-int",
    ): "any seed in [0, 2**62] seeds torch",
    ("labs.grpo.ladder.ladder_config", "seed", "huge-int"): "any seed in [0, 2**62] seeds torch",
    ("labs.grpo.countdown.CountdownTask", "seed", "huge-int"): "any seed in [0, 2**62] seeds NumPy",
    ("labs.grpo.ladder.block_means", "values", "array-int-dtype"): (
        "integer values (counts, lengths) have a mean like any other numbers"
    ),
    ("labs.grpo.metrics.majority_at_k", "answers", "ids-negative"): (
        "-1 is the documented marker of a malformed sample (answers below -1 are refused)"
    ),
    ("labs.grpo.metrics.pass_at_k", "correct", "ids-float-dtype"): (
        "0/1 floats are a documented form of `correct` (other values are refused)"
    ),
    ("labs.grpo.metrics.majority_at_k", "answers", "ids-huge"): (
        "an answer is any integer a sample states; a huge one is a valid (wrong) answer"
    ),
    ("labs.grpo.metrics.majority_at_k", "targets", "ids-huge"): (
        "a right answer may be any non-negative integer"
    ),
    ("labs.grpo.ladder.run_rung", "eval_seed", "huge-int"): "any seed in [0, 2**62] seeds torch",
    **{
        (key, "mask", "array-int-dtype"): "a mask of 0/1 integers is a documented, valid mask"
        for key in (
            "labs.grpo.reference.grpo_loss",
            "labs.grpo.torch_kernels.grpo_loss",
            "labs.grpo.jax.grpo_loss",
        )
    },
    ("labs.grpo.step_cost.measure_step", "activation_bytes", "huge-int"): (
        "a byte count someone measured: 10^15 bytes is large but a valid number to report"
    ),
}
