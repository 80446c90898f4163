"""The PPO loop's `watch` hook (`ppo._train_ppo(..., watch=...)`), which `labs.grpo.exact_kl
--method ppo` reads the exact KL with: a watched run is the unwatched run bit for bit, the watch
sees each step's logged update before the weights move, and a watch that is not callable is
refused. Expected values come from the unwatched run or a recomputation here, never from the
watch's own output."""

import copy

import pytest
import torch

from labs.grpo import PPOConfig
from labs.grpo.kl_spikes import _look
from labs.grpo.policy import _completion_logprobs
from labs.grpo.ppo import _train_ppo
from labs.grpo.training import _frozen_copy
from tests.grpo.test_grpo_watch import STEPS, TASK, _same, _start  # the GRPO loop's set-up


def _run(seed: int, watch=None, kl_penalty: str = "reward"):
    start = _start(seed)
    config = PPOConfig(steps=STEPS, prompts_per_step=8, group_size=4, updates_per_batch=2,
                       lr=3e-3, seed=seed, kl_penalty=kl_penalty)  # fmt: skip
    policy, _, log = _train_ppo(TASK, copy.deepcopy(start), _frozen_copy(start), config, "x", watch)
    return torch.cat([p.detach().flatten() for p in policy.parameters()]), log.history


@pytest.mark.parametrize(("seed", "kl_penalty"), [(0, "reward"), (1, "loss")])
def test_a_watched_ppo_run_is_the_unwatched_run_bit_for_bit(seed, kl_penalty):
    weights, history = _run(seed, kl_penalty=kl_penalty)
    rows, calls = [], []
    look = _look(1.0, rows)

    def watch(step, policy, reference, batch):
        # the policy handed over is the one that made batch["logp"]: the weights have not moved
        again = _completion_logprobs(policy, batch["prompts"], batch["completions"], 1.0)
        calls.append((step, torch.equal(again, batch["logp"]), torch.is_grad_enabled()))
        look(step, policy, reference, batch)

    watched_weights, watched_history = _run(seed, watch, kl_penalty)
    assert torch.equal(watched_weights, weights) and _same(watched_history, history)
    assert calls == [(step, True, False) for step in range(1, STEPS + 1)]
    # the watch saw the logged update: its k3 is the KL the loop logged (within float32 rounding)
    assert [r["k3"] for r in rows] == pytest.approx(history["kl"], rel=1e-5)

    # the control: a watch that moves one weight a little changes the run, detectably
    def nudge(step, policy, reference, batch):
        next(policy.parameters()).add_(1e-3)

    nudged_weights, nudged_history = _run(seed, nudge, kl_penalty)
    assert float((nudged_weights - weights).abs().max()) > 1e-4
    assert not _same(nudged_history, history)


def test_the_ppo_loop_refuses_a_watch_it_cannot_call():
    with pytest.raises(TypeError, match="watch must be callable, got"):
        _run(0, watch=3)
