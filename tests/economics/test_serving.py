"""The decode ceiling of labs.economics.serving: hand-worked cases and bad input."""

from __future__ import annotations

import math

import pytest

from labs.economics import decode_ceiling, mla_decode_flops_per_cached_token

# A toy unit worked by hand: 1 node of 2 GPUs, 10 GB and 100 GB/s each, 1 TFLOP/s each; its
# attention is left out (0 FLOPs) except where a test adds it.
TOY = dict(
    nodes_per_unit=1,
    gpus_per_node=2,
    weight_bytes=4e9,
    cache_bytes_per_token=1e3,
    context_tokens=1e3,
    active_params=1e9,
    attention_flops_per_token=0.0,
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


def test_v3_mla_decode_flops_by_hand():
    # V3: 128 heads; a score over the 512-wide latent and the 64-wide RoPE key, 2 x 128 x 576 =
    # 147,456 FLOPs; the weighted sum of the 512-wide latents, 2 x 128 x 512 = 131,072; together
    # 278,528 per cached token and layer, times 61 layers = 16,990,208.
    one = mla_decode_flops_per_cached_token(n_heads=128, kv_lora_rank=512, rope_head_dim=64)
    assert one == 147_456 + 131_072 == 278_528
    assert (
        mla_decode_flops_per_cached_token(
            n_heads=128, kv_lora_rank=512, rope_head_dim=64, n_layers=61
        )
        == 16_990_208
    )
    # Without a RoPE key the scores and the sum run over the latent alone: 2 x 2 x 4 x 8 = 128.
    assert mla_decode_flops_per_cached_token(n_heads=4, kv_lora_rank=8, rope_head_dim=0) == 128


def test_attention_flops_at_their_own_peak_by_hand():
    # The toy unit at 1,000 TFLOP/s (weights' FLOPs 0.016 s, memory 0.1 s), plus 1e5 attention
    # FLOPs per cached token at 0.5 TFLOP/s per GPU: 16,000 sequences x 1,000 tokens x 1e5 FLOPs
    # / (2 GPUs x 0.5e12) = 1.6 s, which now binds: the ceiling is 16,000 / 1.616 per node.
    fast = {**TOY, "gpu_peak_tflops": 1000.0, "attention_flops_per_token": 1e5}
    r = decode_ceiling(**fast, attention_peak_tflops=0.5)
    assert r["attention_step_s"] == pytest.approx(1.6)
    assert r["compute_step_s"] == pytest.approx(1.616)
    assert r["binds"] == "compute"
    assert r["tokens_per_s_per_node"] == pytest.approx(16_000 / 1.616)
    # Without its own peak the attention runs at the weights' peak: 1.6e15 / 2e15 = 0.0008 s.
    same = decode_ceiling(**fast)
    assert same["attention_step_s"] == pytest.approx(0.0008)
    assert same["binds"] == "memory"


def test_v3_on_two_h800_nodes_by_hand():
    # V3 (671 GB of FP8 weights, 37B active) on 2 nodes of 8 H800s (80 GB, 3,350 GB/s, 1,979 FP8
    # and 989.5 BF16 TFLOP/s), a 70,272-byte BF16 cache per token, 4,989 tokens of context.
    # Memory: 1,280 GB - 671 GB = 609 GB over 350.6 MB a sequence = 1,737 sequences; the read,
    # 671 GB + 609.0 GB, over 53.6 TB/s: 23.9 ms. Attention: 1,737 x 4,989 x 16,990,208 /
    # (16 x 989.5e12) = 9.30 ms; weights: 2 x 37e9 x 1,737 / (16 x 1,979e12) = 4.06 ms.
    r = decode_ceiling(
        nodes_per_unit=2, weight_bytes=671e9, cache_bytes_per_token=70_272.0,
        context_tokens=4989.0, active_params=37e9, attention_flops_per_token=16_990_208.0,
        gpu_memory_gb=80.0, gpu_memory_gbs=3350.0, gpu_peak_tflops=1979.0,
        attention_peak_tflops=989.5,
    )  # fmt: skip
    assert r["sequences"] == 1737
    assert r["memory_step_s"] == pytest.approx(0.02387, rel=1e-3)
    assert r["attention_step_s"] == pytest.approx(0.009301, rel=1e-3)
    assert r["compute_step_s"] == pytest.approx(0.009301 + 0.004059, rel=1e-3)
    assert r["binds"] == "memory"


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
        ("attention_flops_per_token", -1.0, ValueError),
        ("attention_flops_per_token", None, TypeError),
        ("attention_peak_tflops", 0.0, ValueError),
        ("attention_peak_tflops", "fast", TypeError),
    ],
)
def test_bad_input_names_the_parameter(name, value, error):
    with pytest.raises(error, match=name):
        decode_ceiling(**{**TOY, name: value})


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("n_heads", 0, ValueError),
        ("n_heads", 128.0, TypeError),
        ("kv_lora_rank", 0, ValueError),
        ("rope_head_dim", -1, ValueError),
        ("n_layers", True, TypeError),
    ],
)
def test_mla_flops_bad_input_names_the_parameter(name, value, error):
    args = dict(n_heads=128, kv_lora_rank=512, rope_head_dim=64, n_layers=61)
    with pytest.raises(error, match=name):
        mla_decode_flops_per_cached_token(**{**args, name: value})


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        decode_ceiling(1, 4e9, 1e3, 1e3, 1e9, 10.0, 100.0, 1.0)  # type: ignore[misc]
