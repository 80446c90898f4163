"""The chapter's argument checks, written once and used by the laws, the fits, the NumPy reference
and the torch and JAX training loops alike (they take anything with .shape and .dtype).

Taught nowhere: the chapter's prose meets only the bare kernels these checks guard.
"""

from __future__ import annotations

import numbers

import numpy as np

from labs.common.facts import fact
from labs.common.validate import (
    MAX_ELEMENTS,
    array,
    describe_value,
    instance,
    integer,
    integer_array,
    learning_rate,
    one_of,
    real_number,
    size,
    text,
    torch_device_arg,
)
from labs.scaling.config import (
    MAX_CONTEXT,
    MAX_D_MODEL,
    ChinchillaParams,
    MarkovCorpus,
    TinyLMConfig,
    param_shapes,
)

__all__ = ["check_sweep_args", "positive_array", "same_length"]

# A training run of the sweep takes about a millisecond a step on a CPU: 20,000 steps is minutes,
# and (steps, batch_size) start offsets stay under 100 MB.
MAX_STEPS = 20_000
MAX_BATCH = 512
# The paper's grid of initialisations has 4,500 points (Appendix D.2); one L-BFGS run takes tens
# of milliseconds, so starting from all of them already takes minutes.
MAX_STARTS = 4_500
# A bootstrap refits the law once per resample: 1,000 resamples is already minutes.
MAX_RESAMPLES = 1_000


def positive_array(name: str, value, *, integers: bool = True) -> np.ndarray:
    """`value` as a float64 array of finite numbers > 0; TypeError/ValueError naming `name`.

    Integer arrays are accepted (parameter and token counts are integers) unless
    `integers=False` (a loss rounded to integers is a bug). Bools, strings and complex numbers
    are refused, and so are torch and JAX arrays (this is a NumPy path).
    """
    if type(value).__module__.split(".")[0] in ("torch", "jax", "jaxlib"):
        array(name, value)  # TypeError: a NumPy array was expected
    try:
        bad = isinstance(value, (str, bytes, bool)) or value is None
        arr = None if bad else np.asarray(value)
    except Exception:  # a ragged list, an object NumPy cannot read
        arr = None
    if arr is None or arr.dtype.kind not in ("iuf" if integers else "f"):
        what = "real numbers" if integers else "real numbers of a floating dtype"
        raise TypeError(f"{name} must hold {what}, got {describe_value(value)}")
    arr = array(name, arr.astype(np.float64))  # refuses empty arrays, NaN and inf
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0 everywhere, got minimum {arr.min():g}")
    return arr


def same_length(**arrays: np.ndarray) -> None:
    """ValueError naming the arrays if their lengths (first dimensions) differ."""
    shapes = {name: np.shape(a) for name, a in arrays.items()}
    if len({s[:1] for s in shapes.values()}) > 1:
        listed = ", ".join(f"{n} has {s[0] if s else 'no'} entries" for n, s in shapes.items())
        raise ValueError(f"{', '.join(arrays)} must have the same length: {listed}")


def broadcast(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray):
    """`a` and `b` broadcast together; ValueError naming both otherwise."""
    try:
        return np.broadcast_arrays(a, b)
    except ValueError:
        raise ValueError(
            f"{name_a} and {name_b} must broadcast together, got shapes {a.shape} and {b.shape}"
        ) from None


def check_law(name: str, params) -> ChinchillaParams:
    return instance(name, params, ChinchillaParams)


def check_runs(N, D, loss, *, min_runs: int = 1, d_name: str = "D"):
    """The runs of a fit: 1-D arrays N, D (or C), loss of the same length, all > 0."""
    N = positive_array("N", N)
    D = positive_array(d_name, D)
    loss = positive_array("loss", loss, integers=False)
    same_length(N=N, **{d_name: D}, loss=loss)
    if N.ndim != 1 or D.ndim != 1 or loss.ndim != 1:
        raise ValueError(
            f"N, {d_name} and loss must be 1-D arrays, got shapes {N.shape}, {D.shape}, "
            f"{loss.shape}"
        )
    if len(N) < min_runs:
        raise ValueError(
            f"N, {d_name} and loss must hold at least {min_runs} runs to fit {min_runs} "
            f"parameters, got {len(N)}"
        )
    return N, D, loss


def check_objective_args(theta, log_n, log_d, log_loss, delta):
    """The arguments of `chinchilla_objective`: theta (5,), three 1-D log arrays of one length."""
    theta = array("theta", theta, ndim=1).astype(np.float64)
    if theta.shape != (5,):
        raise ValueError(f"theta must hold 5 numbers (a, b, e, alpha, beta), got {theta.shape}")
    logs = [
        array(n, v, ndim=1) for n, v in (("log_n", log_n), ("log_d", log_d), ("log_loss", log_loss))
    ]
    same_length(log_n=logs[0], log_d=logs[1], log_loss=logs[2])
    return (theta, *logs, real_number("delta", delta, positive=True))


def check_starts(starts, init):
    """`fit_chinchilla`'s starts (None: the whole grid) and optional extra starting point."""
    if init is not None:
        instance("init", init, ChinchillaParams)
    if starts is None:
        return None
    why = "the paper's grid of initialisations has 4,500 points"
    return size("starts", starts, minimum=0 if init is not None else 1, maximum=MAX_STARTS, why=why)


def check_config(name: str, config) -> TinyLMConfig:
    return instance(name, config, TinyLMConfig)


def check_corpus(config: TinyLMConfig, corpus) -> MarkovCorpus:
    """A corpus whose vocabulary is the model's and whose streams hold whole windows."""
    instance("corpus", corpus, MarkovCorpus)
    if config.vocab_size != corpus.vocab_size:
        raise ValueError(
            f"config.vocab_size must equal the corpus vocabulary {corpus.vocab_size}, "
            f"got {config.vocab_size}"
        )
    for name, least in (("train", config.context + 2), ("valid", config.context + 1)):
        if len(getattr(corpus, name)) < least:
            raise ValueError(
                f"corpus.{name} must hold at least {least} tokens for one window of "
                f"context={config.context}, got {len(getattr(corpus, name))}"
            )
    return corpus


def check_tokens(name: str, tokens, config: TinyLMConfig, framework: str = "numpy"):
    """Token ids (B, T) in [0, vocab_size) with T <= context (ids read on host data only)."""
    tokens = integer_array(name, tokens, framework=framework, ndim=2, low=0, high=config.vocab_size)
    if tokens.shape[1] > config.context:
        raise ValueError(
            f"{name} has {tokens.shape[1]} positions, more than context={config.context}"
        )
    return tokens


def check_targets(inputs, targets, config: TinyLMConfig, framework: str = "numpy"):
    """Inputs and next-token targets: two id arrays of one shape."""
    inputs = check_tokens("inputs", inputs, config, framework)
    targets = check_tokens("targets", targets, config, framework)
    if tuple(targets.shape) != tuple(inputs.shape):
        raise ValueError(
            f"targets must have the shape of inputs {tuple(inputs.shape)}, "
            f"got {tuple(targets.shape)}"
        )
    return inputs, targets


def check_params(params, config: TinyLMConfig, framework: str = "numpy") -> dict:
    """A dict holding every weight of `config` (see `init_params`) with its shape, floating and
    finite (finiteness read on host data only)."""
    config = check_config("config", config)
    instance("params", params, dict, "a dict of weights (see init_params)")
    shapes = param_shapes(config)
    missing = sorted(set(shapes) - set(params))
    if missing:
        raise ValueError(f"params is missing weights for this config: {missing[:4]}")
    out = {}
    for key, shape in shapes.items():
        out[key] = array(f"params[{key!r}]", params[key], framework=framework)
        if tuple(out[key].shape) != shape:
            raise ValueError(
                f"params[{key!r}] must have shape {shape}, got {tuple(out[key].shape)}"
            )
    return out


def check_device(device):
    """A torch device name or object (None: the CPU); ValueError naming `device` otherwise."""
    return torch_device_arg("device", device)


def int_tuple(name: str, values, *, minimum: int, maximum: int) -> tuple[int, ...]:
    """A non-empty sequence of distinct ints in [minimum, maximum], sorted."""
    if isinstance(values, numbers.Integral) and not isinstance(values, bool):
        values = (values,)
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a sequence of ints, got {describe_value(values)}")
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must hold at least one value, got an empty sequence")
    out = tuple(size(name, v, minimum=minimum, maximum=maximum) for v in values)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a value, got {out}")
    return tuple(sorted(out))


def check_widths(d_models) -> tuple[int, ...]:
    return int_tuple("d_models", d_models, minimum=1, maximum=MAX_D_MODEL)


def check_steps(name: str, steps) -> int:
    return size(name, steps, maximum=MAX_STEPS, why="a run of the sweep takes ~1 ms a step")


def check_batch(batch_size) -> int:
    return size("batch_size", batch_size, maximum=MAX_BATCH, why="a tiny model on a CPU")


def check_sweep_args(config, corpus, steps, batch_size, peak_lr, seed, schedule_steps, eval_at):
    """Validate `train_run`'s arguments; return (schedule_steps, eval_at) with defaults filled.

    Steps are capped at 20,000 (a run takes about a millisecond a step on a CPU) and batches at
    512 sequences: larger values are typos at this scale.
    """
    config = check_config("config", config)
    check_corpus(config, corpus)
    steps = check_steps("steps", steps)
    check_batch(batch_size)
    learning_rate("peak_lr", peak_lr)
    integer("seed", seed, minimum=0)
    schedule_steps = steps if schedule_steps is None else schedule_steps
    schedule_steps = size("schedule_steps", schedule_steps, minimum=steps, maximum=MAX_STEPS)
    if eval_at is None:
        eval_at = (steps,)
    eval_at = int_tuple("eval_at", eval_at, minimum=1, maximum=MAX_STEPS)
    if eval_at[-1] > steps:
        raise ValueError(f"eval_at must not exceed steps={steps}, got {eval_at}")
    return schedule_steps, eval_at


def check_stream(name: str, stream) -> np.ndarray:
    """A 1-D stream of non-negative token ids."""
    return integer_array(name, stream, ndim=1, low=0)


def check_windows(stream, starts, context):
    """`windows`' arguments: every window of context + 1 tokens lies inside the stream."""
    stream = check_stream("stream", stream)
    context = size("context", context, maximum=MAX_CONTEXT)
    starts = integer_array("starts", starts, low=0, high=len(stream) - context)
    if starts.size * (context + 1) > MAX_ELEMENTS:
        raise ValueError(
            f"starts and context ask for {starts.size * (context + 1):,} tokens, more than "
            f"the {MAX_ELEMENTS:,} a lab allocates"
        )
    return stream, starts, context


# The corpus is sampled by a Python loop at a few microseconds a token: 2,000,000 tokens take
# about 6 s. Its (V, V, V) transition table and power iteration grow as V^3: V = 256 takes 134 MB
# per table and a few seconds, V = 2,000 would take 60 GiB.
MAX_CORPUS_VOCAB = 256
MAX_CORPUS_TOKENS = 2_000_000


def check_corpus_args(vocab_size, train_tokens, valid_tokens, mix, bigram_concentration,
                      concentration, seed):  # fmt: skip
    """`make_corpus`'s arguments, with the caps above."""
    return (
        size("vocab_size", vocab_size, minimum=2, maximum=MAX_CORPUS_VOCAB,
             why="the transition table grows as vocab_size**3"),
        size("train_tokens", train_tokens, minimum=16, maximum=MAX_CORPUS_TOKENS,
             why="tokens are sampled one by one in Python"),
        size("valid_tokens", valid_tokens, minimum=16, maximum=MAX_CORPUS_TOKENS,
             why="tokens are sampled one by one in Python"),
        real_number("mix", mix, minimum=0.0, maximum=1.0),
        real_number("bigram_concentration", bigram_concentration, positive=True),
        real_number("concentration", concentration, positive=True),
        integer("seed", seed, minimum=0),
    )  # fmt: skip


def check_batch_args(n_tokens, context, batch_size, steps, seed):
    """`batch_starts`' arguments: a stream long enough for one window of context + 1 tokens."""
    n_tokens = size("n_tokens", n_tokens, maximum=MAX_ELEMENTS, why="a stream held in memory")
    context = size("context", context, maximum=MAX_CONTEXT)
    if n_tokens < context + 2:
        raise ValueError(f"n_tokens must be at least context + 2 = {context + 2}, got {n_tokens}")
    return (
        n_tokens,
        context,
        check_batch(batch_size),
        check_steps("steps", steps),
        integer("seed", seed, minimum=0),
    )


def check_schedule_args(steps, peak, warmup, final_fraction):
    """`lr_schedule`'s arguments."""
    return (
        check_steps("steps", steps),
        real_number("peak", peak, positive=True),
        size("warmup", warmup, minimum=0, maximum=MAX_STEPS),
        real_number("final_fraction", final_fraction, minimum=0.0, maximum=1.0),
    )


def check_fit_result(residuals, objective, init):
    """The extras of a `ChinchillaFit`: finite residuals per run, a finite objective >= 0, and
    the starting point (a, b, e, alpha, beta) or nothing."""
    if residuals is not None:
        residuals = array("residuals", residuals, ndim=1)
    if objective is not None:
        objective = real_number("objective", objective, nonnegative=True)
    instance("init", init, tuple)
    if init:
        init = tuple(real_number("init", v) for v in init)
        if len(init) != 5:
            raise ValueError(f"init must hold 5 numbers (a, b, e, alpha, beta), got {len(init)}")
    return residuals, objective, init


def check_plan_args(corpus, d_models, steps, base, batch_size, schedule):
    """`sweep_plan`'s arguments; returns (base config, widths, lengths, batch_size)."""
    instance("corpus", corpus, MarkovCorpus)
    base = TinyLMConfig(vocab_size=corpus.vocab_size) if base is None else base
    check_config("base", base)
    if base.vocab_size != corpus.vocab_size:
        raise ValueError(
            f"base.vocab_size must equal the corpus vocabulary {corpus.vocab_size}, "
            f"got {base.vocab_size}"
        )
    check_corpus(base, corpus)
    widths = check_widths(d_models)
    lengths = int_tuple("steps", steps, minimum=1, maximum=MAX_STEPS)
    one_of("schedule", schedule, ("matched", "fixed"))
    return base, widths, lengths, check_batch(batch_size)


def check_plan(runs, batch_size, schedule):
    """A `SweepPlan`: a non-empty tuple of (TinyLMConfig, steps, eval_at) runs."""
    instance("runs", runs, tuple, "a tuple of (TinyLMConfig, steps, eval_at) runs")
    if not runs:
        raise ValueError("runs must hold at least one run, got an empty tuple")
    for run in runs:
        if not (isinstance(run, tuple) and len(run) == 3):
            raise TypeError(f"runs must hold (TinyLMConfig, steps, eval_at) triples, got {run!r}")
        check_config("runs", run[0])
        steps = check_steps("runs", run[1])
        if int_tuple("runs", run[2], minimum=1, maximum=steps) != tuple(run[2]):
            raise ValueError(f"runs must list eval_at in increasing order, got {run[2]}")
    return check_batch(batch_size), one_of("schedule", schedule, ("matched", "fixed"))


def check_sweep_result(N, D, C, loss, d_model, steps, curves, framework, schedule) -> dict:
    """The columns of a `SweepResult`: one entry per run in each, counts >= 1, losses > 0."""
    out = {
        "N": positive_array("N", N),
        "D": positive_array("D", D),
        "C": positive_array("C", C),
        "loss": positive_array("loss", loss, integers=False),
        "d_model": integer_array("d_model", d_model, ndim=1, low=1),
        "steps": integer_array("steps", steps, ndim=1, low=1),
    }
    same_length(**out)
    if out["N"].ndim != 1:
        raise ValueError(f"N must be a 1-D array, got shape {out['N'].shape}")
    instance("curves", curves, tuple, "a tuple of training-loss arrays, one per run")
    if len(curves) != len(out["N"]):
        raise ValueError(f"curves must hold one curve per run ({len(out['N'])}), got {len(curves)}")
    out["curves"] = tuple(array("curves", c, ndim=1, finite=False) for c in curves)
    out["framework"] = text("framework", framework)
    out["schedule"] = one_of("schedule", schedule, ("matched", "fixed"))
    return out


def check_extrapolation_args(N, D, loss, thresholds, holdout_above, target_C, starts):
    """`extrapolation_study`'s arguments: thresholds sorted, none above `holdout_above`, and at
    least one run to predict."""
    N, D, loss = check_runs(N, D, loss, min_runs=5)
    thresholds = np.sort(np.atleast_1d(positive_array("thresholds", thresholds)))
    if thresholds.ndim != 1 or len(thresholds) > 64:
        raise ValueError(
            f"thresholds must be a 1-D list of at most 64 ceilings, got {thresholds.shape}"
        )
    holdout_above = real_number("holdout_above", holdout_above, positive=True)
    if thresholds[-1] > holdout_above:
        raise ValueError(
            f"thresholds must not exceed holdout_above={holdout_above:g}, got {thresholds[-1]:g}"
        )
    if target_C is not None:
        target_C = real_number("target_C", target_C, positive=True)
    starts = size("starts", starts, maximum=MAX_STARTS, why="the paper's grid has 4,500 points")
    C = fact("flops_per_param_token").value * N * D
    if not (C >= holdout_above).any():
        raise ValueError(f"no run has C >= holdout_above={holdout_above:g}")
    for threshold in thresholds:
        if (C <= threshold).sum() < 5:
            raise ValueError(
                f"thresholds: {threshold:g} leaves {int((C <= threshold).sum())} runs; "
                "a fit needs at least 5"
            )
    return N, D, loss, thresholds, holdout_above, target_C, starts


def check_study(fields: dict) -> dict:
    """The fields of an `ExtrapolationStudy`: one entry per threshold in each."""
    out = dict(fields)
    out["thresholds"] = positive_array("thresholds", fields["thresholds"], integers=False)
    out["n_train"] = integer_array("n_train", fields["n_train"], ndim=1, low=5)
    for name in ("median_abs_error", "max_abs_error"):
        out[name] = array(name, fields[name], ndim=1)
        if (out[name] < 0).any():
            raise ValueError(f"{name} must be >= 0, got minimum {out[name].min():g}")
    out["n_opt"] = array("n_opt", fields["n_opt"], ndim=1, finite=False)
    if np.isinf(out["n_opt"]).any() or (out["n_opt"] <= 0).any():
        raise ValueError("n_opt must be > 0 and finite, or NaN where no target_C was given")
    out["held_out"] = array("held_out", fields["held_out"], dtype="bool", ndim=1)
    for name, kind in (("errors", np.ndarray), ("fits", ChinchillaParams)):
        instance(name, fields[name], tuple, "a tuple with one entry per threshold")
        for entry in fields[name]:
            instance(name, entry, kind, f"a tuple of {kind.__name__}")
    out["errors"] = tuple(array("errors", e, ndim=1) for e in fields["errors"])
    lengths = {n: len(v) for n, v in out.items() if n != "held_out"}
    if len(set(lengths.values())) != 1:
        raise ValueError(
            f"thresholds, n_train, errors, ... must have one entry per threshold: {lengths}"
        )
    return out


def budget_list(budgets) -> np.ndarray:
    """IsoFLOP `budgets`: one compute budget or a 1-D list of them, each finite and > 0."""
    budgets = positive_array("budgets", budgets)
    if budgets.ndim > 1:
        raise ValueError(
            f"budgets must be one budget or a 1-D list of them, got shape {budgets.shape}"
        )
    return budgets


def check_sensitivity_args(points, budget, drop, method, budgets, starts, width) -> tuple:
    """The arguments of `allocation_sensitivity`, checked (budgets None: the paper's IsoFLOPs)."""
    if not isinstance(points, (tuple, list)) or len(points) != 3:
        raise TypeError(f"points must be a tuple (N, D, loss), got {describe_value(points)}")
    N, D, loss = check_runs(*points, min_runs=6)
    budget = real_number("budget", budget, positive=True)
    drop = int_tuple("drop", drop, minimum=0, maximum=len(N) - 5)
    method = one_of("method", method, ("parametric", "isoflop"))
    if budgets is None:
        budgets = fact("chinchilla_isoflop_budgets").value
    budgets = budget_list(budgets)
    starts = size("starts", starts, maximum=MAX_STARTS, why="the paper's grid has 4,500 points")
    width = real_number("width", width, positive=True)
    return N, D, loss, budget, drop, method, budgets, starts, width
