"""What a training sweep is, independent of the framework that runs it: the grid of runs and the
table of results (N, D, C, validation loss) that the fits consume.

Taught in chapter 1, "Your own sweep".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from labs.scaling.config import MarkovCorpus, TinyLMConfig
from labs.scaling.lm import _count_params
from labs.scaling.sweep_checks import (
    check_plan,
    check_plan_args,
    check_sweep_args,
    check_sweep_result,
)

__all__ = ["SweepPlan", "SweepResult", "check_sweep_args", "sweep_plan"]


@dataclass(frozen=True, kw_only=True)
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

    def __post_init__(self) -> None:
        fields = check_sweep_result(
            self.N, self.D, self.C, self.loss, self.d_model, self.steps, self.curves,
            self.framework, self.schedule,
        )  # fmt: skip
        for name, value in fields.items():
            object.__setattr__(self, name, value)

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


@dataclass(frozen=True, kw_only=True)
class SweepPlan:
    """The runs to train: (config, steps to train, steps at which to measure validation loss)."""

    runs: tuple
    batch_size: int
    schedule: str

    def __post_init__(self) -> None:
        batch_size, schedule = check_plan(self.runs, self.batch_size, self.schedule)
        object.__setattr__(self, "batch_size", batch_size)

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
        n = np.array([_count_params(c) for c in configs], dtype=np.float64)
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
    base, widths, lengths, batch_size = check_plan_args(
        corpus, d_models, steps, base, batch_size, schedule
    )
    runs = []
    for w in widths:
        config = dataclasses.replace(base, d_model=w, n_heads=max(1, w // 8) if w % 8 == 0 else 1)
        if schedule == "matched":
            runs.extend((config, s, (s,)) for s in lengths)
        else:
            runs.append((config, lengths[-1], lengths))
    return SweepPlan(runs=tuple(runs), batch_size=batch_size, schedule=schedule)
