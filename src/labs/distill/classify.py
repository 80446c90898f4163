"""Chapter 6 logit distillation in PyTorch: a large teacher, a small student, soft targets.

Taught in chapter 6, "Soft targets on a small task" and "Why T squared". Reached as
`labs.distill.torch.MLP` and so on. The data (`labs.distill.data.cluster_data`) are points around
class centres that come in pairs of near neighbours, so a teacher's soft targets say which wrong
class is the likely one: what Hinton et al. call the dark knowledge in the small probabilities.

Axes: N examples, D input features, V classes.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from jaxtyping import Float, Int

from labs.common.progress import progress
from labs.common.validate import finite_loss, size, text
from labs.distill.checks import (
    check_classifier_data,
    check_features,
    check_gradient_args,
    check_training_args,
)
from labs.distill.torch_kernels import _distillation_loss

__all__ = ["MLP", "classifier_accuracy", "soft_gradient_norm", "train_classifier"]

MAX_WIDTH = 4096  # a typo beyond it would allocate gigabytes


class MLP(nn.Module):
    """A multilayer perceptron: features (N, D) -> logits (N, V), `depth` hidden layers of `width`
    with ReLU. Sizes are capped at 4,096 (width, inputs, classes) and 16 hidden layers."""

    def __init__(self, inputs: int, classes: int, *, width: int = 64, depth: int = 1):
        super().__init__()
        inputs = size("inputs", inputs, maximum=MAX_WIDTH)
        classes = size("classes", classes, minimum=2, maximum=MAX_WIDTH)
        width = size("width", width, maximum=MAX_WIDTH)
        depth = size("depth", depth, maximum=16)
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(inputs if i == 0 else width, width), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(width, classes))
        self.inputs, self.classes = inputs, classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, V) of float features (N, D), on the device of the model's parameters."""
        return self.net(check_features(x, self.inputs, self).to(self.net[0].weight.dtype))


@torch.no_grad()
def classifier_accuracy(model: MLP, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows of `x` (N, D) whose argmax logit is the label `y` (N,); both on the device
    of the model's parameters."""
    x, y = check_classifier_data(model, MLP, x, y)
    return float((model.net(x).argmax(-1) == y).float().mean())


def train_classifier(
    model: MLP,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    teacher_logits: torch.Tensor | None = None,
    temperature: float = 1.0,
    alpha: float = 0.5,
    steps: int = 300,
    batch_size: int = 128,
    lr: float = 1e-2,
    seed: int = 0,
    desc: str = "train",
) -> list[float]:
    """Train `model` on (x, y) with Adam; returns the loss per step.

    Without `teacher_logits`: cross-entropy on the hard labels. With them ((N, V), the teacher's
    logits on the same x): `distillation_loss(student, teacher, temperature, y, alpha)`, so
    alpha = 1 learns from soft targets only and alpha = 0 from the labels only.
    x, y and teacher_logits lie on the device of the model's parameters; seed in [0, 2**62].
    steps <= 100,000, batch_size <= 65,536. Raises ValueError, naming the step and lr, as soon as
    the loss becomes NaN or inf (lr too large); `model`, trained in place, is then unusable.
    """
    x, y = check_classifier_data(model, MLP, x, y)
    teacher_logits, temperature, alpha, steps, batch_size, lr, seed = check_training_args(
        teacher_logits,
        (len(x), model.classes),
        temperature,
        alpha,
        steps,
        batch_size,
        lr,
        seed,
        x=x,
    )
    text("desc", desc, nonempty=False)
    return _train_classifier(
        model, x, y, teacher_logits, temperature, alpha, steps, batch_size, lr, seed, desc
    )


def _train_classifier(
    model: MLP,
    x: Float[torch.Tensor, "N D"],
    y: Int[torch.Tensor, " N"],
    teacher: Float[torch.Tensor, "N V"] | None,
    temperature: float,
    alpha: float,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    desc: str,
) -> list[float]:
    """Minibatch Adam on cross-entropy, or on the distillation loss when a teacher is given."""
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in progress(range(1, steps + 1), desc=desc):
        idx = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=generator)
        logits = model.net(x[idx])
        if teacher is None:
            loss = nn.functional.cross_entropy(logits, y[idx])
        else:
            loss = _distillation_loss(logits, teacher[idx], temperature, y[idx], alpha, None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(finite_loss(float(loss.detach()), step, steps, lr))  # stop at a NaN
    return losses


def soft_gradient_norm(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float, *, scaled: bool
) -> float:
    """Norm of d(soft term)/d(student logits): the soft term is T^2 KL(q_t || q_s) when `scaled`,
    KL alone otherwise. Logits: float tensors of one shape (N, V), on one device."""
    s, t, temperature = check_gradient_args(student_logits, teacher_logits, temperature, scaled)
    s = s.detach().double().requires_grad_(True)
    loss = _distillation_loss(s, t.double(), temperature, None, 1.0, None)
    loss = loss if scaled else loss / temperature**2
    (grad,) = torch.autograd.grad(loss, s)
    return float(grad.norm())
