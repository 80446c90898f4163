"""Regression tests for the worst cases the hostile-input audit found in labs.scaling: each must
be refused with a clear error that names the parameter, the same on every framework."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from labs.scaling import (
    TinyLMConfig,
    chinchilla_objective,
    fit_chinchilla,
    init_params,
    make_corpus,
)
from labs.scaling.lm import windows
from labs.scaling.reference import reference_logits

CONFIG = TinyLMConfig(vocab_size=8, context=4, d_model=8, n_layers=1, n_heads=2, mlp_ratio=1)


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(vocab_size=8, train_tokens=64, valid_tokens=32, seed=0)


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_validation_stream_shorter_than_the_context_is_refused(corpus, framework):
    # was: torch returned a NaN validation loss, JAX raised ZeroDivisionError
    trainer = pytest.importorskip(f"labs.scaling.{framework}")
    short = dataclasses.replace(corpus, valid=corpus.valid[:4])
    with pytest.raises(
        ValueError, match=r"corpus.valid must hold at least 5 tokens for one window of context=4"
    ):
        trainer.train_run(CONFIG, short, 2, batch_size=2)


@pytest.mark.parametrize(
    "bad_id, message",
    [
        (8, r"tokens must lie in \[0, 8\), got a value of 8"),
        (-1, r"tokens must lie in \[0, 8\), got a value of -1"),
    ],
)
def test_out_of_range_token_ids_are_refused_on_every_framework(bad_id, message):
    # was: JAX mapped id 8 and id -1 silently to token 7 (and the loss was NaN)
    import jax.numpy as jnp
    import torch

    from labs.scaling import jax as scaling_jax
    from labs.scaling import torch as scaling_torch

    params = init_params(CONFIG)
    tokens = np.array([[1, 2, bad_id, 3]])
    with pytest.raises(ValueError, match=message):
        reference_logits(params, tokens, CONFIG)
    with pytest.raises(ValueError, match=message):
        scaling_torch.TinyLM(CONFIG).load_numpy(params)(torch.as_tensor(tokens))
    with pytest.raises(ValueError, match=message):
        scaling_jax.forward(
            {k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(tokens), CONFIG
        )
    with pytest.raises(ValueError, match=message.replace("tokens", "targets")):
        scaling_jax.loss_fn(params, jnp.asarray(tokens) * 0, jnp.asarray(tokens), CONFIG)


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: make_corpus(train_tokens=10**8), "train_tokens must be <= 2000000"),
        (lambda: make_corpus(valid_tokens=10**8), "valid_tokens must be <= 2000000"),
        (lambda: make_corpus(vocab_size=2000), "vocab_size must be <= 256"),
        (
            lambda: fit_chinchilla([1e9] * 6, [1e10] * 6, [2.0] * 6, starts=10**9),
            "starts must be <= 4500",
        ),
        (lambda: TinyLMConfig(vocab_size=10**6), "vocab_size must be <= 16384"),
        (lambda: TinyLMConfig(d_model=10**5), "d_model must be <= 1024"),
    ],
)
def test_sizes_that_would_hang_or_allocate_gigabytes_are_capped(call, fragment):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=fragment):
        call()
    assert time.perf_counter() - start < 1.0  # refused at once, not attempted


@pytest.mark.parametrize(
    "starts, fragment",
    [
        (np.array([-1, 0]), r"starts must lie in \[0, 60\), got a value of -1"),
        (
            np.array([60]),
            r"starts must lie in \[0, 60\), got a value of 60",
        ),  # a window of 5 tokens must fit in 64
        (np.array([0.5]), "starts must hold integers"),
    ],
)
def test_windows_refuses_starts_outside_the_stream(starts, fragment):
    # was: a negative start wrapped around to the end of the stream
    stream = np.arange(64) % 8
    with pytest.raises((ValueError, TypeError), match=fragment):
        windows(stream, starts, 4)


def test_chinchilla_objective_checks_its_arguments():
    # was: no checks at all
    log_n, log_d, log_loss = np.log([1e8, 1e9]), np.log([1e9, 1e10]), np.log([3.0, 2.5])
    theta = np.array([6.0, 6.0, 0.5, 0.3, 0.3])
    with pytest.raises(ValueError, match=r"theta must hold 5 numbers"):
        chinchilla_objective(theta[:4], log_n, log_d, log_loss)
    with pytest.raises(ValueError, match="log_d must be finite"):
        chinchilla_objective(theta, log_n, np.array([np.nan, 1.0]), log_loss)
    with pytest.raises(ValueError, match="log_n, log_d, log_loss must have the same length"):
        chinchilla_objective(theta, log_n, log_d[:1], log_loss)
    with pytest.raises(ValueError, match="delta must be > 0"):
        chinchilla_objective(theta, log_n, log_d, log_loss, delta=0.0)
    with pytest.raises(TypeError, match="log_loss must hold floating-point numbers"):
        chinchilla_objective(theta, log_n, log_d, np.array([3, 2]))


def test_a_transition_table_of_weights_is_refused(corpus):
    # found by the audit of December 2026: a (V, V, V) table of non-negative weights whose rows do
    # not sum to 1 made a MarkovCorpus, whose entropies and losses then meant nothing
    with pytest.raises(ValueError, match=r"transition must have rows .* sum to 1, got a row"):
        dataclasses.replace(corpus, transition=corpus.transition * 2)
    dataclasses.replace(corpus, transition=corpus.transition.copy())  # the control: accepted
