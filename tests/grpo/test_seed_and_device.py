"""Seeds past torch's 64 bits and tensors on another device than the model, refused at the
boundary of labs.grpo with an error naming the parameter (second hostile-input audit).

A `meta` tensor stands for a tensor on another device (a GPU) on this CPU-only machine."""

import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.grpo import GRPOConfig, PPOConfig
from labs.grpo.countdown import CountdownTask
from labs.grpo.evaluation import evaluate, evaluate_at_k
from labs.grpo.ladder import ladder_config, run_rung
from labs.grpo.policy import TinyPolicy, ValueModel, completion_logprobs, greedy, sample
from labs.grpo.training import _generators, new_policy, warm_up

TASK = AdditionTask()
HUGE = 10**30  # torch used to fail deep inside: "Overflow when unpacking long long"
TOO_BIG = r"must be <= 2\*\*62"


def tiny():
    return new_policy(TASK, seed=0, d_model=8, n_layers=1, n_heads=2)


def test_new_policy_refuses_a_seed_past_2_62_and_takes_2_62():
    with pytest.raises(ValueError, match=rf"^seed {TOO_BIG}.*got {HUGE}"):
        new_policy(TASK, seed=HUGE, d_model=8, n_layers=1, n_heads=2)
    new_policy(TASK, seed=2**62, d_model=8, n_layers=1, n_heads=2)  # the largest valid seed


def test_warm_up_refuses_a_huge_seed():
    with pytest.raises(ValueError, match=rf"^seed {TOO_BIG}"):
        warm_up(tiny(), TASK, steps=1, batch_size=2, seed=HUGE)


@pytest.mark.parametrize("function", [evaluate, evaluate_at_k])
def test_evaluation_refuses_a_huge_seed(function):
    samples = {"samples": 2, "ks": (1, 2)} if function is evaluate_at_k else {"samples": 1}
    with pytest.raises(ValueError, match=rf"^seed {TOO_BIG}"):
        function(tiny(), TASK, TASK.train[:2], seed=HUGE, **samples)


@pytest.mark.parametrize("cls", [GRPOConfig, PPOConfig])
def test_configs_refuse_a_huge_seed(cls):
    # train_grpo, train_ppo and run_rung read config.seed: the config refuses it when made
    with pytest.raises(ValueError, match=rf"^seed {TOO_BIG}"):
        cls(seed=HUGE)
    with pytest.raises(ValueError, match=rf"^seed {TOO_BIG}"):
        ladder_config("grpo", steps=1, seed=HUGE)


def test_generators_refuse_a_seed_whose_offset_leaves_64_bits():
    # the second stream is seeded with seed + 1_000_003; 2**64 used to overflow inside torch
    with pytest.raises(ValueError, match=rf"^seed {TOO_BIG}"):
        _generators(2**64)
    first, second = _generators(2**62)
    assert first.initial_seed() == 2**62 and second.initial_seed() == 2**62 + 1_000_003


def test_run_rung_refuses_a_huge_eval_seed():
    config = ladder_config("dapo", steps=1, prompts_per_step=1, group_size=2)
    with pytest.raises(ValueError, match=rf"^eval_seed {TOO_BIG}"):
        run_rung(TASK, tiny(), config, eval_seed=HUGE)


def test_countdown_task_refuses_a_huge_seed():
    with pytest.raises(ValueError, match=rf"^seed {TOO_BIG}"):
        CountdownTask(n_problems=10, seed=2**63)


def _ids(device="cpu"):
    return torch.tensor([[1, 2, 3], [4, 5, 6]], device=device)


@pytest.mark.parametrize("cls", [TinyPolicy, ValueModel])
def test_forward_refuses_ids_on_another_device(cls):
    # ValueModel used to return a (2, 3) tensor of NaN, TinyPolicy garbage logits
    model = cls(12, max_len=6, d_model=8, n_layers=1, n_heads=2)
    with pytest.raises(
        ValueError, match=r"^ids must be on the device of the model's weights \(cpu\), got .* meta"
    ):
        model(_ids("meta"))
    assert model(_ids()).shape[:2] == (2, 3)


def test_completion_logprobs_refuses_tensors_on_another_device():
    policy = TinyPolicy(12, max_len=8, d_model=8, n_layers=1, n_heads=2)
    with pytest.raises(
        ValueError, match=r"^prompts must be on the device of the policy's weights \(cpu\)"
    ):
        completion_logprobs(policy, _ids("meta"), _ids("meta"))
    with pytest.raises(ValueError, match=r"^completions must be on the device of prompts \(cpu\)"):
        completion_logprobs(policy, _ids(), _ids("meta"))
    assert completion_logprobs(policy, _ids(), _ids()).shape == (2, 3)


def test_sampling_refuses_prompts_on_another_device():
    policy = TinyPolicy(12, max_len=8, d_model=8, n_layers=1, n_heads=2)
    match = r"^prompts must be on the device of the policy's weights \(cpu\), got .* meta"
    with pytest.raises(ValueError, match=match):
        sample(policy, _ids("meta"), 2, eos_id=10, pad_id=11)
    with pytest.raises(ValueError, match=match):
        greedy(policy, _ids("meta"), 2)
