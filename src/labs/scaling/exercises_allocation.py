"""The compute-optimal split exercise, and the optimum every chapter 1 exercise is scored against.

`_brute_force_split` finds the split of a budget C = 6 N D that minimises a Chinchilla law by
root-finding on dL/dlogN (SciPy's brentq), with no closed form involved, so that a student's
closed form is checked against something computed another way; the pilot-budget (1.1) and
IsoFLOP-profile (1.3) exercises take their true N_opt from it. The split exercise itself is no
longer asked by the chapter ("Fitting the law to the paper's points" derives the closed form); its
cases stay for the grader. `labs.scaling.exercises` re-exports these names.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from labs.common.exercises import Case, CheckReport, Exercise, check
from labs.scaling.laws import HOFFMANN_2022, ChinchillaParams


def _brute_force_split(C: float, p: ChinchillaParams) -> tuple[float, float]:
    """Solve dL/dlogN = 0 along 6ND = C by bracketing root-finding: no closed form involved.

    (Minimising L directly would locate the optimum only to ~1e-4, since L is flat there.)
    """

    def slope(log_n):  # dL/dlogN with D = C / 6N
        n = np.exp(log_n)
        return -p.alpha * p.A * n**-p.alpha + p.beta * p.B * (C / (6 * n)) ** -p.beta

    n = float(np.exp(brentq(slope, -60.0, np.log(C) + 60.0, xtol=1e-14, rtol=1e-14)))
    return n, C / (6 * n)


_PUBLISHED = HOFFMANN_2022
_SYMMETRIC = ChinchillaParams(E=1.0, A=100.0, B=100.0, alpha=0.3, beta=0.3)
_DATA_HEAVY = ChinchillaParams(E=1.5, A=300.0, B=3000.0, alpha=0.35, beta=0.45)

COMPUTE_OPTIMAL_SPLIT = Exercise(
    name="compute_optimal_split",
    signature="compute_optimal_split(C: float, params: ChinchillaParams) -> tuple[float, float]",
    cases=(
        Case(
            (1e21, _SYMMETRIC),
            _brute_force_split(1e21, _SYMMETRIC),
            "equal exponents and constants at C = 1e21",
            "with alpha = beta and A = B the optimum has N = D = sqrt(C / 6).",
            rtol=1e-4,
        ),
        Case(
            (5.76e23, _PUBLISHED),
            _brute_force_split(5.76e23, _PUBLISHED),
            "the published Chinchilla law at C = 5.76e23",
            "N_opt = G (C/6)^a with G = (alpha A / (beta B))^(1/(alpha+beta)) and "
            "a = beta/(alpha+beta); then D_opt = C / (6 N_opt).",
            rtol=1e-4,
        ),
        Case(
            (1e18, _DATA_HEAVY),
            _brute_force_split(1e18, _DATA_HEAVY),
            "a law whose data term decays faster (beta > alpha) at C = 1e18",
            "check which exponent goes on top: N_opt grows as C^(beta/(alpha+beta)).",
            rtol=1e-4,
        ),
    ),
)


def check_compute_optimal_split(fn) -> CheckReport:
    """Run the public cases of the compute-optimal split exercise against `fn`."""
    return check(fn, COMPUTE_OPTIMAL_SPLIT)


def _true_n_opt(C: float, p: ChinchillaParams) -> float:
    return _brute_force_split(C, p)[0]
