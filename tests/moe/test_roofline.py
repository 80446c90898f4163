"""The roofline model of a MoE layer against a dense one on one device (labs.moe.roofline).

Expected values are worked by hand in the comments (eqs. M1-M5 of the module docstring), on
layers small enough to count every element, and on V3's widths where a closed form holds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from labs.moe import (
    DEEPSEEK_V3_MOE,
    DEVICES,
    MoEConfig,
    device_limits,
    expert_crossover,
    experts_hit,
    layer_seconds,
    memory_bound_batch,
    registry_device,
    ridge_tokens,
    route,
)

# d = 4, F = 2, E = 4 routed, k = 2, 1 shared: small enough to count every element.
SMALL = MoEConfig(d_model=4, d_expert=2, n_routed=4, n_shared=1, k=2)


def test_experts_hit_by_hand():
    assert experts_hit(1, 256, 8) == pytest.approx(8.0)  # one token: its k distinct experts
    # two tokens, 2 of 4 each: an expert escapes one token with chance 1/2, both with 1/4
    assert experts_hit(2, 4, 2) == pytest.approx(3.0)
    assert experts_hit(5, 4, 4) == pytest.approx(4.0)  # k = E: every expert, every time


def test_experts_hit_matches_the_chapters_router():
    """Eq. M3 against chapter 4's own router (top-k of random scores, k distinct per token):
    3 tokens, 2 of 8 each, expect 8 (1 - (3/4)^3) = 8 x 37 / 64 = 4.625 distinct experts."""
    draws, tokens, n_routed, k = 20_000, 3, 8, 2
    scores = np.random.default_rng(0).standard_normal((draws * tokens, n_routed))
    chosen = route(scores, k)[0].reshape(draws, tokens * k)
    distinct = np.array([len(set(row)) for row in chosen])
    assert experts_hit(tokens, n_routed, k) == pytest.approx(4.625)
    # standard error of the mean: about 0.9 / sqrt(20000) = 0.006; 0.03 is 5 of them
    assert abs(distinct.mean() - 4.625) < 0.03
    # independent draws (the variant the router does not do) would give 8 (1 - (7/8)^6) = 4.39
    assert abs(distinct.mean() - 8 * (1 - (7 / 8) ** 6)) > 0.2


def test_ridge_tokens_by_hand():
    # d = F = 200, b = 1, ridge P / B = 1e5 / 1e3 = 100: n* = 100 x 40000 / (80000 - 100 x 400)
    # = 100.
    # Check: at n = 100 one GEMM does 2 x 100 x 200 x 200 = 8e6 FLOPs and moves
    # 100 x 200 + 200 x 200 + 100 x 200 = 8e4 bytes, 100 FLOPs per byte: the ridge.
    wide = MoEConfig(d_model=200, d_expert=200, n_routed=4, n_shared=1, k=2)
    assert ridge_tokens(wide, 1e5, 1e3, bytes_per_element=1.0) == pytest.approx(100.0)
    # d = F = 4, b = 2, ridge 4: intensity never exceeds 2 d F / (b (d + F)) = 2 < 4
    narrow = MoEConfig(d_model=4, d_expert=4, n_routed=4, k=2)
    assert ridge_tokens(narrow, 4e3, 1e3) == math.inf


def test_v3_expert_ridge_on_an_h100():
    # r = 989.5e12 / 3.35e12 = 295.37 FLOPs per byte, b r = 590.75; d F = 7168 x 2048 = 14.68e6;
    # n* = 590.75 x 14.68e6 / (29.36e6 - 590.75 x 9216) = 8.672e9 / 23.916e6 = 362.6 tokens
    assert ridge_tokens(DEEPSEEK_V3_MOE, *device_limits("H100 SXM")) == pytest.approx(
        362.6, abs=0.1
    )
    # the batch at which each of the 256 experts gets n* of the batch's 8 T slots: 32 n*
    assert memory_bound_batch(DEEPSEEK_V3_MOE, *device_limits("H100 SXM")) == pytest.approx(
        32 * 362.6, rel=1e-3
    )


def test_layer_seconds_memory_bound_by_hand():
    """SMALL, one token, P = 1e4 FLOP/s, B = 1e3 bytes/s, 1 byte per element (times in ms).

    E_hit = 4 (1 - (1 - 2/4)^1) = 2, so 2 experts with 1 token each. A (1, 4) x (4, 2) GEMM:
    16 FLOPs (1.6 ms) and 4 + 8 + 2 = 14 bytes (14 ms), memory-bound.
    MoE: shared 3 x 14 = 42, router (1, 4) x (4, 4) 4 + 16 + 4 = 24, experts 2 x 3 x 14 = 84;
    150 ms. Dense, same total (width 10): 3 x (4 + 40 + 10) = 162. Same active (width 6):
    3 x (4 + 24 + 6) = 102."""
    t = layer_seconds(SMALL, 1, 1e4, 1e3, bytes_per_element=1.0)
    assert t["experts_hit"] == pytest.approx(2.0)
    assert t["tokens_per_expert"] == pytest.approx(1.0)
    assert t["expert_bound"] == "memory"
    ms = (t["moe"] * 1e3, t["dense_total"] * 1e3, t["dense_active"] * 1e3)
    assert ms == pytest.approx((150, 162, 102))
    # forward + backward: each GEMM twice more (dX and dW), at the same FLOPs and bytes
    both = layer_seconds(SMALL, 1, 1e4, 1e3, bytes_per_element=1.0, backward=True)
    assert (both["moe"] * 1e3, both["dense_total"] * 1e3) == pytest.approx((450, 486))


def test_backward_without_the_input_gradient_by_hand():
    """As above, with the input's gradient skipped: a SwiGLU runs 3 forward GEMMs, 3 weight
    gradients and W2's input gradient, 7 GEMMs of 14 bytes; the router its forward and weight
    gradient, 2 of 24. MoE: shared 7 x 14 = 98, router 2 x 24 = 48, experts 2 x 7 x 14 = 196;
    342 ms. Dense, same total: 7 x 54 = 378; same active: 7 x 34 = 238.
    Compute-bound (P = 1e3, B = 1e15), a GEMM is 16 FLOPs: MoE 7 x 16 + 2 x 32 + 2 x 7 x 16
    = 400 ms, dense same total 7 x 80 = 560 ms."""
    kwargs = dict(bytes_per_element=1.0, backward=True, input_grad=False)
    t = layer_seconds(SMALL, 1, 1e4, 1e3, **kwargs)
    ms = (t["moe"] * 1e3, t["dense_total"] * 1e3, t["dense_active"] * 1e3)
    assert ms == pytest.approx((342, 378, 238))
    t = layer_seconds(SMALL, 1, 1e3, 1e15, **kwargs)
    assert (t["moe"], t["dense_total"]) == pytest.approx((0.400, 0.560))
    # without the backward, input_grad has nothing to skip
    forward = layer_seconds(SMALL, 1, 1e4, 1e3, bytes_per_element=1.0, input_grad=False)
    assert forward["moe"] * 1e3 == pytest.approx(150)


def test_pytorch_runs_the_matrix_products_the_model_counts():
    """Count aten::mm calls in chapter 4's own layers, forward + backward. A SwiGLU: 9 with the
    input's gradient, 7 without. The MoE layer (1 shared, 4 routed, 64 tokens top-2, so every
    expert is hit: a chance of (1/2)^64 to miss one): 5 SwiGLUs and the router,
    9 x 5 + 3 = 48 with the input's gradient and 7 x 5 + 2 = 37 without."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from labs.moe.torch import DeepSeekMoE, _swiglu

    def matrix_products(layer, x):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            layer(x).sum().backward()
        return sum(event.name == "aten::mm" for event in prof.events())

    torch.manual_seed(0)
    weights = [torch.randn(s, requires_grad=True) for s in ((8, 12), (8, 12), (12, 8))]
    moe = DeepSeekMoE(MoEConfig(d_model=8, d_expert=4, n_routed=4, n_shared=1, k=2))
    x = torch.randn(64, 8)
    x_grad = x.clone().requires_grad_(True)
    assert matrix_products(lambda x: _swiglu(x, *weights), x_grad) == 9
    assert matrix_products(lambda x: _swiglu(x, *weights), x) == 7
    assert matrix_products(moe._forward, x_grad) == 48
    assert matrix_products(moe._forward, x) == 37


def test_negative_control_without_weight_reads_flips_the_verdict():
    """The same call with the weights left out of the bytes. A (1, 4) x (4, 2) GEMM moves
    4 + 2 = 6 bytes. MoE: shared 3 x 6 = 18, router 4 + 4 = 8, experts 2 x 3 x 6 = 36; 62 ms.
    Dense, same total: 3 x (4 + 10) = 42. Without the weights the dense layer wins (42 < 62);
    with them the MoE does (150 < 162, above): the weights it does not read are its advantage."""
    t = layer_seconds(SMALL, 1, 1e4, 1e3, bytes_per_element=1.0, count_weights=False)
    assert (t["moe"] * 1e3, t["dense_total"] * 1e3) == pytest.approx((62, 42))
    assert t["moe"] > t["dense_total"]


def test_layer_seconds_compute_bound_by_hand():
    """SMALL, one token, P = 1e3 FLOP/s and a bandwidth too large to matter: time is FLOPs
    (in ms). GEMM (1, 4) x (4, 2) = 16; MoE 3 x 16 + router 2 x 4 x 4 = 32 + 2 x 3 x 16 = 176;
    dense, same total 3 x 2 x 4 x 10 = 240."""
    t = layer_seconds(SMALL, 1, 1e3, 1e15, bytes_per_element=1.0)
    assert t["expert_bound"] == "compute"
    assert (t["moe"] * 1e3, t["dense_total"] * 1e3) == pytest.approx((176, 240))


def test_v3_large_batch_speedup_is_the_flop_ratio():
    """T = 2^20 tokens, every expert compute-bound. The router's (T, d) x (d, 256) GEMM has an
    intensity of 2 T d E / (2 (T d + d E + T E)), about 254 FLOPs per byte at large T: above
    the T4's ridge (203), so there it is compute-bound too and the speed-up is the FLOP ratio
    257 x 6 F / (9 x 6 F + 2 x 256) = 28.424. Below the H100's ridge (295): there the router
    moves 2 (d + E) bytes per token at 3.35e12 B/s (4.43e-9 s) beside the experts'
    9 x 6 d F / 989.5e12 = 8.011e-7 s, and the speed-up is 28.398."""
    for device, expected in (("T4", 28.424), ("H100 SXM", 28.398)):
        t = layer_seconds(DEEPSEEK_V3_MOE, 2**20, *device_limits(device))
        assert t["expert_bound"] == "compute"
        assert t["dense_total"] / t["moe"] == pytest.approx(expected, rel=2e-4)


def test_v3_speedup_nearly_vanishes_where_every_expert_is_hit_and_all_is_memory_bound():
    """T = 128 on an H100. E_hit = 256 (1 - (31/32)^128) = 251.60; everything memory-bound, so
    time is elements moved (x 2 bytes, which cancels). Dense, width 257 F:
    257 x 3 d F + 128 x 3 (d + 257 F) = 11.5232e9. MoE: shared 3 (T d + d F + T F) = 47.58e6,
    router T d + d E + T E = 2.785e6, experts 251.60 x 3 d F + 3 T k (d + F) = 11.1089e9;
    11.1592e9 in all. Speed-up 1.0326, against 28.40 at large batches; and the negative control
    (no weight reads: every expert GEMM compute-bound at any batch, intensity
    2 d F / (2 (d + F)) = 1593 > 295) keeps the large-batch 28.40."""
    limits = device_limits("H100 SXM")
    t = layer_seconds(DEEPSEEK_V3_MOE, 128, *limits)
    assert t["experts_hit"] == pytest.approx(251.60, abs=0.01)
    assert t["dense_total"] / t["moe"] == pytest.approx(1.0326, rel=1e-3)
    control = layer_seconds(DEEPSEEK_V3_MOE, 128, *limits, count_weights=False)
    assert control["dense_total"] / control["moe"] == pytest.approx(28.398, rel=2e-4)


def test_decode_speedup_is_total_over_touched_experts():
    """One token reads the shared expert and its 8 routed ones: 9 expert weights against the
    dense layer's 257, plus the router's d E and a few activations: just under 257 / 9 = 28.56."""
    for device in DEVICES:
        t = layer_seconds(DEEPSEEK_V3_MOE, 1, *device_limits(device))
        assert 0.99 * 257 / 9 < t["dense_total"] / t["moe"] < 257 / 9


def test_expert_crossover_compute_bound_by_hand():
    """d = 4, F = 1, k = 3, 1 shared, bandwidth too large to matter. Per token the MoE does
    6 d F (1 + k) + 2 d E FLOPs, the dense layer 6 d F (1 + E): the MoE is faster iff
    E (6 F - 2) > 6 F k, E > 18 / 4 = 4.5. So E* = 5 (E = 4: 32 d against 30 d)."""
    config = MoEConfig(d_model=4, d_expert=1, n_routed=3, n_shared=1, k=3)
    assert expert_crossover(config, 16, 1e3, 1e15, bytes_per_element=1.0, max_experts=64) == 5


def test_expert_crossover_memory_bound_by_hand():
    """d = F = 1, k = 1, 1 shared, one token, FLOPs too cheap to matter, 1 byte per element.
    GEMM (m, 1) x (1, n) moves m + n + m n bytes. MoE: shared 3 x 3 = 9, router 1 + 2 E,
    one expert hit 3 x 3 = 9: 19 + 2 E. Dense, width 1 + E: 3 (1 + 2 (1 + E)) = 9 + 6 E.
    The MoE is faster iff 4 E > 10: E* = 3. The negative control without weight reads:
    MoE 6 + (1 + E) + 6 = 13 + E, dense 3 (1 + 1 + E) = 6 + 3 E, faster iff E > 3.5: E* = 4."""
    config = MoEConfig(d_model=1, d_expert=1, n_routed=1, n_shared=1, k=1)
    kwargs = dict(bytes_per_element=1.0, max_experts=64)
    assert expert_crossover(config, 1, 1e15, 1e3, **kwargs) == 3
    assert expert_crossover(config, 1, 1e15, 1e3, count_weights=False, **kwargs) == 4
    # swept only up to E = 2, where the MoE still loses (23 against 21): no crossover
    assert expert_crossover(config, 1, 1e15, 1e3, bytes_per_element=1.0, max_experts=2) is None


def test_v3_expert_crossover_small_batch_versus_negative_control():
    """T = 64 on an H100: all memory-bound, and nearly every expert hit ((1 - 8/38)^64 ~ 3e-7).
    Weights cancel between the layers; activations do not: the MoE moves each token to k experts.
    Elements, MoE minus dense: T d (3 k + 1) + d E + T E - 3 T F (E - k) < 0 iff
    E > (3 T F k + T d (3 k + 1)) / (3 T F - d - T) = 14,614,528 / 385,984 = 37.86: E* = 38.
    The FLOP-and-activation control cannot see any of this: every GEMM compute-bound, it puts
    the crossover at k + 1 = 9. There the full model has the MoE slower: it moves
    11,468,800 + 64,512 + 576 - 393,216 = 11,140,672 elements more than the dense layer's
    10 x 3 d F + 3 T (d + 10 F) = 445,710,336, 2.5% more."""
    limits = device_limits("H100 SXM")
    assert expert_crossover(DEEPSEEK_V3_MOE, 64, *limits) == 38
    assert expert_crossover(DEEPSEEK_V3_MOE, 64, *limits, count_weights=False) == 9
    at_nine = layer_seconds(MoEConfig(d_model=7168, d_expert=2048, n_routed=9, k=8), 64, *limits)
    assert at_nine["moe"] / at_nine["dense_total"] == pytest.approx(1.0250, rel=1e-4)


def test_moe_efficiency_scales_the_moe_alone_by_hand():
    """Eq. M6 on the memory-bound case above (MoE 150 ms, dense same total 162, same active
    102). At eta = 0.5 the MoE's kernels reach half of P and B: every GEMM's max doubles, so the
    MoE takes 300 ms and the dense layers keep 162 and 102; the verdict flips (300 > 162). At
    eta = 0.9: 150 / 0.9 = 166.7 > 162, flipped too; at eta = 0.95: 157.9 < 162, not."""
    base = dict(bytes_per_element=1.0)
    t = layer_seconds(SMALL, 1, 1e4, 1e3, moe_efficiency=0.5, **base)
    ms = (t["moe"] * 1e3, t["dense_total"] * 1e3, t["dense_active"] * 1e3)
    assert ms == pytest.approx((300, 162, 102))
    assert layer_seconds(SMALL, 1, 1e4, 1e3, moe_efficiency=0.9, **base)["moe"] * 1e3 == (
        pytest.approx(166.667, abs=1e-3)
    )
    assert layer_seconds(SMALL, 1, 1e4, 1e3, moe_efficiency=0.95, **base)["moe"] * 1e3 < 162
    # with the backward too (342 ms without the input gradient, above): 342 / 0.5 = 684
    t = layer_seconds(
        SMALL, 1, 1e4, 1e3, backward=True, input_grad=False, moe_efficiency=0.5, **base
    )
    assert (t["moe"] * 1e3, t["dense_total"] * 1e3) == pytest.approx((684, 378))


def test_expert_crossover_moves_with_moe_efficiency_by_hand():
    """The compute-bound case of test_expert_crossover_compute_bound_by_hand: per token the MoE
    does 96 + 8 E FLOPs (d = 4, F = 1, k = 3, 1 shared), the dense layer 24 + 24 E. At eta = 0.5
    the MoE's time doubles: 192 + 16 E < 24 + 24 E iff E > 21, so E* = 22 (at E = 21 both are
    528: not faster). At eta = 0.8: 120 + 10 E < 24 + 24 E iff E > 96 / 14 = 6.86: E* = 7."""
    config = MoEConfig(d_model=4, d_expert=1, n_routed=3, n_shared=1, k=3)
    kwargs = dict(bytes_per_element=1.0, max_experts=64)
    assert expert_crossover(config, 16, 1e3, 1e15, moe_efficiency=1.0, **kwargs) == 5
    assert expert_crossover(config, 16, 1e3, 1e15, moe_efficiency=0.8, **kwargs) == 7
    assert expert_crossover(config, 16, 1e3, 1e15, moe_efficiency=0.5, **kwargs) == 22
    # eta = 0.25: 384 + 32 E < 24 + 24 E never holds: no crossover up to 64
    assert expert_crossover(config, 16, 1e3, 1e15, moe_efficiency=0.25, **kwargs) is None


def test_registry_device_reads_the_names_torch_reports():
    assert registry_device("Tesla T4") == "T4"
    assert registry_device("NVIDIA H100 80GB HBM3") == "H100 SXM"
    assert registry_device("NVIDIA H200") == "H200 SXM"
    assert registry_device("NVIDIA H800") == "H800 SXM"
    # other parts than the SXM ones whose peaks the registry holds, and GPUs it lacks
    for name in ("NVIDIA H100 PCIe", "NVIDIA H200 NVL", "NVIDIA A100-SXM4-80GB", "NVIDIA L4"):
        assert registry_device(name) is None
    assert registry_device("NVIDIA GH100-T4X") is None  # a word containing T4 is not the T4


def test_memory_bound_batch_by_hand():
    # n* = 100 (test_ridge_tokens_by_hand); 4 experts, k = 2: T k / E_hit = 100 at T = 200,
    # where E_hit = 4 (1 - 2^-200) = 4
    wide = MoEConfig(d_model=200, d_expert=200, n_routed=4, n_shared=1, k=2)
    assert memory_bound_batch(wide, 1e5, 1e3, bytes_per_element=1.0) == pytest.approx(200.0)
    # ridge 1, d = F = 200, b = 1: n* = 40000 / (80000 - 400) < 1: one token is compute-bound
    assert memory_bound_batch(wide, 1e3, 1e3, bytes_per_element=1.0) == 1.0
    narrow = MoEConfig(d_model=4, d_expert=4, n_routed=4, k=2)
    assert memory_bound_batch(narrow, 4e3, 1e3) == math.inf


def test_layer_bound_switches_at_the_memory_bound_batch():
    for device in DEVICES:
        limits = device_limits(device)
        edge = memory_bound_batch(DEEPSEEK_V3_MOE, *limits)
        below = layer_seconds(DEEPSEEK_V3_MOE, math.floor(edge), *limits)
        above = layer_seconds(DEEPSEEK_V3_MOE, math.ceil(edge), *limits)
        assert (below["expert_bound"], above["expert_bound"]) == ("memory", "compute")


def test_device_limits_are_the_16_bit_peaks():
    # the T4 has no BF16: its FP16 tensor peak, 65 TFLOP/s, and 320 GB/s of GDDR6
    assert device_limits("T4") == (65e12, 320e9)
    assert device_limits("TPU v5e") == (197e12, 819e9)
    assert device_limits("H800 SXM") == device_limits("H100 SXM")  # the registry: same peaks


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: device_limits("A100"), ValueError, "device"),
        (lambda: experts_hit(0, 8, 2), ValueError, "tokens"),
        (lambda: experts_hit(4, 8, 9), ValueError, "k must be <= 8"),
        (lambda: experts_hit(4.0, 8, 2), TypeError, "tokens"),
        (lambda: ridge_tokens("V3", 1e12, 1e12), TypeError, "config"),
        (lambda: ridge_tokens(SMALL, -1.0, 1e12), ValueError, "peak_flops"),
        (lambda: ridge_tokens(SMALL, 1e12, math.nan), ValueError, "bandwidth"),
        (lambda: ridge_tokens(SMALL, 1e12, 1e12, 0.0), ValueError, "bytes_per_element"),
        # too small to be a device: overflows to inf seconds, or a unit slipped
        (lambda: ridge_tokens(SMALL, 1e-300, 1e12), ValueError, "peak_flops must be >= 1000"),
        (lambda: layer_seconds(SMALL, 8, 1e12, 10.0), ValueError, "bandwidth must be >= 1000"),
        (
            lambda: layer_seconds(SMALL, 8, 1e12, 1e12, bytes_per_element=1e-30),
            ValueError,
            "bytes_per_element must be >= 0.125",
        ),
        (lambda: layer_seconds(SMALL, 2**25, 1e12, 1e12), ValueError, "tokens"),
        (lambda: layer_seconds(SMALL, 8, 1e12, 1e12, backward="yes"), TypeError, "backward"),
        (lambda: layer_seconds(SMALL, 8, 1e12, 1e12, input_grad=0), TypeError, "input_grad"),
        (lambda: layer_seconds(SMALL, 8, 1e12, 1e12, count_weights=1), TypeError, "count_weights"),
        (lambda: layer_seconds(SMALL, 8, "1e12", 1e12), TypeError, "peak_flops"),
        (lambda: expert_crossover(SMALL, 8, 1e12, 1e12, max_experts=1), ValueError, "max_experts"),
        (lambda: memory_bound_batch(SMALL, 1e12, math.inf), ValueError, "bandwidth"),
        (lambda: layer_seconds(SMALL, 8, 1e12, 1e12, moe_efficiency=0.0), ValueError, "> 0"),
        (lambda: layer_seconds(SMALL, 8, 1e12, 1e12, moe_efficiency=1.2), ValueError, "<= 1.0"),
        (
            lambda: expert_crossover(SMALL, 8, 1e12, 1e12, moe_efficiency="0.5"),
            TypeError,
            "moe_efficiency",
        ),
        (lambda: registry_device(None), TypeError, "gpu_name"),
        (lambda: registry_device(" "), ValueError, "gpu_name"),
    ],
)
def test_refused_with_the_parameter_named(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_cpu_limits_are_plausible_and_checked():
    from labs.moe.training import cpu_limits

    flops, bandwidth = cpu_limits(repeats=1)
    assert 1e8 < flops < 1e13  # one core: between a slow laptop and far beyond any CPU core
    assert 1e8 < bandwidth < 1e12
    with pytest.raises(ValueError, match="repeats"):
        cpu_limits(repeats=0)
