"""Chapter 6, distillation: soft targets, learning from a teacher's traces, distillation against
RL for a small model, and what a copy does not get.

Framework-free: this module re-exports the NumPy reference of soft targets and the distillation
loss (`labs.distill.reference`), the cost model of copying (`labs.distill.costs`), the small
classification task (`labs.distill.data`), the controls that take soft targets apart
(`labs.distill.controls`) and the count of a teacher's mistakes its student repeats
(`labs.distill.inheritance`). `labs.distill.verdicts` holds the chapter's decision rules: the
paired test of whether a copy matches its teacher, and the rules of its claim checks.
`labs.distill.torch` and `labs.distill.jax` hold the same losses, differentiable;
`labs.distill.torch` also holds the training loops. Taught in chapter 6, from "Soft targets" to
the claim checks.

Hinton et al. (2015, §2): a teacher's class probabilities at a raised temperature T,

    q_i = exp(z_i / T) / sum_j exp(z_j / T),                                           (eq. 1)

are soft targets for a student, trained on T^2 KL(q_teacher || q_student), mixed with the
cross-entropy on the true labels. DeepSeek-R1 (§2.4, §4.1) distils at the level of sequences
instead: the student is fine-tuned on text the teacher wrote and never sees its logits.

This chapter reuses the GRPO chapter's task, policy and training loop (`labs.common.tasks`,
`labs.grpo`): importing from `labs.grpo` is the one exception to "a chapter imports only
`labs.common`", as the chapter compares the two ways of training the same small policy.
"""

from labs.distill.controls import pair_neighbour_mass, uniform_wrong_classes
from labs.distill.costs import (
    copy_crossover,
    distill_step_flops,
    grpo_step_flops,
    memory_bound_sampling_batch,
    sampling_flops,
    sampling_seconds,
    sampling_token_passes,
    training_seconds,
    uncached_flops,
    warm_up_flops,
)
from labs.distill.data import cluster_data
from labs.distill.inheritance import inherited_errors
from labs.distill.reference import distillation_loss, soft_targets

__all__ = [
    "cluster_data",
    "copy_crossover",
    "distill_step_flops",
    "distillation_loss",
    "grpo_step_flops",
    "inherited_errors",
    "memory_bound_sampling_batch",
    "pair_neighbour_mass",
    "sampling_flops",
    "sampling_seconds",
    "sampling_token_passes",
    "soft_targets",
    "training_seconds",
    "uncached_flops",
    "uniform_wrong_classes",
    "warm_up_flops",
]
