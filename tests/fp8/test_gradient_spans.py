"""labs.fp8.gradient_spans: the span of per-token gradient norms that chapter 2's 0.25% verdict
rests on, and the committed record of it."""

import numpy as np
import pytest
import torch

from labs.fp8.gradient_spans import WINDOWS, token_gradient_decades
from labs.fp8.sweep import load_sweep
from labs.fp8.torch_train import TinyLM


def _model(seed=0):
    torch.manual_seed(seed)
    return TinyLM(16, d_model=128, hidden=128)


def test_identical_windows_give_identical_gradients_and_no_span():
    # every window is the same tokens with the same target: every token's gradient is the same, so
    # the span is zero decades (a span computed over the wrong axis, or over weights, would not be)
    assert token_gradient_decades(_model(), np.full(WINDOWS + 2, 3)) == pytest.approx(0, abs=1e-5)


def test_varied_windows_spread_the_norms():
    tokens = np.random.default_rng(0).integers(0, 16, WINDOWS + 2)
    span = token_gradient_decades(_model(), tokens)
    assert 0.05 < span < 3  # an untrained model's norms differ, by far less than 3 decades


def test_bad_input_names_the_parameter():
    with pytest.raises(TypeError, match="model must be a labs.fp8.torch_train.TinyLM"):
        token_gradient_decades(torch.nn.Linear(2, 2), np.zeros(WINDOWS + 2, int))
    with pytest.raises(ValueError, match="tokens must hold at least 258"):
        token_gradient_decades(_model(), np.zeros(WINDOWS + 1, int))
    with pytest.raises(ValueError, match="tokens"):
        token_gradient_decades(_model(), np.full(WINDOWS + 2, 16))  # ids past the vocabulary
    with pytest.raises((TypeError, ValueError), match="tokens"):
        token_gradient_decades(_model(), np.full(WINDOWS + 2, 0.5))


def test_the_committed_record_covers_every_seed_of_both_precisions():
    spans = load_sweep(name="gradient_spans.json")
    assert spans["meta"]["command"].startswith("python -m labs.fp8.gradient_spans")
    seeds = spans["meta"]["seeds"]
    assert seeds == 12 and set(spans["token_gradient_decades"]) == {"bf16", "fp8"}
    assert all(len(v) == seeds for v in spans["token_gradient_decades"].values())
