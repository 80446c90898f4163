"""The decode ceiling of labs.economics.serving: hand-worked cases and bad input."""

from __future__ import annotations

import math

import pytest

from labs.economics import decode_ceiling

# A toy unit worked by hand: 1 node of 2 GPUs, 10 GB and 100 GB/s each, 1 TFLOP/s each.
TOY = dict(
    nodes_per_unit=1,
    gpus_per_node=2,
    weight_bytes=4e9,
    cache_bytes_per_token=1e3,
    context_tokens=1e3,
    active_params=1e9,
    gpu_memory_gb=10.0,
    gpu_memory_gbs=100.0,
    gpu_peak_tflops=1.0,
)


def test_toy_unit_by_hand():
    # Memory 20 GB, weights 4 GB: 16 GB left, 1 MB of cache per sequence -> 16,000 sequences.
    # Memory step: (4 GB + 16 GB) / 200 GB/s = 0.1 s. Compute: 2 x 1e9 x 16,000 / 2e12 = 16 s.
    r = decode_ceiling(**TOY)
    assert r["sequences"] == 16_000
    assert r["memory_step_s"] == pytest.approx(0.1)
    assert r["compute_step_s"] == pytest.approx(16.0)
    assert r["binds"] == "compute"
    assert r["tokens_per_s_per_node"] == pytest.approx(16_000 / 16.0)


def test_memory_bound_when_the_chip_is_fast():
    # The same unit at 1,000 TFLOP/s per GPU: compute 0.016 s, so the 0.1 s memory read binds.
    r = decode_ceiling(**{**TOY, "gpu_peak_tflops": 1000.0})
    assert r["binds"] == "memory"
    assert r["tokens_per_s_per_node"] == pytest.approx(160_000.0)


def test_no_room_when_the_weights_fill_the_memory():
    r = decode_ceiling(**{**TOY, "weight_bytes": 20e9})
    assert (r["sequences"], r["binds"], r["tokens_per_s_per_node"]) == (0, "no room", 0.0)
    assert math.isfinite(r["step_s"])


def test_more_nodes_leave_more_room_per_node():
    # Two nodes hold the weights once: 36 GB left for 36,000 sequences, 18,000 per node.
    fast = {**TOY, "gpu_peak_tflops": 1e3}
    one, two = (decode_ceiling(**{**fast, "nodes_per_unit": n}) for n in (1, 2))
    assert two["sequences"] == 36_000
    assert two["tokens_per_s_per_node"] > one["tokens_per_s_per_node"]


def test_longer_context_lowers_the_ceiling():
    short, long = (decode_ceiling(**{**TOY, "context_tokens": c}) for c in (1e3, 4e3))
    assert short["sequences"] == 4 * long["sequences"]


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("nodes_per_unit", 0, ValueError),
        ("nodes_per_unit", 2.0, TypeError),
        ("weight_bytes", -1.0, ValueError),
        ("cache_bytes_per_token", 0.0, ValueError),
        ("context_tokens", 0.5, ValueError),
        ("gpu_memory_gbs", float("nan"), ValueError),
        ("gpu_peak_tflops", "fast", TypeError),
        ("gpus_per_node", 65, ValueError),
    ],
)
def test_bad_input_names_the_parameter(name, value, error):
    with pytest.raises(error, match=name):
        decode_ceiling(**{**TOY, name: value})


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        decode_ceiling(1, 4e9, 1e3, 1e3, 1e9, 10.0, 100.0, 1.0)  # type: ignore[misc]
