"""Regression tests for the worst bad-input cases found in labs.grpo, each with its exact error."""

import dataclasses
import math

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.grpo import GRPOConfig, PPOConfig, grpo_loss, kl_k3
from labs.grpo import jax as gjax
from labs.grpo import torch as gtorch
from labs.grpo.widgets import plot_group_advantages

TASK = AdditionTask()


def tiny():
    return gtorch.new_policy(TASK, seed=0, d_model=8, n_layers=1, n_heads=2)


def test_train_grpo_refuses_a_dict_for_its_config():
    # An empty dict used to be read as "no config" and train the defaults silently.
    with pytest.raises(TypeError, match=r"config must be a GRPOConfig, got dict \{\}"):
        gtorch.train_grpo(TASK, tiny(), {})
    with pytest.raises(TypeError, match=r"config must be a PPOConfig, got dict \{\}"):
        gtorch.train_ppo(TASK, tiny(), {})


def test_configs_are_keyword_only_and_frozen():
    with pytest.raises(TypeError):
        GRPOConfig(10)  # positional fields are refused
    config = PPOConfig(steps=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.steps = 3


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("steps", 10**15, "steps must be <= 100000"),
        ("group_size", 10**15, "group_size must be <= 32768"),
        ("prompts_per_step", 10**6, "prompts_per_step must be <= 8192"),
        ("lr", math.nan, "lr must be finite"),
    ],
)
def test_config_sizes_are_capped(field, value, fragment):
    with pytest.raises(ValueError, match=fragment):
        GRPOConfig(**{field: value})


@pytest.mark.parametrize("gap", [100.0, 800.0])
def test_kl_k3_of_a_huge_log_ratio_is_finite_and_equal_in_every_framework(gap):
    # d = ref_logp - logp = gap exceeds exp()'s range in float32 (88.7) or even float64 (709):
    # the log-ratio is capped at MAX_LOG_RATIO = 64 in all three, so k3 = e^64 - 64 - 1.
    logp, ref = np.array([-gap, -1.0]), np.array([0.0, -1.0])
    expected = [math.expm1(64.0) - 64.0, 0.0]
    np.testing.assert_allclose(kl_k3(logp, ref), expected, rtol=1e-12)
    for dtype in (torch.float32, torch.float64):
        got = gtorch.kl_k3(torch.tensor(logp, dtype=dtype), torch.tensor(ref, dtype=dtype))
        np.testing.assert_allclose(got.double().numpy(), expected, rtol=1e-6)
    got = gjax.kl_k3(jnp.asarray(logp, jnp.float32), jnp.asarray(ref, jnp.float32))
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=1e-6)


def test_grpo_loss_of_a_huge_ratio_is_finite_in_every_framework():
    # logp - old_logp = 100: exp() overflows float32; with a zero advantage inf * 0 was NaN.
    logp, old = np.array([[0.0, 0.0]]), np.array([[-100.0, -1.0]])
    args = (logp, old, logp, np.zeros(1), np.ones((1, 2)))
    loss, _ = grpo_loss(*args)
    t_loss, _ = gtorch.grpo_loss(*(torch.tensor(a, dtype=torch.float32) for a in args))
    j_loss, _ = gjax.grpo_loss(*(jnp.asarray(a, jnp.float32) for a in args))
    assert math.isfinite(loss) and math.isfinite(float(t_loss)) and math.isfinite(float(j_loss))


def test_sample_refuses_token_ids_outside_the_vocabulary():
    policy = tiny()
    prompts = torch.as_tensor(TASK.prompts(TASK.train[:2]))
    top = TASK.vocab_size - 1
    with pytest.raises(ValueError, match=f"eos_id must be <= {top}, got 99"):
        gtorch.sample(policy, prompts, 2, eos_id=99, pad_id=0)
    with pytest.raises(ValueError, match="pad_id must be >= 0, got -1"):
        gtorch.sample(policy, prompts, 2, eos_id=1, pad_id=-1)
    with pytest.raises(
        ValueError, match=rf"prompts must lie in \[0, {TASK.vocab_size}\), got a value of 99"
    ):
        gtorch.sample(policy, torch.full((2, 3), 99), 2, eos_id=1, pad_id=0)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, \d+\), got a value of -1"):
        policy(torch.full((2, 3), -1))


def test_sample_refuses_a_completion_longer_than_the_context():
    policy = tiny()
    prompts = torch.as_tensor(TASK.prompts(TASK.train[:2]))
    room = policy.max_len - prompts.shape[1]
    with pytest.raises(ValueError, match=f"max_new_tokens must be <= {room}"):
        gtorch.sample(policy, prompts, 10**6, eos_id=1, pad_id=0)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None"):
        gtorch.sample(policy, prompts, 2, eos_id=1, pad_id=0, generator=np.random.default_rng())


def test_one_frameworks_arrays_are_refused_on_another_path():
    lp = np.zeros((2, 2))
    with pytest.raises(TypeError, match="logp must be a torch.Tensor, got a NumPy array"):
        gtorch.grpo_loss(lp, *(torch.zeros(2, 2) for _ in range(2)), torch.zeros(2),
                         torch.ones(2, 2))  # fmt: skip
    with pytest.raises(TypeError, match="rewards must be a NumPy array, got a torch tensor"):
        from labs.grpo import group_advantages

        group_advantages(torch.zeros(4), 2)
    with pytest.raises(TypeError, match="logp must be a JAX or NumPy array, got a torch tensor"):
        gjax.kl_k3(torch.zeros(2), jnp.zeros(2))


def test_policy_refuses_a_task_it_cannot_read():
    small = gtorch.TinyPolicy(5, max_len=4, d_model=8, n_layers=1, n_heads=2)
    with pytest.raises(ValueError, match="policy must cover the task's vocabulary"):
        gtorch.warm_up(small, TASK, steps=1)
    with pytest.raises(ValueError, match="vocab_size must be <= 65536"):
        gtorch.TinyPolicy(10**12)


def test_widget_group_size_is_capped():
    with pytest.raises(ValueError, match="group_size must be <= 1024"):
        plot_group_advantages(10**15, 1)


def test_a_mistyped_step_count_is_refused_before_training():
    import time

    policy = gtorch.TinyPolicy(TASK.vocab_size, max_len=12, d_model=8, n_layers=1, n_heads=2)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="steps must be <= 100000"):
        gtorch.warm_up(policy, TASK, steps=10**9)
    assert time.perf_counter() - start < 1
