"""The shots simulator's default prediction noise against what Chapter 1 measures.

Chapter packages do not import each other: the economics chapter takes the noise of small-run
predictions as a number (DEFAULT_PREDICTION_NOISE). This test recomputes, with Chapter 1's own
code on Epoch AI's points, how well small runs predict the large ones, and checks that the default
is of that size: no smaller than the in-sample scatter of the fitted law, and no larger than the
worst error made when predicting the big runs from runs with at most 1e20 FLOPs.
"""

import numpy as np

from labs.economics.research import DEFAULT_PREDICTION_NOISE
from labs.scaling import extrapolation_study, fit_chinchilla, load_chinchilla_points


def test_default_noise_matches_chapter_1_measurements():
    N, D, loss = load_chinchilla_points()
    in_sample = float(np.std(fit_chinchilla(N, D, loss, starts=4).residuals, ddof=1))
    study = extrapolation_study(N, D, loss, [1e20], holdout_above=1e21, target_C=5.88e23, starts=4)
    median_err, worst_err = float(study.median_abs_error[0]), float(study.max_abs_error[0])
    # relative errors of a few percent are, to first order, errors in natural-log units
    assert in_sample <= DEFAULT_PREDICTION_NOISE <= worst_err, (in_sample, median_err, worst_err)
    assert 0.5 * median_err <= DEFAULT_PREDICTION_NOISE <= 2.0 * worst_err
