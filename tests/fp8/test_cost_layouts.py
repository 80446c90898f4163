"""labs.fp8.cost's layout options (weight stored in FP8, quantisation pass overlapped with the
GEMM), worked by hand; chapter 2's default layout must keep its numbers."""

import math

import numpy as np
import pytest

from labs.fp8.cost import crossover_size, linear_layer_times

# Round peaks: 100 / 200 TFLOP/s and 1000 GB/s (1e12 bytes per second).
SMALL = {"bf16_tflops": 100, "fp8_tflops": 200, "memory_gbs": 1000}
LAYOUTS = [(w, o) for w in (False, True) for o in (False, True)]


def times(m, k, n, weight_in_fp8, overlap_pass, **peaks):
    return linear_layer_times(
        m, k, n, **(peaks or SMALL), weight_in_fp8=weight_in_fp8, overlap_pass=overlap_pass
    )


@pytest.mark.parametrize(
    ("weight_in_fp8", "overlap_pass", "fp8_s", "pass_s"),
    [
        # M = 2, K = N = 1000: 4e6 FLOPs (4e-8 s in BF16, 2e-8 s in FP8: memory-bound all along).
        # BF16: 2 (2,000 + 1e6 + 2,000) = 2.008e6 bytes = 2.008e-6 s.
        # FP8 GEMM: 2,000 + 1e6 + 2 x 2,000 = 1.006e6 bytes. The pass: 3 (2,000 + 1e6) bytes,
        # or 3 x 2,000 with the weight in FP8. Memory-bound, overlap changes nothing.
        (False, False, 3.006e-6 + 1.006e-6, 3.006e-6),
        (False, True, 3.006e-6 + 1.006e-6, 3.006e-6),
        (True, False, 6e-9 + 1.006e-6, 6e-9),
        (True, True, 6e-9 + 1.006e-6, 6e-9),
    ],
)
def test_a_decode_gemm_by_hand(weight_in_fp8, overlap_pass, fp8_s, pass_s):
    t = times(2, 1000, 1000, weight_in_fp8, overlap_pass)
    assert t["bf16"] == pytest.approx(2.008e-6, rel=1e-12)
    assert t["fp8"] == pytest.approx(fp8_s, rel=1e-12)
    assert t["quantize"] == pytest.approx(pass_s, rel=1e-12)


def test_overlap_hides_the_pass_behind_a_compute_bound_gemm():
    # M = K = N = 1000 on 1 / 2 TFLOP/s and 1000 GB/s: FP8 GEMM max(1e-3, 4e-6) = 1e-3 s.
    peaks = {"bf16_tflops": 1, "fp8_tflops": 2, "memory_gbs": 1000}
    # pass first: 6e6 bytes = 6e-6 s before it; beside: max(1e-3, (6e6 + 4e6) / 1e12) = 1e-3 s
    assert times(1000, 1000, 1000, False, False, **peaks)["fp8"] == pytest.approx(1.006e-3)
    assert times(1000, 1000, 1000, False, True, **peaks)["fp8"] == pytest.approx(1e-3)
    # with the weight in FP8 the pass is 3e6 bytes: 3e-6 s first, hidden beside
    assert times(1000, 1000, 1000, True, False, **peaks)["fp8"] == pytest.approx(1.003e-3)
    assert times(1000, 1000, 1000, True, True, **peaks)["fp8"] == pytest.approx(1e-3)


@pytest.mark.parametrize(
    ("weight_in_fp8", "overlap_pass", "closed"),
    [
        # P = 1000, P8 = 2000 TFLOP/s, B = 3000 GB/s, r = P / B = 333.3 FLOPs per byte.
        (False, False, 6 * 1000 / 3),  # 2n/P = 6/B + 2n/P8, FP8 GEMM compute-bound: 6 r = 2000
        (False, True, 5 * 1000 / 3),  # 2n/P = 10/B, FP8 GEMM memory-bound (n < 10 r): 5 r
        (True, False, 3.5 * 1000 / 3),  # 2n/P = 3/B + 4/B, FP8 GEMM memory-bound (n < 4 r)
        (True, True, 3.5 * 1000 / 3),  # the same: nothing to hide behind
    ],
)
def test_crossover_closed_forms(weight_in_fp8, overlap_pass, closed):
    got = crossover_size(
        bf16_tflops=1000,
        fp8_tflops=2000,
        memory_gbs=3000,
        weight_in_fp8=weight_in_fp8,
        overlap_pass=overlap_pass,
    )
    assert got == pytest.approx(closed, rel=1e-9)


def test_overlap_moves_the_crossover_when_the_fp8_gemm_is_compute_bound():
    # P8 only 1.25 x P: with the weight in FP8 and the pass first, both GEMMs compute-bound at
    # the crossover: 2n (1/P - 1/P8) = 3/B -> n = 1.5 / (3e12 x 2e-16) = 2500. Beside the GEMM:
    # 2n/P = 7/B with the FP8 GEMM memory-bound (n < 3.5 P8 / B = 1458): n = 3.5 P / B = 1166.7.
    peaks = {"bf16_tflops": 1000, "fp8_tflops": 1250, "memory_gbs": 3000}
    first = crossover_size(**peaks, weight_in_fp8=True)
    beside = crossover_size(**peaks, weight_in_fp8=True, overlap_pass=True)
    assert first == pytest.approx(2500, rel=1e-9)
    assert beside == pytest.approx(3500 / 3, rel=1e-9)


def test_chapter_2_defaults_keep_their_numbers():
    h100 = {"bf16_tflops": 989.5, "fp8_tflops": 1979.0, "memory_gbs": 3350.0}
    # 6 x 989.5 / 3.35 = 1772.24, as chapter 2 states it
    assert crossover_size(**h100) == pytest.approx(6 * 989.5 / 3.35, rel=1e-9)
    assert crossover_size(**h100) == crossover_size(**h100, weight_in_fp8=False, overlap_pass=False)


@pytest.mark.parametrize(("weight_in_fp8", "overlap_pass"), LAYOUTS)
def test_one_crossing_on_registry_like_devices(weight_in_fp8, overlap_pass):
    """The bisection assumes FP8 pays from one n on: check on a grid of square sizes."""
    for peaks in (
        {"bf16_tflops": 989.5, "fp8_tflops": 1979.0, "memory_gbs": 3350.0},  # H100
        {"bf16_tflops": 989.5, "fp8_tflops": 1979.0, "memory_gbs": 4800.0},  # H200
        {"bf16_tflops": 362.0, "fp8_tflops": 733.0, "memory_gbs": 864.0},  # less bandwidth per FLOP
    ):
        pays = [
            (lambda t: t["fp8"] < t["bf16"])(times(n, n, n, weight_in_fp8, overlap_pass, **peaks))
            for n in np.unique(np.geomspace(1, 2**20, 400).astype(int))
        ]
        first = pays.index(True)
        assert all(pays[first:]) and not any(pays[:first])


@pytest.mark.parametrize(("weight_in_fp8", "overlap_pass"), LAYOUTS)
def test_no_fp8_units_never_pays_in_any_layout(weight_in_fp8, overlap_pass):
    a100 = {"bf16_tflops": 312, "fp8_tflops": None, "memory_gbs": 2039}
    for m, k, n in ((1, 7168, 7168), (4096, 7168, 2048), (8192, 8192, 8192)):
        t = times(m, k, n, weight_in_fp8, overlap_pass, **a100)
        # the 16-bit GEMM after the pass: slower; beside a compute-bound GEMM, the pass hides and
        # the two tie, which is still no gain
        assert t["fp8"] > t["bf16"] if not overlap_pass else t["fp8"] >= t["bf16"]
    assert math.isinf(
        crossover_size(**a100, weight_in_fp8=weight_in_fp8, overlap_pass=overlap_pass)
    )


def test_a_stored_fp8_weight_pays_at_decode():
    # V3's expert GEMM at decode on an H100: 8.94 us in BF16, 4.70 us in FP8 with the weight
    # stored (chapter 8, exercise 8.3), 17.84 us with it converted on every call.
    h100 = {"bf16_tflops": 989.5, "fp8_tflops": 1979.0, "memory_gbs": 3350.0}
    assert times(32, 7168, 2048, True, False, **h100)["fp8"] == pytest.approx(4.695e-6, rel=1e-3)
    assert times(32, 7168, 2048, False, False, **h100)["fp8"] == pytest.approx(17.84e-6, rel=1e-3)
    assert times(32, 7168, 2048, True, False, **h100)["bf16"] == pytest.approx(8.940e-6, rel=1e-3)


def test_layout_options_reject_bad_input():
    with pytest.raises(TypeError, match="weight_in_fp8 must be True or False"):
        linear_layer_times(4, 4, 4, **SMALL, weight_in_fp8="yes")
    with pytest.raises(TypeError, match="overlap_pass must be True or False"):
        crossover_size(**SMALL, overlap_pass=1)
