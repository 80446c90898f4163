"""The scaling laws themselves: the Chinchilla parametric law, compute, the compute-optimal split,
Kaplan's exponents, and the Epoch AI points extracted from the Chinchilla paper.

Equation numbers follow Hoffmann et al. (2022):

    L(N, D) = E + A / N^alpha + B / D^beta                                                   (2)
    C = 6 N D   (training FLOPs; Kaplan et al. 2020, §2.1)
    N_opt(C) = G (C/6)^a,  D_opt(C) = G^-1 (C/6)^b,
    G = (alpha A / (beta B))^(1 / (alpha + beta)),  a = beta / (alpha + beta),
    b = alpha / (alpha + beta)                                                                (4)
"""

from __future__ import annotations

import csv
import numbers
from dataclasses import dataclass
from importlib import resources

import numpy as np

from labs.common.facts import fact
from labs.common.validate import integer

__all__ = [
    "HOFFMANN_2022",
    "KAPLAN_2020",
    "ChinchillaParams",
    "KaplanExponents",
    "chinchilla_loss",
    "compute_optimal",
    "load_chinchilla_points",
    "positive_array",
    "same_length",
    "training_flops",
]


def positive_array(name: str, value) -> np.ndarray:
    """`value` as a float64 array of finite numbers > 0; TypeError/ValueError naming `name`."""
    if isinstance(value, bool) or (isinstance(value, np.ndarray) and value.dtype == bool):
        raise TypeError(f"{name} must hold real numbers, got booleans")
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must hold real numbers, got {type(value).__name__} {value!r}")
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; it holds NaN or inf")
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0 everywhere, got minimum {arr.min():g}")
    return arr


def same_length(**arrays: np.ndarray) -> None:
    """ValueError naming the arrays if their lengths (first dimensions) differ."""
    shapes = {name: np.shape(a) for name, a in arrays.items()}
    if len({s[:1] for s in shapes.values()}) > 1:
        listed = ", ".join(f"{n} has {s[0] if s else 'no'} entries" for n, s in shapes.items())
        raise ValueError(f"{', '.join(arrays)} must have the same length: {listed}")


@dataclass(frozen=True)
class ChinchillaParams:
    """The five parameters of L(N, D) = E + A / N^alpha + B / D^beta (eq. 2).

    E: irreducible loss (nats/token); A, alpha: the model-size term; B, beta: the data term.
    All must be finite and > 0.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def __post_init__(self) -> None:
        for name in ("E", "A", "B", "alpha", "beta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"ChinchillaParams.{name} must be a real number, got {value!r}")
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"ChinchillaParams.{name} must be finite and > 0, got {value}")

    @property
    def a(self) -> float:
        """Exponent of N_opt ~ C^a (eq. 4)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of D_opt ~ C^b (eq. 4)."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        """The constant of eq. 4."""
        return (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))


HOFFMANN_2022 = ChinchillaParams(
    E=fact("chinchilla_E").value,
    A=fact("chinchilla_A").value,
    B=fact("chinchilla_B").value,
    alpha=fact("chinchilla_alpha").value,
    beta=fact("chinchilla_beta").value,
)
"""The published fit of Hoffmann et al. (2022), eq. 10, as printed in the paper."""

EPOCH_2024 = ChinchillaParams(
    E=fact("epoch_fit_E").value,
    A=fact("epoch_fit_A").value,
    B=fact("epoch_fit_B").value,
    alpha=fact("epoch_fit_alpha").value,
    beta=fact("epoch_fit_beta").value,
)
"""The replication's fit of the same law to the points extracted from the paper (Besiroglu et
al. 2024)."""


@dataclass(frozen=True)
class KaplanExponents:
    """Kaplan et al. (2020): L ~ N^-alpha_N, L ~ D^-alpha_D, L ~ C_min^-alpha_C_min, and the
    compute-efficient allocation N ~ C^n_opt_exponent (so D ~ C^(1 - n_opt_exponent))."""

    alpha_N: float
    alpha_D: float
    alpha_C_min: float
    n_opt_exponent: float


KAPLAN_2020 = KaplanExponents(
    alpha_N=fact("kaplan_alpha_N").value,
    alpha_D=fact("kaplan_alpha_D").value,
    alpha_C_min=fact("kaplan_alpha_C_min").value,
    n_opt_exponent=fact("kaplan_n_opt_exponent").value,
)


def _check_params(params) -> ChinchillaParams:
    if not isinstance(params, ChinchillaParams):
        raise TypeError(f"params must be a ChinchillaParams, got {type(params).__name__}")
    return params


def chinchilla_loss(N, D, params: ChinchillaParams = HOFFMANN_2022):
    """L(N, D) of eq. 2, elementwise over broadcastable arrays N (parameters), D (tokens).

    Returns a float for scalar inputs, else an array of the broadcast shape.
    """
    params = _check_params(params)
    n, d = positive_array("N", N), positive_array("D", D)
    try:
        n, d = np.broadcast_arrays(n, d)
    except ValueError:
        raise ValueError(
            f"N and D must broadcast together, got shapes {n.shape} and {d.shape}"
        ) from None
    out = params.E + params.A / n**params.alpha + params.B / d**params.beta
    return float(out) if out.ndim == 0 else out


def training_flops(N, D):
    """C = 6 N D: the training compute, in FLOPs, of N parameters on D tokens."""
    n, d = positive_array("N", N), positive_array("D", D)
    try:
        out = fact("flops_per_param_token").value * n * d
    except ValueError:
        raise ValueError(
            f"N and D must broadcast together, got shapes {n.shape} and {d.shape}"
        ) from None
    return float(out) if out.ndim == 0 else out


def compute_optimal(C, params: ChinchillaParams = HOFFMANN_2022):
    """(N_opt, D_opt) minimising L(N, D) of eq. 2 under 6 N D = C: the closed form of eq. 4.

    Setting dL/dN = 0 along D = C / 6N gives alpha A N^-alpha = beta B D^-beta, whose solution
    is N_opt = G (C/6)^a and D_opt = G^-1 (C/6)^b (so that 6 N_opt D_opt = C exactly).
    """
    params = _check_params(params)
    c = positive_array("C", C)
    x = c / fact("flops_per_param_token").value
    n_opt = params.G * x**params.a
    d_opt = x / n_opt
    if n_opt.ndim == 0:
        return float(n_opt), float(d_opt)
    return n_opt, d_opt


def load_chinchilla_points(exclude_highest_loss: int | None = None):
    """The (N, D, loss) of the runs that Epoch AI extracted from Figure 4 of Hoffmann et al.

    245 runs ship with the package (data/chinchilla_epoch_extracted.csv, see its README for the
    attribution). D = C / 6N from the extracted compute C.

    Args:
        exclude_highest_loss: drop this many runs with the highest loss. None uses the
            replication's choice (5 runs, which leaves 240; Besiroglu et al. 2024), 0 keeps all.

    Returns:
        Three float64 arrays N, D, loss, in the order of the file.
    """
    if exclude_highest_loss is None:
        exclude_highest_loss = fact("epoch_excluded_points").value
    exclude_highest_loss = integer("exclude_highest_loss", exclude_highest_loss, minimum=0)
    text = resources.files("labs.scaling").joinpath("data/chinchilla_epoch_extracted.csv")
    with text.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    n = np.array([float(r["Model Size"]) for r in rows])
    c = np.array([float(r["Training FLOP"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    if exclude_highest_loss >= len(loss):
        raise ValueError(
            f"exclude_highest_loss must be below the {len(loss)} runs, got {exclude_highest_loss}"
        )
    keep = np.ones(len(loss), dtype=bool)
    if exclude_highest_loss:
        keep[np.argsort(loss, kind="stable")[-exclude_highest_loss:]] = False
    d = c / (fact("flops_per_param_token").value * n)
    return n[keep], d[keep], loss[keep]
