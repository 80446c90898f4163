"""The committed ablation of fine-grained and shared experts (chapter 4): what made it, equal
budgets counted from the layers' own weights, one run reproduced, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labs.moe import MoEConfig
from labs.moe import granularity as gran
from labs.moe.torch import DeepSeekMoE
from labs.moe.training import best_loss


@pytest.fixture(scope="module")
def committed():
    return gran.load_ablation()


def _moe_configs():
    return {
        name: MoEConfig(
            d_model=gran.SETTINGS["d_model"], d_expert=width, n_routed=routed, n_shared=shared, k=k
        )  # fmt: skip
        for name, (kind, shared, routed, width, k) in gran.CONFIGS.items()
        if kind == "moe"
    }


def _weights_one_token_uses(config: MoEConfig) -> tuple[int, int]:
    """(expert weights in the layer, expert weights with a gradient for one token): the count of
    the layer's own tensors, independent of the formula under test."""
    torch.manual_seed(0)
    layer = DeepSeekMoE(config)
    layer._forward(torch.randn(1, config.d_model)).sum().backward()
    experts = [p for name, p in layer.named_parameters() if name != "router"]
    total = sum(p.numel() for p in experts)
    used = sum(int((p.grad != 0).sum()) for p in experts if p.grad is not None)
    return total, used


def test_the_committed_ablation_names_its_command_versions_and_configurations(committed):
    meta = committed["meta"]
    assert meta["command"].startswith("python -m labs.moe.granularity")
    assert {"python", "numpy", "torch"} <= set(meta["versions"])
    assert meta["settings"] == dict(gran.SETTINGS)
    assert meta["configs"] == {name: list(spec) for name, spec in gran.CONFIGS.items()}
    assert committed["best_loss"] == pytest.approx(best_loss(), rel=1e-12)
    assert set(committed["held_out"]) == set(gran.CONFIGS)
    for name, losses in committed["held_out"].items():
        assert len(losses) == meta["seeds"] >= 4, name
        # an expected cross-entropy is never below the chain's entropy
        assert (np.array(losses) > committed["best_loss"]).all(), name


def test_every_moe_configuration_has_the_same_total_and_active_expert_weights():
    counts = {name: _weights_one_token_uses(c) for name, c in _moe_configs().items()}
    assert len(set(counts.values())) == 1, counts
    total, used = next(iter(counts.values()))
    assert (total, used) == (3 * 32 * 128, 3 * 32 * 32)  # widths 128 in all, 32 per token
    for name, config in _moe_configs().items():
        assert gran.expert_parameters(config) == {"total": total, "active": used}, name


def test_the_committed_parameters_are_the_counted_ones(committed):
    expected = {
        name: dict(zip(("total", "active"), _weights_one_token_uses(c), strict=True))
        for name, c in _moe_configs().items()
    }
    assert committed["parameters"] == expected


def test_one_committed_run_reproduces_and_differs_from_its_neighbours(committed):
    """The dense layer of the active width (the fastest configuration that trains an FFN), seed
    0, re-run: it lands on its committed loss, not on another seed's or configuration's."""
    live = gran.run_ablation("dense, active width", seed=0)["held_out"]
    kept = committed["held_out"]["dense, active width"]
    assert abs(live - kept[0]) < 2e-3
    others = [kept[1], committed["held_out"]["dense, total width"][0]]
    assert all(abs(live - other) > 2e-3 for other in others), (live, others)


def test_the_exact_held_out_loss_agrees_with_the_training_loss_it_replaces():
    """Late in a run, the loss on fresh batches estimates the held-out loss with sampling noise
    (5,120 tokens over 20 steps); the exact one must lie within that noise of it."""
    run = gran.run_ablation("no FFN", seed=3, steps=300)
    assert abs(np.mean(run["loss"][-20:]) - run["held_out"]) < 0.05
    assert run["held_out"] > best_loss()


def test_paired_differences_are_seed_by_seed(committed):
    gap = gran.paired_differences("no FFN", "coarse", committed)
    assert gap.shape == (committed["meta"]["seeds"],)
    assert (gap > 0.1).all()  # an MoE of any grain beats no FFN by a wide margin
    assert (gran.paired_differences("coarse", "no FFN", committed) == -gap).all()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: gran.run_ablation("finest", seed=0), ValueError, "name"),
        (lambda: gran.run_ablation("coarse", seed=-1), ValueError, "seed"),
        (lambda: gran.run_ablation("coarse", seed=0, steps=0), ValueError, "steps"),
        (lambda: gran.run_ablation("coarse", seed=0.5), TypeError, "seed"),
        (lambda: gran.expert_parameters({"d_model": 8}), TypeError, "config"),
        (
            lambda: gran.paired_differences("coarse", "no FFN", {"held_out": {}}),
            TypeError,
            "ablation",
        ),  # fmt: skip
        (lambda: gran.paired_differences("finest", "coarse"), ValueError, "variant"),
        (lambda: gran.paired_differences("coarse", "finest"), ValueError, "baseline"),
        (lambda: gran.load_ablation("nowhere.json"), ValueError, "path"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
