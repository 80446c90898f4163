"""Training-loss curves of the long matched runs: the data of chapter 1's approach 1.

Run as `OMP_NUM_THREADS=1 python -m labs.scaling.envelope_curves --seeds 8`. Hoffmann et al.'s
approach 1 (§3.1) trains each model size for four horizons, each with its own cosine, smooths each
run's training-loss curve and takes, at every FLOP count, the lowest loss over all runs.
`schedule_long.json` holds only the final validation loss of each run; this script retrains its
matched runs (the widths of `labs.scaling.sweep_seeds.SETTINGS`, `LONG_STEPS` = 200 to 1600 steps,
one cosine per run, the same seeds and batches) and records each run's training loss per step,
averaged over blocks of `BLOCK` steps (the smoothing), and its final validation loss. The 1600-step
run of each width is also the fixed schedule of `schedule_long.py`: its curve read at every step is
the envelope's negative control (a horizon not matched to the run). The results go to
`labs/scaling/data/envelope_curves.json` with the command, date, versions and processor.

Taught in chapter 1, "Approach 1 on our own runs".
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from labs.common.runtime import processor_name, provenance, read_results
from labs.scaling.schedule_long import LONG_STEPS
from labs.scaling.sweep_seeds import SETTINGS

__all__ = ["BLOCK", "load_envelope_curves"]

BLOCK = 20  # steps per smoothing block: 10 points on the 200-step runs, 80 on the 1600-step ones


def load_envelope_curves(path: str | Path | None = None) -> dict:
    """The committed curves (`labs/scaling/data/envelope_curves.json`), or the file at `path`.

    Returns:
        dict(meta, seeds, block, N, D, d_model, steps, curves, loss): the 16 runs (widths x
        LONG_STEPS, in `schedule_long.json`'s order), and per seed and run the training loss
        averaged over blocks of `block` steps (block k covers steps k*block+1 .. (k+1)*block) and
        the final validation loss.
    """
    return read_results("labs.scaling", "envelope_curves.json", path)


def main(argv: list[str] | None = None) -> None:
    from labs.scaling.lm import make_corpus
    from labs.scaling.sweep import sweep_plan
    from labs.scaling.torch import train_run

    parser = argparse.ArgumentParser(prog="python -m labs.scaling.envelope_curves")
    parser.add_argument("--seeds", type=int, default=8, help="training seeds 0 .. seeds-1")
    parser.add_argument("--out", default=None, help="default: data/envelope_curves.json")
    args = parser.parse_args(argv)
    if not 2 <= args.seeds <= 64:
        parser.error(f"--seeds must be in [2, 64], got {args.seeds}")
    out = Path(args.out or Path(__file__).parent / "data" / "envelope_curves.json")
    corpus = make_corpus(train_tokens=SETTINGS["train_tokens"], seed=SETTINGS["corpus_seed"])
    plan = sweep_plan(corpus, SETTINGS["widths"], LONG_STEPS, schedule="matched")
    begin = time.perf_counter()
    curves, losses, rows = [], [], []
    for seed in range(args.seeds):
        seed_curves, seed_losses = [], []
        for config, steps, _ in plan.runs:
            curve, evals = train_run(
                config, corpus, steps, peak_lr=SETTINGS["peak_lr"], seed=seed, device="cpu"
            )
            blocks = curve.reshape(-1, BLOCK).mean(axis=1)  # steps is a multiple of BLOCK
            seed_curves.append([round(float(x), 5) for x in blocks])
            seed_losses.append(float(evals[steps]))
            if seed == 0:
                rows.append((config, steps, evals[steps]))
        curves.append(seed_curves)
        losses.append(seed_losses)
        print(f"seed {seed}: {time.perf_counter() - begin:.0f} s", flush=True)
    grid = plan.result(rows, [np.zeros(1)] * len(rows), "torch")
    made = provenance("labs.scaling.envelope_curves", argv)
    made["processor"] = processor_name()
    settings = {**SETTINGS, "steps": list(LONG_STEPS)}
    meta = {**made, "settings": settings, "seconds": round(time.perf_counter() - begin, 1)}
    record = {
        "meta": meta,
        "seeds": list(range(args.seeds)),
        "block": BLOCK,
        **{key: getattr(grid, key).tolist() for key in ("N", "D", "d_model", "steps")},
        "curves": curves,
        "loss": losses,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
