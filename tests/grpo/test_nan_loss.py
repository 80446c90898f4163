"""Chapter 5's loops stop at the first NaN: a NaN loss, or NaN policy weights before sampling."""

import numpy as np
import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.grpo import GRPOConfig, PPOConfig, training
from labs.grpo import torch as gtorch

TASK = AdditionTask()
GRPO = GRPOConfig(steps=2, prompts_per_step=2, group_size=4)
PPO = PPOConfig(steps=2, prompts_per_step=2, group_size=4)


def tiny(nan=False):
    policy = gtorch.new_policy(TASK, seed=0, d_model=16, n_layers=1, n_heads=2)
    if nan:
        with torch.no_grad():
            for weight in policy.parameters():
                weight.fill_(float("nan"))
    return policy


def test_warm_up_stops_at_the_first_nan_loss():
    """Before the check warm_up returned a list of NaNs for a NaN policy; the control runs."""
    losses = gtorch.warm_up(tiny(), TASK, steps=2, batch_size=4)
    assert len(losses) == 2 and np.all(np.isfinite(losses))
    with pytest.raises(ValueError, match=r"became nan at step 1 of 2 with lr = 0.003\b.*lower lr"):
        gtorch.warm_up(tiny(nan=True), TASK, steps=2, batch_size=4)


@pytest.mark.parametrize("trainer", ["grpo", "ppo"])
def test_rl_loops_name_the_step_when_the_policy_is_nan(trainer):
    """A NaN policy samples from NaN probabilities: before the check torch.multinomial raised
    a RuntimeError from inside the sampler ("probability tensor contains either inf, nan or
    element < 0"); now the loop stops before sampling at step 1, naming the weight, the step and
    the learning rate. The same call on a sound policy runs through."""
    run = {
        "grpo": lambda p, **kw: gtorch.train_grpo(TASK, p, GRPO, **kw)[-1],
        "ppo": lambda p, **kw: gtorch.train_ppo(TASK, p, PPO, **kw)[-1],
    }[trainer]
    log = run(tiny())  # the control
    assert len(log.history["loss"]) == 2 and np.all(np.isfinite(log.history["loss"]))
    with pytest.raises(ValueError, match=r"weight 'tok.weight' holds NaN or inf at step 1 of 2 "
                       r"with lr = 0.0005: the policy given"):  # fmt: skip
        run(tiny(nan=True))
    # A NaN reference leaves the samples sound but makes the KL term, hence the loss, NaN.
    with pytest.raises(ValueError, match=r"became nan at step 1 of 2 with lr = 0.0005\b"):
        run(tiny(), reference=tiny(nan=True))


def test_finite_weights_says_diverged_after_the_first_step():
    policy = tiny()
    training._finite_weights(policy, 1, 5, 1e-3)  # sound: nothing raised
    with torch.no_grad():
        policy.head.weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"'head.weight' holds NaN or inf at step 3 of 5 with "
                       r"lr = 0.001: the run diverged; lower lr"):  # fmt: skip
        training._finite_weights(policy, 3, 5, 1e-3)
