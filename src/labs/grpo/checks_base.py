"""Chapter 5's argument checks, the shared part: the caps and named choices (sizes, rewards, KL
placements, loss types) and the small checks the others build on (a value in [0, 1], host
values, one device, a 0/1 mask). They take anything with `.shape` and `.dtype` and read values
only for host-resident data, so a GPU kernel never waits for a validation read.

Taught with chapter 5, "The three kernels" and "Training on the toy task", whose functions check
their arguments through `labs.grpo.checks_kernels`, `checks_training` and `checks_experiments`.

Helpers of the public API, not part of it: `__all__` is empty, and the hostile-input suite
attacks them through the entry points that call them. `labs.grpo.checks` re-exports every name.
"""

from __future__ import annotations

import numpy as np

from labs.common.validate import (
    array,
    real_number,
)
from labs.common.validate import host_values as validate_host_values

__all__: list[str] = []

REWARDS = ("correct_and_format", "format_only", "at_least_sum")

# The largest policy the toy task uses is ~10^5 parameters; these caps (a 65,536-token
# vocabulary, width 1,024, 48 layers, 4,096 positions) keep a mistyped size from allocating
# gigabytes, and are far beyond what a laptop trains in a chapter.
MAX_VOCAB = 65_536
MAX_WIDTH = 1_024
MAX_LAYERS = 48
MAX_LEN = 4_096
MAX_BATCH = 65_536  # sequences in one batch: the largest GRPO step (see GRPOConfig)
MAX_STEPS = 100_000  # optimiser steps of a run: about a second each on a laptop CPU
MAX_UPDATES_PER_BATCH = 100
MAX_SAMPLING_ROUNDS = 16  # dynamic sampling: batches drawn per step at most (16x the cost)
MAX_COMPLETION = 2**20  # tokens: the longest max_completion_length "dr_grpo" may divide by
# |advantage| at most: group advantages stay below sqrt(G) <= 256 and whitened PPO advantages
# are a few units; with the ratio at its cap (e^64 ~ 6e27) a larger one could overflow a
# float32 sum of the loss's terms, and one near float64's maximum overflows even there (NaN).
MAX_ADVANTAGE = 1e4
MAX_LOGIT = 1e4  # |logit| at most in kl_gradients: softmax's log-probabilities stay finite

# Where PPO's KL penalty sits: in the per-token reward (eq. 2) or, as in GRPO, in the loss.
# GRPO also takes "reward_k3": in the reward, but summed k3 instead of summed k1 (the cross arm
# that separates the estimator from the placement; PPO refuses it).
KL_PENALTIES = ("reward", "loss")
GRPO_KL_PENALTIES = (*KL_PENALTIES, "reward_k3")

# How grpo_loss averages its per-token terms (TRL's `loss_type`, see labs.grpo.reference).
LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")


def unit_interval(name: str, value) -> float:
    """`value` as a float in [0, 1]; TypeError/ValueError naming `name` otherwise."""
    value = real_number(name, value)
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def host_values(x) -> np.ndarray | None:
    """The values of `x` when they live in host memory, else None (labs.common.validate)."""
    return validate_host_values(x)


def same_device(*named) -> None:
    """ValueError unless every (name, tensor) pair sits on the device of the first one."""
    (first_name, first), *rest = named
    for name, x in rest:
        if x.device != first.device:
            raise ValueError(
                f"{name} must be on the device of {first_name} ({first.device}), got {x.device}"
            )


def mask_array(name: str, mask, shape: tuple[int, ...], *, framework: str):
    """A mask of booleans or 0/1 numbers with the given shape (values checked on the host)."""
    mask = array(name, mask, framework=framework, dtype=("bool", "int", "float"))
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(
            f"{name} must have the shape of logp {tuple(shape)}, got {tuple(mask.shape)}"
        )
    host = host_values(mask)
    if host is not None and not np.isin(host, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return mask
