"""How fragile is a fitted allocation? Drop the k runs with the highest loss and ask again what
model size is optimal at a budget, by the parametric fit (approach 3) and by IsoFLOP profiles
(approach 2: a parabola in log N per budget, then a power law through the vertices).

Taught in chapter 1, "How fragile is the allocation?".
"""

from __future__ import annotations

import numpy as np

from labs.scaling.fit_checks import check_sensitivity_args
from labs.scaling.fitting import _fit_chinchilla, _isoflop_minima
from labs.scaling.laws import _compute_optimal, _training_flops

__all__ = ["allocation_sensitivity"]


def allocation_sensitivity(
    points,
    budget: float,
    drop=(0, 1, 3, 5, 8),
    method: str = "parametric",
    *,
    budgets=None,
    starts: int = 8,
    width: float = 0.1,
):
    """N_opt at `budget` after dropping the k runs with the highest loss, for each k in `drop`.

    Args:
        points: the runs, a tuple (N, D, loss) of 1-D arrays (e.g. `load_chinchilla_points(0)`).
        budget: the compute (FLOPs) at which the optimal model size is read.
        drop: how many of the highest-loss runs to drop, one fit per entry (sorted, distinct);
            each must leave at least 5 runs.
        method: "parametric" (fit eq. 2 as in App. D.2, then eq. 4) or "isoflop" (approach 2).
        budgets: the IsoFLOP budgets (default: the nine of the paper's Figure 3).
        starts: grid starts per parametric fit (see `fit_chinchilla`), at most 4,500.
        width: half-width in decades of compute of each IsoFLOP profile.

    Returns:
        (n_opt, a): two arrays with one entry per k of the sorted `drop`: the optimal N at
        `budget` and the allocation exponent a of N_opt ~ C^a.
    """
    N, D, loss, budget, drop, method, budgets, starts, width = check_sensitivity_args(
        points, budget, drop, method, budgets, starts, width
    )
    return _allocation_sensitivity(N, D, loss, budget, drop, method, budgets, starts, width)


def _allocation_sensitivity(N, D, loss, budget, drop, method, budgets, starts, width):
    """One fit per k: drop the k highest losses, fit, read N_opt at the budget."""
    order = np.argsort(loss, kind="stable")  # lowest loss first
    n_opt, exponent = [], []
    for k in drop:
        keep = np.sort(order[: len(loss) - k])
        n, d, l = N[keep], D[keep], loss[keep]
        if method == "parametric":
            fit = _fit_chinchilla(n, d, l, 1e-3, starts, None)
            n_opt.append(float(_compute_optimal(np.float64(budget), fit)[0]))
            exponent.append(fit.a)
        else:
            kept, n_iso, _ = _isoflop_minima(n, _training_flops(n, d), l, budgets, width, 4)
            if len(kept) < 2:
                raise ValueError(
                    f"budgets must keep at least 2 IsoFLOP profiles to fit an exponent, but with "
                    f"drop={k} and width={width:g} only {len(kept)} of {budgets.size} budgets have "
                    f"at least 4 runs (budgets span {budgets.min():.3g} to {budgets.max():.3g} "
                    "FLOPs)"
                )
            a, log_k = np.polyfit(np.log(kept), np.log(n_iso), 1)  # N_opt = k C^a
            n_opt.append(float(np.exp(log_k) * budget**a))
            exponent.append(float(a))
    return np.array(n_opt), np.array(exponent)
