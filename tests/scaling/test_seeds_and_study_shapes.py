"""Second hostile-input audit, chapter 5: seeds past what torch's generators take, refused by name
before training, and an `ExtrapolationStudy` whose `thresholds` is a 0-d array."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from labs.scaling import (
    ChinchillaParams,
    TinyLMConfig,
    chinchilla_loss,
    extrapolation_study,
    make_corpus,
)
from labs.scaling.predict import ExtrapolationStudy
from labs.scaling.torch import train_run, train_sweep

CONFIG = TinyLMConfig(vocab_size=8, context=4, d_model=8, n_layers=1, n_heads=2, mlp_ratio=1)


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(vocab_size=8, train_tokens=64, valid_tokens=32, seed=0)


@pytest.mark.parametrize("seed", [2**64, 10**30])
def test_torch_training_refuses_a_seed_past_64_bits_by_name(corpus, seed):
    run = dict(config=CONFIG, corpus=corpus, steps=2, batch_size=2, peak_lr=1e-2, seed=seed)
    with pytest.raises(ValueError, match=r"^seed must be <= 2\*\*62"):
        train_run(**run, schedule_steps=3, eval_at=(1, 2))
    with pytest.raises(ValueError, match=r"^seed must be <= 2\*\*62"):
        train_sweep(
            corpus=corpus, d_models=(8,), steps=(2,), base=CONFIG, batch_size=2, peak_lr=1e-2,
            schedule="matched", seed=seed,
        )  # fmt: skip


def test_extrapolation_study_refuses_0d_thresholds_by_name():
    law = ChinchillaParams(E=1.8, A=400.0, B=1500.0, alpha=0.33, beta=0.36)
    n, d = (a.ravel() for a in np.meshgrid(np.logspace(7, 9, 4), np.logspace(9, 11, 3)))
    study = extrapolation_study(
        n, d, chinchilla_loss(n, d, law), [1e19], holdout_above=1e19, target_C=1e20, starts=1
    )
    fields = {f.name: getattr(study, f.name) for f in dataclasses.fields(study)}
    assert ExtrapolationStudy(**fields).thresholds.shape == (1,)
    with pytest.raises(ValueError, match=r"^thresholds must be a 1-D array.*got shape \(\)"):
        ExtrapolationStudy(**{**fields, "thresholds": np.array(1e19)})


def test_torch_tiny_lm_refuses_tokens_off_its_device():
    from labs.scaling.torch import TinyLM

    model = TinyLM(CONFIG)
    tokens = torch.tensor([[1, 2, 3, 4], [0, 7, 6, 5]])
    assert model(tokens).shape == (2, 4, 8)
    with pytest.raises(ValueError, match=r"^tokens must be on the device of the model's weights"):
        model(tokens.to("meta"))
