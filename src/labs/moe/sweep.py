"""Chapter 4's balancing sweep: the tiny MoE LM under every cure and control, on several seeds.

Run as `python -m labs.moe.sweep --seeds 5` (about two minutes of CPU time on one thread); it
writes `labs/moe/data/balancing_sweep.json` with the command, the library versions and the date
that made it, which chapter 4 reads (`load_sweep`). Seventeen configurations on five seeds, each run
twice (as it is, and with its initial weights perturbed by one part in a million), do not fit in
the notebook's 90-second budget: the notebook re-runs some of them live (the curves it plots) and
asserts that they reproduce the values committed here, seed by seed (`compare_with_sweep`).

Every configuration is a call of `labs.moe.training.train_tiny_lm` (`CONFIGS` holds its keyword
arguments), for `SETTINGS["steps"]` steps unless it names its own `steps`. Seed s starts every
configuration from the same weights (same skew, same initial router) and feeds it the same
batches, so runs of one seed are paired: a difference between two configurations on the same
seed is not blurred by the seeds' own spread. The groups:

- the skewed router of the chapter (skew 3, lr 0.01): no balancing; the auxiliary loss at four
  weights alpha; V3's bias at our gamma (0.01) and at V3's (0.001);
- capacity controls on the same task: the dense SwiGLU of the MoE's active width and of its total
  width, and no FFN at all;
- an unskewed router (skew 0) at lr 0.01, where no collapse forms, and at lr 0.03, where one
  forms on its own (rich get richer), with and without the cures; and the control that tells
  the step size from the distance travelled: lr 0.01 for three times the steps (450), the same
  summed step size as lr 0.03 for 150.

Taught in chapter 4, "Routing collapse, and two cures".
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from labs.common import validate
from labs.common.runtime import provenance, read_results
from labs.common.validate import (
    describe_value,
    float_array,
    integer,
    one_of,
    real_number,
    size,
)
from labs.moe.training import best_loss, train_tiny_lm

__all__ = [
    "CONFIGS",
    "SETTINGS",
    "compare_with_sweep",
    "load_sweep",
    "rounding_drift",
    "run_config",
    "run_summary",
]

SETTINGS = MappingProxyType({"steps": 150, "early": 5, "late": 20, "init_noise": 1e-6})

_SKEWED = {"skew": 3.0, "lr": 0.01}
_FLAT = {"skew": 0.0, "lr": 0.01}
_FAST = {"skew": 0.0, "lr": 0.03}
CONFIGS = MappingProxyType({
    # the skewed router: no cure, the auxiliary loss at four weights, the bias at two speeds
    "none": {"balancing": "none", **_SKEWED},
    "aux 0.001": {"balancing": "aux", "alpha": 0.001, **_SKEWED},
    "aux 0.01": {"balancing": "aux", "alpha": 0.01, **_SKEWED},
    "aux 0.1": {"balancing": "aux", "alpha": 0.1, **_SKEWED},
    "aux 1": {"balancing": "aux", "alpha": 1.0, **_SKEWED},
    "bias": {"balancing": "bias", "gamma": 0.01, **_SKEWED},
    "bias, V3's gamma": {"balancing": "bias", "gamma": 0.001, **_SKEWED},
    # capacity: dense FFNs of the MoE's active and total width, and no FFN
    "dense": {"dense": True, "dense_width": "active", **_SKEWED},
    "dense, total width": {"dense": True, "dense_width": "total", **_SKEWED},
    "no FFN": {"ffn": False, **_SKEWED},
    # an unskewed router: at lr 0.01 no collapse forms; at lr 0.03 one forms on its own
    "none, skew 0": {"balancing": "none", **_FLAT},
    "bias, skew 0": {"balancing": "bias", "gamma": 0.01, **_FLAT},
    "none, skew 0, lr 0.03": {"balancing": "none", **_FAST},
    "aux 0.01, skew 0, lr 0.03": {"balancing": "aux", "alpha": 0.01, **_FAST},
    "bias, skew 0, lr 0.03": {"balancing": "bias", "gamma": 0.01, **_FAST},
    "no FFN, lr 0.03": {"ffn": False, **_FAST},
    # lr 0.01 for as long as lr 0.03 travels: the step size, or the distance?
    "none, skew 0, 450 steps": {"balancing": "none", **_FLAT, "steps": 450},
})  # fmt: skip


def run_config(
    name: str, seed: int = 0, steps: int | None = None, init_noise: float = 0.0
) -> MappingProxyType:
    """`train_tiny_lm(**CONFIGS[name], seed=seed, init_noise=init_noise)` for `steps` steps (if
    None, the configuration's own `steps` or else the sweep's 150; at most 100,000)."""
    one_of("name", name, tuple(CONFIGS))
    seed = validate.seed("seed", seed)
    kwargs = dict(CONFIGS[name])
    own = kwargs.pop("steps", SETTINGS["steps"])
    steps = own if steps is None else size("steps", steps, maximum=100_000)
    return train_tiny_lm(**kwargs, steps=steps, seed=seed, init_noise=init_noise)


def run_summary(run, early: int = 5, late: int = 20) -> dict[str, float]:
    """What the sweep keeps of one run (a `train_tiny_lm` result): the mean loss of its last
    `late` steps; for a MoE also the mean imbalance (max / mean load) of its first `early` and
    last `late` steps, the gap between the most and least favoured expert's mean sigmoid
    affinity at its first and last step, and the spread (max - min) of its final routing bias."""
    if not isinstance(run, Mapping) or "loss" not in run:
        raise TypeError(
            f"run must be a result of train_tiny_lm (a mapping with a loss), got "
            f"{describe_value(run)}"
        )
    loss = float_array("run['loss']", run["loss"], ndim=1)
    early = size("early", early, maximum=len(loss))
    late = size("late", late, maximum=len(loss))
    summary = {"loss": float(loss[-late:].mean())}
    if "imbalance" in run:
        moe = ("imbalance", "affinity", "bias")
        if not set(moe) <= set(run):
            raise ValueError(f"run must hold {', '.join(moe)} beside its loss, got {sorted(run)}")
        imbalance = float_array("run['imbalance']", run["imbalance"], ndim=1)
        affinity = float_array("run['affinity']", run["affinity"], ndim=2)
        bias = float_array("run['bias']", run["bias"], ndim=2)
        if not len(imbalance) == len(affinity) == len(bias) == len(loss):
            raise ValueError(
                f"run's loss, imbalance, affinity and bias must have one row per step, got "
                f"{len(loss)}, {len(imbalance)}, {len(affinity)} and {len(bias)} rows"
            )
        summary |= {
            "start_imbalance": float(imbalance[:early].mean()),
            "final_imbalance": float(imbalance[-late:].mean()),
            "start_affinity_gap": float(np.ptp(affinity[0])),
            "final_affinity_gap": float(np.ptp(affinity[-1])),
            "final_bias_spread": float(np.ptp(bias[-1])),
        }
    return summary


def rounding_drift(sweep: Mapping | None = None) -> dict[str, float]:
    """How far rounding differences carry a run: for each `run_summary` field, the largest
    |perturbed - committed| over every configuration and seed of `sweep` (the committed one if
    None)."""
    sweep = _check_sweep(load_sweep() if sweep is None else sweep)
    drift: dict[str, float] = {}
    for name, fields in sweep["runs"].items():
        for key, values in fields.items():
            moved = np.abs(np.subtract(sweep["perturbed"][name][key], values)).max()
            drift[key] = max(drift.get(key, 0.0), float(moved))
    return drift


def compare_with_sweep(
    name: str, seed: int, run, sweep: Mapping | None = None, margin: float = 1.5
) -> dict[str, tuple[float, float, float]]:
    """A live run of configuration `name` and `seed` against the same run in `sweep` (the
    committed one if None): {field: (live, committed, tolerance)}. The mean imbalance of the
    first steps must agree to 0.01: before rounding differences have grown it tells the seeds
    apart. The final loss and imbalance must agree within `margin` times the sweep's
    `rounding_drift` (another CPU's rounding may carry a run that far, no farther); they tell
    the configurations apart."""
    sweep = _check_sweep(load_sweep() if sweep is None else sweep)
    one_of("name", name, tuple(sweep["runs"]))
    seed = integer("seed", seed, minimum=0, maximum=len(sweep["runs"][name]["loss"]) - 1)
    margin = real_number("margin", margin, minimum=1.0, maximum=10.0)
    steps = sweep["meta"]["configs"].get(name, {}).get("steps", sweep["meta"]["settings"]["steps"])
    live = run_summary(run, sweep["meta"]["settings"]["early"], sweep["meta"]["settings"]["late"])
    if len(run["loss"]) != steps:
        raise ValueError(
            f"run must have the sweep's {steps} steps for {name!r}, got {len(run['loss'])}"
        )
    drift = rounding_drift(sweep)
    tolerance = {"start_imbalance": 0.01, "loss": margin * drift["loss"],
                 "final_imbalance": margin * drift["final_imbalance"]}  # fmt: skip
    return {
        key: (live[key], sweep["runs"][name][key][seed], tol)
        for key, tol in tolerance.items()
        if key in live
    }


def _check_sweep(sweep) -> Mapping:
    if not isinstance(sweep, Mapping) or not {"meta", "runs", "perturbed"} <= set(sweep):
        raise TypeError(
            f"sweep must be a result of load_sweep (meta, runs, perturbed), got "
            f"{describe_value(sweep)}"
        )
    return sweep


def load_sweep(path: str | Path | None = None) -> dict:
    """The committed sweep (`labs/moe/data/balancing_sweep.json`), or the one at `path`.

    Returns:
        dict(meta, best_loss, runs, perturbed): runs maps each configuration of `CONFIGS` to the
        lists, one value per seed (seed i at index i), of each `run_summary` field; perturbed
        holds the same runs with their initial weights perturbed by one part in a million
        (`SETTINGS["init_noise"]`), so that perturbed - runs shows how far rounding differences
        (another CPU, another library build) can carry a run by its end.
    """
    return read_results("labs.moe", "balancing_sweep.json", path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.moe.sweep", description=__doc__)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. seeds-1")
    parser.add_argument("--out", default=None, help="default: data/balancing_sweep.json")
    args = parser.parse_args(argv)
    if not 1 <= args.seeds <= 100:
        parser.error(f"--seeds must be between 1 and 100, got {args.seeds}")
    out = Path(args.out or Path(__file__).parent / "data" / "balancing_sweep.json")
    os.environ.setdefault("LABS_PROGRESS", "off")
    meta = {
        **provenance("labs.moe.sweep", argv),
        "torch_threads": 1,  # train_tiny_lm runs on one thread
        "settings": dict(SETTINGS),
        "seeds": args.seeds,
        "configs": {name: dict(kwargs) for name, kwargs in CONFIGS.items()},
    }
    results = {"meta": meta, "best_loss": best_loss(), "runs": {}, "perturbed": {}}
    for name in CONFIGS:
        for seed in range(args.seeds):
            for kind, noise in (("runs", 0.0), ("perturbed", SETTINGS["init_noise"])):
                run = run_config(name, seed, init_noise=noise)
                summary = run_summary(run, SETTINGS["early"], SETTINGS["late"])
                for key, value in summary.items():
                    results[kind].setdefault(name, {}).setdefault(key, []).append(value)
                shown = ", ".join(f"{key} {value:.4f}" for key, value in summary.items())
                print(f"{name}, seed {seed}, {kind}: {shown}", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
