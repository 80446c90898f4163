"""The spread of a pilot fit's prediction with the refit included: a bootstrap of the pilot runs.

Run as `OMP_NUM_THREADS=1 python -m labs.scaling.pilot_bootstrap --replicates 200` (the committed
run took 104 s on one CPU core, recorded in its meta as `seconds`: each replicate refits the law
once per compute ceiling, about half a second in all; NumPy's default BLAS pool, two threads on
two cores, took twice as long for the same numbers); it writes
`labs/scaling/data/pilot_bootstrap.json` with the command, the library versions and the date
that made it, which chapter 1's claim check reads (`load_pilot_bootstrap`). The notebook cannot
afford the refits in its 90-second budget: it re-runs the fit on the pilot runs as they are and
asserts that it falls inside the spread committed here.

Replicate r uses a generator seeded with r. It first draws one resample of the held-out big runs
(with replacement, as many as there are). The pilot sets are nested (every run under one ceiling
is under the next), and so are their resamples: the replicate resamples each compute band once
(the runs at or below the first ceiling, then those between each ceiling and the next, each band
with replacement and as many as it holds), and the pilot set of a ceiling is the union of the
resampled bands up to it. Fits at two ceilings thus share the draws of their common bands, as the
fits on the runs as they are share those runs; independent resamples per ceiling would discard
that covariance and blur every comparison between ceilings. On each pilot set the replicate
refits the law exactly as `extrapolation_study` does (the same Huber delta, the same number of
grid starts, no warm start). For each ceiling it records the refit's parameters, its
compute-optimal N at the target budget and its median relative error on the held-out runs, both
as they are and as resampled; and the same two errors for the negative control, "the big runs do
no better than the best pilot run of the resample".

Taught in chapter 1, "Claim check" (claim 2).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import scipy

from labs.common import validate
from labs.common.facts import fact
from labs.common.runtime import provenance, read_results
from labs.common.validate import real_number
from labs.scaling.fit_checks import check_extrapolation_args
from labs.scaling.fitting import _fit_chinchilla
from labs.scaling.laws import (
    _chinchilla_loss,
    _compute_optimal,
    _training_flops,
    load_chinchilla_points,
)

__all__ = ["SETTINGS", "load_pilot_bootstrap", "pilot_replicate"]

# The chapter's extrapolation study: four compute ceilings for the pilot fits, the runs at or
# above 1e21 FLOPs held out, four grid starts per fit, the replication's 240 points.
SETTINGS = {
    "thresholds": [3e19, 1e20, 3e20, 1e21],
    "holdout_above": 1e21,
    "starts": 4,
    "exclude_highest_loss": 5,
}
DESIGN = "nested, stratified by band: each compute band resampled once per replicate"
KEYS = (
    "n_opt",
    "median_error",
    "median_error_resampled",
    "control_error",
    "control_error_resampled",
)


def _chinchilla_budget() -> float:
    """C = 6 N D of Chinchilla itself (70B parameters, 1.4T tokens): the target budget."""
    n, d = fact("chinchilla_model_params").value, fact("chinchilla_model_tokens").value
    return float(_training_flops(np.float64(n), np.float64(d)))


def pilot_replicate(
    N, D, loss, thresholds, *, holdout_above: float, target_C: float, starts: int = 4, seed: int
) -> dict:
    """One bootstrap replicate of the extrapolation study (see the module docstring).

    Args:
        N, D, loss: the runs (1-D arrays of equal length).
        thresholds: increasing compute ceilings of the pilot fits, each at most `holdout_above`.
        holdout_above: runs with C >= this are the big runs to predict.
        target_C: the budget at which each refit's compute-optimal N is read.
        starts: grid starts per refit (see `fit_chinchilla`).
        seed: the generator's seed; a replicate is a function of it and the arguments.

    Returns:
        dict with one list per key, one entry per threshold: "n_opt", "median_error" and
        "median_error_resampled" (the refit's median |relative error| on the held-out runs as
        they are and resampled), "control_error" and "control_error_resampled" (the same for the
        best resampled pilot run's loss), and "params" ([E, A, B, alpha, beta] per refit).
    """
    args = check_extrapolation_args(N, D, loss, thresholds, holdout_above, target_C, starts)
    target_C = real_number("target_C", target_C, positive=True)
    seed = validate.seed("seed", seed)
    return _pilot_replicate(*args[:5], target_C, args[6], seed)


def _pilot_replicate(N, D, loss, thresholds, holdout_above, target_C, starts, seed) -> dict:
    """Resample the held-out runs once, each compute band once; refit on the nested pilot sets."""
    C = _training_flops(N, D)
    held = np.flatnonzero(C >= holdout_above)
    rng = np.random.default_rng(seed)
    held_draw = rng.choice(held, size=len(held), replace=True)
    out = {key: [] for key in (*KEYS, "params")}
    draw = np.empty(0, dtype=np.intp)  # the pilot set grows band by band: nested like the runs
    for low, threshold in zip((-np.inf, *thresholds[:-1]), thresholds, strict=True):
        band = np.flatnonzero((C > low) & (C <= threshold))
        draw = np.concatenate([draw, rng.choice(band, size=len(band), replace=True)])
        fit = _fit_chinchilla(N[draw], D[draw], loss[draw], 1e-3, starts, None)
        best_pilot = loss[draw].min()
        for name, rows in (("", held), ("_resampled", held_draw)):
            predicted = _chinchilla_loss(N[rows], D[rows], fit)
            out[f"median_error{name}"].append(_median_error(predicted, loss[rows]))
            out[f"control_error{name}"].append(_median_error(best_pilot, loss[rows]))
        out["n_opt"].append(float(_compute_optimal(np.float64(target_C), fit)[0]))
        out["params"].append([fit.E, fit.A, fit.B, fit.alpha, fit.beta])
    return out


def _median_error(predicted, actual: np.ndarray) -> float:
    return float(np.median(np.abs(predicted - actual) / actual))


def load_pilot_bootstrap(path: str | Path | None = None) -> dict:
    """The committed bootstrap (`labs/scaling/data/pilot_bootstrap.json`), or the one at `path`.

    Returns:
        dict(meta, seeds, n_opt, median_error, ..., params): meta holds the settings and the
        command that made it; each other key holds one row per replicate (seed `seeds[i]` at row
        i) with one entry per threshold (see `pilot_replicate`).
    """
    return read_results("labs.scaling", "pilot_bootstrap.json", path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.scaling.pilot_bootstrap")
    parser.add_argument("--replicates", type=int, default=200, help="seeds 0 .. replicates-1")
    parser.add_argument("--out", default=None, help="default: data/pilot_bootstrap.json")
    args = parser.parse_args(argv)
    if not 1 <= args.replicates <= 1_000:
        parser.error(f"--replicates must be in [1, 1000], got {args.replicates}")
    out = Path(args.out or Path(__file__).parent / "data" / "pilot_bootstrap.json")
    N, D, loss = load_chinchilla_points(SETTINGS["exclude_highest_loss"])
    target_C = _chinchilla_budget()
    thresholds, holdout_above = np.array(SETTINGS["thresholds"]), SETTINGS["holdout_above"]
    begin = time.perf_counter()
    rows = []
    for seed in range(args.replicates):
        row = _pilot_replicate(
            N, D, loss, thresholds, holdout_above, target_C, SETTINGS["starts"], seed
        )
        rows.append(row)
        if seed % 10 == 9 or seed == args.replicates - 1:
            print(f"{seed + 1} replicates, {time.perf_counter() - begin:.0f} s", flush=True)
    made = provenance("labs.scaling.pilot_bootstrap", argv)
    made["versions"]["scipy"] = scipy.__version__  # L-BFGS-B, the optimiser of every refit
    meta = {
        **made,
        "settings": {**SETTINGS, "target_C": target_C, "runs": len(N)},
        "design": DESIGN,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "replicates": args.replicates,
        "seconds": round(time.perf_counter() - begin, 1),
    }
    results = {"meta": meta, "seeds": list(range(args.replicates))}
    results.update({key: [row[key] for row in rows] for key in (*KEYS, "params")})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
