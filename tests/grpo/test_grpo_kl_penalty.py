"""Where GRPO's KL penalty sits (`GRPOConfig(kl_penalty=...)`): in the loss as beta * k3 (eq. 3,
the default) or, mirroring PPO, in the reward: each completion's reward loses beta times the sum
over its tokens of log(pi_old / pi_ref) before the group advantages.

Expected values come from the definitions (the raw reward minus beta times the summed per-token
estimate; beta handed to the loss or not), never from the code under test. The committed sweep
is tested in test_grpo_kl_reward_sweep.py."""

import copy
import functools

import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.grpo import GRPOConfig, training
from labs.grpo import torch as gtorch

TASK = AdditionTask()
SMALL = {"steps": 2, "prompts_per_step": 2, "group_size": 3, "updates_per_batch": 2, "seed": 4}


def tiny(seed=0):
    return gtorch.new_policy(TASK, seed=seed, d_model=16, n_layers=1, n_heads=2)


def _moved(seed=0):
    start, reference = _moved_once(seed)
    return copy.deepcopy(start), reference


@functools.cache
def _moved_once(seed):
    """A briefly warmed-up policy (so that rewards in a group differ and advantages are not all
    0), moved off its reference, so that log pi_old - log pi_ref is not 0."""
    start = tiny(seed)
    gtorch.warm_up(start, TASK, steps=40, batch_size=32, seed=seed)
    reference = copy.deepcopy(start)
    for p in reference.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed)
        for p in start.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return start, reference


def _train(start, reference, **fields):
    policy, log = gtorch.train_grpo(
        TASK, copy.deepcopy(start), GRPOConfig(**SMALL, **fields), reference=reference
    )
    return [p.detach().clone() for p in policy.parameters()], log


def test_with_beta_zero_both_placements_take_the_same_steps_and_with_beta_they_differ():
    start, reference = _moved()
    start_weights = [p.detach().clone() for p in start.parameters()]
    in_reward, log_r = _train(start, reference, beta=0.0, kl_penalty="reward")
    in_loss, log_l = _train(start, reference, beta=0.0, kl_penalty="loss")
    assert all(torch.equal(a, b) for a, b in zip(in_reward, in_loss, strict=True))
    assert log_r.history == log_l.history
    assert any(not torch.equal(a, b) for a, b in zip(start_weights, in_loss, strict=True))
    # Negative control: with a penalty large enough to act, the two placements part.
    in_reward, _ = _train(start, reference, beta=0.5, kl_penalty="reward")
    in_loss, _ = _train(start, reference, beta=0.5, kl_penalty="loss")
    assert any(not torch.equal(a, b) for a, b in zip(in_reward, in_loss, strict=True))


def _spy(monkeypatch):
    """Record the raw rewards, the rewards the advantages are made from, and the loss's args."""
    seen = {"raw": [], "advantaged": [], "loss": []}
    real_rewards, real_adv, real_loss = training._rewards, training._advantages, training._grpo_loss

    def rewards(task, problems, completions, config):
        out = real_rewards(task, problems, completions, config)
        seen["raw"].append(out[0].clone())
        return out

    def advantages(r, config):
        seen["advantaged"].append(r.clone())
        return real_adv(r, config)

    def loss(*args):
        seen["loss"].append(args)
        return real_loss(*args)

    monkeypatch.setattr(training, "_rewards", rewards)
    monkeypatch.setattr(training, "_advantages", advantages)
    monkeypatch.setattr(training, "_grpo_loss", loss)
    return seen


@pytest.mark.parametrize("placement", ["reward", "loss"])
def test_the_penalty_goes_where_kl_penalty_says(monkeypatch, placement):
    seen = _spy(monkeypatch)
    start, reference = _moved()
    gtorch.train_grpo(TASK, start, GRPOConfig(**SMALL, beta=0.04, kl_penalty=placement),
                      reference=reference)  # fmt: skip
    betas = [args[7] for args in seen["loss"]]
    assert betas == [0.0 if placement == "reward" else 0.04] * 4  # 2 steps x 2 updates
    first_update = seen["loss"][::2]  # pi_old is the sampling policy at each step's first update
    for raw, got, args in zip(seen["raw"], seen["advantaged"], first_update, strict=True):
        old_logp, ref_logp, mask = args[1], args[2], args[4]
        if placement == "loss":
            assert torch.equal(got, raw)
        else:
            penalty = 0.04 * ((old_logp - ref_logp) * mask).sum(dim=1)
            assert penalty.abs().max() > 1e-3  # the moved policy: a penalty that can be seen
            torch.testing.assert_close(got, raw - penalty)


def test_kl_penalty_bad_input():
    with pytest.raises(ValueError, match=r"kl_penalty must be one of 'reward', 'loss'; got 'k3'"):
        GRPOConfig(kl_penalty="k3")
    with pytest.raises(ValueError, match="kl_penalty must be one of"):
        GRPOConfig(kl_penalty=None)
    with pytest.raises(ValueError, match="kl_penalty must be one of"):
        GRPOConfig(kl_penalty="Reward")
