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
`labs/scaling/data/envelope_curves.json` with the command, date, versions and processor, and
approach 1 read off each seed (`summarize_envelopes`).

Every width trains at the same peak learning rate (0.03, the chapter's). `--peak-lr 0.01` (or 0.1)
trains the same runs at another rate and writes `envelope_curves_lr0.01.json` (or `_lr0.1`): the
check that the envelope's crossings are not an artefact of a rate that suits some widths better.
`--first-seed 4 --seeds 4` trains seeds 4-7 only and appends them to the file (which must hold
seeds 0-3 of the same settings); the earlier seeds' curves are kept as they are (`add_seeds`).

Taught in chapter 1, "Approach 1 on our own runs".
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from labs.common.runtime import processor_name, provenance, read_results
from labs.common.validate import instance, integer, real_number
from labs.scaling.schedule_long import LONG_STEPS
from labs.scaling.sweep_seeds import SETTINGS

__all__ = [
    "BLOCK", "OTHER_RATES", "add_seeds", "load_envelope_curves", "summarize_envelopes",
]  # fmt: skip

OTHER_RATES = (0.01, 0.1)  # peak learning rates of the committed second-rate files
BLOCK = 20  # steps per smoothing block: 10 points on the 200-step runs, 80 on the 1600-step ones


def load_envelope_curves(path: str | Path | None = None, *, peak_lr: float | None = None) -> dict:
    """The committed curves (`labs/scaling/data/envelope_curves.json`), or the file at `path`.

    Args:
        path: a JSON file made by this script; default, the committed file of `peak_lr`.
        peak_lr: which committed file: None or 0.03 (the chapter's rate), or one of
            `OTHER_RATES` (the same runs at another peak learning rate). Not with `path`.

    Returns:
        dict(meta, seeds, block, N, D, d_model, steps, curves, loss): the 16 runs (widths x
        LONG_STEPS, in `schedule_long.json`'s order), and per seed and run the training loss
        averaged over blocks of `block` steps (block k covers steps k*block+1 .. (k+1)*block) and
        the final validation loss.
    """
    if peak_lr is None:
        return read_results("labs.scaling", "envelope_curves.json", path)
    if path is not None:
        raise ValueError("give path or peak_lr, not both (peak_lr picks a committed file)")
    rate = real_number("peak_lr", peak_lr, positive=True)
    if rate != SETTINGS["peak_lr"] and rate not in OTHER_RATES:
        raise ValueError(
            f"peak_lr must be {SETTINGS['peak_lr']} or one of {list(OTHER_RATES)} (the rates with "
            f"a committed file), got {peak_lr}"
        )
    return read_results("labs.scaling", _curves_file(rate))


def summarize_envelopes(record: dict) -> list[dict]:
    """Approach 1 on each seed of a curves file (as `load_envelope_curves` returns it).

    Each run's block means are placed at the tokens seen at the middle of their block; the
    envelope is `envelope_optimal` over all 16 runs, and the control gives each run the size of
    its mirror width (smallest <-> largest), so the envelope no longer follows N.

    Returns:
        per seed, dict(seed, a, a_grid, crossings, a_reversed, crossings_reversed): the slope
        through the crossings (NaN below two), the slope through the whole staircase, the number
        of crossings, and the same two read off the control.
    """
    from labs.scaling.envelope import envelope_optimal

    instance("record", record, dict, "the dict load_envelope_curves returns")
    missing = [k for k in ("seeds", "block", "N", "D", "steps", "curves") if k not in record]
    if missing:
        raise ValueError(f"record must hold the keys of a curves file, missing {missing}")
    n, d, steps = (np.asarray(record[k], dtype=np.float64) for k in ("N", "D", "steps"))
    block = integer("record['block']", record["block"], minimum=1)
    if len(record["curves"]) != len(record["seeds"]):
        raise ValueError(f"record['curves'] must hold one entry per seed ({len(record['seeds'])}),"
                         f" got {len(record['curves'])}")  # fmt: skip
    # tokens seen at the middle of each block: D / steps tokens per step
    tokens = [
        (np.arange(int(s) // block) + 0.5) * block * d_r / s
        for s, d_r in zip(steps, d, strict=True)
    ]
    sizes = np.unique(n)
    mirror = sizes[::-1][np.searchsorted(sizes, n)]
    out = []
    for seed, seed_curves in zip(record["seeds"], record["curves"], strict=True):
        loss = [np.asarray(c, dtype=np.float64) for c in seed_curves]
        env, ctl = envelope_optimal(n, tokens, loss), envelope_optimal(mirror, tokens, loss)
        out.append({
            "seed": int(seed), "a": env.a, "a_grid": env.a_grid, "crossings": len(env.switch_C),
            "a_reversed": ctl.a, "crossings_reversed": len(ctl.switch_C),
        })  # fmt: skip
    return out


_SAME = ("block", "N", "D", "d_model", "steps")  # what two files of the same runs share


def add_seeds(record: dict, extra: dict) -> dict:
    """`record` (a curves file) with the seeds of `extra` appended; both as `main` builds them.

    `extra` must hold the next seeds (`record`'s last seed + 1 onwards) of the same runs (equal
    block, N, D, d_model, steps and settings). The curves and losses of `record`'s seeds are kept
    unchanged, its meta stays, `extra`'s meta is added to meta["extended"], and the summaries are
    recomputed over all seeds.

    Returns:
        a new dict; the inputs are not changed.
    """
    instance("record", record, dict, "the dict load_envelope_curves returns")
    instance("extra", extra, dict, "a curves dict of the next seeds")
    for name, rec in (("record", record), ("extra", extra)):
        missing = [k for k in ("meta", "seeds", "curves", "loss", *_SAME) if k not in rec]
        if missing:
            raise ValueError(f"{name} must hold the keys of a curves file, missing {missing}")
    for key in _SAME:
        if extra[key] != record[key]:
            raise ValueError(f"extra[{key!r}] must equal record[{key!r}] (the same runs), got "
                             f"{extra[key]!r} against {record[key]!r}")  # fmt: skip
    have, want = record["meta"].get("settings"), extra["meta"].get("settings")
    if have != want:
        raise ValueError(f"extra's settings must equal record's, got {want} against {have}")
    start = len(record["seeds"])
    if list(record["seeds"]) != list(range(start)):
        raise ValueError(f"record['seeds'] must be 0 .. n-1, got {record['seeds']}")
    expected = list(range(start, start + len(extra["seeds"])))
    if not extra["seeds"] or list(extra["seeds"]) != expected:
        raise ValueError(f"extra['seeds'] must be the next seeds {expected or [start]}, "
                         f"got {extra['seeds']}")  # fmt: skip
    meta = {**record["meta"], "extended": [*record["meta"].get("extended", []), extra["meta"]]}
    merged = {
        **record, "meta": meta, "seeds": [*record["seeds"], *extra["seeds"]],
        "curves": [*record["curves"], *extra["curves"]], "loss": [*record["loss"], *extra["loss"]],
    }  # fmt: skip
    merged["summaries"] = _strict(summarize_envelopes(merged))
    return merged


def _strict(rows: list[dict]) -> list[dict]:
    """NaN (no slope) as null: the file stays strict JSON."""
    return [
        {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in row.items()}
        for row in rows
    ]


def _curves_file(peak_lr: float) -> str:
    """The data file of the runs at `peak_lr`: the chapter's rate keeps the original name."""
    if peak_lr == SETTINGS["peak_lr"]:
        return "envelope_curves.json"
    return f"envelope_curves_lr{peak_lr:g}.json"


def main(argv: list[str] | None = None) -> None:
    from labs.scaling.lm import make_corpus
    from labs.scaling.sweep import sweep_plan
    from labs.scaling.torch import train_run

    parser = argparse.ArgumentParser(prog="python -m labs.scaling.envelope_curves")
    parser.add_argument("--seeds", type=int, default=8, help="how many training seeds")
    parser.add_argument(
        "--first-seed", type=int, default=0,
        help="first seed trained (default 0); above 0 the seeds are appended to --out's file",
    )  # fmt: skip
    parser.add_argument(
        "--peak-lr", type=float, default=SETTINGS["peak_lr"],
        help=f"peak of every run's cosine (default {SETTINGS['peak_lr']}, the chapter's)",
    )  # fmt: skip
    parser.add_argument(
        "--out", default=None,
        help="default: data/envelope_curves.json at 0.03, data/envelope_curves_lr<rate>.json else",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not 0 <= args.first_seed < 64:
        parser.error(f"--first-seed must be in [0, 63], got {args.first_seed}")
    if not 2 - min(args.first_seed, 1) <= args.seeds <= 64 - args.first_seed:
        parser.error(f"--seeds must be in [{2 - min(args.first_seed, 1)}, "
                     f"{64 - args.first_seed}] with --first-seed {args.first_seed}, "
                     f"got {args.seeds}")  # fmt: skip
    if not 0 < args.peak_lr <= 1:  # NaN fails this too
        parser.error(f"--peak-lr must be in (0, 1], got {args.peak_lr}")
    out = Path(args.out or Path(__file__).parent / "data" / _curves_file(args.peak_lr))
    base = None
    if args.first_seed:  # check the file to extend before hours of training
        if not out.is_file():
            parser.error(f"--first-seed {args.first_seed} appends to {out}, which does not exist")
        base = json.loads(out.read_text())
        if base.get("seeds") != list(range(args.first_seed)):
            parser.error(f"--first-seed must be the next seed of {out}, whose seeds are "
                         f"{base.get('seeds')}; got {args.first_seed}")  # fmt: skip
        if base["meta"]["settings"]["peak_lr"] != args.peak_lr:
            parser.error(f"--peak-lr {args.peak_lr} differs from {out}'s "
                         f"{base['meta']['settings']['peak_lr']}")  # fmt: skip
    corpus = make_corpus(train_tokens=SETTINGS["train_tokens"], seed=SETTINGS["corpus_seed"])
    plan = sweep_plan(corpus, SETTINGS["widths"], LONG_STEPS, schedule="matched")
    begin = time.perf_counter()
    curves, losses, rows = [], [], []
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    for seed in seeds:
        seed_curves, seed_losses = [], []
        for config, steps, _ in plan.runs:
            curve, evals = train_run(
                config, corpus, steps, peak_lr=args.peak_lr, seed=seed, device="cpu"
            )
            blocks = curve.reshape(-1, BLOCK).mean(axis=1)  # steps is a multiple of BLOCK
            seed_curves.append([round(float(x), 5) for x in blocks])
            seed_losses.append(float(evals[steps]))
            if seed == seeds[0]:
                rows.append((config, steps, evals[steps]))
        curves.append(seed_curves)
        losses.append(seed_losses)
        print(f"seed {seed}: {time.perf_counter() - begin:.0f} s", flush=True)
    grid = plan.result(rows, [np.zeros(1)] * len(rows), "torch")
    made = provenance("labs.scaling.envelope_curves", argv)
    made["processor"] = processor_name()
    settings = {**SETTINGS, "steps": list(LONG_STEPS), "peak_lr": args.peak_lr}
    meta = {**made, "settings": settings, "seconds": round(time.perf_counter() - begin, 1)}
    record = {
        "meta": meta,
        "seeds": seeds,
        "block": BLOCK,
        **{key: getattr(grid, key).tolist() for key in ("N", "D", "d_model", "steps")},
        "curves": curves,
        "loss": losses,
    }
    if base is not None:
        meta["seeds"] = seeds  # which seeds this command added
        record = add_seeds(base, record)
    else:
        record["summaries"] = _strict(summarize_envelopes(record))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
