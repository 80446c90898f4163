"""The cost model of chapter 3 against hand-worked cases: FLOPs and cache bytes of the attention
core for MHA, GQA and MLA (naive and absorbed) in both phases, absorption's parameter counts at
DeepSeek-V3's shape, DeepSeek's 656-byte FP8 latent cache, and the roofline bound."""

import math

import numpy as np
import pytest

from labs.mla import (
    DEEPSEEK_67B,
    DEEPSEEK_V2,
    DEEPSEEK_V3,
    AttentionConfig,
    kv_cache_bytes_per_token,
)
from labs.mla.cost import (
    absorption_costs,
    attention_flops_and_bytes,
    max_batch_throughput,
    mla_cache_bytes_per_layer,
    roofline_seconds,
)
from labs.mla.reference import _causal_mask

MHA = AttentionConfig(kind="mha", n_layers=1, d_model=32, n_heads=4, head_dim=8)
GQA = AttentionConfig(kind="gqa", n_layers=1, d_model=32, n_heads=8, head_dim=4, n_kv_heads=2)
MLA = AttentionConfig(
    kind="mla", n_layers=1, d_model=16, n_heads=2, head_dim=4, kv_lora_rank=6, rope_head_dim=2
)


def test_mha_by_hand():
    # decode, S = 10: each of 4 heads scores 10 keys of width 8 (2*8 FLOPs each) and sums 10
    # values of width 8 (2*8 each): 4 * 10 * 32 = 1,280 FLOPs; the cache is 10 tokens x (k, v)
    # x 4 heads x 8 = 640 elements, 1,280 bytes in BF16: one FLOP per byte.
    assert attention_flops_and_bytes(MHA, "decode", 10) == (1280, 1280.0)
    # prefill, S = 3: pairs (0,0) (1,0) (1,1) (2,0) (2,1) (2,2) = 6, at 4 heads x 32 FLOPs each
    assert attention_flops_and_bytes(MHA, "prefill", 3) == (768, 384.0)
    assert attention_flops_and_bytes(MHA, "decode", 10, absorbed=False) == (1280, 1280.0)


def test_gqa_by_hand():
    # 8 query heads do the arithmetic, 2 KV heads are cached: decode S = 5 costs 8 * 5 * 2 * (4 +
    # 4) = 640 FLOPs and reads 5 x 2 x 2 x 4 = 80 elements, 160 bytes in BF16, 80 in FP8.
    assert attention_flops_and_bytes(GQA, "decode", 5) == (640, 160.0)
    assert attention_flops_and_bytes(GQA, "decode", 5, bits_per_element=8) == (640, 80.0)
    # prefill S = 4: 10 causal pairs x 8 heads x 16 FLOPs; 4 tokens x 16 elements written
    assert attention_flops_and_bytes(GQA, "prefill", 4) == (1280, 128.0)


def test_mla_by_hand():
    # Absorbed decode, S = 3: scores on [c^KV; k^R] (6 + 2 wide) and values on c^KV (6 wide):
    # 2 heads * 3 keys * 2 * (8 + 6) = 168 FLOPs; the cache is 3 x (6 + 2) elements = 48 bytes.
    assert attention_flops_and_bytes(MLA, "decode", 3) == (168, 48.0)
    # Naive decode: scores on [q^C; q^R] (4 + 2), values 4: 2 * 3 * 2 * 10 = 120, plus rebuilding
    # 3 keys and 3 values of 2 heads x 4 from 6-wide latents: 3 * 2 * (6 * 16) = 576.
    assert attention_flops_and_bytes(MLA, "decode", 3, absorbed=False) == (696, 48.0)
    # Prefill S = 2 (3 pairs): absorbed 3 * 2 * 2 * 14 = 168, naive 3 * 2 * 2 * 10 = 120.
    assert attention_flops_and_bytes(MLA, "prefill", 2) == (168, 32.0)
    assert attention_flops_and_bytes(MLA, "prefill", 2, absorbed=False) == (120, 32.0)


def test_prefill_pairs_are_the_unmasked_entries_of_the_causal_mask():
    # The S (S + 1) / 2 of eq. (C2), counted from the mask the reference applies.
    for s in (1, 2, 7, 64):
        pairs = int((~_causal_mask(np.arange(s), np.arange(s))).sum())
        flops, _ = attention_flops_and_bytes(MHA, "prefill", s)
        assert flops == pairs * MHA.n_heads * 2 * (2 * MHA.head_dim)


@pytest.mark.parametrize("config", [MHA, GQA, MLA, DEEPSEEK_V3])
@pytest.mark.parametrize("phase", ["decode", "prefill"])
def test_batch_and_bits_scale_linearly(config, phase):
    flops, nbytes = attention_flops_and_bytes(config, phase, 17)
    assert attention_flops_and_bytes(config, phase, 17, batch=3) == (3 * flops, 3 * nbytes)
    assert attention_flops_and_bytes(config, phase, 17, bits_per_element=4)[1] == nbytes / 4


def test_absorbed_mla_at_v3_is_near_the_h800_balance_point():
    # 2 n_h (d_c + d_h^R + d_c) / (d_c + d_h^R) / 2 bytes = 128 * 1088 / 576 = 241.8 FLOPs/byte,
    # against 1 for MHA: what FlashMLA's write-up calls about 2 n_h.
    flops, nbytes = attention_flops_and_bytes(DEEPSEEK_V3, "decode", 4096)
    assert flops / nbytes == pytest.approx(128 * 1088 / 576)
    assert 230 < flops / nbytes < 2 * 128
    mha_flops, mha_bytes = attention_flops_and_bytes(DEEPSEEK_67B, "decode", 4096)
    assert mha_flops / mha_bytes == 8  # GQA: 8 query heads per KV head, 1 FLOP/byte each


def test_absorbed_pays_for_decode_not_for_prefill_at_v3():
    # Per query-key pair and head: absorbed 2 (576 + 512), naive 2 (192 + 128): 3.4x.
    absorbed, _ = attention_flops_and_bytes(DEEPSEEK_V3, "prefill", 1024)
    naive, _ = attention_flops_and_bytes(DEEPSEEK_V3, "prefill", 1024, absorbed=False)
    assert absorbed / naive == pytest.approx(3.4)
    # In decode the naive form must rebuild every cached key and value: far more FLOPs.
    absorbed, _ = attention_flops_and_bytes(DEEPSEEK_V3, "decode", 1024)
    naive, _ = attention_flops_and_bytes(DEEPSEEK_V3, "decode", 1024, absorbed=False)
    assert naive / absorbed > 100


def test_absorption_costs_at_v3_shape():
    costs = absorption_costs(DEEPSEEK_V3)
    f, m = costs["factored"], costs["merged"]
    assert f["query_params"] == 1536 * 16384 + 512 * 16384 == 33_554_432
    assert m["query_params"] == 1536 * 128 * 512 == 100_663_296
    assert f["output_params"] == 512 * 16384 + 16384 * 7168 == 125_829_120
    assert m["output_params"] == 128 * 512 * 7168 == 469_762_048
    assert m["query_flops"] == 2 * m["query_params"]  # one token through each matrix once
    assert f["output_flops"] == 2 * f["output_params"]


def test_absorption_costs_without_query_compression():
    config = AttentionConfig(
        kind="mla", n_layers=1, d_model=10, n_heads=2, head_dim=3, kv_lora_rank=4, rope_head_dim=2
    )
    costs = absorption_costs(config)
    assert costs["factored"]["query_params"] == 10 * 6 + 4 * 6  # W^UQ acts on h_t (d = 10)
    assert costs["merged"]["query_params"] == 10 * 2 * 4
    assert costs["merged"]["output_params"] == 2 * 4 * 10


def test_the_fp8_latent_cache_is_656_bytes():
    assert mla_cache_bytes_per_layer(DEEPSEEK_V3, 8, 16, 32, 128) == 512 + 16 + 128 == 656
    assert mla_cache_bytes_per_layer(DEEPSEEK_V3) == 1152  # all BF16
    assert mla_cache_bytes_per_layer(DEEPSEEK_V3) * 61 == kv_cache_bytes_per_token(DEEPSEEK_V3)
    # a tile that does not divide d_c still needs a scale for the remainder
    assert mla_cache_bytes_per_layer(DEEPSEEK_V3, 8, 16, 32, 100) == 512 + 6 * 4 + 128


def test_roofline_bound():
    assert roofline_seconds(1e12, 1e9, 1e12, 1e12) == 1.0  # compute-bound
    assert roofline_seconds(1e9, 1e12, 1e12, 1e12) == 1.0  # memory-bound
    assert math.isclose(roofline_seconds(2e12, 0, 1e12, 1e12), 2.0)


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        (dict(phase="train"), ValueError, "phase must be one of"),
        (dict(context=0), ValueError, "context must be >= 1"),
        (dict(batch=0), ValueError, "batch must be >= 1"),
        (dict(context=2**25), ValueError, "context must be <="),
        (dict(absorbed="yes"), TypeError, "absorbed must be True or False"),
        (dict(bits_per_element=0), ValueError, "bits_per_element must be > 0"),
        (dict(bits_per_element=float("nan")), ValueError, "bits_per_element must be finite"),
    ],
)
def test_cost_model_rejects_bad_arguments(kwargs, error, pattern):
    args = dict(config=MLA, phase="decode", context=4) | kwargs
    with pytest.raises(error, match=pattern):
        attention_flops_and_bytes(**args)


def test_cache_bytes_and_roofline_reject_bad_arguments():
    with pytest.raises(ValueError, match="config must be an MLA config"):
        mla_cache_bytes_per_layer(MHA)
    with pytest.raises(ValueError, match="scale_tile must be <="):
        mla_cache_bytes_per_layer(MLA, scale_bits=32, scale_tile=7)
    with pytest.raises(ValueError, match="scale_bits must be >= 0"):
        mla_cache_bytes_per_layer(MLA, scale_bits=-1)
    with pytest.raises(ValueError, match="peak_bytes_per_s must be > 0"):
        roofline_seconds(1, 1, 1, 0)
    with pytest.raises(TypeError, match="flops must be a real number"):
        roofline_seconds("1", 1, 1, 1)


def test_max_batch_throughput_by_hand():
    # DeepSeek-V2's shape as deployed on 8 x 80 GB: 60 layers x 576 elements x 6 bits = 25,920
    # bytes per token, 106,168,320 per 4,096-token sequence; (640e9 - 236e9) / that = 3,805.3
    got = max_batch_throughput(
        DEEPSEEK_V2,
        context=4096,
        memory_bytes=640e9,
        weight_bytes=236e9,
        active_params=21e9,
        peak_flops_per_s=1e30,  # no compute limit: the step is the bytes over the bandwidth
        peak_bytes_per_s=1e12,
        bits_per_element=6,
    )
    assert got["batch"] == 3805
    assert math.isclose(got["step_seconds"], (236e9 + 3805 * 106_168_320) / 1e12)
    assert math.isclose(got["tokens_per_s"], 3805 / got["step_seconds"])
    # attention core per token: 60 layers x 2 x 128 heads x 4,096 x (576 + 512) FLOPs
    core = 60 * 2 * 128 * 4096 * 1088
    assert math.isclose(got["core_flop_share"], core / (core + 2 * 21e9))


def test_max_batch_throughput_compute_bound_and_monotone():
    # a compute-bound step: tokens/s = peak / FLOPs per token, whatever the batch
    flops_per_token = 2 * 100 + 2 * 4 * 10 * (8 + 8)  # weights + MHA core over 10 tokens
    got = max_batch_throughput(
        MHA,
        context=10,
        memory_bytes=1e6,
        weight_bytes=200,
        active_params=100,
        peak_flops_per_s=1e9,
        peak_bytes_per_s=1e30,
    )
    assert math.isclose(got["tokens_per_s"], 1e9 / flops_per_token)
    assert got["batch"] == (1e6 - 200) // 1280
    smaller = max_batch_throughput(
        MHA,
        context=10,
        memory_bytes=1e5,
        weight_bytes=200,
        active_params=100,
        peak_flops_per_s=1e12,
        peak_bytes_per_s=1e9,
    )
    larger = max_batch_throughput(
        MHA,
        context=10,
        memory_bytes=1e6,
        weight_bytes=200,
        active_params=100,
        peak_flops_per_s=1e12,
        peak_bytes_per_s=1e9,
    )
    assert larger["batch"] > smaller["batch"] and larger["tokens_per_s"] > smaller["tokens_per_s"]


def test_max_batch_throughput_tensor_parallel_copies_what_cannot_be_split():
    # DeepSeek-V2 as in the by-hand test, its heads split over 8 devices: the latent serves every
    # head, so each device holds all of it: 8 x 106,168,320 bytes a sequence, (640e9 - 236e9) /
    # that = 475.7 sequences, and each copy is read every step
    kwargs = dict(
        context=4096,
        memory_bytes=640e9,
        weight_bytes=236e9,
        active_params=21e9,
        peak_flops_per_s=1e30,
        peak_bytes_per_s=1e12,
        bits_per_element=6,
    )
    got = max_batch_throughput(DEEPSEEK_V2, tensor_parallel=8, **kwargs)
    assert got["batch"] == 475
    assert math.isclose(got["step_seconds"], (236e9 + 475 * 8 * 106_168_320) / 1e12)
    # GQA with 4 KV heads: split over 4 devices (no copy), copied twice over 8
    gqa = AttentionConfig(kind="gqa", n_layers=1, d_model=64, n_heads=8, head_dim=8, n_kv_heads=4)
    small = dict(kwargs, context=10, memory_bytes=1e6, weight_bytes=0.0, active_params=10)
    per_sequence = 10 * 2 * 4 * 8 * 6 / 8  # 10 tokens x K and V x 4 heads x 8 x 6 bits
    for tp, copies in ((1, 1), (4, 1), (8, 2)):
        got = max_batch_throughput(gqa, tensor_parallel=tp, **small)
        assert got["batch"] == int(1e6 // (copies * per_sequence)), (tp, got)
    with pytest.raises(ValueError, match="tensor_parallel"):
        max_batch_throughput(gqa, tensor_parallel=3, **small)  # 8 heads do not split over 3
    with pytest.raises(ValueError, match="tensor_parallel must be <= 8"):
        max_batch_throughput(gqa, tensor_parallel=16, **small)
    # 12 heads in 4 groups of 3 over 6 devices of 2 heads: devices 1 and 4 straddle two groups,
    # so the devices hold 8 KV heads (2 copies) where p / n_g counts 1.5; over 3 devices, 6
    # (1.5 copies) where it counts 1: refused rather than a batch that does not fit
    uneven = AttentionConfig(
        kind="gqa", n_layers=1, d_model=96, n_heads=12, head_dim=8, n_kv_heads=4
    )
    for tp in (3, 6):
        with pytest.raises(ValueError, match="tensor_parallel must divide n_kv_heads or be a mul"):
            max_batch_throughput(uneven, tensor_parallel=tp, **small)
    for tp in (2, 4, 12):  # divides 4, or a multiple of it: accepted
        assert max_batch_throughput(uneven, tensor_parallel=tp, **small)["batch"] > 0


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"memory_bytes": 1000.0}, "memory_bytes"),  # the weights alone do not fit
        ({"weight_bytes": -1.0}, "weight_bytes"),
        ({"context": 0}, "context"),
        ({"peak_bytes_per_s": 0.0}, "peak_bytes_per_s"),
        ({"bits_per_element": 0}, "bits_per_element"),
    ],
)
def test_max_batch_throughput_bad_input(changes, name):
    kwargs = dict(
        context=10,
        memory_bytes=1e6,
        weight_bytes=2000.0,
        active_params=100,
        peak_flops_per_s=1e9,
        peak_bytes_per_s=1e9,
    )
    with pytest.raises(ValueError, match=name):
        max_batch_throughput(MHA, **{**kwargs, **changes})
