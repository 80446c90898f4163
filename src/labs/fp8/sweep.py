"""The chapter's multi-seed training sweep: the held-out loss of every precision over many seeds.

Run as `python -m labs.fp8.sweep --seeds 12` (about 15 minutes on one CPU core, most of it
the short-accumulator control, whose GEMMs loop over K in Python); it writes
`labs/fp8/data/training_sweep.json` with the command, the library versions and the date that
made it, which chapter 2 reads (`load_sweep`). `--only p1,p2` runs those precisions alone and
adds them to the existing file, leaving the other entries as they were; each such addition is
recorded under meta["additions"] with its own command, versions and date. The notebook re-runs
one seed of each fast precision live (all but the short accumulator) and asserts that it lands
inside the spread committed here: twelve seeds per precision do not fit in its 90-second budget,
and three (what fits) give too noisy a resolution (see the chapter's claim check).

A longer horizon goes to a file of its own: `python -m labs.fp8.sweep --seeds 12 --steps 600
--eval-every 120 --only fp32,bf16,bf16_full,fp8 --out src/labs/fp8/data/training_horizon.json`
(`load_sweep(name="training_horizon.json")`) trains the references and V3's recipe five times as
long, with the held-out loss every 120 steps (eval_losses_by_step) and the training loss in
windows of 20 steps (train_loss_windows); the first 120 steps of each run are the sweep's own
run of that seed. `--only` with an `--out` that does not exist yet starts a new file, and may
name any precision of `labs.fp8.torch_train` (bf16_full: BF16 backward GEMMs as well).

Every run trains `labs.fp8.torch_train.TinyLM` on the same second-order Markov chain (`TASK`)
with the same optimiser settings (`TRAINING`); seed s starts every precision from the same
weights and feeds it the same batches, so the runs of one seed are paired.

Taught in chapter 2, "Training in FP8: does the loss notice?".
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from labs.common.runtime import processor_name, provenance, read_results
from labs.fp8.experiments import markov_tokens
from labs.fp8.torch_train import PRECISIONS as ALL_PRECISIONS
from labs.fp8.torch_train import train_tiny_lm

__all__ = ["PRECISIONS", "TASK", "TRAINING", "load_sweep", "task_tokens"]

# The data: a Markov chain over 16 tokens, 100,000 tokens to train on, 20,000 held out.
TASK = {"vocab": 16, "train_tokens": 100_000, "held_out_tokens": 20_000, "seed": 0}
TRAINING = {"steps": 120, "batch": 256, "lr": 3e-3}
# fp32 and bf16 are the references; fp8 is V3's recipe; e5m2_tensor the coarse recipe of earlier
# FP8 training; e4m3_unscaled, e4m3_frozen, e4m3_tensor_outliers and fp8_short_accumulator the
# negative controls (see labs.fp8.torch_train).
PRECISIONS = (
    "fp32",
    "bf16",
    "fp8",
    "e5m2_tensor",
    "e4m3_unscaled",
    "e4m3_frozen",
    "e4m3_tensor_outliers",
    "fp8_short_accumulator",
)
WINDOW = 20  # steps per mean of the training loss kept in a results file (train_loss_windows)


def task_tokens() -> tuple[np.ndarray, np.ndarray, float]:
    """The sweep's data: (train tokens, held-out tokens, the chain's entropy rate in nats)."""
    n_train = TASK["train_tokens"]
    tokens, entropy = markov_tokens(
        n_train + TASK["held_out_tokens"], vocab=TASK["vocab"], seed=TASK["seed"]
    )
    return tokens[:n_train], tokens[n_train:], entropy


def load_sweep(path: str | Path | None = None, name: str = "training_sweep.json") -> dict:
    """The committed sweep `labs/fp8/data/<name>` (training_sweep.json, or training_horizon.json
    for the 600-step runs), or the file at `path`.

    Returns:
        dict(meta, entropy, eval_loss, ...): eval_loss maps each precision to its held-out
        losses, one per seed (seed i at index i); a file made with --eval-every also holds
        eval_losses_by_step ({precision: {step: per-seed losses}}) and train_loss_windows
        ({precision: per seed, the mean training loss of each window of WINDOW steps}).
    """
    return read_results("labs.fp8", name, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.fp8.sweep", description=__doc__)
    parser.add_argument("--seeds", type=int, default=12, help="seeds 0 .. seeds-1")
    parser.add_argument("--out", default=None, help="default: data/training_sweep.json")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated precisions to add to the file at --out (or to start it with)",
    )
    parser.add_argument("--steps", type=int, default=TRAINING["steps"], help="steps per run")
    parser.add_argument(
        "--eval-every", type=int, default=None, help="held-out loss every this many steps"
    )
    args = parser.parse_args(argv)
    out = Path(args.out or Path(__file__).parent / "data" / "training_sweep.json")
    only = PRECISIONS if args.only is None else tuple(args.only.split(","))
    unknown = sorted(set(only) - set(ALL_PRECISIONS))
    if unknown:
        parser.error(f"--only: unknown precisions {unknown}; known: {', '.join(ALL_PRECISIONS)}")
    if not 1 <= args.steps <= 10**6:
        parser.error(f"--steps must be 1..10**6, got {args.steps}")
    if args.eval_every is not None and not 1 <= args.eval_every <= args.steps:
        parser.error(f"--eval-every must be 1..steps ({args.steps}), got {args.eval_every}")
    training = {**TRAINING, "steps": args.steps}
    torch.set_num_threads(1)  # GEMMs this small run faster on one thread (as in the notebook)
    os.environ.setdefault("LABS_PROGRESS", "off")  # one line per run instead of 72 bars
    train, held_out, entropy = task_tokens()
    made = {**provenance("labs.fp8.sweep", argv), "torch_threads": 1, "processor": processor_name()}
    settings = {"task": TASK, "training": training, "seeds": args.seeds}
    if args.eval_every is not None:
        settings["eval_every"] = args.eval_every
    if args.only is None or not out.exists():
        results = {"meta": {**made, **settings}, "entropy": entropy, "eval_loss": {}}
    else:  # add to the committed runs: same task, training and seeds, or nothing
        results = load_sweep(out)
        kept = {key: results["meta"].get(key) for key in settings}
        if kept != settings or results["entropy"] != entropy:
            parser.error(f"{out} was made with {kept}, not {settings}: rerun without --only")
        results["meta"].setdefault("additions", []).append({**made, "precisions": list(only)})
    for precision in only:
        losses, by_step, windows = [], {}, []
        for seed in range(args.seeds):
            run = train_tiny_lm(
                precision,
                train,
                held_out,
                TASK["vocab"],
                **training,
                seed=seed,
                eval_every=args.eval_every,
            )
            losses.append(run["eval_loss"])
            for step, loss in run.get("eval_losses", {}).items():
                by_step.setdefault(str(step), []).append(loss)
            curve = np.array(run["train_losses"])
            n = len(curve) // WINDOW * WINDOW
            windows.append(curve[:n].reshape(-1, WINDOW).mean(axis=1).tolist())
            print(f"{precision} seed {seed}: held-out loss {losses[-1]:.5f}", flush=True)
        results["eval_loss"][precision] = losses
        if args.eval_every is not None:
            results.setdefault("eval_losses_by_step", {})[precision] = by_step
            results.setdefault("train_loss_windows", {})[precision] = windows
    for key in ("eval_loss", "eval_losses_by_step", "train_loss_windows"):
        if key in results:
            results[key] = {p: results[key][p] for p in ALL_PRECISIONS if p in results[key]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
