"""Chapter 2's trainer stops at its first non-finite loss instead of returning a NaN curve."""

import numpy as np
import pytest
import torch

from labs.fp8 import markov_tokens, torch_train


class _NanTinyLM(torch_train.TinyLM):
    """TinyLM with every weight NaN: the loss is NaN from the first step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        with torch.no_grad():
            for weight in self.parameters():
                weight.fill_(float("nan"))


def test_train_tiny_lm_stops_at_the_first_nan_loss(monkeypatch):
    """train_tiny_lm builds its model itself, so NaN weights are planted in TinyLM. Before the
    check it returned train_losses of NaNs and a NaN eval_loss; now it stops at step 1, naming it
    and the learning rate. The same call on sound weights runs through. (In the other precisions
    the BF16Linear / FP8Linear layers already refuse a NaN input: "x must be finite".)"""
    tokens, _ = markov_tokens(600, vocab=8, seed=1)

    def run():
        return torch_train.train_tiny_lm(
            "fp32", tokens[:400], tokens[400:], 8, steps=3, batch=16, lr=3e-3
        )

    good = run()  # the control
    assert len(good["train_losses"]) == 3 and np.all(np.isfinite(good["train_losses"]))
    monkeypatch.setattr(torch_train, "TinyLM", _NanTinyLM)
    with pytest.raises(ValueError, match=r"became nan at step 1 of 3 with lr = 0.003\b.*lower lr"):
        run()
