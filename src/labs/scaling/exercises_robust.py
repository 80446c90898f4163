"""Exercise 1.2, the Huber loss: a robust exponent from runs of which a few went wrong.

The runs are planted on a power law with a known exponent, a few of the cheapest made too high;
the answer is scored against the planted exponent, within half of what least squares misses it
by (`_huber_line` with delta = inf is least squares; with a finite delta it is the fit by
iteratively reweighted least squares that chapter 1 shows after the exercise). Taught in chapter 1,
"Exercise 1.2: the Huber loss". `labs.scaling.exercises` re-exports these names.
"""

from __future__ import annotations

import numpy as np

from labs.common.exercises import Case, CheckReport, Exercise, check


def _huber_by_hand(r, delta):
    return np.array([x * x / 2 if abs(x) <= delta else delta * (abs(x) - delta / 2) for x in r])


def _huber_line(log_x, log_y, delta: float, iterations: int = 300) -> tuple[float, float]:
    """(intercept, slope) of the line minimising sum Huber_delta(log_y - line), by iteratively
    reweighted least squares from the least-squares line (weights min(1, delta / |r|))."""
    x = np.asarray(log_x, dtype=np.float64)
    y = np.asarray(log_y, dtype=np.float64)
    w = np.ones_like(y)
    for _ in range(iterations):
        sw, sx, sy = w.sum(), (w * x).sum(), (w * y).sum()
        sxx, sxy = (w * x * x).sum(), (w * x * y).sum()
        slope = (sw * sxy - sx * sy) / (sw * sxx - sx * sx)
        intercept = (sy - slope * sx) / sw
        r = y - intercept - slope * x
        w = np.minimum(1.0, delta / np.maximum(np.abs(r), 1e-300))
    return float(intercept), float(slope)


def _planted_runs(p: float, sigma: float, n: int, bad: int, size: float, seed: int):
    """Runs on log y = p log x + noise (sigma), `bad` of them, drawn among the cheapest quarter
    (where they tilt the exponent most, as the Chinchilla runs' high-loss ones do), `size` to
    2 `size` noise units too high. Returns x, y, the true residuals and the mask of bad runs."""
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e18, 1e22, n)
    noise = sigma * rng.standard_normal(n)
    wrong = np.zeros(n, dtype=bool)
    wrong[rng.choice(n // 4, bad, replace=False)] = True
    residual = noise + wrong * size * sigma * rng.uniform(1.0, 2.0, n)
    y = np.exp(0.3 + p * np.log(x) + residual)
    return x, y, residual, wrong


def _exponent_case(p, sigma, n, bad, size, seed, label, hint):
    """Expected: the true exponent p, within half of least squares' miss (least squares, which
    counts the runs that went wrong quadratically, fails by construction; a fit that caps their
    pull lands within a fifth or less of that miss on these runs, tests/scaling)."""
    x, y, _, _ = _planted_runs(p, sigma, n, bad, size, seed)
    miss = abs(_huber_line(np.log(x), np.log(y), np.inf)[1] - p)
    return Case((x, y), float(p), label, hint, rtol=0.0, atol=miss / 2)


_EXPONENT_HINT = (
    "least squares lets the few runs that went wrong (too high, among the cheapest) tilt the "
    "exponent; a Huber loss caps their pull only where its delta lies below their misses. A "
    "median (L1) fit, delta near zero, caps every run's pull and is robust too; a delta above the "
    "scatter adds efficiency, least squares' precision on the runs that did not go wrong."
)

ROBUST_EXPONENT = Exercise(
    name="robust_exponent",
    signature="robust_exponent(x: np.ndarray, y: np.ndarray) -> float",
    cases=(
        _exponent_case(
            -0.05,
            0.01,
            40,
            3,
            20.0,
            0,
            "40 runs, reading error about 1%, 3 cheap runs that went wrong",
            "your exponent is off by more than half of least squares' miss. " + _EXPONENT_HINT,
        ),
        _exponent_case(
            -0.05,
            2e-5,
            40,
            3,
            20.0,
            1,
            "40 very precise runs (noise about 0.002%), 3 cheap runs a little worse",
            "these runs miss by a few parts in 10,000: the paper's delta = 1e-3 lies above "
            "their misses and counts them quadratically, as least squares does. " + _EXPONENT_HINT,
        ),
        _exponent_case(
            -0.08,
            0.05,
            30,
            2,
            15.0,
            2,
            "30 noisy runs, 2 cheap ones that diverged",
            "your exponent is off by more than half of least squares' miss. " + _EXPONENT_HINT,
        ),
    ),
)


def check_robust_exponent(fn) -> CheckReport:
    """Run the public cases of the robust-exponent exercise against `fn` (scored against the
    true exponent, within half of least squares' miss)."""
    return check(fn, ROBUST_EXPONENT)
