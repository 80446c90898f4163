"""Argument checks of the tiny language model and its sweep: the corpus, batches and schedule,
the weights and token ids of the NumPy reference, and the torch and JAX training loops alike
(they take anything with .shape and .dtype).

The chapter's prose meets only the bare kernels these checks guard: chapter 1, "Your own sweep"
and the scripts that train its seeds. The checks of the laws and their fits are in
`labs.scaling.fit_checks`; both are re-exported by `labs.scaling.checks`.
"""

from __future__ import annotations

import numpy as np

from labs.common import validate
from labs.common.validate import (
    MAX_ELEMENTS,
    array,
    instance,
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
    MarkovCorpus,
    TinyLMConfig,
    param_shapes,
)
from labs.scaling.fit_checks import int_tuple, positive_array, same_length

__all__ = ["check_sweep_args"]

# A training run of the sweep takes about a millisecond a step on a CPU: 20,000 steps is minutes,
# and (steps, batch_size) start offsets stay under 100 MB.
MAX_STEPS = 20_000
MAX_BATCH = 512


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
    validate.seed("seed", seed)
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
        validate.seed("seed", seed),
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
        validate.seed("seed", seed),
    )


def check_schedule_args(steps, peak, warmup, final_fraction):
    """`lr_schedule`'s arguments."""
    return (
        check_steps("steps", steps),
        real_number("peak", peak, positive=True),
        size("warmup", warmup, minimum=0, maximum=MAX_STEPS),
        real_number("final_fraction", final_fraction, minimum=0.0, maximum=1.0),
    )


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
