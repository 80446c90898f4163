"""Chapter 6 in PyTorch: the distillation losses, the classification and sequence-level
distillation loops, and the teacher, all reachable from here
(`from labs.distill import torch as distill_torch`).

Taught in chapter 6. Each lives in its own module:

* `labs.distill.torch_kernels`: soft_targets, distillation_loss (the NumPy reference's twins);
* `labs.distill.classify`: MLP, train_classifier, classifier_accuracy, soft_gradient_norm;
* `labs.distill.sequence`: sequence_distillation_data, distill_on_traces, grpo_on_student,
  greedy_accuracy;
* `labs.distill.baselines`: supervise_on_answers, group_statistics, greedy_answers;
* `labs.distill.teacher`: train_teacher, save_teacher, load_teacher, time_teacher_recipe.
"""

from __future__ import annotations

from labs.distill.baselines import greedy_answers, group_statistics, supervise_on_answers
from labs.distill.classify import MLP, classifier_accuracy, soft_gradient_norm, train_classifier
from labs.distill.sequence import (
    Curve,
    distill_on_traces,
    greedy_accuracy,
    grpo_on_student,
    sequence_distillation_data,
)
from labs.distill.teacher import load_teacher, save_teacher, time_teacher_recipe, train_teacher
from labs.distill.torch_kernels import distillation_loss, soft_targets

__all__ = [
    "MLP",
    "Curve",
    "classifier_accuracy",
    "distill_on_traces",
    "distillation_loss",
    "greedy_accuracy",
    "greedy_answers",
    "group_statistics",
    "grpo_on_student",
    "load_teacher",
    "save_teacher",
    "sequence_distillation_data",
    "soft_gradient_norm",
    "soft_targets",
    "supervise_on_answers",
    "time_teacher_recipe",
    "train_classifier",
    "train_teacher",
]
