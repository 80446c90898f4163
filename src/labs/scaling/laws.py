"""The scaling laws themselves: the Chinchilla parametric law, compute, the compute-optimal split,
Kaplan's exponents, and the Epoch AI points extracted from the Chinchilla paper.

Equation numbers follow Hoffmann et al. (2022):

    L(N, D) = E + A / N^alpha + B / D^beta                                                   (2)
    C = 6 N D   (training FLOPs; Kaplan et al. 2020, §2.1)
    N_opt(C) = G (C/6)^a,  D_opt(C) = G^-1 (C/6)^b,
    G = (alpha A / (beta B))^(1 / (alpha + beta)),  a = beta / (alpha + beta),
    b = alpha / (alpha + beta)                                                                (4)

Taught in chapter 1, "The idea" and "The code". Arrays broadcast elementwise (shape "*s").
"""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np
from jaxtyping import Float

from labs.common.facts import fact
from labs.common.validate import finite_result, integer
from labs.scaling.config import ChinchillaParams, KaplanExponents
from labs.scaling.fit_checks import broadcast, check_law, positive_array, same_length

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


KAPLAN_2020 = KaplanExponents(
    alpha_N=fact("kaplan_alpha_N").value,
    alpha_D=fact("kaplan_alpha_D").value,
    alpha_C_min=fact("kaplan_alpha_C_min").value,
    n_opt_exponent=fact("kaplan_n_opt_exponent").value,
)


def chinchilla_loss(N, D, params: ChinchillaParams = HOFFMANN_2022):
    """L(N, D) of eq. 2, elementwise over broadcastable arrays N (parameters), D (tokens).

    Returns a float for scalar inputs, else an array of the broadcast shape.
    """
    params = check_law("params", params)
    n, d = broadcast("N", positive_array("N", N), "D", positive_array("D", D))
    out = _chinchilla_loss(n, d, params)
    return float(out) if out.ndim == 0 else out


def _chinchilla_loss(n: Float[np.ndarray, "*s"], d: Float[np.ndarray, "*s"], p) -> np.ndarray:
    """Eq. 2."""
    return p.E + p.A / n**p.alpha + p.B / d**p.beta  # (2)


def training_flops(N, D):
    """C = 6 N D: the training compute, in FLOPs, of N parameters on D tokens."""
    n, d = broadcast("N", positive_array("N", N), "D", positive_array("D", D))
    out = finite_result("6 N D", _training_flops(n, d), inputs={"N": n, "D": d})
    return float(out) if out.ndim == 0 else out


def _training_flops(n: Float[np.ndarray, "*s"], d: Float[np.ndarray, "*s"]) -> np.ndarray:
    """C = 6 N D (Kaplan et al. 2020, §2.1)."""
    return fact("flops_per_param_token").value * n * d


def compute_optimal(C, params: ChinchillaParams = HOFFMANN_2022):
    """(N_opt, D_opt) minimising L(N, D) of eq. 2 under 6 N D = C: the closed form of eq. 4.

    Setting dL/dN = 0 along D = C / 6N gives alpha A N^-alpha = beta B D^-beta, whose solution
    is N_opt = G (C/6)^a and D_opt = G^-1 (C/6)^b (so that 6 N_opt D_opt = C exactly).
    """
    n_opt, d_opt = _compute_optimal(positive_array("C", C), check_law("params", params))
    if n_opt.ndim == 0:
        return float(n_opt), float(d_opt)
    return n_opt, d_opt


def _compute_optimal(c: Float[np.ndarray, "*s"], params: ChinchillaParams):
    """Eq. 4: N_opt = G (C/6)^a, and D_opt = C / (6 N_opt)."""
    x = c / fact("flops_per_param_token").value  # C / 6
    n_opt = params.G * x**params.a  # (4)
    d_opt = x / n_opt  # = G^-1 (C/6)^b, since a + b = 1
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
