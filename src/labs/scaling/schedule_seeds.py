"""The learning-rate schedule and the fitted exponent: chapter 1's sweep, Kaplan's fixed schedule.

Run as `OMP_NUM_THREADS=1 python -m labs.scaling.schedule_seeds --seeds 8`. For each training
seed it trains the notebook's CPU sweep (the settings of `labs.scaling.sweep_seeds`) with
`schedule="fixed"`: one model per width, trained for the longest run with one cosine schedule,
the shorter budgets read off its checkpoints, as Kaplan et al. did. It fits the law to each sweep
exactly as `summarize_sweep` does (16 grid starts, the paper's Huber delta) and writes
`labs/scaling/data/schedule_seeds.json` with the command, date, versions and processor that made
it. The matched-schedule sweeps of the same seeds are committed in `sweep_seeds.json`; chapter 1
sets the two against each other seed by seed, trains seed 0 with the fixed schedule live, and
asserts that it lands inside the spread committed here.

Taught in chapter 1, "Does the schedule explain Kaplan's exponent?".
"""

from __future__ import annotations

from pathlib import Path

from labs.common.runtime import read_results
from labs.common.validate import instance, real_number
from labs.scaling.fitting import fit_chinchilla
from labs.scaling.sweep import SweepResult
from labs.scaling.sweep_seeds import SETTINGS, run_seeds

__all__ = ["load_schedule_seeds", "summarize_fit"]


def summarize_fit(sweep: SweepResult, entropy_rate: float) -> dict:
    """The law fitted to one sweep, as plain floats: "E", "alpha", "beta", "a" (the allocation
    exponent) and "E_gap" (fitted E over `entropy_rate`, minus 1); the same fit as
    `summarize_sweep` (16 grid starts, delta = 1e-3)."""
    instance("sweep", sweep, SweepResult)
    entropy_rate = real_number("entropy_rate", entropy_rate, positive=True)
    fit = fit_chinchilla(sweep.N, sweep.D, sweep.loss, starts=SETTINGS["starts"])
    return {
        "E": float(fit.E),
        "alpha": float(fit.alpha),
        "beta": float(fit.beta),
        "a": float(fit.a),
        "E_gap": float(fit.E / entropy_rate - 1),
    }


def load_schedule_seeds(path: str | Path | None = None) -> dict:
    """The committed fixed-schedule seeds (`labs/scaling/data/schedule_seeds.json`), or the file
    at `path`.

    Returns:
        dict(meta, seeds, N, D, d_model, steps, loss, summaries): the grid of 16 runs (the same
        for every seed, in `sweep_seeds.json`'s order), each seed's 16 validation losses, and
        each seed's `summarize_fit`.
    """
    return read_results("labs.scaling", "schedule_seeds.json", path)


def main(argv: list[str] | None = None) -> None:
    run_seeds(
        argv, module="labs.scaling.schedule_seeds", file_name="schedule_seeds.json",
        schedule="fixed", summarize=summarize_fit,
    )  # fmt: skip


if __name__ == "__main__":
    main()
