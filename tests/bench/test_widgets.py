"""Chapter 8's roofline explorer: its numbers by hand, its bad input, and its sliders.

Every expected value below is worked out from the chapter's equations (R1-R4) with V3's widths
(128 heads, d_c = 512, d_h^R = 64) and the datasheet peaks (H100: 989.5 TFLOP/s BF16, 1979 FP8,
3.35 TB/s; H200: the same arithmetic, 4.8 TB/s; A100: 312 TFLOP/s BF16, 2.039 TB/s, no FP8).
"""

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest

import labs.bench.widgets as bench_widgets
from labs.bench.widgets import (
    DEVICES,
    decode_roofline,
    gemm_roofline,
    plot_roofline,
    roofline_explorer,
)

# V3's decode at batch 64 and 16K: F = 2BHS(2 d_c + d_h^R), Q = BS(d_c + d_h^R) 2 (BF16 cache)
# + BH(d_c + d_h^R) 2 (BF16 queries) + BH d_c 4 (FP32 output).
B, S, H = 64, 16384, 128
F_V3 = 2 * B * H * S * (2 * 512 + 64)  # 292,057,776,128
QUERIES_OUT = B * H * 576 * 2 + B * H * 512 * 4  # 26,214,400
Q_V3 = B * S * 576 * 2 + QUERIES_OUT  # 1,234,173,952


def close(a, b, rel=1e-12):
    return abs(a - b) <= rel * abs(b)


def test_v3_decode_by_hand_binds_memory_on_h100_and_compute_on_h200():
    h100 = decode_roofline("H100 SXM", B, S)
    h200 = decode_roofline("H200 SXM", B, S)
    assert F_V3 == 292_057_776_128 and Q_V3 == 1_234_173_952  # the arithmetic above, spelled out
    for point in (h100, h200):
        assert point["flops"] == F_V3 and point["bytes"] == Q_V3
        assert close(point["intensity"], F_V3 / Q_V3)  # 236.64 FLOPs per byte on both
    assert 236.6 < h100["intensity"] < 236.7
    # H100: ridge 989.5 / 3.35 = 295.37 > 236.64, so the bytes bind: Q / 3.35 TB/s = 368.41 us.
    assert close(h100["ridge"], 989.5e12 / 3.35e12)
    assert h100["bound"] == "memory" and close(h100["seconds"], Q_V3 / 3.35e12)
    assert close(h100["attainable_tflops"], F_V3 / (Q_V3 / 3.35e12) / 1e12)  # 792.75 < peak
    # H200: ridge 989.5 / 4.8 = 206.15 < 236.64, so the FLOPs bind: F / 989.5 TFLOP/s = 295.16 us.
    assert close(h200["ridge"], 989.5 / 4.8)
    assert h200["bound"] == "compute" and close(h200["seconds"], F_V3 / 989.5e12)
    assert close(h200["attainable_tflops"], 989.5)
    assert h100["peak_tflops"] == 989.5 and h200["memory_gbs"] == 4800.0


def test_batch_does_not_move_the_decode_point_but_a_short_context_does():
    # Every term of F and Q grows with B: the intensity is the same at any batch.
    assert close(decode_roofline("H100 SXM", 1, S)["intensity"], F_V3 / Q_V3)
    # At 64 cached tokens the queries and the output weigh: F = 2 * 128 * 64 * 1088 = 17,825,792,
    # Q = 64 * 1152 + 128 * (1152 + 2048) = 483,328: 36.9 FLOPs per byte, memory-bound even on
    # the A100 (ridge 312 / 2.039 = 153.0).
    short = decode_roofline("A100 SXM", 1, 64)
    assert short["flops"] == 17_825_792 and short["bytes"] == 483_328
    assert short["bound"] == "memory" and 36.8 < short["intensity"] < 37.0
    assert decode_roofline("A100 SXM", 1, S)["bound"] == "compute"  # 236.6 > 153.0


def test_two_query_tokens_double_the_flops_not_the_cache_bytes():
    two = decode_roofline("H100 SXM", B, S, query_tokens=2)
    assert two["flops"] == 2 * F_V3
    assert two["bytes"] == B * S * 576 * 2 + 2 * QUERIES_OUT  # the cache read once, queries twice
    # 584,115,552,256 / 1,260,388,352 = 463.4 > 295.37: the H100 turns compute-bound.
    assert two["bound"] == "compute" and 463.4 < two["intensity"] < 463.5


def test_fp8_cache_takes_656_bytes_a_token():
    fp8 = decode_roofline("H100 SXM", B, S, cache="fp8")
    per_token = 512 * 1 + 4 * 4 + 64 * 2  # E4M3 latent, four FP32 scales, BF16 RoPE part
    assert per_token == 656
    assert close(fp8["bytes"], B * S * per_token + QUERIES_OUT)  # 714,080,256
    assert fp8["flops"] == F_V3  # the arithmetic is BF16 either way
    assert fp8["bound"] == "compute" and 408.9 < fp8["intensity"] < 409.1
    assert fp8["peak_tflops"] == 989.5  # the BF16 peak, not the FP8 one


def test_gemm_by_hand_flips_between_h100_and_h200():
    m, n, k = 256, 4096, 4096
    flops = 2 * m * n * k  # 8,589,934,592
    nbytes = (m * k + k * n) * 2 + m * n * 2  # BF16 in and out: 37,748,736
    h100, h200 = gemm_roofline("H100 SXM", m, n, k), gemm_roofline("H200 SXM", m, n, k)
    for point in (h100, h200):
        assert point["flops"] == flops and point["bytes"] == nbytes
        assert 227.5 < point["intensity"] < 227.6  # 227.56, between the two ridges
    assert h100["bound"] == "memory" and close(h100["seconds"], nbytes / 3.35e12)
    assert h200["bound"] == "compute" and close(h200["seconds"], flops / 989.5e12)
    # a small M (16 tokens through the same weight) is memory-bound everywhere: 15.9 FLOPs/byte
    assert all(gemm_roofline(d, 16, n, k)["bound"] == "memory" for d in DEVICES)


def test_fp8_gemm_counts_v3_block_scales_against_the_fp8_peak():
    m, n, k = 16, 256, 256
    scales = 4 * (m * 2 + 2 * 2)  # FP32: 16 rows x 2 K-tiles of the activation, 2 x 2 blocks
    nbytes = (m * k + k * n) * 1 + m * n * 2 + scales  # 77,968
    point = gemm_roofline("H100 SXM", m, n, k, precision="fp8")
    assert point["bytes"] == nbytes == 77_968 and point["flops"] == 2 * m * n * k
    assert point["peak_tflops"] == 1979.0 and close(point["ridge"], 1979 / 3.35)
    assert point["bound"] == "memory"  # 26.9 FLOPs per byte


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: decode_roofline("B200", 1, 64), ValueError, "device"),
        (lambda: decode_roofline("T4", 1, 64), ValueError, "device"),  # no BF16 peak
        (lambda: decode_roofline(None, 1, 64), ValueError, "device"),
        (lambda: decode_roofline("H100 SXM", 0, 64), ValueError, "batch"),
        (lambda: decode_roofline("H100 SXM", 1.5, 64), TypeError, "batch"),
        (lambda: decode_roofline("H100 SXM", 1, 2**25), ValueError, "context"),
        (lambda: decode_roofline("H100 SXM", 1, 64, query_tokens=0), ValueError, "query_tokens"),
        (lambda: decode_roofline("H100 SXM", 1, 64, query_tokens=65), ValueError, "query_tokens"),
        (lambda: decode_roofline("H100 SXM", 1, 64, query_tokens=2.0), TypeError, "query_tokens"),
        (lambda: decode_roofline("H100 SXM", 1, 64, cache="fp4"), ValueError, "cache"),
        (lambda: gemm_roofline("H100 SXM", 0, 128, 128), ValueError, "^m must"),
        (lambda: gemm_roofline("H100 SXM", 16, 128, "128"), TypeError, "^k must"),
        (lambda: gemm_roofline("H100 SXM", 16, 128, 128, "fp16"), ValueError, "precision"),
        (lambda: gemm_roofline("A100 SXM", 16, 128, 128, "fp8"), ValueError, "precision"),
        # an FP8 GEMM's K holds one block of V3's scales (128) at least
        (lambda: gemm_roofline("H100 SXM", 16, 128, 64, "fp8"), ValueError, "^k must"),
    ],
)
def test_bad_input_names_the_parameter(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_plot_draws_the_roof_and_the_point():
    point = decode_roofline("H100 SXM", B, S)
    ax = plot_roofline(point)
    roof, _, dot = ax.get_lines()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert dot.get_xdata()[0] == point["intensity"]
    assert dot.get_ydata()[0] == point["attainable_tflops"]
    x, y = roof.get_xdata(), roof.get_ydata()
    slope, flat = x < 295.37, x > 295.38  # either side of the H100's ridge
    assert np.allclose(y[slope], x[slope] * 3.35, rtol=1e-12)  # TFLOP/s = I x 3.35 TB/s
    assert np.allclose(y[flat], 989.5, rtol=1e-12) and slope.any() and flat.any()
    plt.close("all")


def test_plot_refuses_what_is_not_a_point():
    point = decode_roofline("H100 SXM", 1, 64)
    with pytest.raises(TypeError, match="point"):
        plot_roofline("H100")
    with pytest.raises(ValueError, match="point"):
        plot_roofline({})
    with pytest.raises(ValueError, match="point"):
        plot_roofline({**point, "intensity": float("nan")})
    with pytest.raises(TypeError, match="ax"):
        plot_roofline(point, ax="axes")


def test_explorer_refuses_starting_values_its_sliders_would_clip():
    with pytest.raises(ValueError, match="context"):
        roofline_explorer(context=1000)  # not a power of two on the slider
    with pytest.raises(ValueError, match="batch"):
        roofline_explorer(batch=512)
    with pytest.raises(ValueError, match="query_tokens"):
        roofline_explorer(query_tokens=5)
    with pytest.raises(ValueError, match="kernel"):
        roofline_explorer(kernel="softmax")
    with pytest.raises(ValueError, match="^m must"):
        roofline_explorer(m=8)


def test_explorer_redraws_when_a_control_moves(monkeypatch):
    drawn = []
    monkeypatch.setattr(bench_widgets, "plot_roofline", lambda point: drawn.append(point))
    widget = roofline_explorer()
    assert isinstance(widget, ipywidgets.interactive)
    controls = {c.description: c for c in widget.children if hasattr(c, "description")}
    assert drawn[-1]["device"] == "H100 SXM" and drawn[-1]["bound"] == "memory"
    controls["device"].value = "H200 SXM"
    assert drawn[-1]["device"] == "H200 SXM" and drawn[-1]["bound"] == "compute"
    controls["device"].value = "H100 SXM"
    controls["query tokens"].value = 2
    assert drawn[-1]["flops"] == 2 * F_V3 and drawn[-1]["bound"] == "compute"
    # The GEMM's controls are greyed out until the kernel is a GEMM, and then the decode's are.
    assert controls["GEMM M (tokens)"].disabled and not controls["batch"].disabled
    controls["kernel"].value = "gemm"
    assert not controls["GEMM M (tokens)"].disabled and controls["batch"].disabled
    assert drawn[-1]["flops"] == 2 * 4096**3  # the default square GEMM
    controls["GEMM M (tokens)"].value = 16
    assert drawn[-1]["flops"] == 2 * 16 * 4096 * 4096 and drawn[-1]["bound"] == "memory"


def test_explorer_snapshot_prints_the_bound_on_every_device():
    widget = roofline_explorer()
    text = widget._repr_mimebundle_()["text/plain"]  # what the static page shows
    assert "memory-bound: at least 368.41 us" in text  # Q / 3.35 TB/s, above
    assert "H100 SXM memory, H800 SXM memory, H200 SXM compute, A100 SXM compute, L4 memory" in text
    controls = {c.description: c for c in widget.children if hasattr(c, "description")}
    controls["kernel"].value = "gemm"
    controls["GEMM precision"].value = "fp8"
    controls["device"].value = "A100 SXM"  # no FP8 units: a sentence, not a traceback
    bundle = widget._repr_mimebundle_()
    assert "the A100 SXM has none" in bundle["text/plain"] and "image/png" not in bundle
    plt.close("all")
