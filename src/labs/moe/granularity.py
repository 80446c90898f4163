"""Chapter 4's ablation of DeepSeekMoE's two architectural claims: fine-grained experts and a
shared expert, at equal total and equal active expert parameters, on paired seeds.

Run as `python -m labs.moe.granularity --seeds 8` (about 14 minutes of CPU time on one thread);
it writes `labs/moe/data/granularity_ablation.json` with the command, the library versions and the
date that made it, which chapter 4 reads (`load_ablation`). The notebook re-runs one
configuration live and checks that it falls inside the committed spread.

Every configuration trains the tiny LM of `labs.moe.training` (same chain, batch, Adam, lr 0.01,
V3's bias at gamma 0.01, no router skew) for `SETTINGS["steps"]` steps, and keeps the trained
model's exact held-out loss (the expected loss over every context, no sampling noise). Seed s
gives every configuration the same batches and the same initial head, so runs of one seed are
paired (the embeddings are drawn after the FFN's weights, so they differ between layers of
different shapes). The expert budget is DeepSeekMoE's construction (Dai et al. 2024, §3.1, §3.2)
at toy scale, in units of SwiGLU hidden width: 128 in all, 32 per token.

- coarse: 8 experts of width 16, top-2;
- fine, m = 2 and m = 4: each expert split into m of width 16/m, top-2m;
- fine + shared: m = 4 with one of the 32 experts always on, the router choosing 7 of 31.

Controls: the dense SwiGLU of the active width (32) and of the total width (128), and no FFN.
Two more separate the router's share of the fine-grained gain (the router has one column per
expert, so m = 4 has four times the coarse layer's router weights, 1,024 against 256):

- coarse, wide router: the coarse experts, each scored by the best of 4 centroids, so the
  router has m = 4's 1,024 weights (`labs.moe.torch._BestOfCentroidsMoE`);
- fine, narrow router: m = 4's experts, scored by a rank-4 router (32 x 4 and 4 x 32), so the
  router has the coarse layer's 256 weights (`labs.moe.torch._LowRankRouterMoE`).

The narrow router has rank 4 where the coarse one has rank 8, so four more separate the router's
rank from its weight count, all with m = 4's experts (a two-factor router of rank r has 64 r
weights here):

- fine, rank-2, rank-8 and rank-16 router: 128, 512 and 1,024 weights; rank 16 has the plain
  m = 4 router's weight count at half its rank (32);
- fine, rank-4 router, 3 factors: rank 4 through (32 x 24, 24 x 4, 4 x 32), 992 weights, the
  same functions as the narrow router with nearly four times its weights
  (`labs.moe.torch._DeepLowRankRouterMoE`).

Six more ask why every factored router costs (`ROUTER_LR` scales the router's Adam learning
rate alone, the rest keeping lr 0.01):

- fine, rank-32 router: two full 32 x 32 factors (2,048 weights), which express every function the
  plain router can: if it too ends above the plain router, factoring costs, not rank;
- fine, rank-16 router at router lr x1/3 and x3, and the plain m = 4 router at the same two (the
  control: does any router gain from another step size, or only the factored one?);
- fine, rank-32 router at router lr x1/3: do the two full factors recover with a smaller step?

`--only NAME [NAME ...]` runs just those configurations and merges them into the file at `--out`
(made with the same seeds and settings): every other entry is kept as it was, bit for bit. A
run's result does not depend on which others run (`_train` seeds torch afresh for each run).

Taught in chapter 4, "Fine-grained and shared experts, measured".
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
from labs.common.validate import describe_value, finite_result, one_of, size
from labs.moe.checks import check_config
from labs.moe.config import MoEConfig
from labs.moe.torch import _moe_layer
from labs.moe.training import _one_thread, _train, best_loss

__all__ = [
    "CONFIGS",
    "ROUTERS",
    "ROUNDING_DRIFT",
    "ROUTER_LR",
    "SETTINGS",
    "expert_parameters",
    "load_ablation",
    "moe_layer",
    "paired_differences",
    "run_ablation",
]

SETTINGS = MappingProxyType({
    "steps": 600, "d_model": 32, "vocab": 16, "order": 2, "batch": 256, "lr": 0.01,
    "balancing": "bias", "gamma": 0.01, "skew": 0.0,
})  # fmt: skip

# name: (kind, n_shared, n_routed, d_expert, k); the dense widths are those of "coarse"
CONFIGS = MappingProxyType({
    "coarse": ("moe", 0, 8, 16, 2),
    "fine, m=2": ("moe", 0, 16, 8, 4),
    "fine, m=4": ("moe", 0, 32, 4, 8),
    "fine + shared, m=4": ("moe", 1, 31, 4, 7),
    "dense, active width": ("dense", 0, 8, 16, 2),
    "dense, total width": ("dense_total", 0, 8, 16, 2),
    "no FFN": ("none", 0, 8, 16, 2),
    "coarse, wide router": ("moe", 0, 8, 16, 2),
    "fine, narrow router": ("moe", 0, 32, 4, 8),
    "fine, rank-2 router": ("moe", 0, 32, 4, 8),
    "fine, rank-8 router": ("moe", 0, 32, 4, 8),
    "fine, rank-16 router": ("moe", 0, 32, 4, 8),
    "fine, rank-4 router, 3 factors": ("moe", 0, 32, 4, 8),
    "fine, rank-32 router": ("moe", 0, 32, 4, 8),
    "fine, rank-16 router, router lr x1/3": ("moe", 0, 32, 4, 8),
    "fine, rank-16 router, router lr x3": ("moe", 0, 32, 4, 8),
    "fine, m=4, router lr x1/3": ("moe", 0, 32, 4, 8),
    "fine, m=4, router lr x3": ("moe", 0, 32, 4, 8),
    "fine, rank-32 router, router lr x1/3": ("moe", 0, 32, 4, 8),
})  # fmt: skip

# name: the router of `labs.moe.torch.ROUTERS`, where it is not the plain one (D x E)
ROUTERS = MappingProxyType({
    "coarse, wide router": "best of 4", "fine, narrow router": "rank 4",
    "fine, rank-2 router": "rank 2", "fine, rank-8 router": "rank 8",
    "fine, rank-16 router": "rank 16", "fine, rank-4 router, 3 factors": "rank 4, 3 factors",
    "fine, rank-32 router": "rank 32", "fine, rank-16 router, router lr x1/3": "rank 16",
    "fine, rank-16 router, router lr x3": "rank 16",
    "fine, rank-32 router, router lr x1/3": "rank 32",
})  # fmt: skip

# name: the factor on the router's learning rate (its weights' own Adam group), where it is not 1
ROUTER_LR = MappingProxyType({
    "fine, rank-16 router, router lr x1/3": 1 / 3, "fine, rank-16 router, router lr x3": 3.0,
    "fine, m=4, router lr x1/3": 1 / 3, "fine, m=4, router lr x3": 3.0,
    "fine, rank-32 router, router lr x1/3": 1 / 3,
})  # fmt: skip

# Nats by which other rounding moves one run: seed 0's coarse run ends at 2.4835 under PyTorch's
# generic CPU kernels against its committed 2.4797 (AVX2), 0.0038 nats after 600 steps
# (tests/moe/test_other_rounding.py measures it again). Chapter 4 takes it, rounded to 0.004, as
# the resolution of one paired difference: a per-seed margin below it is not read as a sign.
ROUNDING_DRIFT = 0.0038


def _config(name: str) -> MoEConfig:
    _, shared, routed, width, k = CONFIGS[name]
    return MoEConfig(d_model=SETTINGS["d_model"], d_expert=width, n_routed=routed,
                     n_shared=shared, k=k)  # fmt: skip


def expert_parameters(config: MoEConfig) -> dict[str, int]:
    """The expert weights of a DeepSeekMoE layer (each SwiGLU expert has W1, W3 of (D, F) and W2
    of (F, D)): {"total": all of them, "active": the shared and k routed ones a token uses}. The
    router (D x E) is not an expert weight and is left out."""
    config = check_config(config)
    per_expert = 3 * config.d_model * config.d_expert
    return {
        "total": (config.n_shared + config.n_routed) * per_expert,
        "active": (config.n_shared + config.k) * per_expert,
    }


def run_ablation(name: str, seed: int = 0, steps: int | None = None) -> MappingProxyType:
    """Train configuration `name` of `CONFIGS` on `seed` for `steps` steps (None: the ablation's
    `SETTINGS["steps"]`; at most 100,000). Returns `train_tiny_lm`'s curves, with "held_out",
    the trained model's exact expected loss."""
    one_of("name", name, tuple(CONFIGS))
    seed = validate.seed("seed", seed)
    steps = SETTINGS["steps"] if steps is None else size("steps", steps, maximum=100_000)
    s = SETTINGS
    with _one_thread():
        curves = _train(
            balancing=s["balancing"], steps=steps, seed=seed, config=_config(name),
            vocab=s["vocab"], order=s["order"], batch=s["batch"], gamma=s["gamma"], alpha=0.0,
            skew=s["skew"], kind=CONFIGS[name][0], lr=s["lr"], init_noise=0.0,
            router=ROUTERS.get(name, "linear"), router_lr=ROUTER_LR.get(name, 1.0),
        )  # fmt: skip
    return finite_result("the training curves", curves, inputs={"name": name, "seed": seed})


def paired_differences(variant: str, baseline: str, ablation: Mapping | None = None) -> np.ndarray:
    """Seed by seed, held-out loss of `variant` minus that of `baseline` in `ablation` (the
    committed one if None): negative where the variant ends lower. Shape (seeds,)."""
    ablation = load_ablation() if ablation is None else ablation
    if not isinstance(ablation, Mapping) or not {"meta", "held_out"} <= set(ablation):
        raise TypeError(
            f"ablation must be a result of load_ablation (meta, held_out), got "
            f"{describe_value(ablation)}"
        )
    one_of("variant", variant, tuple(ablation["held_out"]))
    one_of("baseline", baseline, tuple(ablation["held_out"]))
    return np.subtract(ablation["held_out"][variant], ablation["held_out"][baseline])


def moe_layer(name: str):
    """A freshly initialised `labs.moe.torch.DeepSeekMoE` of MoE configuration `name`, with its
    router (the plain one, or the control of `ROUTERS`): what the ablation trains, to count its
    weights. Its router's weights are the parameters whose names start with "router"."""
    one_of("name", name, tuple(n for n, spec in CONFIGS.items() if spec[0] == "moe"))
    return _moe_layer(_config(name), ROUTERS.get(name, "linear"))


def _router_weights(name: str) -> int:
    """The weights of configuration `name`'s router, counted from a layer's own tensors."""
    layer = moe_layer(name)
    return sum(p.numel() for pname, p in layer.named_parameters() if pname.startswith("router"))


def load_ablation(path: str | Path | None = None) -> dict:
    """The committed ablation (`labs/moe/data/granularity_ablation.json`), or the one at `path`.

    Returns:
        dict(meta, best_loss, parameters, held_out, final_imbalance): held_out maps each
        configuration to its exact held-out loss, one per seed (seed i at index i);
        final_imbalance (MoE configurations only) the mean max/mean load of the last 20 steps;
        parameters the `expert_parameters` of each MoE configuration; router_weights the
        router's weights of each MoE configuration, counted from its layer's tensors.
    """
    return read_results("labs.moe", "granularity_ablation.json", path)


def _merge(old: dict, new: dict, only: list[str]) -> dict:
    """`old` with the runs of `only` taken from `new` (held_out, final_imbalance), the rest kept
    as it was; meta keeps the old command, date and versions, and adds an entry under
    "additions" for this run. Raises ValueError where the two were not made alike."""
    for key in ("settings", "seeds"):
        if old["meta"].get(key) != new["meta"][key]:
            raise ValueError(
                f"--out must hold an ablation of the same {key} to merge into, got "
                f"{old['meta'].get(key)!r} there and {new['meta'][key]!r} here"
            )
    for key in ("parameters", "router_weights"):
        for name, count in old[key].items():
            if name in new[key] and new[key][name] != count:
                raise ValueError(f"{key} of {name!r} changed: {count} there, {new[key][name]} here")
    merged = {key: dict(old[key]) for key in ("held_out", "final_imbalance")}
    for key in merged:
        for name in only:
            merged[key].pop(name, None)
            if name in new[key]:
                merged[key][name] = new[key][name]
    order = [*CONFIGS, *(n for n in old["held_out"] if n not in CONFIGS)]
    meta = dict(old["meta"])
    addition = {k: new["meta"][k] for k in ("command", "date", "versions", "machine")}
    addition["configs"] = list(only)  # the command joins them with spaces: here, one by one
    meta["additions"] = [*old["meta"].get("additions", []), addition]
    for key in ("configs", "routers", "router_lr"):
        meta[key] = new["meta"][key]
    return {
        "meta": meta, "best_loss": old["best_loss"],
        "parameters": {**old["parameters"], **new["parameters"]},
        "router_weights": {**old["router_weights"], **new["router_weights"]},
        "held_out": {n: merged["held_out"][n] for n in order if n in merged["held_out"]},
        "final_imbalance": {n: merged["final_imbalance"][n] for n in order
                            if n in merged["final_imbalance"]},
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.moe.granularity", description=__doc__)
    parser.add_argument("--seeds", type=int, default=8, help="seeds 0 .. seeds-1")
    parser.add_argument("--out", default=None, help="default: data/granularity_ablation.json")
    parser.add_argument("--only", nargs="+", metavar="NAME", default=None,
                        help="run only these configurations and merge them into --out")  # fmt: skip
    parser.add_argument("--steps", type=int, default=SETTINGS["steps"],
                        help="steps per run (the committed file: the default)")  # fmt: skip
    args = parser.parse_args(argv)
    if not 1 <= args.seeds <= 100:
        parser.error(f"--seeds must be between 1 and 100, got {args.seeds}")
    if not 1 <= args.steps <= 100_000:
        parser.error(f"--steps must be between 1 and 100000, got {args.steps}")
    names = list(CONFIGS)
    out = Path(args.out or Path(__file__).parent / "data" / "granularity_ablation.json")
    if args.only is not None:
        unknown = [name for name in args.only if name not in CONFIGS]
        if unknown:
            parser.error(f"--only must name configurations of {list(CONFIGS)}, got {unknown}")
        if len(set(args.only)) != len(args.only):
            parser.error(f"--only must name each configuration once, got {args.only}")
        if not out.is_file():
            parser.error(f"--only merges into an existing --out file, got {str(out)!r}")
        names = list(args.only)
    os.environ.setdefault("LABS_PROGRESS", "off")
    meta = {
        **provenance("labs.moe.granularity", argv),
        "torch_threads": 1,
        "settings": {**SETTINGS, "steps": args.steps},
        "seeds": args.seeds,
        "configs": {name: list(spec) for name, spec in CONFIGS.items()},
        "routers": dict(ROUTERS),
        "router_lr": dict(ROUTER_LR),
    }
    parameters = {name: expert_parameters(_config(name)) for name in names
                  if CONFIGS[name][0] == "moe"}  # fmt: skip
    routers = {name: _router_weights(name) for name in parameters}
    results = {"meta": meta, "best_loss": best_loss(), "parameters": parameters,
               "router_weights": routers, "held_out": {}, "final_imbalance": {}}  # fmt: skip
    if args.only is not None:  # check before the runs that the file can take them
        try:
            _merge(load_ablation(out), results, names)
        except ValueError as error:
            parser.error(str(error))
    for name in names:
        for seed in range(args.seeds):
            run = run_ablation(name, seed, steps=args.steps)
            results["held_out"].setdefault(name, []).append(run["held_out"])
            line = f"{name}, seed {seed}: held-out {run['held_out']:.4f}"
            if "imbalance" in run:
                imbalance = float(np.mean(run["imbalance"][-20:]))
                results["final_imbalance"].setdefault(name, []).append(imbalance)
                line += f", imbalance {imbalance:.2f}"
            print(line, flush=True)
    if args.only is not None:
        results = _merge(load_ablation(out), results, names)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
