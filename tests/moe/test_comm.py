"""The cost models: V3's parameters from its configuration, traffic, and the step-time model."""

from __future__ import annotations

import numpy as np
import pytest

from labs.common import fact
from labs.moe import (
    DEEPSEEK_V3_MOE,
    dispatch_bytes_per_token,
    moe_flops_per_token,
    moe_layer_time,
    v3_parameter_counts,
)


def test_v3_parameters_recomputed_from_its_configuration():
    counts = v3_parameter_counts()
    assert counts["total"] == pytest.approx(fact("moe_v3_total_params").value, rel=0.005)
    # 37.55B against the rounded "37B": within 2%
    assert counts["active"] == pytest.approx(fact("moe_v3_active_params").value, rel=0.02)
    assert counts["routed_experts"] / counts["total"] > 0.95  # nearly all weights are experts


def test_flops_per_token_of_v3_layer():
    d, f = 7168, 2048
    assert moe_flops_per_token(DEEPSEEK_V3_MOE) == 2 * d * 256 + 6 * d * f * 9


def test_node_limit_cuts_infiniband_traffic_not_nvlink():
    free = dispatch_bytes_per_token(7168, 8, 8)
    same = dispatch_bytes_per_token(7168, 8, 8, max_nodes=8)
    limited = dispatch_bytes_per_token(7168, 8, 8, max_nodes=4)
    assert dict(free) == dict(same)
    assert limited["inter_node"] < 0.75 * free["inter_node"]
    # fewer GPUs to choose from, more experts sharing one: slightly fewer NVLink copies
    assert 0.9 * free["intra_node"] < limited["intra_node"] < free["intra_node"]
    assert dispatch_bytes_per_token(7168, 8, 1)["inter_node"] == 0.0


def _simulate(k, n_nodes, max_nodes, g, tokens, rng):
    """Mean IB and NVLink copies of `tokens` tokens sitting on GPU 0 of node 0: each picks
    `max_nodes` of the nodes at random, then k GPUs (with repeats) among theirs; a copy goes to
    every remote node hit (landing on its GPU 0) and to every GPU hit whose in-node index is not
    0 (the landing GPU, or the token's own)."""
    ib, nv = np.zeros(tokens), np.zeros(tokens)
    for t in range(tokens):
        nodes = rng.choice(n_nodes, max_nodes, replace=False)
        hits = {(nodes[rng.integers(max_nodes)], rng.integers(g)) for _ in range(k)}
        ib[t] = len({node for node, _ in hits if node != 0})
        nv[t] = sum(1 for _, gpu in hits if gpu != 0)
    return ib.mean(), nv.mean()


@pytest.mark.parametrize(
    ("k", "n_nodes", "max_nodes", "g"), [(8, 8, 4, 8), (8, 1, 1, 8), (3, 4, 4, 2)]
)
def test_traffic_model_matches_a_simulated_dispatch(k, n_nodes, max_nodes, g):
    """Eqs. (1) and (2) against counting copies token by token: one NVLink copy per GPU hit,
    however many of the token's experts it holds (one copy per expert would give k (g - 1) / g,
    7 for V3, well outside the tolerance)."""
    ib, nv = _simulate(k, n_nodes, max_nodes, g, 20_000, np.random.default_rng(0))
    model = dispatch_bytes_per_token(7168, k, n_nodes, max_nodes, gpus_per_node=g)
    # standard error of a mean of 20,000 counts of spread < 2: under 0.015; tolerance 0.05
    assert model["remote_nodes"] == pytest.approx(ib, abs=0.05)
    assert model["nvlink_copies"] == pytest.approx(nv, abs=0.05)
    assert abs(k * (g - 1) / g - nv) > 0.15  # the per-expert count is measurably wrong


def test_zhao_example_reproduced():
    tokens, experts, hidden, micros = fact("moe_zhao_ep_example").value
    per_byte = fact("moe_v3_dispatch_bytes").value + fact("moe_v3_combine_bytes").value
    seconds = per_byte * tokens * experts * hidden / (fact("moe_v3_ib_gbs").value * 1e9)
    assert seconds * 1e6 == pytest.approx(micros, rel=1e-9)


@pytest.mark.parametrize("gpu", ["h800", "h100"])
def test_infiniband_is_the_bottleneck_on_both_gpus(gpu):
    free = moe_layer_time(gpu, 8)
    limited = moe_layer_time(gpu, 8, 4)
    assert free["bottleneck"] == limited["bottleneck"] == "inter_node"
    assert limited["inter_node"] < free["inter_node"]


def test_h800_nvlink_cut_costs_no_layer_time_unless_nvlink_falls_below_break_even():
    """At V3's 160 GB/s the H800's NVLink hides behind IB; at 60 GB/s (below the break-even of
    about 100 GB/s) it binds and the H800 layer is slower than the H100's."""
    h800, h100 = moe_layer_time("h800", 8, 4), moe_layer_time("h100", 8, 4)
    assert h800["compute"] == h100["compute"]
    assert h800["intra_node"] < h800["inter_node"]  # still faster than IB
    slow = moe_layer_time("h800", 8, 4, nvlink_gbs=60.0)
    assert slow["bottleneck"] == "intra_node"
    assert slow["intra_node"] > 1.3 * moe_layer_time("h100", 8, 4, nvlink_gbs=60.0)["inter_node"]
