"""Chapter 5 in PyTorch: the GRPO kernels (differentiable), a tiny policy, its sampler, and the
training loops, all reachable from here (`from labs.grpo import torch as grpo_torch`).

Taught in chapter 5, "The three kernels" (the kernels), "Training on the toy task" (the policy,
the warm-up and GRPO) and "The PPO baseline, with a critic" (PPO). Each lives in its own module:

* `labs.grpo.torch_kernels`: group_advantages, kl_k3, grpo_loss (the NumPy reference's twins);
* `labs.grpo.policy`: TinyPolicy, ValueModel, sample, greedy, completion_logprobs;
* `labs.grpo.training`: warm_up, train_grpo, what a step costs;
* `labs.grpo.evaluation`: evaluate, evaluate_at_k;
* `labs.grpo.ppo`: gae, train_ppo;
* `labs.grpo.peak_memory`: peak_memory, the measured peak of one call.
"""

from __future__ import annotations

from labs.grpo.evaluation import evaluate, evaluate_at_k
from labs.grpo.peak_memory import peak_memory
from labs.grpo.policy import Block as Block  # not in __all__: a part of TinyPolicy
from labs.grpo.policy import (
    TinyPolicy,
    ValueModel,
    completion_logprobs,
    greedy,
    num_parameters,
    sample,
)
from labs.grpo.ppo import gae, train_ppo
from labs.grpo.torch_kernels import group_advantages, grpo_loss, informative_groups, kl_k3
from labs.grpo.training import (
    TrainLog,
    measure_step,
    new_policy,
    train_grpo,
    warm_up,
)

__all__ = [
    "TinyPolicy",
    "TrainLog",
    "ValueModel",
    "completion_logprobs",
    "evaluate",
    "evaluate_at_k",
    "gae",
    "greedy",
    "group_advantages",
    "grpo_loss",
    "informative_groups",
    "kl_k3",
    "measure_step",
    "new_policy",
    "num_parameters",
    "peak_memory",
    "sample",
    "train_grpo",
    "train_ppo",
    "warm_up",
]
