"""Second hostile-input audit, chapter 4: the torch routing on two devices (a `meta` tensor stands
for another device on this CPU-only machine) and seeds past what torch's generators take. Each
bad call must raise an error naming the parameter, not fail inside torch."""

from __future__ import annotations

import pytest
import torch

from labs.moe import MoEConfig
from labs.moe.granularity import run_ablation
from labs.moe.sweep import run_config
from labs.moe.timing import measured_layer_seconds, routed_expert_seconds
from labs.moe.torch import node_limited_route, route, sequence_balance_loss
from labs.moe.training import best_loss, layer_throughput, train_tiny_lm

SCORES = torch.randn(4, 8)
BIAS = torch.zeros(8)
SEED_CAP = r"^seed must be <= 2\*\*62"


def test_route_refuses_a_bias_on_another_device():
    assert route(SCORES, 2, BIAS)[0].shape == (4, 2)
    with pytest.raises(ValueError, match=r"^bias must be on the device of scores \(cpu\)"):
        route(SCORES, 2, BIAS.to("meta"))


def test_node_limited_route_refuses_a_bias_on_another_device():
    assert node_limited_route(SCORES, 2, 4, 1, BIAS)[0].shape == (4, 2)
    with pytest.raises(ValueError, match=r"^bias must be on the device of scores \(cpu\)"):
        node_limited_route(SCORES, 2, 4, 1, BIAS.to("meta"))


def test_sequence_balance_loss_refuses_indices_on_another_device():
    scores = torch.randn(2, 3, 4)
    indices = torch.tensor([[[0, 1], [2, 3], [0, 2]], [[1, 3], [1, 2], [0, 3]]])
    assert sequence_balance_loss(scores, indices).ndim == 0
    with pytest.raises(ValueError, match=r"^expert_indices must be on the device of scores"):
        sequence_balance_loss(scores, indices.to("meta"))
    with pytest.raises(ValueError, match=r"^expert_indices must be on the device of scores"):
        sequence_balance_loss(scores.to("meta"), indices)


@pytest.mark.parametrize(
    "run",
    [
        lambda seed: run_ablation("no FFN", seed=seed, steps=1),
        lambda seed: run_config("dense", seed=seed, steps=1),
        lambda seed: train_tiny_lm(steps=1, seed=seed, batch=4),
        lambda seed: layer_throughput(d_model=8, n_experts=4, d_expert=4, tokens=8, seed=seed),
        lambda seed: routed_expert_seconds(
            d_model=8, n_experts=4, d_expert=4, tokens=16, repeats=1, seed=seed
        ),
        lambda seed: measured_layer_seconds(
            MoEConfig(d_model=8, d_expert=6, n_routed=4, n_shared=1, k=2), 8, repeats=1, seed=seed
        ),
        lambda seed: best_loss(seed=seed),
    ],
)
@pytest.mark.parametrize("seed", [2**64, 10**30])
def test_seeds_past_torch_s_64_bits_are_refused_by_name(run, seed):
    with pytest.raises(ValueError, match=SEED_CAP):
        run(seed)
