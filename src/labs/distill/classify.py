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
from labs.common.validate import array, instance, integer, real_number, same_shape, size, text
from labs.distill.torch_kernels import _distillation_loss

__all__ = ["MLP", "classifier_accuracy", "soft_gradient_norm", "train_classifier"]

MAX_WIDTH = 4096  # a typo beyond it would allocate gigabytes
MAX_STEPS = 100_000


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
        """Logits (N, V) of float features (N, D)."""
        x = array("x", x, framework="torch", ndim=2)
        if x.shape[1] != self.inputs:
            raise ValueError(f"x must have {self.inputs} features, got shape {tuple(x.shape)}")
        return self.net(x.to(self.net[0].weight.dtype))


def _data(x, y, model: MLP):
    x = array("x", x, framework="torch", ndim=2)
    if x.shape[1] != model.inputs:
        raise ValueError(f"x must have {model.inputs} features, got shape {tuple(x.shape)}")
    y = array("y", y, framework="torch", dtype="int", ndim=1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y must hold one label per row of x ({x.shape[0]}), got {y.shape[0]}")
    if int(y.min()) < 0 or int(y.max()) >= model.classes:
        raise ValueError(f"y must lie in [0, {model.classes}), got a value out of that range")
    return x.float(), y.long()


@torch.no_grad()
def classifier_accuracy(model: MLP, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows of `x` (N, D) whose argmax logit is the label `y` (N,)."""
    instance("model", model, MLP, "an MLP")
    x, y = _data(x, y, model)
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
    steps <= 100,000, batch_size <= 65,536.
    """
    instance("model", model, MLP, "an MLP")
    x, y = _data(x, y, model)
    if teacher_logits is not None:
        teacher_logits = array("teacher_logits", teacher_logits, framework="torch", ndim=2)
        if tuple(teacher_logits.shape) != (len(x), model.classes):
            raise ValueError(
                f"teacher_logits must have shape {(len(x), model.classes)} (one row of class "
                f"logits per example), got {tuple(teacher_logits.shape)}"
            )
    temperature = real_number("temperature", temperature, positive=True)
    alpha = real_number("alpha", alpha, minimum=0.0, maximum=1.0)
    steps = size("steps", steps, maximum=MAX_STEPS)
    batch_size = size("batch_size", batch_size, maximum=65_536)
    lr = real_number("lr", lr, positive=True)
    seed = integer("seed", seed, minimum=0)
    text("desc", desc, nonempty=False)
    teacher = None if teacher_logits is None else teacher_logits.float()
    return _train_classifier(model, x, y, teacher, temperature, alpha, steps, batch_size, lr, seed,
                             desc)  # fmt: skip


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
    for _ in progress(range(steps), desc=desc):
        idx = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=generator)
        logits = model.net(x[idx])
        if teacher is None:
            loss = nn.functional.cross_entropy(logits, y[idx])
        else:
            loss = _distillation_loss(logits, teacher[idx], temperature, y[idx], alpha, None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def soft_gradient_norm(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float, *, scaled: bool
) -> float:
    """Norm of d(soft term)/d(student logits): the soft term is T^2 KL(q_t || q_s) when `scaled`,
    KL alone otherwise. Logits: float tensors of one shape (N, V)."""
    s = array("student_logits", student_logits, framework="torch", ndim=2)
    t = array("teacher_logits", teacher_logits, framework="torch", ndim=2)
    same_shape(("student_logits", s), ("teacher_logits", t))
    temperature = real_number("temperature", temperature, positive=True)
    if not isinstance(scaled, bool):
        raise TypeError(f"scaled must be True or False, got {type(scaled).__name__}")
    s = s.detach().double().requires_grad_(True)
    loss = _distillation_loss(s, t.double(), temperature, None, 1.0, None)
    loss = loss if scaled else loss / temperature**2
    (grad,) = torch.autograd.grad(loss, s)
    return float(grad.norm())
