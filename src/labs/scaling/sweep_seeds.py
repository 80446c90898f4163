"""The tiny-model sweep of chapter 1 over training seeds: how far another seed moves its numbers.

Run as `python -m labs.scaling.sweep_seeds --seeds 8` (about half a minute of CPU per seed); it
trains the notebook's CPU sweep (SETTINGS: widths 4 to 32, 50 to 400 steps, the corpus of seed 0)
once per training seed (the seed of the weights and of the batches), summarises each sweep with
`summarize_sweep`, and writes `labs/scaling/data/sweep_seeds.json` with the command, date,
versions and machine that made it. The notebook trains seed 0 live within its 90-second budget,
summarises it with the same function, and asserts that it lands inside the committed spread.
`python -m labs.scaling.sweep_seeds --resummarize` recomputes the summaries from the committed
losses without training (for a summary that gains a reading) and records that step in
meta["resummarized"].

Taught in chapter 1, "Your own sweep" and "DeepSeek's own scaling laws".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy

from labs.common.runtime import processor_name, provenance, read_results
from labs.common.validate import instance, integer_array, real_number
from labs.scaling.deepseek import deepseek_flops_per_token
from labs.scaling.fitting import fit_chinchilla
from labs.scaling.predict import extrapolation_study
from labs.scaling.sweep import SweepResult

__all__ = ["SETTINGS", "VOCAB", "flop_counts", "load_sweep_seeds", "summarize_sweep"]

# The notebook's CPU sweep (SCALE = "small"), its learning rate and the grid starts of its fits.
SETTINGS = {
    "widths": [4, 8, 16, 32],
    "steps": [50, 100, 200, 400],
    "train_tokens": 300_000,
    "corpus_seed": 0,
    "peak_lr": 3e-2,
    "context": 32,
    "starts": 16,
}


# The vocabulary of the corpus the sweep trains on (make_corpus's default, which run_seeds uses).
VOCAB = 64


def flop_counts(d_model) -> dict[str, np.ndarray]:
    """Five counts of training FLOPs per token / 6 for the sweep's one-layer models, by width.

    Args:
        d_model: the models' widths, integers from 1 to 1024 (TinyLMConfig's cap), one or an
            array of them.

    Returns:
        dict of float64 arrays, keyed as `summarize_sweep` keys the exponent fitted with each:
        "a_nonemb" 12 d^2 (the layer's weights, Kaplan's count), "a_m" DeepSeek's M / 6 =
        12 d^2 + 2 l d (eq. 2: attention over the whole l x l matrix, the vocabulary left out),
        "a_head" 12 d^2 + V d (the output head added), "a_all_flops" 12 d^2 + V d + l d (the head
        and causal attention, l / 2 keys on average) and "a_all_flops_full" 12 d^2 + V d + 2 l d
        (the head and the whole score matrix, which the model computes before masking it);
        V = VOCAB = 64, l = SETTINGS["context"] = 32. The embedding lookups cost no FLOPs.
    """
    width = integer_array("d_model", d_model, low=1, high=2**10 + 1)
    if width.ndim > 1:
        raise ValueError(
            f"d_model must be one width or a 1-D array of them, got shape {width.shape}"
        )
    return _flop_counts(np.atleast_1d(width).astype(np.float64))


def _flop_counts(width: np.ndarray) -> dict[str, np.ndarray]:
    """12 d^2, M / 6, and 12 d^2 plus the head (V d), and plus causal (l d) or full (2 l d)
    attention's score and value products."""
    context = SETTINGS["context"]
    n_nonemb = 12.0 * width**2  # 6 N1 / 6 for one layer
    m = np.array([deepseek_flops_per_token(1, int(w), context) for w in width])
    head = VOCAB * width  # the output head: 6 V d FLOPs per token
    causal = context * width  # q.k and the weighted values over l / 2 keys on average, x 6
    return {
        "a_nonemb": n_nonemb,
        "a_m": m / 6,
        "a_head": n_nonemb + head,
        "a_all_flops": n_nonemb + head + causal,
        "a_all_flops_full": n_nonemb + head + 2 * causal,
    }


def summarize_sweep(sweep: SweepResult, entropy_rate: float) -> dict:
    """What chapter 1 reads off one sweep, as plain floats.

    Args:
        sweep: a `SweepResult` of one layer per model (as `train_sweep` makes).
        entropy_rate: the corpus's entropy rate in nats per token (the true E).

    Returns:
        dict with "E", "alpha", "beta", "a" of the law fitted to the sweep, "E_gap" (fitted E
        over the true one, minus 1), "median_abs_residual" (log loss), the allocation exponent
        with N replaced by other counts per token (training FLOPs / 6, one layer of width d,
        vocabulary V = 64, context l = 32): "a_nonemb" by the non-embedding count 12 d^2, "a_m"
        by DeepSeek's M / 6 = 12 d^2 + 2 l d (attention over the whole l x l matrix),
        "a_head" by 12 d^2 + V d (the output head added), "a_all_flops" by
        12 d^2 + V d + l d (the head and causal attention: every product the model needs) and
        "a_all_flops_full" by 12 d^2 + V d + 2 l d (the head and the whole score matrix: every
        product it executes); and "extrapolation_runs" and "extrapolation_errors": the number of
        cheapest runs each of three laws is fitted on (about half, three quarters, all but the
        costliest) and its signed relative error on the costliest run, as chapter 1's "Predicting
        the big run" does.
    """
    instance("sweep", sweep, SweepResult)
    entropy_rate = real_number("entropy_rate", entropy_rate, positive=True)
    return _summarize_sweep(sweep, entropy_rate)


def _summarize_sweep(sweep: SweepResult, entropy_rate: float) -> dict:
    """Six fits of the whole sweep (all parameters, then five other counts), and three of its
    cheapest runs."""
    starts = SETTINGS["starts"]
    fit = fit_chinchilla(sweep.N, sweep.D, sweep.loss, starts=starts)
    counts = flop_counts(sweep.d_model)
    a_of = {
        key: float(fit_chinchilla(n, sweep.D, sweep.loss, starts=starts).a)
        for key, n in counts.items()
    }
    order = np.argsort(sweep.C)  # the notebook's cuts: C up to that of the 9th, 13th, 15th run
    cuts = [sweep.C[order[k]] for k in (len(order) // 2, len(order) * 3 // 4, len(order) - 2)]
    study = extrapolation_study(
        sweep.N, sweep.D, sweep.loss, cuts, holdout_above=sweep.C[order[-1]], starts=4
    )
    return {
        "E": float(fit.E),
        "alpha": float(fit.alpha),
        "beta": float(fit.beta),
        "a": float(fit.a),
        "E_gap": float(fit.E / entropy_rate - 1),
        "median_abs_residual": float(np.median(np.abs(fit.residuals))),
        **a_of,
        "extrapolation_runs": [int(n) for n in study.n_train],
        "extrapolation_errors": [float(err[0]) for err in study.errors],
    }


def load_sweep_seeds(path: str | Path | None = None) -> dict:
    """The committed seeds (`labs/scaling/data/sweep_seeds.json`), or the file at `path`.

    Returns:
        dict(meta, seeds, N, D, d_model, steps, loss, summaries): N, D, d_model and steps
        describe the 16 runs of the grid (the same for every seed), loss holds each seed's 16
        validation losses in that order, summaries each seed's `summarize_sweep`.
    """
    return read_results("labs.scaling", "sweep_seeds.json", path)


def run_seeds(
    argv: list[str] | None, *, module: str, file_name: str, schedule: str, summarize
) -> None:
    """The command line of `sweep_seeds` and `schedule_seeds`: train the notebook's CPU sweep
    once per training seed with `schedule`, summarise each sweep with `summarize(sweep,
    entropy_rate)`, and write `data/<file_name>` (or `--out`) with its provenance."""
    from labs.scaling.lm import make_corpus
    from labs.scaling.torch import train_sweep

    parser = argparse.ArgumentParser(prog=f"python -m {module}")
    parser.add_argument("--seeds", type=int, default=8, help="training seeds 0 .. seeds-1")
    parser.add_argument("--out", default=None, help=f"default: data/{file_name}")
    args = parser.parse_args(argv)
    if not 2 <= args.seeds <= 64:
        parser.error(f"--seeds must be in [2, 64], got {args.seeds}")
    out = Path(args.out or Path(__file__).parent / "data" / file_name)
    corpus = make_corpus(train_tokens=SETTINGS["train_tokens"], seed=SETTINGS["corpus_seed"])
    begin = time.perf_counter()
    losses, summaries = [], []
    for seed in range(args.seeds):
        sweep = train_sweep(
            corpus, SETTINGS["widths"], SETTINGS["steps"], peak_lr=SETTINGS["peak_lr"],
            schedule=schedule, seed=seed, device="cpu",
        )  # fmt: skip
        losses.append([float(x) for x in sweep.loss])
        summaries.append(summarize(sweep, corpus.entropy_rate))
        print(f"seed {seed}: {time.perf_counter() - begin:.0f} s, a = {summaries[-1]['a']:.3f}")
    made = provenance(module, argv)
    made["versions"]["scipy"] = scipy.__version__  # L-BFGS-B, the optimiser of every fit
    made["processor"] = processor_name()
    settings = {**SETTINGS, "entropy_rate": corpus.entropy_rate}
    if schedule != "matched":
        settings["schedule"] = schedule
    meta = {**made, "settings": settings, "seconds": round(time.perf_counter() - begin, 1)}
    results = {"meta": meta, "seeds": list(range(args.seeds))}
    grid = {key: getattr(sweep, key).tolist() for key in ("N", "D", "d_model", "steps")}
    results |= {**grid, "loss": losses, "summaries": summaries}  # the grid is the same per seed
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


def _recorded_sweep(
    record: dict, index: int, schedule: str = "matched", loss_key: str = "loss"
) -> SweepResult:
    """Seed `index` of a committed record (this file's, `schedule_seeds`' with "fixed", or
    `schedule_long`'s with its `loss_<schedule>` key) as a SweepResult (its curves hold only the
    final loss, which is all the summaries read)."""
    losses = record[loss_key][index]
    n, d, loss = (np.asarray(x, dtype=np.float64) for x in (record["N"], record["D"], losses))
    steps = np.asarray(record["steps"])
    curves = tuple(np.full(int(k), x) for k, x in zip(steps, loss, strict=True))
    return SweepResult(
        N=n, D=d, C=6 * n * d, loss=loss, d_model=np.asarray(record["d_model"]), steps=steps,
        curves=curves, framework="torch", schedule=schedule,
    )  # fmt: skip


def _resummarize(argv: list[str] | None) -> None:
    """`--resummarize [--out PATH]`: summarise the committed losses again with today's
    `summarize_sweep` and rewrite the file, leaving every loss and the training record as they
    were; the command, date, versions and processor of this step go to meta["resummarized"]. For a
    summary that gained a reading: retraining would change the losses wherever the arithmetic is
    not the record's (`labs.common.cpu_arithmetic`)."""
    parser = argparse.ArgumentParser(prog="python -m labs.scaling.sweep_seeds")
    parser.add_argument("--resummarize", action="store_true", required=True)
    parser.add_argument("--out", default=None, help="default: data/sweep_seeds.json")
    args = parser.parse_args(argv)
    out = Path(args.out or Path(__file__).parent / "data" / "sweep_seeds.json")
    record = load_sweep_seeds(out)
    begin = time.perf_counter()
    entropy_rate = record["meta"]["settings"]["entropy_rate"]
    record["summaries"] = [
        _summarize_sweep(_recorded_sweep(record, i), entropy_rate)
        for i in range(len(record["seeds"]))
    ]
    made = provenance("labs.scaling.sweep_seeds", argv)
    made["versions"]["scipy"] = scipy.__version__
    made["processor"] = processor_name()
    made["seconds"] = round(time.perf_counter() - begin, 1)
    record["meta"]["resummarized"] = made
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}: {len(record['summaries'])} summaries from the committed losses")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if "--resummarize" in args:
        _resummarize(args)
        return
    run_seeds(
        argv, module="labs.scaling.sweep_seeds", file_name="sweep_seeds.json",
        schedule="matched", summarize=_summarize_sweep,
    )  # fmt: skip


if __name__ == "__main__":
    main()
