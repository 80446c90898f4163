"""Chapter 6 argument checks, written once for the NumPy, torch and JAX entry points.

Taught in chapter 6, "Soft targets" (the checks run before every kernel of the chapter). Each
check takes anything with `.shape` and `.dtype` and raises a `ValueError` or `TypeError` naming
the parameter, before a framework sees the data.
"""

from __future__ import annotations

import numpy as np

from labs.common import validate
from labs.common.validate import (
    array,
    boolean,
    host_values,
    instance,
    integer_array,
    learning_rate,
    on_module_device,
    real_number,
    same_device,
    same_shape,
    size,
)

# The two checks of the losses are public (the hostile walker attacks them directly); the others
# are checked through the torch loops that call them.
__all__ = ["check_distillation_args", "check_soft_targets_args"]

MAX_STEPS = 100_000  # a typo beyond it would run for hours
MAX_BATCH = 65_536


# The soft term of the loss is scaled by T^2 (Hinton et al. 2015, §2). Its KL shrinks like 1/T^2
# while float32's rounding of the log-probabilities does not, so the rounding's share of the loss
# grows like T^2: measured against float64 on 64 x 10 logits of scale 3 (worst of five draws),
# 3e-5 at T = 100 and 3e-3 at T = 1,000, so about a third at T = 10^4. The chapter trains at T
# from 1 to 8 and measures the gradient up to T = 32; softmax(z / T) alone (soft_targets, the
# explorer's slider from 0.25 to 20) takes any T > 0.
MAX_LOSS_TEMPERATURE = 1_000.0


def _temperature(temperature) -> float:
    return real_number("temperature", temperature, positive=True)


def _loss_temperature(temperature) -> float:
    temperature = _temperature(temperature)
    if temperature > MAX_LOSS_TEMPERATURE:
        raise ValueError(
            f"temperature must be <= {MAX_LOSS_TEMPERATURE:g} in a distillation loss (its T^2 "
            f"scale multiplies float32's rounding, 0.3% of the loss at T = 1000), got {temperature}"
        )
    return temperature


def check_soft_targets_args(logits, temperature, *, framework: str = "numpy"):
    """(logits, temperature) once checked: float logits with a class axis, temperature > 0."""
    logits = array("logits", logits, framework=framework, min_ndim=1)
    return logits, _temperature(temperature)


def check_distillation_args(
    student_logits,
    teacher_logits,
    temperature=2.0,
    labels=None,
    alpha=0.5,
    mask=None,
    *,
    framework: str = "numpy",
):
    """Arguments of `distillation_loss`, checked once for every framework.

    Logits: float arrays of one shape (..., V) with at least one example axis; labels: None or
    integer ids in [0, V) of shape (...); mask: None or 0/1 weights of shape (...) (float, int or
    bool) selecting at least one position; 0 < temperature <= MAX_LOSS_TEMPERATURE; alpha in [0, 1].
    torch tensors must all lie on the device of `student_logits`.
    """
    student = array("student_logits", student_logits, framework=framework, min_ndim=2)
    teacher = array("teacher_logits", teacher_logits, framework=framework, min_ndim=2)
    same_shape(("student_logits", student), ("teacher_logits", teacher))
    temperature = _loss_temperature(temperature)
    alpha = real_number("alpha", alpha, minimum=0.0, maximum=1.0)
    positions, vocab = tuple(student.shape[:-1]), int(student.shape[-1])
    if labels is not None:
        labels = integer_array("labels", labels, framework=framework, low=0, high=vocab)
        if tuple(labels.shape) != positions:
            raise ValueError(
                f"labels must have shape {positions} (the logits without their class axis), "
                f"got {tuple(labels.shape)}"
            )
    if mask is not None:
        mask = array("mask", mask, framework=framework, dtype=("float", "int", "bool"))
        if tuple(mask.shape) != positions:
            raise ValueError(
                f"mask must have shape {positions} (the logits without their class axis), "
                f"got {tuple(mask.shape)}"
            )
    if framework == "torch":  # one device: a mix fails inside torch, or gives garbage
        same_device(("student_logits", student), ("teacher_logits", teacher), ("labels", labels),
                    ("mask", mask))  # fmt: skip
    if mask is not None:
        values = host_values(mask)
        if values is not None:
            values = values.astype(np.float64)
            if not np.all((values == 0) | (values == 1)):
                raise ValueError("mask must hold only 0 and 1 (or False and True)")
            if values.sum() == 0:
                raise ValueError("mask must select at least one position; it is all zero")
    return student, teacher, temperature, labels, alpha, mask


def check_features(x, inputs: int, model=None):
    """Float features (N, inputs) as a torch tensor, on `model`'s device when a model is given."""
    x = array("x", x, framework="torch", ndim=2)
    if x.shape[1] != inputs:
        raise ValueError(f"x must have {inputs} features, got shape {tuple(x.shape)}")
    if model is not None:
        on_module_device("the model", model, ("x", x))
    return x


def check_classifier_data(model, model_type: type, x, y):
    """(x float32 (N, D), y int64 (N,)) for `model`, a `model_type` with .inputs and .classes;
    both on the device of the model's parameters."""
    instance("model", model, model_type, f"a {model_type.__name__}")
    x = check_features(x, model.inputs)
    y = integer_array("y", y, framework="torch", ndim=1, low=0, high=model.classes)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y must hold one label per row of x ({x.shape[0]}), got {y.shape[0]}")
    on_module_device("the model", model, ("x", x), ("y", y))
    return x.float(), y.long()


def check_training_args(
    teacher_logits, shape, temperature, alpha, steps, batch_size, lr, seed, *, x=None
):
    """Checked settings of `train_classifier`; teacher_logits None or float of `shape`, on the
    device of the features `x` when they are given; a seed in [0, 2**62]."""
    if teacher_logits is not None:
        teacher_logits = array("teacher_logits", teacher_logits, framework="torch", ndim=2)
        same_device(("x", x), ("teacher_logits", teacher_logits))
        if tuple(teacher_logits.shape) != tuple(shape):
            raise ValueError(
                f"teacher_logits must have shape {tuple(shape)} (one row of class logits per "
                f"example), got {tuple(teacher_logits.shape)}"
            )
        teacher_logits = teacher_logits.float()
    return (
        teacher_logits,
        _loss_temperature(temperature),
        real_number("alpha", alpha, minimum=0.0, maximum=1.0),
        size("steps", steps, maximum=MAX_STEPS),
        size("batch_size", batch_size, maximum=MAX_BATCH),
        learning_rate("lr", lr),
        validate.seed("seed", seed),
    )


def check_gradient_args(student_logits, teacher_logits, temperature, scaled):
    """(student, teacher, temperature) of `soft_gradient_norm`: torch logits of one shape (N, V)."""
    s = array("student_logits", student_logits, framework="torch", ndim=2)
    t = array("teacher_logits", teacher_logits, framework="torch", ndim=2)
    same_shape(("student_logits", s), ("teacher_logits", t))
    same_device(("student_logits", s), ("teacher_logits", t))
    boolean("scaled", scaled)
    return s, t, _loss_temperature(temperature)


def check_cluster_args(n, classes, dim, noise, pair_distance, task_seed, seed, *, max_examples):
    """The arguments of `labs.distill.data.cluster_data`, checked."""
    n = size("n", n, maximum=max_examples)
    classes = size("classes", classes, minimum=2, maximum=1000)
    if classes % 2:
        raise ValueError(f"classes must be even (the centres come in pairs), got {classes}")
    dim = size("dim", dim, maximum=1000)
    noise = real_number("noise", noise, positive=True)
    pair_distance = real_number("pair_distance", pair_distance, positive=True)
    task_seed, seed = validate.seed("task_seed", task_seed), validate.seed("seed", seed)
    return n, classes, dim, noise, pair_distance, task_seed, seed


def check_teacher_recipe(task, warmup_steps, rl_steps, seed) -> tuple[int, int, int]:
    """The teacher recipe's sizes: steps <= 10,000 each (minutes each at most), a seed in
    [0, 2**62] (torch's generators take at most 2**64 - 1)."""
    from labs.grpo.training import check_models

    check_models(task)
    warmup_steps = size("warmup_steps", warmup_steps, maximum=10_000)
    rl_steps = size("rl_steps", rl_steps, maximum=10_000)
    return warmup_steps, rl_steps, validate.seed("seed", seed)


def check_teacher_save(policy, record, path):
    """A TinyPolicy, a dict record and a .pt path to save them to (as a Path)."""
    from pathlib import Path

    from labs.common.validate import text
    from labs.grpo.policy import TinyPolicy

    instance("policy", policy, TinyPolicy, "a TinyPolicy")
    instance("record", record, dict, "a dict")
    path = Path(text("path", str(path)) if not isinstance(path, Path) else path)
    if path.suffix != ".pt":
        raise ValueError(f"path must end in .pt, got {str(path)!r}")
    return path


def check_teacher_checkpoint(path):
    """A path (str or Path) to an existing .pt checkpoint with its .json record beside it."""
    from pathlib import Path

    instance("path", path, (str, Path), "a path")
    path = Path(path)
    if path.suffix != ".pt" or not path.is_file() or not path.with_suffix(".json").is_file():
        raise ValueError(f"path must name a .pt teacher checkpoint with its .json, got {path}")
    return path
