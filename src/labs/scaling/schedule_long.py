"""Kaplan's fixed schedule on runs four times longer: chapter 1's test of Hoffmann et al.'s point.

Run as `OMP_NUM_THREADS=1 python -m labs.scaling.schedule_long --seeds 8`. The notebook's sweep
(`labs.scaling.sweep_seeds.SETTINGS`: widths 4 to 32, the same corpus, learning rate and batches)
is too short for a cosine's final decay to pay: there a long cosine's early checkpoints come out
lower, not higher. This script trains the same widths for 200 to 1600 steps under both schedules,
for each training seed: "matched" (one run per cell, its cosine as long as the run) and "fixed"
(one 1600-step cosine per width, the shorter budgets read off its checkpoints, as Kaplan et al.
did). The 1600-step run is the same run under both schedules, so it is trained once. 1600 steps of
16 windows of 33 tokens draw 819,200 windows' worth of tokens at random from the 300,000 of the
notebook's corpus: each token is read about three times. Each sweep is fitted as
`summarize_fit` does and the results go to `labs/scaling/data/schedule_long.json` with the
command, date, versions and processor that made them.

Taught in chapter 1, "Does the schedule explain Kaplan's exponent?".
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import scipy

from labs.common.runtime import processor_name, provenance, read_results
from labs.scaling.schedule_seeds import summarize_fit
from labs.scaling.sweep_seeds import SETTINGS

__all__ = ["LONG_STEPS", "load_schedule_long"]

LONG_STEPS = (200, 400, 800, 1600)  # four times the notebook's sweep lengths


def load_schedule_long(path: str | Path | None = None) -> dict:
    """The committed long-schedule seeds (`labs/scaling/data/schedule_long.json`), or the file at
    `path`.

    Returns:
        dict(meta, seeds, N, D, d_model, steps, loss_matched, loss_fixed, summaries_matched,
        summaries_fixed): the grid of 16 runs (widths x LONG_STEPS, the same for every seed),
        each seed's 16 validation losses under either schedule, and each sweep's `summarize_fit`.
    """
    return read_results("labs.scaling", "schedule_long.json", path)


def _train_seed(corpus, seed: int):
    """Both schedules' sweeps for one training seed: (matched, fixed) `SweepResult`s."""
    from labs.scaling.sweep import sweep_plan
    from labs.scaling.torch import train_run

    fixed_plan = sweep_plan(corpus, SETTINGS["widths"], LONG_STEPS, schedule="fixed")
    matched_plan = sweep_plan(corpus, SETTINGS["widths"], LONG_STEPS, schedule="matched")
    fixed_rows, matched_rows, fixed_curves, matched_curves = [], [], [], []
    for config, longest, eval_at in fixed_plan.runs:
        kwargs = {"peak_lr": SETTINGS["peak_lr"], "seed": seed, "device": "cpu"}
        curve, evals = train_run(config, corpus, longest, eval_at=eval_at, **kwargs)
        for s in eval_at:
            fixed_rows.append((config, s, evals[s]))
            fixed_curves.append(curve[:s])
        for s in eval_at:  # the matched runs; the longest is the fixed schedule's own run
            if s != longest:
                curve_s, evals_s = train_run(config, corpus, s, **kwargs)
            else:
                curve_s, evals_s = curve, evals
            matched_rows.append((config, s, evals_s[s]))
            matched_curves.append(curve_s[:s])
    return (
        matched_plan.result(matched_rows, matched_curves, "torch"),
        fixed_plan.result(fixed_rows, fixed_curves, "torch"),
    )


def main(argv: list[str] | None = None) -> None:
    from labs.scaling.lm import make_corpus

    parser = argparse.ArgumentParser(prog="python -m labs.scaling.schedule_long")
    parser.add_argument("--seeds", type=int, default=8, help="training seeds 0 .. seeds-1")
    parser.add_argument("--out", default=None, help="default: data/schedule_long.json")
    args = parser.parse_args(argv)
    if not 2 <= args.seeds <= 64:
        parser.error(f"--seeds must be in [2, 64], got {args.seeds}")
    out = Path(args.out or Path(__file__).parent / "data" / "schedule_long.json")
    corpus = make_corpus(train_tokens=SETTINGS["train_tokens"], seed=SETTINGS["corpus_seed"])
    begin = time.perf_counter()
    results = {key: [] for key in ("loss_matched", "loss_fixed")}
    results |= {key: [] for key in ("summaries_matched", "summaries_fixed")}
    for seed in range(args.seeds):
        matched, fixed = _train_seed(corpus, seed)
        for name, sweep in (("matched", matched), ("fixed", fixed)):
            results[f"loss_{name}"].append([float(x) for x in sweep.loss])
            results[f"summaries_{name}"].append(summarize_fit(sweep, corpus.entropy_rate))
        a_m, a_f = (results[f"summaries_{k}"][-1]["a"] for k in ("matched", "fixed"))
        ratio = np.array(results["loss_fixed"][-1]) / np.array(results["loss_matched"][-1])
        print(
            f"seed {seed}: {time.perf_counter() - begin:.0f} s, a matched {a_m:.3f}, fixed "
            f"{a_f:.3f}; fixed / matched loss {ratio.min():.3f} to {ratio.max():.3f}",
            flush=True,
        )
    made = provenance("labs.scaling.schedule_long", argv)
    made["versions"]["scipy"] = scipy.__version__  # L-BFGS-B, the optimiser of every fit
    made["processor"] = processor_name()
    settings = {**SETTINGS, "steps": list(LONG_STEPS), "entropy_rate": corpus.entropy_rate}
    meta = {**made, "settings": settings, "seconds": round(time.perf_counter() - begin, 1)}
    grid = {key: getattr(matched, key).tolist() for key in ("N", "D", "d_model", "steps")}
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"meta": meta, "seeds": list(range(args.seeds)), **grid, **results}
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
