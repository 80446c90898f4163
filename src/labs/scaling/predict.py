"""Predicting the big run from small ones: fit the law on the cheap runs only, predict the
expensive ones, and measure how wrong the prediction is as the cheap budget grows.

Each run is a shot: a lab with little compute fits its law on runs far below the one it will
bet on. This module measures how far that bet can be off, on data where the answer is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labs.common.validate import real_number
from labs.scaling.fitting import ChinchillaFit, fit_chinchilla
from labs.scaling.laws import (
    chinchilla_loss,
    compute_optimal,
    positive_array,
    same_length,
    training_flops,
)

__all__ = ["ExtrapolationStudy", "extrapolation_study"]


@dataclass(frozen=True)
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
    N, D, loss = (positive_array(n, v) for n, v in (("N", N), ("D", D), ("loss", loss)))
    same_length(N=N, D=D, loss=loss)
    thresholds = np.sort(np.atleast_1d(positive_array("thresholds", thresholds)))
    holdout_above = real_number("holdout_above", holdout_above, positive=True)
    if thresholds[-1] > holdout_above:
        raise ValueError(
            f"thresholds must not exceed holdout_above={holdout_above:g}, got {thresholds[-1]:g}"
        )
    if target_C is not None:
        target_C = real_number("target_C", target_C, positive=True)
    C = training_flops(N, D)
    held = C >= holdout_above
    if not held.any():
        raise ValueError(f"no run has C >= holdout_above={holdout_above:g}")
    errors, fits, n_train, n_opt = [], [], [], []
    for threshold in thresholds:
        train = C <= threshold
        if train.sum() < 5:
            raise ValueError(
                f"threshold {threshold:g} leaves {int(train.sum())} runs; a fit needs at least 5"
            )
        fit = fit_chinchilla(N[train], D[train], loss[train], starts=starts)
        predicted = chinchilla_loss(N[held], D[held], fit)
        errors.append((predicted - loss[held]) / loss[held])
        fits.append(fit)
        n_train.append(int(train.sum()))
        n_opt.append(compute_optimal(target_C, fit)[0] if target_C is not None else np.nan)
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
