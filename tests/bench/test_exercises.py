"""Chapter 8's exercise checks: a correct answer passes, typical wrong ones fail with a hint that
says why, the stub is "not attempted"."""

from __future__ import annotations

import numpy as np
import pytest

from labs.bench import device_peaks, mla_decode_work, roofline
from labs.bench.exercises import (
    A100,
    CACHE_BOUND,
    CHOOSE_PRECISION,
    COMBINE_SPLITS,
    H100,
    H200,
    check_cache_bound,
    check_choose_precision,
    check_combine_splits,
)
from labs.fp8.cost import linear_layer_times


def stub(*args):
    raise NotImplementedError


# --- 8.2 combine_splits ------------------------------------------------------------------------


def combine(acc, m, l):  # noqa: E741
    top = np.max(m, axis=0)
    w = np.exp(m - top)
    return np.einsum("kh,khc->hc", w, acc) / np.einsum("kh,kh->h", w, l)[:, None]


def average_of_normalised(acc, m, l):  # noqa: E741 - each chunk normalised, then averaged
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nanmean(acc / l[..., None], axis=0)


def no_shift(acc, m, l):  # noqa: E741 - exp(m) on its own: overflows near 1000
    with np.errstate(over="ignore", invalid="ignore"):
        w = np.exp(m)
        return (w[..., None] * acc).sum(0) / (w * l).sum(0)[:, None]


def pairwise(acc, m, l):  # noqa: E741 - chunk by chunk: -inf - (-inf) when two empty ones meet
    out_m, out_l, out_acc = m[0], l[0], acc[0]
    with np.errstate(invalid="ignore"):
        for k in range(1, len(m)):
            new = np.maximum(out_m, m[k])
            a, b = np.exp(out_m - new), np.exp(m[k] - new)
            out_l = a * out_l + b * l[k]
            out_acc = a[:, None] * out_acc + b[:, None] * acc[k]
            out_m = new
        return out_acc / out_l[:, None]


def test_combine_splits_accepts_a_correct_merge():
    assert check_combine_splits(combine).passed


def test_combine_splits_explains_the_usual_mistakes():
    report = check_combine_splits(average_of_normalised)
    assert report.status == "failed" and report.passed_cases == 0
    assert "normalising each chunk" in str(report)
    report = check_combine_splits(no_shift)
    assert report.status == "failed" and "exp(1000) is inf" in str(report)
    assert report.passed_cases == 2  # right until the scores near 1000
    report = check_combine_splits(pairwise)
    assert report.status == "failed" and "NaN" in str(report)
    assert report.passed_cases == 4  # the single empty chunk passes; two in a row do not
    assert check_combine_splits(stub).status == "not attempted"


def test_combine_splits_cases_are_the_softmax_of_the_whole_context():
    """The partials of a case re-merged by hand with a common shift give the expected value,
    and the cases really are split (several chunks, some empty, scores near 1000)."""
    cases = COMBINE_SPLITS.fresh_cases()
    for case in cases:
        acc, m, l = case.args  # noqa: E741
        np.testing.assert_allclose(combine(acc, m, l), case.expected, rtol=1e-12)
    assert any(np.isinf(c.args[1]).sum() >= 2 for c in cases)
    assert any(np.nanmax(c.args[1][np.isfinite(c.args[1])]) > 900 for c in cases)


# --- 8.3 choose_precision -----------------------------------------------------------------------


def choose(m, k, n, peaks, weight_in_fp8):
    t = linear_layer_times(
        m,
        k,
        n,
        bf16_tflops=peaks.bf16_tflops,
        fp8_tflops=peaks.fp8_tflops,
        memory_gbs=peaks.memory_gbs,
        weight_in_fp8=weight_in_fp8,
    )
    return "fp8" if t["fp8"] < t["bf16"] else "bf16"


def always_fp8(m, k, n, peaks, weight_in_fp8):
    return "fp8"


def fp8_when_compute_bound(m, k, n, peaks, weight_in_fp8):  # the FLOPs only
    ridge = peaks.bf16_tflops * 1e12 / (peaks.memory_gbs * 1e9)
    intensity = 2 * m * n * k / (2 * (m * k + k * n + m * n))
    return "fp8" if peaks.fp8_tflops and intensity > ridge else "bf16"


def ignores_the_layout(m, k, n, peaks, weight_in_fp8):
    return choose(m, k, n, peaks, True)


def square_rule_of_the_h100(m, k, n, peaks, weight_in_fp8):  # one crossover for every device
    return "fp8" if peaks.fp8_tflops and min(m, k, n) >= 1034 else "bf16"


def no_none_check(m, k, n, peaks, weight_in_fp8):  # eqs. (6), (7) by hand, fp8_tflops assumed
    bandwidth, flops = peaks.memory_gbs * 1e9, 2 * m * n * k
    bf16 = max(flops / (peaks.bf16_tflops * 1e12), 2 * (m * k + k * n + m * n) / bandwidth)
    converted = m * k if weight_in_fp8 else m * k + k * n
    gemm = max(flops / (peaks.fp8_tflops * 1e12), (m * k + k * n + 2 * m * n) / bandwidth)
    return "fp8" if 3 * converted / bandwidth + gemm < bf16 else "bf16"


def pass_beside_the_gemm(m, k, n, peaks, weight_in_fp8):  # overlap_pass=True: not the spec
    t = linear_layer_times(
        m,
        k,
        n,
        bf16_tflops=peaks.bf16_tflops,
        fp8_tflops=peaks.fp8_tflops,
        memory_gbs=peaks.memory_gbs,
        weight_in_fp8=weight_in_fp8,
        overlap_pass=True,
    )
    return "fp8" if t["fp8"] < t["bf16"] else "bf16"


def fp8_on_a_tie(m, k, n, peaks, weight_in_fp8):  # <= where the spec says strictly faster
    t = linear_layer_times(
        m,
        k,
        n,
        bf16_tflops=peaks.bf16_tflops,
        fp8_tflops=peaks.fp8_tflops,
        memory_gbs=peaks.memory_gbs,
        weight_in_fp8=weight_in_fp8,
    )
    return "fp8" if t["fp8"] <= t["bf16"] else "bf16"


def test_choose_precision_catches_the_pass_beside_the_gemm_and_a_tie():
    report = check_choose_precision(pass_beside_the_gemm)
    assert report.status == "failed" and report.passed_cases == 7  # right until n = 1600
    assert "Leave overlap_pass at False" in str(report)
    report = check_choose_precision(fp8_on_a_tie)
    assert report.status == "failed" and report.passed_cases == 8  # right until the tie
    assert "Compare with <, not <=" in str(report)


def test_choose_precision_accepts_the_model():
    assert check_choose_precision(choose).passed


def test_choose_precision_tells_wrong_choices():
    report = check_choose_precision(always_fp8)
    assert report.status == "failed" and "weight_in_fp8" in str(report)
    report = check_choose_precision(fp8_when_compute_bound)
    assert report.status == "failed" and "memory-bound" in str(report)
    assert report.passed_cases == 0  # the decode GEMM, the first case
    report = check_choose_precision(ignores_the_layout)
    assert report.status == "failed" and "weight_in_fp8" in str(report)
    report = check_choose_precision(square_rule_of_the_h100)
    assert report.status == "failed" and report.passed_cases == 0
    report = check_choose_precision(no_none_check)
    assert report.status == "failed" and "TypeError" in str(report)
    assert report.passed_cases == 6 and "fp8_tflops is None" in str(report)  # right on the GPUs
    assert check_choose_precision(stub).status == "not attempted"


def test_choose_precision_cases_use_the_registry_peaks():
    """The peaks written out in the exercise are the registry's: the hand arithmetic of the
    cases holds for the devices the chapter names."""
    for written, name in ((H100, "NVIDIA H100"), (H200, "NVIDIA H200"), (A100, "NVIDIA A100")):
        registry = device_peaks(name)
        assert (written.bf16_tflops, written.fp8_tflops, written.memory_gbs) == (
            registry.bf16_tflops,
            registry.fp8_tflops,
            registry.memory_gbs,
        )
    answers = [c.expected for c in CHOOSE_PRECISION.fresh_cases()]
    assert answers.count("fp8") >= 3 and answers.count("bf16") >= 3  # no constant answer passes


# --- 8.4 cache_bound ----------------------------------------------------------------------------


def cache_bound(batch, context, heads, latent, rope, bytes_per_token, peaks):
    work = mla_decode_work(
        batch, context, heads, latent, rope, cache_bytes=bytes_per_token / (latent + rope)
    )
    return roofline(*work, peaks.bf16_tflops, peaks.memory_gbs).bound


def bytes_per_element(batch, context, heads, latent, rope, bytes_per_token, peaks):
    work = mla_decode_work(batch, context, heads, latent, rope, cache_bytes=bytes_per_token)
    return roofline(*work, peaks.bf16_tflops, peaks.memory_gbs).bound


def long_context_only(batch, context, heads, latent, rope, bytes_per_token, peaks):
    intensity = 2 * heads * (2 * latent + rope) / bytes_per_token  # the cache's bytes alone
    return "compute" if intensity > peaks.bf16_tflops / peaks.memory_gbs * 1e3 else "memory"


def ridge_of_the_h100(batch, context, heads, latent, rope, bytes_per_token, peaks):
    work = mla_decode_work(
        batch, context, heads, latent, rope, cache_bytes=bytes_per_token / (latent + rope)
    )
    return roofline(*work, 989.5, 3350.0).bound


def bf16_output(batch, context, heads, latent, rope, bytes_per_token, peaks):
    work = mla_decode_work(
        batch, context, heads, latent, rope, bytes_per_token / (latent + rope), 2, 2
    )
    return roofline(*work, peaks.bf16_tflops, peaks.memory_gbs).bound


def fp8_peak(batch, context, heads, latent, rope, bytes_per_token, peaks):
    work = mla_decode_work(
        batch, context, heads, latent, rope, cache_bytes=bytes_per_token / (latent + rope)
    )
    return roofline(*work, peaks.fp8_tflops, peaks.memory_gbs).bound


def test_cache_bound_catches_a_bf16_output_and_the_fp8_peak():
    report = check_cache_bound(bf16_output)
    assert report.status == "failed" and report.passed_cases == 5  # right until 1024 tokens
    assert "the output is FP32" in str(report)
    report = check_cache_bound(fp8_peak)
    assert report.status == "failed" and report.passed_cases == 0
    assert "take peaks.bf16_tflops" in str(report)


def default_bf16_cache(batch, context, heads, latent, rope, bytes_per_token, peaks):
    work = mla_decode_work(batch, context, heads, latent, rope)  # ignores bytes_per_token
    return roofline(*work, peaks.bf16_tflops, peaks.memory_gbs).bound


def test_cache_bound_tells_the_bf16_cache_slip():
    """Ignoring bytes_per_token (mla_decode_work's default BF16 cache) also answers 'memory' on
    the FP8-cache case: the message names that slip, not only the FP8 peak."""
    work = mla_decode_work(64, 16384, 128, 512, 64)
    assert abs(work[0] / work[1] - 236.6) < 0.1  # 1152 bytes per token, the message's 237
    report = check_cache_bound(default_bf16_cache)
    assert report.status == "failed" and report.passed_cases == 0
    assert "2 bytes per element (1152 bytes per token, 237 FLOPs per byte)" in str(report)


def test_cache_bound_accepts_the_roofline():
    assert check_cache_bound(cache_bound).passed


def test_cache_bound_tells_wrong_answers():
    report = check_cache_bound(bytes_per_element)
    assert report.status == "failed" and "bytes per element" in str(report)
    report = check_cache_bound(long_context_only)
    assert report.status == "failed" and report.passed_cases == 4
    assert "queries" in str(report)
    report = check_cache_bound(ridge_of_the_h100)
    assert report.status == "failed" and "206" in str(report)
    assert check_cache_bound(stub).status == "not attempted"


def test_cache_bound_cases_match_the_roofline_and_vary():
    answers = [c.expected for c in CACHE_BOUND.fresh_cases()]
    assert answers == [cache_bound(*c.args) for c in CACHE_BOUND.fresh_cases()]
    assert answers.count("memory") >= 2 and answers.count("compute") >= 2


def test_exercise_8_3_the_models_decode_gemm_on_the_h100_by_hand():
    """The speed-ups chapter 8 prints after exercise 8.3, checked here (in the cell they would
    give the decision away). V3's expert GEMM at decode, 32 x 7168 x 2048, memory-bound on an
    H100 (3.35 TB/s): BF16 moves 2 (mk + kn + mn) = 29,949,952 bytes, 8.940 us; FP8 with the
    weight stored reads the BF16 activation and writes its FP8 copy (3 mk bytes, 0.205 us), then
    the GEMM moves mk + kn + 2 mn = 15,040,512 bytes (4.490 us): 4.695 us; with the weight
    converted on every call the pass moves 3 (mk + kn) bytes more: 17.841 us."""
    layout = {"overlap_pass": False}
    peaks = {"bf16_tflops": H100.bf16_tflops, "fp8_tflops": H100.fp8_tflops}
    stored = linear_layer_times(32, 7168, 2048, **peaks, memory_gbs=H100.memory_gbs,
                                weight_in_fp8=True, **layout)  # fmt: skip
    converted = linear_layer_times(32, 7168, 2048, **peaks, memory_gbs=H100.memory_gbs,
                                   weight_in_fp8=False, **layout)  # fmt: skip
    assert stored["bf16"] == pytest.approx(8.940e-6, abs=1e-9)
    assert stored["fp8"] == pytest.approx(4.695e-6, abs=1e-9)
    assert converted["fp8"] == pytest.approx(17.841e-6, abs=1e-9)
    assert choose(32, 7168, 2048, H100, True) == "fp8"
    assert choose(32, 7168, 2048, H100, False) == "bf16"
