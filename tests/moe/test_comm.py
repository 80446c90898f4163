"""The cost models: V3's parameters from its configuration, traffic, and the step-time model."""

from __future__ import annotations

import pytest

from labs.common import fact
from labs.moe import (
    DEEPSEEK_V3_MOE,
    MoEConfig,
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
    free = dispatch_bytes_per_token(7168, 8, 8, n_experts=256)
    same = dispatch_bytes_per_token(7168, 8, 8, max_nodes=8, n_experts=256)
    limited = dispatch_bytes_per_token(7168, 8, 8, max_nodes=4, n_experts=256)
    assert dict(free) == dict(same)
    assert limited["inter_node"] < 0.75 * free["inter_node"]
    # fewer GPUs to choose from, more experts sharing one: slightly fewer NVLink copies
    assert 0.9 * free["intra_node"] < limited["intra_node"] < free["intra_node"]
    assert dispatch_bytes_per_token(7168, 8, 1, n_experts=256)["inter_node"] == 0.0


def test_layer_time_routes_the_configs_experts():
    """moe_layer_time draws the config's k distinct experts of n_routed (V3: 8 of 256), not
    independent draws: its NVLink time is the 6.44 copies of labs.common.interconnect's model
    (tested against a simulated router in tests/common), 2.5 % more than the 6.28 copies of
    independent draws."""
    t = moe_layer_time("h800", 8, 4)
    per_byte = fact("moe_v3_dispatch_bytes").value + fact("moe_v3_combine_bytes").value
    copies = t["intra_node"] * fact("moe_v3_nvlink_gbs").value * 1e9 / (4096 * 7168 * per_byte)
    distinct = dispatch_bytes_per_token(7168, 8, 8, 4, n_experts=256)["nvlink_copies"]
    independent = dispatch_bytes_per_token(7168, 8, 8, 4)["nvlink_copies"]
    assert copies == pytest.approx(distinct, rel=1e-9)
    assert copies > 1.02 * independent


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        # 256 experts cannot spread evenly over 3 x 8 = 24 GPUs, nor over 64 x 8 = 512
        ({"n_nodes": 3}, r"config.n_routed must spread .* n_nodes x GPUs per node = 3 x 8 = 24"),
        ({"n_nodes": 64}, r"config.n_routed must spread evenly .* 512 GPUs"),
    ],
)
def test_layer_time_refuses_an_uneven_spread(kwargs, message):
    with pytest.raises(ValueError, match=message):
        moe_layer_time("h800", **kwargs)


def test_layer_time_refuses_more_experts_than_a_token_can_reach():
    small = MoEConfig(d_model=64, d_expert=32, n_routed=16, n_shared=1, k=9)  # 8 a node
    with pytest.raises(ValueError, match=r"config.k must be at most the 8 experts .* max_nodes=1"):
        moe_layer_time("h800", 2, max_nodes=1, config=small)


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


def test_ib_bandwidth_scales_only_the_inter_node_time():
    """Zhao et al.'s effective 40 GB/s (§4.3) against V3's 50: IB time grows by 50 / 40, compute
    and NVLink do not move, and the default is V3's 50 GB/s."""
    v3, zhao = moe_layer_time("h800", 8, 4), moe_layer_time("h800", 8, 4, ib_gbs=40.0)
    assert zhao["inter_node"] == pytest.approx(v3["inter_node"] * 50 / 40)
    assert (zhao["compute"], zhao["intra_node"]) == (v3["compute"], v3["intra_node"])
    assert moe_layer_time("h800", 8, 4, ib_gbs=50.0)["inter_node"] == v3["inter_node"]


@pytest.mark.parametrize("bad", [0.0, -40.0, float("nan"), "40", 1e6])
def test_ib_gbs_bad_input_names_the_parameter(bad):
    with pytest.raises((ValueError, TypeError), match="ib_gbs"):
        moe_layer_time("h800", 8, 4, ib_gbs=bad)
