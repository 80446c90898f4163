"""Approach 1 of Hoffmann et al. (§3.1): the envelope of training curves.

Each run's (smoothed) loss curve becomes a function of compute C = 6 N D, interpolated linearly in
log C. At each of `points` log-spaced FLOP counts the envelope is the lowest loss over the runs
whose curve reaches that C; the model size of that run is the compute-optimal N there, and a
least-squares line through (log C, log N) gives N_opt ~ C^a. D_opt = C / (6 N_opt) follows.

The chosen N is a staircase, and the slope of a line through all of it (`Envelope.a_grid`, as the
paper fits it) is set by the grid's ends as much as by the steps: near the smallest C only the
smallest models have a curve, near the largest only the largest, so the envelope there is the
extreme size by default and the slope tends to the ratio of the range of log N to that of log C.
`Envelope.a` reads only the steps: the FLOP counts where the envelope passes from one size to
another while both sizes' curves reach that C (a crossing; where noisy curves cross several times,
the geometric mean of those C), each paired with the geometric mean of the two sizes, and a line
through those points.

Taught in chapter 1, "Approach 1 on our own runs". Axes: R runs, G grid points, K curve points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labs.common.validate import integer
from labs.scaling.fit_checks import positive_array

__all__ = ["envelope_optimal"]  # Envelope is its result, made only there

MAX_POINTS = 100_000  # the paper uses 1500; (R, G) interpolation tables stay small


@dataclass(frozen=True)
class Envelope:
    """The envelope of R training curves on G log-spaced FLOP counts.

    C, loss, N, D, run, progress: (G,) the FLOP counts, the lowest loss at each, the size and
    tokens of the run that reaches it (D = C / 6N), that run's index and how far through its own
    run that point lies (D over the run's last D). switch_C, switch_N: one crossing per pair of
    sizes, increasing in C, and the geometric mean of the two sizes. a: the slope of log switch_N
    against log switch_C (NaN when there are fewer than two crossings: no slope to read).
    a_grid: the slope of log N against log C over the whole grid.
    """

    C: np.ndarray
    loss: np.ndarray
    N: np.ndarray
    D: np.ndarray
    run: np.ndarray
    progress: np.ndarray
    a: float
    a_grid: float
    switch_C: np.ndarray
    switch_N: np.ndarray


def envelope_optimal(N, D, loss, *, points: int = 1500, c_range=None) -> Envelope:
    """Approach 1: at each FLOP count, the run with the lowest loss, and N_opt ~ C^a read off it.

    Args:
        N: (R,) parameters of each run (at least two distinct sizes).
        D: R 1-D arrays, the tokens seen at each point of run r's smoothed loss curve, increasing.
        loss: R 1-D arrays, the loss at those points (each the length of its D[r]).
        points: how many log-spaced FLOP counts (the paper uses 1500).
        c_range: (low, high) FLOPs of the grid; default, from the smallest C any curve reaches to
            the largest.

    Returns:
        an `Envelope`. ValueError if some grid point is reached by no curve.
    """
    n = positive_array("N", N)
    if n.ndim != 1 or len(np.unique(n)) < 2:
        raise ValueError(f"N must be 1-D with at least two distinct sizes, got {n.tolist()}")
    d_runs = _curves("D", D, len(n))
    l_runs = _curves("loss", loss, len(n))
    for r, (d_r, l_r) in enumerate(zip(d_runs, l_runs, strict=True)):
        if len(d_r) != len(l_r):
            raise ValueError(f"D[{r}] and loss[{r}] must have the same length, got "
                             f"{len(d_r)} and {len(l_r)}")  # fmt: skip
        if np.any(np.diff(d_r) <= 0):
            raise ValueError(f"D[{r}] must be strictly increasing (tokens seen along a run)")
    points = integer("points", points, minimum=10, maximum=MAX_POINTS)
    log_c = [np.log(6.0 * n_r * d_r) for n_r, d_r in zip(n, d_runs, strict=True)]
    if c_range is None:
        low, high = min(x[0] for x in log_c), max(x[-1] for x in log_c)
    else:
        c_range = positive_array("c_range", c_range)
        if c_range.shape != (2,) or not c_range[0] < c_range[1]:
            raise ValueError(f"c_range must be (low, high) with low < high, got {c_range.tolist()}")
        low, high = np.log(c_range)
    return _envelope(n, log_c, l_runs, [x[-1] for x in d_runs], np.linspace(low, high, points))


def _curves(name: str, value, runs: int) -> list[np.ndarray]:
    """R curves as 1-D positive float arrays of at least two points each."""
    if isinstance(value, (str, bytes, np.ndarray)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a sequence of {runs} 1-D arrays (one per run), got "
                        f"{type(value).__name__}")  # fmt: skip
    if len(value) != runs:
        raise ValueError(f"{name} must hold one curve per run ({runs}), got {len(value)}")
    out = [positive_array(f"{name}[{r}]", v) for r, v in enumerate(value)]
    for r, v in enumerate(out):
        if v.ndim != 1 or len(v) < 2:
            raise ValueError(f"{name}[{r}] must be 1-D with at least 2 points, got shape {v.shape}")
    return out


def _envelope(n, log_c, l_runs, d_last, grid) -> Envelope:
    """The lowest interpolated loss per grid point (§3.1), its run, and the fit of log N."""
    table = np.stack(  # (R, G): run r's loss at each grid C, inf where its curve does not reach
        [
            np.interp(grid, x, y, left=np.inf, right=np.inf)
            for x, y in zip(log_c, l_runs, strict=True)
        ]
    )
    if np.isinf(table.min(axis=0)).any():
        first = np.exp(grid[np.isinf(table.min(axis=0))][0])
        raise ValueError(f"c_range must lie where some curve reaches; none reaches C = {first:.3g}")
    run = table.argmin(axis=0)  # (G,)
    c = np.exp(grid)
    n_opt = n[run]
    d_opt = c / (6.0 * n_opt)
    progress = d_opt / np.asarray(d_last)[run]
    a_grid = float(np.polyfit(grid, np.log(n_opt), 1)[0])
    sizes = np.unique(n)
    cover = np.stack(  # (S, G): some run of size s reaches this C
        [np.isfinite(table[n == s]).any(axis=0) for s in sizes]
    )
    size_idx = np.searchsorted(sizes, n_opt)
    g = np.flatnonzero(size_idx[1:] != size_idx[:-1])  # the envelope changes size after g
    both = cover[size_idx[g], g] & cover[size_idx[g], g + 1]
    both &= cover[size_idx[g + 1], g] & cover[size_idx[g + 1], g + 1]
    g = g[both]
    # noisy curves of two sizes may cross several times: one crossing per pair of sizes, at the
    # geometric mean of its crossings' C
    pairs = np.sort(np.stack([size_idx[g], size_idx[g + 1]], axis=1), axis=1)  # (X, 2)
    log_mid = 0.5 * (grid[g] + grid[g + 1])
    keys, which = np.unique(pairs, axis=0, return_inverse=True)
    which = np.ravel(which)
    switch_c = np.array([np.exp(log_mid[which == k].mean()) for k in range(len(keys))])
    switch_n = np.sqrt(sizes[keys[:, 0]] * sizes[keys[:, 1]]) if len(keys) else np.zeros(0)
    order = np.argsort(switch_c)
    switch_c, switch_n = switch_c[order], switch_n[order]
    a = np.nan  # documented: fewer than two crossings give no slope
    if len(switch_c) >= 2 and np.ptp(np.log(switch_c)) > 0:
        a = float(np.polyfit(np.log(switch_c), np.log(switch_n), 1)[0])
    return Envelope(
        C=c, loss=table.min(axis=0), N=n_opt, D=d_opt, run=run, progress=progress, a=a,
        a_grid=a_grid, switch_C=switch_c, switch_N=switch_n,
    )  # fmt: skip
