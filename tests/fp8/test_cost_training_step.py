"""labs.fp8.cost.training_step_times, eq. (8): one linear layer's Fprop, Dgrad and Wgrad with
V3's per-token quantisation passes, worked by hand."""

import pytest

from labs.fp8.cost import linear_layer_times, training_step_times

# Round peaks: 100 / 200 TFLOP/s and 1000 GB/s (1e12 bytes per second).
SMALL = {"bf16_tflops": 100, "fp8_tflops": 200, "memory_gbs": 1000}


@pytest.mark.parametrize(
    ("weight_in_fp8", "fp8_s", "pass_s"),
    [
        # M = 2, K = N = 1000: M K = M N = 2,000, K N = 1e6; 4e6 FLOPs per GEMM (4e-8 s in BF16,
        # 2e-8 s in FP8), so all three GEMMs are memory-bound in both recipes.
        # FP8 GEMMs: Fprop 2,000 + 1e6 + 4,000 = 1.006e6 bytes, Dgrad the same,
        # Wgrad 2,000 + 2,000 + 4e6 = 4.004e6: 6.016e6 bytes, 6.016e-6 s.
        # Passes: 5 x 2,000 + 6 x 2,000 = 22,000 bytes, plus 3e6 for the weight unless stored.
        (False, 3.022e-6 + 6.016e-6, 3.022e-6),
        (True, 2.2e-8 + 6.016e-6, 2.2e-8),
    ],
)
def test_a_memory_bound_step_by_hand(weight_in_fp8, fp8_s, pass_s):
    t = training_step_times(2, 1000, 1000, **SMALL, weight_in_fp8=weight_in_fp8)
    # BF16: Fprop 2 (2,000 + 1e6 + 2,000) = 2.008e6 bytes, Dgrad the same, Wgrad
    # 2 (2,000 + 2,000) + 4e6 (dW in FP32) = 4.008e6: 8.024e6 bytes, 8.024e-6 s
    assert t["bf16"] == pytest.approx(8.024e-6, rel=1e-12)
    assert t["fp8"] == pytest.approx(fp8_s, rel=1e-12)
    assert t["quantize"] == pytest.approx(pass_s, rel=1e-12)


def test_a_compute_bound_step_by_hand():
    # M = K = N = 1000 on 1 / 2 TFLOP/s and 1000 GB/s: 2e9 FLOPs per GEMM, 2e-3 s in BF16 and
    # 1e-3 s in FP8; the largest GEMM's bytes, BF16 Wgrad's 8e6, take 8e-6 s: compute-bound.
    peaks = {"bf16_tflops": 1, "fp8_tflops": 2, "memory_gbs": 1000}
    stored = training_step_times(1000, 1000, 1000, **peaks, weight_in_fp8=True)
    anew = training_step_times(1000, 1000, 1000, **peaks)
    assert stored["bf16"] == anew["bf16"] == pytest.approx(6e-3, rel=1e-12)
    # passes 5e6 + 6e6 = 1.1e7 bytes (1.1e-5 s), plus 3e6 (3e-6 s) for the weight
    assert stored["fp8"] == pytest.approx(3e-3 + 1.1e-5, rel=1e-12)
    assert anew["fp8"] == pytest.approx(3e-3 + 1.4e-5, rel=1e-12)


def test_one_token_is_the_weights_bytes():
    # M = 1, K = N = 1000, weight stored: BF16 moves 2,004,000 + 2,004,000 + 4,004,000 bytes
    # (the weight read twice, its FP32 gradient written once: about 8 K N); FP8 1,003,000 +
    # 1,003,000 + 4,002,000 + 11,000 of passes (about 6 K N): at most 8/6 faster, not 2x
    t = training_step_times(1, 1000, 1000, **SMALL, weight_in_fp8=True)
    assert t["bf16"] / t["fp8"] == pytest.approx(8.012e6 / 6.019e6, rel=1e-12)
    fprop = linear_layer_times(1, 1000, 1000, **SMALL, weight_in_fp8=True)
    assert fprop["bf16"] / fprop["fp8"] > 1.9  # the forward GEMM alone: nearly 2x


def test_no_fp8_units_pay_the_passes_on_top_of_the_bf16_gemms():
    # M = 2, K = N = 1000 as above: 3.022e-6 s of passes plus the 8.024e-6 s BF16 step
    t = training_step_times(2, 1000, 1000, bf16_tflops=100, fp8_tflops=None, memory_gbs=1000)
    assert t["fp8"] == pytest.approx(3.022e-6 + 8.024e-6, rel=1e-12)
    assert t["fp8"] > t["bf16"]


def test_training_step_rejects_bad_input():
    with pytest.raises(ValueError, match="m must be"):
        training_step_times(0, 4, 4, **SMALL)
    with pytest.raises(ValueError, match="k must be"):
        training_step_times(4, 2**25, 4, **SMALL)
    with pytest.raises(TypeError, match="weight_in_fp8 must be True or False"):
        training_step_times(4, 4, 4, **SMALL, weight_in_fp8=1)
    with pytest.raises(ValueError, match="memory_gbs"):
        training_step_times(4, 4, 4, bf16_tflops=1, fp8_tflops=2, memory_gbs=0)
    with pytest.raises((TypeError, ValueError), match="fp8_tflops"):
        training_step_times(4, 4, 4, bf16_tflops=1, fp8_tflops="2", memory_gbs=1)
