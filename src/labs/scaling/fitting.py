"""Fitting scaling laws the way Hoffmann et al. did (Appendix D.2), and the IsoFLOP approach.

The parametric law L(N, D) = E + A / N^alpha + B / D^beta is fitted in log space. With
a = log A, b = log B, e = log E, its logarithm is a log-sum-exp,

    log L(N, D) = LSE(a - alpha log N, b - beta log D, e),

and the fit minimises the sum over runs of Huber_delta(LSE(...) - log L_run) with delta = 1e-3
(their eq. 3), by L-BFGS from a grid of initialisations, keeping the best. A small delta makes
the objective close to the sum of absolute residuals: robust to the odd outlier run.

Taught in chapter 1, "Fitting the law to the paper's points" and "The IsoFLOP approach".
Axes: R runs, G grid points.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

import numpy as np
from jaxtyping import Float
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController

from labs.common import validate
from labs.common.facts import fact
from labs.common.validate import array, real_number, size
from labs.scaling.config import ChinchillaParams
from labs.scaling.fit_checks import (
    MAX_RESAMPLES,
    MAX_STARTS,
    budget_list,
    check_fit_result,
    check_law,
    check_objective_args,
    check_runs,
    check_starts,
    positive_array,
    same_length,
)
from labs.scaling.laws import _chinchilla_loss

__all__ = [
    "ChinchillaFit",
    "bootstrap_chinchilla",
    "chinchilla_objective",
    "chinchilla_residuals",
    "fit_chinchilla",
    "fit_power_law",
    "huber",
    "isoflop_minima",
    "paper_init_grid",
]


def huber(r, delta: float = 1e-3) -> np.ndarray:
    """Huber loss, elementwise: r^2 / 2 where |r| <= delta, delta (|r| - delta / 2) beyond."""
    r = array("r", r).astype(np.float64)
    return _huber(r, real_number("delta", delta, positive=True))


def _huber(r: Float[np.ndarray, "*s"], delta: float) -> Float[np.ndarray, "*s"]:
    """Quadratic inside |r| <= delta, linear beyond (App. D.2)."""
    small = np.abs(r) <= delta
    return np.where(small, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))


def _log_law(theta: Float[np.ndarray, "*g 5"], log_n: Float[np.ndarray, " R"], log_d):
    """LSE (D.2) per parameter row (a, b, e, alpha, beta), and its softmax weights (*g, R, 3)."""
    a, b, e, alpha, beta = np.moveaxis(np.asarray(theta, dtype=np.float64), -1, 0)
    terms = np.stack(
        [
            a[..., None] - alpha[..., None] * log_n,
            b[..., None] - beta[..., None] * log_d,
            np.broadcast_to(e[..., None], np.broadcast_shapes(e[..., None].shape, log_n.shape)),
        ],
        axis=-1,
    )
    m = terms.max(axis=-1, keepdims=True)
    w = np.exp(terms - m)
    total = w.sum(axis=-1, keepdims=True)
    return (m + np.log(total))[..., 0], w / total


def chinchilla_objective(theta, log_n, log_d, log_loss, delta: float = 1e-3):
    """Sum of Huber(LSE - log L) over runs, and its gradient with respect to theta (5,).

    Args:
        theta: (a, b, e, alpha, beta) = (log A, log B, log E, alpha, beta).
        log_n, log_d, log_loss: 1-D arrays of one length, the logs of N, D and loss per run.
        delta: the Huber threshold (the paper's 1e-3).

    Written out term by term (rather than with `_log_law`) because L-BFGS calls it thousands
    of times: this is the inner loop of every fit, which calls the bare `_chinchilla_objective`.
    """
    return _chinchilla_objective(*check_objective_args(theta, log_n, log_d, log_loss, delta))


def _chinchilla_objective(
    theta: Float[np.ndarray, " 5"],
    log_n: Float[np.ndarray, " R"],
    log_d: Float[np.ndarray, " R"],
    log_loss: Float[np.ndarray, " R"],
    delta: float,
) -> tuple[float, Float[np.ndarray, " 5"]]:
    """Huber(LSE - log L) summed over runs (App. D.2), and its gradient."""
    a, b, e, alpha, beta = theta
    t1 = a - alpha * log_n
    t2 = b - beta * log_d
    m = np.maximum(np.maximum(t1, t2), e)
    w1, w2, w3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
    total = w1 + w2 + w3
    r = m + np.log(total) - log_loss
    dr = np.clip(r, -delta, delta) / total  # Huber'(r) times the softmax normaliser
    abs_r = np.abs(r)
    value = np.where(abs_r <= delta, 0.5 * r * r, delta * (abs_r - 0.5 * delta)).sum()
    g1, g2 = dr @ w1, dr @ w2
    grad = np.array([g1, g2, dr @ w3, -(dr * w1) @ log_n, -(dr * w2) @ log_d])
    return float(value), grad


def paper_init_grid() -> np.ndarray:
    """The initialisations of Appendix D.2, as rows (a, b, e, alpha, beta): 4,500 of them."""
    return _paper_init_grid().copy()


@functools.cache
def _paper_init_grid() -> np.ndarray:
    ab = fact("chinchilla_init_grid_ab").value
    e = fact("chinchilla_init_grid_e").value
    exps = fact("chinchilla_init_grid_exponents").value
    return np.array(list(itertools.product(ab, ab, e, exps, exps)), dtype=np.float64)


@dataclass(frozen=True, kw_only=True)
class ChinchillaFit(ChinchillaParams):
    """A fitted law: the five parameters, plus what the fit leaves behind.

    residuals: log L_run - log L_fit(N, D) per run (positive: the run did worse than the law).
    objective: the minimised sum of Huber losses (None when not known).
    init: the grid point (a, b, e, alpha, beta) the best fit started from (empty when not known).
    """

    residuals: np.ndarray | None = field(default=None, repr=False, compare=False)
    objective: float | None = field(default=None, repr=False, compare=False)
    init: tuple = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, value in zip(
            ("residuals", "objective", "init"),
            check_fit_result(self.residuals, self.objective, self.init),
            strict=True,
        ):
            object.__setattr__(self, name, value)

    def params(self) -> ChinchillaParams:
        return ChinchillaParams(E=self.E, A=self.A, B=self.B, alpha=self.alpha, beta=self.beta)


@functools.cache
def _blas_threads() -> ThreadpoolController:
    """The BLAS libraries loaded in this process (scanned once: a scan takes milliseconds)."""
    return ThreadpoolController()


def _lbfgs(
    theta0: Float[np.ndarray, " 5"], args: tuple, fixed_e: bool = False
) -> tuple[np.ndarray, float]:
    """One L-BFGS-B run from theta0; with fixed_e, e stays at theta0's and the other four move."""
    free = np.array([True, True, not fixed_e, True, True])

    def objective(x):
        theta = theta0.copy()
        theta[free] = x
        value, grad = _chinchilla_objective(theta, *args)
        return value, grad[free]

    res = minimize(
        objective,
        theta0[free],
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-10},
    )
    theta = theta0.copy()
    theta[free] = res.x
    return theta, float(res.fun)


def fit_chinchilla(
    N, D, loss, delta: float = 1e-3, *, starts: int | None = 16, init=None, fixed_E=None
):
    """Fit L(N, D) = E + A/N^alpha + B/D^beta to runs (N, D, loss) as in Appendix D.2.

    Args:
        N, D, loss: 1-D arrays of the same length: parameters, training tokens, final loss.
        delta: the Huber threshold (the paper's 1e-3).
        starts: L-BFGS is run from the `starts` points of the paper's 4,500-point grid with the
            lowest objective. None runs from every point, exactly as the paper, which takes
            minutes; screening first is much cheaper, and on the Epoch points 8 and 64 starts
            reach the same optimum (tests/scaling/test_fitting.py). 0 is allowed with `init`.
        init: optional extra starting point, a ChinchillaParams (e.g. a previous fit).
        fixed_E: None fits all five parameters; a positive number holds E at that value and fits
            the other four (the grid's e column is replaced by log fixed_E), as when the floor
            is known, here the entropy rate of chapter 1's synthetic corpus.

    Returns:
        A `ChinchillaFit` (a ChinchillaParams with residuals, objective and starting point).
    """
    N, D, loss = check_runs(N, D, loss, min_runs=5)
    delta = real_number("delta", delta, positive=True)
    if fixed_E is not None:
        fixed_E = real_number("fixed_E", fixed_E, positive=True)
    return _fit_chinchilla(N, D, loss, delta, check_starts(starts, init), init, fixed_E)


def _fit_chinchilla(
    N, D, loss, delta: float, starts: int | None, init, fixed_E: float | None = None
) -> ChinchillaFit:
    """Screen the grid by objective, run L-BFGS from the best `starts` points, keep the best."""
    args = (np.log(N), np.log(D), np.log(loss), delta)
    grid = _paper_init_grid()
    if fixed_E is not None:  # E held: the grid's e column set to log E, duplicate rows dropped
        grid = grid.copy()
        grid[:, 2] = np.log(fixed_E)
        grid = grid[np.sort(np.unique(grid, axis=0, return_index=True)[1])]
    if starts == 0:
        grid = grid[:0]  # from `init` alone (a bootstrap refit): no need to screen the grid
    elif starts is not None:
        lse, _ = _log_law(grid, args[0], args[1])
        screen = _huber(lse - args[2], delta).sum(axis=-1)
        grid = grid[np.argsort(screen, kind="stable")[:starts]]
    if init is not None:
        theta_init = _theta(init)
        if fixed_E is not None:
            theta_init[2] = np.log(fixed_E)
        grid = np.vstack([theta_init, grid])
    best = (np.inf, None, None)
    # SciPy's L-BFGS-B solves 5 x 5 systems with LAPACK at every step; a threaded OpenBLAS starts
    # its threads for each, which costs far more than the arithmetic and stalls whenever another
    # process holds a core. One BLAS thread for the fit, the caller's setting restored after it.
    with _blas_threads().limit(limits=1, user_api="blas"):
        for theta0 in grid:
            theta, value = _lbfgs(theta0, args, fixed_e=fixed_E is not None)
            if value < best[0]:
                best = (value, theta, theta0)
    value, theta, theta0 = best
    a, b, e, alpha, beta = theta
    lse, _ = _log_law(theta, args[0], args[1])
    try:
        return ChinchillaFit(
            E=float(np.exp(e)) if fixed_E is None else float(fixed_E),
            A=float(np.exp(a)),
            B=float(np.exp(b)),
            alpha=float(alpha),
            beta=float(beta),
            residuals=args[2] - lse,
            objective=value,
            init=tuple(float(t) for t in theta0),
        )
    except ValueError as err:  # the best fit left the law's domain: the runs do not follow it
        spans = ", ".join(
            f"{name} from {values.min():.3g} to {values.max():.3g}"
            for name, values in (("N", N), ("D", D), ("loss", loss))
        )
        raise ValueError(
            f"L(N, D) = E + A/N^alpha + B/D^beta does not describe these runs ({spans}): "
            f"the best fit is out of the law's domain ({err})"
        ) from None


def _theta(p: ChinchillaParams) -> Float[np.ndarray, " 5"]:
    """(log A, log B, log E, alpha, beta): the fit's coordinates."""
    return np.array([np.log(p.A), np.log(p.B), np.log(p.E), p.alpha, p.beta])


def chinchilla_residuals(N, D, loss, params: ChinchillaParams) -> np.ndarray:
    """log(loss) - log(L(N, D)) per run under `params` (the quantity the fit makes small)."""
    N, D, loss = check_runs(N, D, loss)
    return np.log(loss) - np.log(_chinchilla_loss(N, D, check_law("params", params)))


def bootstrap_chinchilla(
    N,
    D,
    loss,
    n_resamples: int = 100,
    *,
    seed: int = 0,
    delta: float = 1e-3,
    starts: int = 0,
    full: ChinchillaParams | None = None,
) -> np.ndarray:
    """Refit on `n_resamples` resamples of the runs drawn with replacement.

    Each refit starts from the full-data fit (`full`, fitted here if not given) and from the
    `starts` best grid points: a warm start keeps the bootstrap cheap. Returns an array
    (n_resamples, 5) of (E, A, B, alpha, beta). n_resamples <= 1,000 (each is a refit: 1,000
    already take minutes); starts <= 4,500 (the paper's grid).
    """
    N, D, loss = check_runs(N, D, loss, min_runs=5)
    n_resamples = size("n_resamples", n_resamples, maximum=MAX_RESAMPLES, why="each is a refit")
    seed = validate.seed("seed", seed)
    delta = real_number("delta", delta, positive=True)
    starts = size("starts", starts, minimum=0, maximum=MAX_STARTS, why="the paper's grid")
    full = _fit_chinchilla(N, D, loss, delta, max(starts, 8), None) if full is None else full
    check_law("full", full)
    rng = np.random.default_rng(seed)
    out = np.empty((n_resamples, 5))
    for i in range(n_resamples):
        idx = rng.integers(0, len(N), size=len(N))
        fit = _fit_chinchilla(N[idx], D[idx], loss[idx], delta, starts, full)
        out[i] = fit.E, fit.A, fit.B, fit.alpha, fit.beta
    return out


def fit_power_law(x, y) -> tuple[float, float]:
    """Least-squares line through (log x, log y): returns (k, p) with y ~ k * x^p."""
    x, y = positive_array("x", x), positive_array("y", y)
    same_length(x=x, y=y)
    if x.ndim != 1 or len(x) < 2:
        raise ValueError(f"x and y must be 1-D with at least 2 points, got shape {x.shape}")
    if np.ptp(np.log(x)) == 0:
        raise ValueError("x must hold at least two distinct values to fit an exponent")
    p, log_k = np.polyfit(np.log(x), np.log(y), 1)
    return float(np.exp(log_k)), float(p)


def isoflop_minima(N, C, loss, budgets, *, width: float = 0.1, min_runs: int = 4):
    """Approach 2 of Hoffmann et al.: for each compute budget, the model size at the bottom of
    its IsoFLOP profile.

    Runs whose compute lies within `width` decades of a budget form its profile; a parabola in
    log N fitted to their losses gives N_opt at its vertex. Budgets with fewer than `min_runs`
    runs, or whose parabola opens downwards, are skipped; ValueError if every budget is.

    Returns three arrays: the budgets kept, N_opt and the parabola's minimum loss.
    """
    N, C, loss = check_runs(N, C, loss, d_name="C")
    budgets = budget_list(budgets)
    width = real_number("width", width, positive=True)
    min_runs = size("min_runs", min_runs, minimum=3, maximum=len(N), why="the number of runs")
    found = _isoflop_minima(N, C, loss, budgets, width, min_runs)
    if not len(found[0]):  # budgets in other units than C (or far from every run) keep nothing
        raise ValueError(
            f"budgets must include one with at least min_runs={min_runs} runs within "
            f"width={width:g} decades of compute and a parabola that opens upwards; none does "
            f"(budgets span {budgets.min():.3g} to {budgets.max():.3g} FLOPs, the runs' C "
            f"{C.min():.3g} to {C.max():.3g})"
        )
    return found


def _isoflop_minima(N, C, loss, budgets, width: float, min_runs: int):
    """A parabola in log N through each budget's runs; its vertex is N_opt (Approach 2)."""
    kept, n_opt, l_min = [], [], []
    for budget in np.atleast_1d(budgets):
        near = np.abs(np.log10(C) - np.log10(budget)) <= width
        if near.sum() < min_runs:
            continue
        x = np.log(N[near])
        c2, c1, c0 = np.polyfit(x, loss[near], 2)
        if c2 <= 0:
            continue
        x_min = -c1 / (2 * c2)
        kept.append(float(budget))
        n_opt.append(float(np.exp(x_min)))
        l_min.append(float(c0 - c1**2 / (4 * c2)))
    return np.array(kept), np.array(n_opt), np.array(l_min)
