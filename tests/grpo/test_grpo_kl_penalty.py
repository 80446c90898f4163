"""Where GRPO's KL penalty sits (`GRPOConfig(kl_penalty=...)`): in the loss as beta * k3 (eq. 3,
the default) or, mirroring PPO, in the reward: each completion's reward loses beta times the sum
over its tokens of log(pi_old / pi_ref) before the group advantages; "reward_k3", the cross arm,
subtracts the summed k3 (eq. 4) of pi_old against pi_ref instead.

Expected values come from the definitions (the raw reward minus beta times the summed per-token
estimate; beta handed to the loss or not), never from the code under test. The committed sweep
is tested in test_grpo_kl_reward_sweep.py."""

import copy
import functools

import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.grpo import GRPOConfig, PPOConfig, training
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
    # the same log, but for the diagnostics only the reward placement keeps; with beta 0 no
    # group is moved by the penalty alone
    extra = {"penalty_only_fraction", "penalty_only_abs_adv", "task_spread_abs_adv"}
    assert set(log_r.history) - set(log_l.history) == extra
    assert {k: v for k, v in log_r.history.items() if k not in extra} == log_l.history
    assert log_r.history["penalty_only_fraction"] == [0.0] * SMALL["steps"]
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


@pytest.mark.parametrize("placement", ["reward", "loss", "reward_k3"])
def test_the_penalty_goes_where_kl_penalty_says(monkeypatch, placement):
    seen = _spy(monkeypatch)
    start, reference = _moved()
    gtorch.train_grpo(TASK, start, GRPOConfig(**SMALL, beta=0.04, kl_penalty=placement),
                      reference=reference)  # fmt: skip
    betas = [args[7] for args in seen["loss"]]
    assert betas == [0.04 if placement == "loss" else 0.0] * 4  # 2 steps x 2 updates
    first_update = seen["loss"][::2]  # pi_old is the sampling policy at each step's first update
    for raw, got, args in zip(seen["raw"], seen["advantaged"], first_update, strict=True):
        old_logp, ref_logp, mask = args[1], args[2], args[4]
        k1 = 0.04 * ((old_logp - ref_logp) * mask).sum(dim=1)
        log_ratio = ref_logp - old_logp  # k3 (eq. 4) by hand: r - log r - 1, r = pi_ref / pi_old
        k3 = 0.04 * ((torch.exp(log_ratio) - log_ratio - 1) * mask).sum(dim=1)
        if placement == "loss":
            assert torch.equal(got, raw)
        else:
            penalty, other = (k1, k3) if placement == "reward" else (k3, k1)
            assert penalty.abs().max() > 1e-3  # the moved policy: a penalty that can be seen
            torch.testing.assert_close(got, raw - penalty)
            # negative control: the other estimator's penalty is not the one subtracted
            assert (got - (raw - other)).abs().max() > 1e-4


def test_kl_penalty_bad_input():
    with pytest.raises(
        ValueError, match=r"kl_penalty must be one of 'reward', 'loss', 'reward_k3'; got 'k3'"
    ):
        GRPOConfig(kl_penalty="k3")
    # the cross arm is GRPO's alone: PPO names its own two placements
    with pytest.raises(ValueError, match=r"kl_penalty must be one of 'reward', 'loss'; got 're"):
        PPOConfig(kl_penalty="reward_k3")
    with pytest.raises(ValueError, match="kl_penalty must be one of"):
        GRPOConfig(kl_penalty=None)
    with pytest.raises(ValueError, match="kl_penalty must be one of"):
        GRPOConfig(kl_penalty="Reward")


# --- kl_penalty="reward" with dynamic sampling and without a baseline ---------------------------

FOUR = {"steps": 2, "prompts_per_step": 2, "group_size": 3, "seed": 0}  # seed 0 drops groups


def _kept_by_task_reward(raws, rows):
    """DAPO's filter (Yu et al. 2025, §3.2) as the config documents it: draw rounds, keep the
    groups whose task rewards are not all equal, stop once `rows` rewards are kept. Returns the
    kept task rewards of each step and the number of groups dropped."""
    steps, kept, dropped = [], [], 0
    for raw in raws:
        groups = raw.view(-1, FOUR["group_size"])
        flat = groups.amax(dim=1) == groups.amin(dim=1)
        dropped += int(flat.sum())
        kept.append(groups[~flat].reshape(-1))
        if sum(len(k) for k in kept) >= rows:
            steps.append(torch.cat(kept)[:rows])
            kept = []
    return steps, dropped


def _summed_penalty(loss_args, beta):
    """beta * sum_t (log pi_old - log pi_ref) per completion, from the spied `_grpo_loss` call's
    (logp, old_logp, ref_logp, advantages, mask, ...), checked to be large enough to be seen."""
    old_logp, ref_logp, mask = loss_args[1], loss_args[2], loss_args[4]
    penalty = beta * ((old_logp - ref_logp) * mask).sum(dim=1)
    assert penalty.abs().max() > 1e-3  # the penalty is there and could be seen
    return penalty


def test_dynamic_sampling_filters_on_task_rewards_and_kept_groups_still_pay_the_penalty(
    monkeypatch,
):
    seen = _spy(monkeypatch)
    start, reference = _moved()
    config = GRPOConfig(**FOUR, beta=0.04, kl_penalty="reward", dynamic_sampling=True)
    gtorch.train_grpo(TASK, start, config, reference=reference)
    expected, dropped = _kept_by_task_reward(seen["raw"], config.samples_per_step)
    assert dropped >= 2 and len(expected) == 2  # groups flat in task reward were drawn, then left
    for kept, got, args in zip(expected, seen["advantaged"], seen["loss"], strict=True):
        penalty = _summed_penalty(args, beta=0.04)
        torch.testing.assert_close(got, kept - penalty)
    # Negative control: filtering the penalised rewards instead would keep the whole first
    # round (the penalty makes a flat group's rewards unequal), and that round held a group
    # flat in task reward, so its batch would differ from the one checked above.
    first = seen["raw"][0].view(-1, FOUR["group_size"])
    assert (first.amax(dim=1) == first.amin(dim=1)).any()
    assert not torch.equal(expected[0], seen["raw"][0])


def test_without_a_baseline_the_advantage_is_the_task_reward_minus_the_summed_penalty(
    monkeypatch,
):
    seen = _spy(monkeypatch)
    start, reference = _moved()
    config = GRPOConfig(**FOUR, beta=0.04, kl_penalty="reward", baseline=False)
    gtorch.train_grpo(TASK, start, config, reference=reference)
    for raw, args in zip(seen["raw"], seen["loss"], strict=True):
        penalty, advantages = _summed_penalty(args, beta=0.04), args[3]
        torch.testing.assert_close(advantages, raw - penalty)  # unnormalised, no group mean
        # Negative controls: neither the task reward alone nor its group-normalised form.
        assert (advantages - raw).abs().max() > 1e-3
        normalised = (raw - raw.view(-1, 3).mean(1).repeat_interleave(3)) / (
            raw.view(-1, 3).std(1).repeat_interleave(3) + 1e-4
        )
        assert (advantages - normalised).abs().max() > 0.1
