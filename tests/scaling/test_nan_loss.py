"""Chapter 1's trainers stop at their first non-finite loss instead of returning a NaN curve."""

import numpy as np
import pytest

from labs.scaling import TinyLMConfig, lm, make_corpus
from labs.scaling import jax as scaling_jax
from labs.scaling import torch as scaling_torch

CONFIG = TinyLMConfig(vocab_size=16, context=8, d_model=8, n_layers=1, n_heads=2)


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(16, 4_000, 1_024, seed=3)


def _nan_init(config, seed):
    return {name: np.full_like(w, np.nan) for name, w in lm._init_params(config, seed).items()}


@pytest.mark.parametrize("framework", [scaling_torch, scaling_jax], ids=["torch", "jax"])
def test_train_run_stops_at_the_first_nan_loss(framework, corpus, monkeypatch):
    """train_run builds its weights from the seed, so NaN weights are planted in its init. Before
    the check both frameworks returned a curve of NaNs and a NaN validation loss; now each stops
    at step 1, naming it and the learning rate. The same call on sound weights runs through."""
    curve, evals = framework.train_run(CONFIG, corpus, 3, batch_size=4, peak_lr=1e-2)
    assert np.all(np.isfinite(curve)) and np.isfinite(evals[3])  # the control
    monkeypatch.setattr(framework, "_init_params", _nan_init)
    with pytest.raises(
        ValueError, match=r"became nan at step 1 of 3 with peak_lr = 0.01\b.*lower peak_lr"
    ):
        framework.train_run(CONFIG, corpus, 3, batch_size=4, peak_lr=1e-2)
