"""Argument checks of the laws and their fits: the parametric law, `fit_chinchilla` and its
bootstrap, the IsoFLOP minima, `extrapolation_study` and `allocation_sensitivity`.

The chapter's prose meets only the bare kernels these checks guard: chapter 1, "The idea",
"Fitting the law to the paper's points", "How fragile is the allocation?" and "Predicting the big
run from small ones". The training loops' checks are in `labs.scaling.sweep_checks`; both are
re-exported by `labs.scaling.checks`.
"""

from __future__ import annotations

import numbers

import numpy as np

from labs.common.facts import fact
from labs.common.validate import (
    array,
    describe_value,
    instance,
    integer_array,
    one_of,
    real_number,
    size,
)
from labs.common.validate_arrays import holds_bool
from labs.scaling.config import ChinchillaParams

__all__ = ["positive_array", "same_length"]

# The paper's grid of initialisations has 4,500 points (Appendix D.2); one L-BFGS run takes tens
# of milliseconds, so starting from all of them already takes minutes.
MAX_STARTS = 4_500
# A bootstrap refits the law once per resample: 1,000 resamples is already minutes.
MAX_RESAMPLES = 1_000


def positive_array(name: str, value, *, integers: bool = True) -> np.ndarray:
    """`value` as a float64 array of finite numbers > 0; TypeError/ValueError naming `name`.

    Integer arrays are accepted (parameter and token counts are integers) unless
    `integers=False` (a loss rounded to integers is a bug). Bools, strings and complex numbers
    are refused, and so are torch and JAX arrays (this is a NumPy path).
    """
    if type(value).__module__.split(".")[0] in ("torch", "jax", "jaxlib"):
        array(name, value)  # TypeError: a NumPy array was expected
    try:
        bad = isinstance(value, (str, bytes, bool)) or value is None or holds_bool(value)
        arr = None if bad else np.asarray(value)
    except Exception:  # a ragged list, an object NumPy cannot read
        arr = None
    if arr is None or arr.dtype.kind not in ("iuf" if integers else "f"):
        what = "real numbers" if integers else "real numbers of a floating dtype"
        raise TypeError(f"{name} must hold {what}, got {describe_value(value)}")
    arr = array(name, arr.astype(np.float64))  # refuses empty arrays, NaN and inf
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0 everywhere, got minimum {arr.min():g}")
    return arr


def same_length(**arrays: np.ndarray) -> None:
    """ValueError naming the arrays if their lengths (first dimensions) differ."""
    shapes = {name: np.shape(a) for name, a in arrays.items()}
    if len({s[:1] for s in shapes.values()}) > 1:
        listed = ", ".join(f"{n} has {s[0] if s else 'no'} entries" for n, s in shapes.items())
        raise ValueError(f"{', '.join(arrays)} must have the same length: {listed}")


def broadcast(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray):
    """`a` and `b` broadcast together; ValueError naming both otherwise."""
    try:
        return np.broadcast_arrays(a, b)
    except ValueError:
        raise ValueError(
            f"{name_a} and {name_b} must broadcast together, got shapes {a.shape} and {b.shape}"
        ) from None


def check_law(name: str, params) -> ChinchillaParams:
    return instance(name, params, ChinchillaParams)


def check_runs(N, D, loss, *, min_runs: int = 1, d_name: str = "D"):
    """The runs of a fit: 1-D arrays N, D (or C), loss of the same length, all > 0."""
    N = positive_array("N", N)
    D = positive_array(d_name, D)
    loss = positive_array("loss", loss, integers=False)
    same_length(N=N, **{d_name: D}, loss=loss)
    if N.ndim != 1 or D.ndim != 1 or loss.ndim != 1:
        raise ValueError(
            f"N, {d_name} and loss must be 1-D arrays, got shapes {N.shape}, {D.shape}, "
            f"{loss.shape}"
        )
    if len(N) < min_runs:
        raise ValueError(
            f"N, {d_name} and loss must hold at least {min_runs} runs to fit {min_runs} "
            f"parameters, got {len(N)}"
        )
    return N, D, loss


def check_objective_args(theta, log_n, log_d, log_loss, delta):
    """The arguments of `chinchilla_objective`: theta (5,), three 1-D log arrays of one length."""
    theta = array("theta", theta, ndim=1).astype(np.float64)
    if theta.shape != (5,):
        raise ValueError(f"theta must hold 5 numbers (a, b, e, alpha, beta), got {theta.shape}")
    logs = [
        array(n, v, ndim=1) for n, v in (("log_n", log_n), ("log_d", log_d), ("log_loss", log_loss))
    ]
    same_length(log_n=logs[0], log_d=logs[1], log_loss=logs[2])
    return (theta, *logs, real_number("delta", delta, positive=True))


def check_starts(starts, init):
    """`fit_chinchilla`'s starts (None: the whole grid) and optional extra starting point."""
    if init is not None:
        instance("init", init, ChinchillaParams)
    if starts is None:
        return None
    why = "the paper's grid of initialisations has 4,500 points"
    return size("starts", starts, minimum=0 if init is not None else 1, maximum=MAX_STARTS, why=why)


def int_tuple(name: str, values, *, minimum: int, maximum: int) -> tuple[int, ...]:
    """A non-empty sequence of distinct ints in [minimum, maximum], sorted."""
    if isinstance(values, numbers.Integral) and not isinstance(values, bool):
        values = (values,)
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a sequence of ints, got {describe_value(values)}")
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must hold at least one value, got an empty sequence")
    out = tuple(size(name, v, minimum=minimum, maximum=maximum) for v in values)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a value, got {out}")
    return tuple(sorted(out))


def check_fit_result(residuals, objective, init):
    """The extras of a `ChinchillaFit`: finite residuals per run, a finite objective >= 0, and
    the starting point (a, b, e, alpha, beta) or nothing."""
    if residuals is not None:
        residuals = array("residuals", residuals, ndim=1)
    if objective is not None:
        objective = real_number("objective", objective, nonnegative=True)
    instance("init", init, tuple)
    if init:
        init = tuple(real_number("init", v) for v in init)
        if len(init) != 5:
            raise ValueError(f"init must hold 5 numbers (a, b, e, alpha, beta), got {len(init)}")
    return residuals, objective, init


def check_extrapolation_args(N, D, loss, thresholds, holdout_above, target_C, starts):
    """`extrapolation_study`'s arguments: thresholds sorted, none above `holdout_above`, and at
    least one run to predict."""
    N, D, loss = check_runs(N, D, loss, min_runs=5)
    thresholds = np.sort(np.atleast_1d(positive_array("thresholds", thresholds)))
    if thresholds.ndim != 1 or len(thresholds) > 64:
        raise ValueError(
            f"thresholds must be a 1-D list of at most 64 ceilings, got {thresholds.shape}"
        )
    holdout_above = real_number("holdout_above", holdout_above, positive=True)
    if thresholds[-1] > holdout_above:
        raise ValueError(
            f"thresholds must not exceed holdout_above={holdout_above:g}, got {thresholds[-1]:g}"
        )
    if target_C is not None:
        target_C = real_number("target_C", target_C, positive=True)
    starts = size("starts", starts, maximum=MAX_STARTS, why="the paper's grid has 4,500 points")
    C = fact("flops_per_param_token").value * N * D
    if not (C >= holdout_above).any():
        raise ValueError(f"no run has C >= holdout_above={holdout_above:g}")
    for threshold in thresholds:
        if (C <= threshold).sum() < 5:
            raise ValueError(
                f"thresholds: {threshold:g} leaves {int((C <= threshold).sum())} runs; "
                "a fit needs at least 5"
            )
    return N, D, loss, thresholds, holdout_above, target_C, starts


def check_study(fields: dict) -> dict:
    """The fields of an `ExtrapolationStudy`: one entry per threshold in each."""
    out = dict(fields)
    out["thresholds"] = positive_array("thresholds", fields["thresholds"], integers=False)
    if out["thresholds"].ndim != 1:
        raise ValueError(
            f"thresholds must be a 1-D array, one compute ceiling per entry, got shape "
            f"{out['thresholds'].shape}"
        )
    out["n_train"] = integer_array("n_train", fields["n_train"], ndim=1, low=5)
    for name in ("median_abs_error", "max_abs_error"):
        out[name] = array(name, fields[name], ndim=1)
        if (out[name] < 0).any():
            raise ValueError(f"{name} must be >= 0, got minimum {out[name].min():g}")
    out["n_opt"] = array("n_opt", fields["n_opt"], ndim=1, finite=False)
    if np.isinf(out["n_opt"]).any() or (out["n_opt"] <= 0).any():
        raise ValueError("n_opt must be > 0 and finite, or NaN where no target_C was given")
    out["held_out"] = array("held_out", fields["held_out"], dtype="bool", ndim=1)
    for name, kind in (("errors", np.ndarray), ("fits", ChinchillaParams)):
        instance(name, fields[name], tuple, "a tuple with one entry per threshold")
        for entry in fields[name]:
            instance(name, entry, kind, f"a tuple of {kind.__name__}")
    out["errors"] = tuple(array("errors", e, ndim=1) for e in fields["errors"])
    lengths = {n: len(v) for n, v in out.items() if n != "held_out"}
    if len(set(lengths.values())) != 1:
        raise ValueError(
            f"thresholds, n_train, errors, ... must have one entry per threshold: {lengths}"
        )
    return out


def budget_list(budgets) -> np.ndarray:
    """IsoFLOP `budgets`: one compute budget or a 1-D list of them, each finite and > 0."""
    budgets = positive_array("budgets", budgets)
    if budgets.ndim > 1:
        raise ValueError(
            f"budgets must be one budget or a 1-D list of them, got shape {budgets.shape}"
        )
    return budgets


def check_sensitivity_args(points, budget, drop, method, budgets, starts, width) -> tuple:
    """The arguments of `allocation_sensitivity`, checked (budgets None: the paper's IsoFLOPs)."""
    if not isinstance(points, (tuple, list)) or len(points) != 3:
        raise TypeError(f"points must be a tuple (N, D, loss), got {describe_value(points)}")
    N, D, loss = check_runs(*points, min_runs=6)
    budget = real_number("budget", budget, positive=True)
    drop = int_tuple("drop", drop, minimum=0, maximum=len(N) - 5)
    method = one_of("method", method, ("parametric", "isoflop"))
    if budgets is None:
        budgets = fact("chinchilla_isoflop_budgets").value
    budgets = budget_list(budgets)
    starts = size("starts", starts, maximum=MAX_STARTS, why="the paper's grid has 4,500 points")
    width = real_number("width", width, positive=True)
    return N, D, loss, budget, drop, method, budgets, starts, width
