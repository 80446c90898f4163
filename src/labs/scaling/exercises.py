"""Chapter 1 exercises, with their instant checks.

Expected values are computed independently of the package's own functions: the compute-optimal
split by root-finding on dL/dN along 6ND = C (SciPy's brentq), the Huber
loss from its piecewise definition on hand-picked residuals, and the power-law exponents from
data generated with a known exponent.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from labs.common.exercises import Case, CheckReport, Exercise, check
from labs.common.validate import instance, integer, real_number
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


def _huber_by_hand(r, delta):
    return np.array([x * x / 2 if abs(x) <= delta else delta * (abs(x) - delta / 2) for x in r])


_RESIDUALS = np.array([-0.01, -1e-3, -2e-4, 0.0, 5e-4, 1e-3, 0.02])

HUBER_LOSS = Exercise(
    name="huber_loss",
    signature="huber_loss(r: np.ndarray, delta: float) -> np.ndarray",
    cases=(
        Case(
            (np.array([0.0, 2e-4, -5e-4]), 1e-3),
            _huber_by_hand([0.0, 2e-4, -5e-4], 1e-3),
            "residuals inside the quadratic zone",
            "inside |r| <= delta the loss is r^2 / 2.",
            rtol=1e-9,
            atol=1e-15,
        ),
        Case(
            (np.array([0.01, -0.02]), 1e-3),
            _huber_by_hand([0.01, -0.02], 1e-3),
            "residuals in the linear zone",
            "beyond delta the loss is delta * (|r| - delta / 2): linear, and continuous at "
            "|r| = delta. Did you forget the absolute value for negative residuals?",
            rtol=1e-9,
            atol=1e-15,
        ),
        Case(
            (_RESIDUALS, 1e-3),
            _huber_by_hand(_RESIDUALS, 1e-3),
            "both zones, elementwise, delta = 1e-3",
            "return one value per residual (no sum), the same shape as r.",
            rtol=1e-9,
            atol=1e-15,
        ),
        Case(
            (_RESIDUALS, 0.5),
            _huber_by_hand(_RESIDUALS, 0.5),
            "a large delta = 0.5",
            "use the delta argument, not a hard-coded 1e-3.",
            rtol=1e-9,
            atol=1e-15,
        ),
    ),
)


def check_huber_loss(fn) -> CheckReport:
    """Run the public cases of the Huber loss exercise against `fn`."""
    return check(fn, HUBER_LOSS)


def _power_law_case(k: float, p: float, x, noise: float, seed: int, label: str, hint: str):
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64)
    y = k * x**p * np.exp(noise * rng.standard_normal(len(x)))
    # With noise, the least-squares answer is not exactly (k, p): solve the normal equations
    # of the 2x2 problem directly (no polyfit), an independent route to the same estimate.
    lx, ly = np.log(x), np.log(y)
    slope = ((lx - lx.mean()) * (ly - ly.mean())).sum() / ((lx - lx.mean()) ** 2).sum()
    intercept = ly.mean() - slope * lx.mean()
    return Case((x, y), (float(np.exp(intercept)), float(slope)), label, hint, rtol=1e-6)


POWER_LAW_FIT = Exercise(
    name="power_law_fit",
    signature="power_law_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]",
    cases=(
        _power_law_case(
            2.0,
            0.5,
            [1e18, 1e19, 1e20, 1e21],
            0.0,
            0,
            "exact y = 2 x^0.5 over four decades",
            "fit a straight line to (log x, log y): the slope is the exponent and "
            "exp(intercept) the coefficient.",
        ),
        _power_law_case(
            0.1,
            0.73,
            np.logspace(18, 23, 12),
            0.05,
            1,
            "noisy points, Kaplan-like exponent 0.73",
            "least squares in log space, not in linear space.",
        ),
        _power_law_case(
            50.0,
            -0.3,
            np.logspace(3, 9, 20),
            0.02,
            2,
            "a decreasing law, exponent -0.3",
            "the exponent can be negative: do not take absolute values.",
        ),
    ),
)


def check_power_law_fit(fn) -> CheckReport:
    """Run the public cases of the power-law fit exercise against `fn`."""
    return check(fn, POWER_LAW_FIT)


class PilotLab:
    """A lab with a pilot budget: `lab(N, D)` "trains" a model of N parameters on D tokens and
    returns its final loss, drawn from a law the student does not see, with run-to-run noise.

    Each run costs C = 6 N D FLOPs from `budget`; a run that would overspend is refused (a
    RuntimeError, and nothing is charged). `lab.spent` and `lab.remaining` say where you stand;
    `lab.log` lists the runs made, as (N, D, loss).
    """

    def __init__(self, law: ChinchillaParams, budget: float, *, noise: float, seed: int):
        self._law = instance("law", law, ChinchillaParams)
        self.budget = real_number("budget", budget, positive=True)
        self._noise = real_number("noise", noise, minimum=0.0, maximum=1.0)
        self._rng = np.random.default_rng(integer("seed", seed, minimum=0))
        self.spent = 0.0
        self.log: list[tuple[float, float, float]] = []

    @property
    def remaining(self) -> float:
        return self.budget - self.spent

    def __call__(self, N: float, D: float) -> float:
        N, D = float(N), float(D)
        if not (np.isfinite(N) and np.isfinite(D) and N >= 1 and D >= 1):
            raise ValueError(f"N and D must be finite counts >= 1, got N={N:g}, D={D:g}")
        cost = 6.0 * N * D
        if cost > self.remaining * (1 + 1e-9):
            raise RuntimeError(
                f"a run of N={N:.3g}, D={D:.3g} costs {cost:.3g} FLOPs, more than the "
                f"{self.remaining:.3g} left of the {self.budget:.3g} pilot budget"
            )
        self.spent += cost
        p = self._law
        loss = (p.E + p.A / N**p.alpha + p.B / D**p.beta) * np.exp(
            self._noise * self._rng.standard_normal()
        )
        self.log.append((N, D, float(loss)))
        return float(loss)


def _true_n_opt(C: float, p: ChinchillaParams) -> float:
    return _brute_force_split(C, p)[0]


# Hidden laws of the public cases, chosen so that Chinchilla's "20 tokens per parameter" misses
# both by a factor of 3 or more (tests/scaling/test_exercises_and_widgets.py): one law wants
# more data than Chinchilla's, one a larger model. Run-to-run noise of 0.1% in the loss.
_LAB_LAWS = (
    ChinchillaParams(E=1.8, A=400.0, B=1500.0, alpha=0.33, beta=0.38),
    ChinchillaParams(E=1.7, A=800.0, B=900.0, alpha=0.38, beta=0.30),
)
_PILOT_BUDGET, _TARGET_C, _LAB_NOISE, _LAB_RTOL = 1e21, 1e24, 0.001, 0.4


def _draw_pilot_law(seed: int) -> ChinchillaParams:
    """A law drawn at random for a pilot lab, never printed: E from 1.5 to 2, A and B from 200 to
    3,000 (uniform in log), alpha and beta from 0.28 to 0.42; redrawn until Chinchilla's 20 tokens
    per parameter misses its N_opt at 1e24 FLOPs by a factor of 1.5 to 4 (a plan must measure)
    and its N_opt at 1e20 FLOPs by less than 2.5 (the pilot budget can bracket it).

    Chapter 1 measures a plan on one such law after Exercise 1.1; the hidden cases draw theirs with
    other seeds (tests/exercises/hidden/scaling.py), so neither is shown in the chapter.
    """
    rng = np.random.default_rng(integer("seed", seed, minimum=0))
    while True:
        log_a, log_b = rng.uniform(np.log(200.0), np.log(3000.0), size=2)
        alpha, beta = rng.uniform(0.28, 0.42, size=2)
        law = ChinchillaParams(
            E=float(rng.uniform(1.5, 2.0)),
            A=float(np.exp(log_a)),
            B=float(np.exp(log_b)),
            alpha=float(alpha),
            beta=float(beta),
        )
        miss = abs(np.log((_TARGET_C / 120) ** 0.5 / _true_n_opt(_TARGET_C, law)))
        bracket = abs(np.log((1e20 / 120) ** 0.5 / _true_n_opt(1e20, law)))
        if np.log(1.5) < miss < np.log(4.0) and bracket < np.log(2.5):
            return law


PILOT_BUDGET = Exercise(
    name="plan_pilot_runs",
    signature="plan_pilot_runs(lab: PilotLab, target_C: float) -> float",
    cases=tuple(
        Case(
            (PilotLab(law, _PILOT_BUDGET, noise=_LAB_NOISE, seed=seed), _TARGET_C),
            _true_n_opt(_TARGET_C, law),
            f"{name}: a {_PILOT_BUDGET:.0e}-FLOP pilot budget, predict N_opt at "
            f"{_TARGET_C:.0e} FLOPs",
            "your prediction is off by more than 40%. Spend the budget on a few IsoFLOP "
            "profiles (5-9 sizes each, around the size you expect to be optimal, at the largest "
            "budgets you can afford: extrapolating over fewer decades is safer), fit a parabola "
            "in log N to each, and a power law through the vertices; or fit eq. 2 to all runs.",
            rtol=_LAB_RTOL,
        )
        for name, law, seed in (
            ("a law that wants more data than Chinchilla's", _LAB_LAWS[0], 0),
            ("a law that wants a larger model", _LAB_LAWS[1], 1),
        )
    ),
    time_limit_s=60.0,
)


def check_plan_pilot_runs(fn) -> CheckReport:
    """Run the public cases of the pilot-budget exercise against `fn` (scored against the hidden
    law's true N_opt, within 40%)."""
    return check(fn, PILOT_BUDGET)
