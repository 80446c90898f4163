"""Predicting the big run from small ones: fit the law on the cheap runs only, predict the
expensive ones, and measure how wrong the prediction is as the cheap budget grows.

Each run is a shot: a lab with little compute fits its law on runs far below the one it will
bet on. This module measures how far that bet can be off, on data where the answer is known.

Taught in chapter 1, "Predicting the big run from small ones".
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from labs.scaling.fit_checks import check_extrapolation_args, check_study
from labs.scaling.fitting import ChinchillaFit, _fit_chinchilla
from labs.scaling.laws import _chinchilla_loss, _compute_optimal, _training_flops

__all__ = ["ExtrapolationStudy", "extrapolation_study"]


@dataclass(frozen=True, kw_only=True)
class ExtrapolationStudy:
    """What the law fitted on runs with C <= each threshold predicts for the held-out big runs.

    thresholds: compute ceilings of the training sets (FLOPs); n_train: runs in each;
    errors: per threshold, signed relative errors (predicted - actual) / actual on the held-out
    runs; median_abs_error, max_abs_error: their summaries; n_opt: per threshold, the
    compute-optimal N at `target_C` under that fit (NaN when no target was given);
    fits: the fitted laws; held_out: boolean mask of the held-out runs.
    """

    thresholds: np.ndarray
    n_train: np.ndarray
    errors: tuple
    median_abs_error: np.ndarray
    max_abs_error: np.ndarray
    n_opt: np.ndarray
    fits: tuple[ChinchillaFit, ...]
    held_out: np.ndarray

    def __post_init__(self) -> None:
        checked = check_study({f.name: getattr(self, f.name) for f in fields(self)})
        for name, value in checked.items():
            object.__setattr__(self, name, value)


def extrapolation_study(
    N,
    D,
    loss,
    thresholds,
    *,
    holdout_above: float,
    target_C: float | None = None,
    starts: int = 32,
) -> ExtrapolationStudy:
    """Fit on the runs with compute C = 6ND <= each threshold; predict the runs above
    `holdout_above` (never used in a fit).

    Args:
        N, D, loss: the runs (1-D arrays of equal length).
        thresholds: increasing compute ceilings, each at most `holdout_above`.
        holdout_above: runs with C >= this are the "big runs" to predict.
        target_C: optional budget at which each fit's compute-optimal N is reported.
        starts: grid starts per fit (see `fit_chinchilla`).
    """
    args = check_extrapolation_args(N, D, loss, thresholds, holdout_above, target_C, starts)
    return _extrapolation_study(*args)


def _extrapolation_study(N, D, loss, thresholds, holdout_above, target_C, starts):
    """Fit on C <= each threshold, predict the runs with C >= holdout_above."""
    C = _training_flops(N, D)
    held = C >= holdout_above
    errors, fits, n_train, n_opt = [], [], [], []
    for threshold in thresholds:
        train = C <= threshold
        fit = _fit_chinchilla(N[train], D[train], loss[train], 1e-3, starts, None)
        predicted = _chinchilla_loss(N[held], D[held], fit)
        errors.append((predicted - loss[held]) / loss[held])
        fits.append(fit)
        n_train.append(int(train.sum()))
        n_opt.append(_compute_optimal(np.float64(target_C), fit)[0] if target_C else np.nan)
    return ExtrapolationStudy(
        thresholds=thresholds,
        n_train=np.array(n_train),
        errors=tuple(errors),
        median_abs_error=np.array([np.median(np.abs(e)) for e in errors]),
        max_abs_error=np.array([np.max(np.abs(e)) for e in errors]),
        n_opt=np.array(n_opt),
        fits=tuple(fits),
        held_out=held,
    )
