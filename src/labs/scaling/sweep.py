"""What a training sweep is, independent of the framework that runs it: the grid of runs, the
argument checks, and the table of results (N, D, C, validation loss) that the fits consume."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from labs.common.validate import integer, one_of, real_number
from labs.scaling.lm import MarkovCorpus, TinyLMConfig, count_params

__all__ = ["SweepPlan", "SweepResult", "check_sweep_args", "sweep_plan"]


@dataclass(frozen=True)
class SweepResult:
    """One row per (model, token budget). N: parameters, D: training tokens, C = 6ND FLOPs,
    loss: validation loss (nats/token); d_model and steps identify the run; curves holds each
    run's training loss per step; framework and schedule say how it was trained."""

    N: np.ndarray
    D: np.ndarray
    C: np.ndarray
    loss: np.ndarray
    d_model: np.ndarray
    steps: np.ndarray
    curves: tuple
    framework: str
    schedule: str

    def __len__(self) -> int:
        return len(self.N)

    def rows(self) -> list[tuple[int, int, float, float, float]]:
        """(d_model, steps, N, D, loss) per run, for printing."""
        return [
            (int(w), int(s), float(n), float(d), float(l))
            for w, s, n, d, l in zip(
                self.d_model, self.steps, self.N, self.D, self.loss, strict=True
            )
        ]


@dataclass(frozen=True)
class SweepPlan:
    """The runs to train: (config, steps to train, steps at which to measure validation loss)."""

    runs: tuple
    batch_size: int
    schedule: str

    def run(self, train_run, framework: str) -> SweepResult:
        """Train every run with `train_run(config, steps, eval_at) -> (curve, {step: val_loss})`
        (one framework's trainer, its other arguments bound) and tabulate the results."""
        from labs.common.progress import progress

        rows, curves = [], []
        for config, run_steps, eval_at in progress(
            self.runs, desc=f"{framework} sweep ({self.schedule})"
        ):
            curve, evals = train_run(config, run_steps, eval_at)
            for s in eval_at:
                rows.append((config, s, evals[s]))
                curves.append(curve[:s])
        return self.result(rows, curves, framework)

    def result(self, rows, curves, framework: str) -> SweepResult:
        configs = [r[0] for r in rows]
        n = np.array([count_params(c) for c in configs], dtype=np.float64)
        steps = np.array([r[1] for r in rows], dtype=np.int64)
        d = steps.astype(np.float64) * self.batch_size * configs[0].context
        return SweepResult(
            N=n,
            D=d,
            C=6.0 * n * d,
            loss=np.array([r[2] for r in rows], dtype=np.float64),
            d_model=np.array([c.d_model for c in configs], dtype=np.int64),
            steps=steps,
            curves=tuple(curves),
            framework=framework,
            schedule=self.schedule,
        )


def _int_tuple(name: str, values, minimum: int) -> tuple[int, ...]:
    if isinstance(values, (int, np.integer)):
        values = (values,)
    try:
        values = tuple(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {type(values).__name__}") from None
    if not values:
        raise ValueError(f"{name} must hold at least one value, got an empty sequence")
    out = tuple(integer(name, v, minimum=minimum) for v in values)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a value, got {out}")
    return tuple(sorted(out))


def sweep_plan(
    corpus: MarkovCorpus,
    d_models,
    steps,
    *,
    base: TinyLMConfig | None = None,
    batch_size: int = 16,
    schedule: str = "matched",
) -> SweepPlan:
    """The runs of a sweep over widths `d_models` and lengths `steps` (see `train_sweep`).

    Head count follows the width (one head per 8 channels, at least one) so that every width
    is a valid configuration; everything else comes from `base`.
    """
    if not isinstance(corpus, MarkovCorpus):
        raise TypeError(f"corpus must be a MarkovCorpus, got {type(corpus).__name__}")
    base = TinyLMConfig(vocab_size=corpus.vocab_size) if base is None else base
    if not isinstance(base, TinyLMConfig):
        raise TypeError(f"base must be a TinyLMConfig, got {type(base).__name__}")
    if base.vocab_size != corpus.vocab_size:
        raise ValueError(
            f"base.vocab_size must equal the corpus vocabulary {corpus.vocab_size}, "
            f"got {base.vocab_size}"
        )
    widths = _int_tuple("d_models", d_models, minimum=1)
    lengths = _int_tuple("steps", steps, minimum=1)
    batch_size = integer("batch_size", batch_size, minimum=1)
    one_of("schedule", schedule, ("matched", "fixed"))
    runs = []
    for w in widths:
        config = dataclasses.replace(base, d_model=w, n_heads=max(1, w // 8) if w % 8 == 0 else 1)
        if schedule == "matched":
            runs.extend((config, s, (s,)) for s in lengths)
        else:
            runs.append((config, lengths[-1], lengths))
    return SweepPlan(tuple(runs), batch_size, schedule)


def check_sweep_args(config, corpus, steps, batch_size, peak_lr, seed, schedule_steps, eval_at):
    """Validate `train_run`'s arguments; return (schedule_steps, eval_at) with defaults filled."""
    if not isinstance(config, TinyLMConfig):
        raise TypeError(f"config must be a TinyLMConfig, got {type(config).__name__}")
    if not isinstance(corpus, MarkovCorpus):
        raise TypeError(f"corpus must be a MarkovCorpus, got {type(corpus).__name__}")
    if config.vocab_size != corpus.vocab_size:
        raise ValueError(
            f"config.vocab_size must equal the corpus vocabulary {corpus.vocab_size}, "
            f"got {config.vocab_size}"
        )
    steps = integer("steps", steps, minimum=1)
    integer("batch_size", batch_size, minimum=1)
    real_number("peak_lr", peak_lr, positive=True)
    integer("seed", seed, minimum=0)
    schedule_steps = steps if schedule_steps is None else schedule_steps
    schedule_steps = integer("schedule_steps", schedule_steps, minimum=steps)
    eval_at = (steps,) if eval_at is None else _int_tuple("eval_at", eval_at, minimum=1)
    if eval_at[-1] > steps:
        raise ValueError(f"eval_at must not exceed steps={steps}, got {eval_at}")
    return schedule_steps, eval_at
