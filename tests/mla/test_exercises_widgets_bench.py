"""The exercise checks (correct, typical wrong, stub), the calculator widget and the benchmark."""

import ipywidgets
import numpy as np
import pytest
import torch

from labs.mla import DEEPSEEK_V2, PRESETS, kv_cache_bytes
from labs.mla.benchmark import (
    absorbed_roof_rounds,
    batched_product_flops,
    bench_configs,
    decode_benchmark,
)
from labs.mla.exercises import check_absorbed_scores, check_cache_bytes_per_token, check_repeat_kv
from labs.mla.widgets import cache_calculator, plot_cache
from tests.conftest import requires_gpu

# --- 3.1 ---


def _cache_bytes(
    *,
    bf16=2,
    per_vector=lambda n, t: n + 4 * -(-n // t),
    kv=lambda L, h, v: L * 2 * h * v,
    mla=lambda L, latent, rope_bytes: L * (latent + rope_bytes),
    rope_bytes=lambda r, t: 2 * r,
):
    """cache_bytes_per_token, right by default; each keyword plants one slip."""

    def cache_bytes_per_token(
        kind, n_layers, n_kv_heads, head_dim, kv_lora_rank=0, rope_head_dim=0, fp8_tile=0
    ):
        def stored(n):
            return bf16 * n if fp8_tile == 0 else per_vector(n, fp8_tile)

        if kind == "mla":
            rope = bf16 * rope_head_dim if fp8_tile == 0 else rope_bytes(rope_head_dim, fp8_tile)
            return mla(n_layers, stored(kv_lora_rank), rope)
        return kv(n_layers, n_kv_heads, stored(head_dim))

    return cache_bytes_per_token


_right = _cache_bytes()


def _tiles_across_heads(kind, n_layers, n_kv_heads, head_dim, fp8_tile=0, **mla):
    """Tiles that run across the heads of one layer, as if K (or V) were one long vector."""
    if kind == "mla" or fp8_tile == 0:
        return _right(kind, n_layers, n_kv_heads, head_dim, fp8_tile=fp8_tile, **mla)
    width = n_kv_heads * head_dim
    return n_layers * 2 * (width + 4 * -(-width // fp8_tile))


def _latent_scales_per_head(kind, n_layers, n_kv_heads, head_dim, fp8_tile=0, **mla):
    """The latent's scales counted once per head."""
    right = _right(kind, n_layers, n_kv_heads, head_dim, fp8_tile=fp8_tile, **mla)
    if kind != "mla" or fp8_tile == 0:
        return right
    scales = 4 * -(-mla["kv_lora_rank"] // fp8_tile)
    return right + n_layers * (n_kv_heads - 1) * scales


def _key_and_value_as_one(kind, n_layers, n_kv_heads, head_dim, fp8_tile=0, **mla):
    """A head's key and value tiled together, as one vector of 2 head_dim values."""
    if kind == "mla" or fp8_tile == 0:
        return _right(kind, n_layers, n_kv_heads, head_dim, fp8_tile=fp8_tile, **mla)
    width = 2 * head_dim
    return n_layers * n_kv_heads * (width + 4 * -(-width // fp8_tile))


def test_cache_bytes_correct_passes():
    assert check_cache_bytes_per_token(_cache_bytes()).passed


def test_cache_bytes_the_old_element_count_fails_with_its_slip_named():
    # (T1) transcribed, in elements: what the chapter's table gives
    report = check_cache_bytes_per_token(_cache_bytes(bf16=1, per_vector=lambda n, t: n))
    assert report.status == "failed" and report.passed_cases == 0
    assert "expected 768, got 384" in str(report) and "counts elements" in str(report)


@pytest.mark.parametrize(
    ("wrong", "passed", "says"),
    [
        # each typical derivation error gets its own diagnosis, not only "expected ..., got ..."
        (_cache_bytes(kv=lambda L, h, v: 2 * h * v), 0, "one layer's"),
        (_cache_bytes(mla=lambda L, c, r: 2 * L * (c + r)), 1, "from the same c^KV"),
        (_cache_bytes(mla=lambda L, c, r: L * c), 1, "cannot be rebuilt"),
        (_tiles_across_heads, 2, "a tile never spans two"),
        # one head's key and value in one run of tiles: not told its tiles run across heads
        (_key_and_value_as_one, 2, "run across a head's key and value"),
        (_cache_bytes(per_vector=lambda n, t: n + 4 * (n // t)), 2, "floor(144 / 64)"),
        # 2-byte (BF16) scales: must get their own message, not the floor-tile one
        (_cache_bytes(per_vector=lambda n, t: n + 2 * -(-n // t)), 2, "2 bytes each (BF16)"),
        (_cache_bytes(per_vector=lambda n, t: n), 2, "leaves out the float32 scales"),
        (_cache_bytes(rope_bytes=lambda r, t: r), 3, "FlashMLA keeps it in BF16"),
        (_latent_scales_per_head, 3, "c^KV (eq. 9) has no head index"),
    ],
)
def test_cache_bytes_says_what_is_wrong(wrong, passed, says):
    report = check_cache_bytes_per_token(wrong)
    assert report.status == "failed" and report.passed_cases == passed
    assert says in str(report), str(report)


def test_cache_bytes_flashmla_hint_describes_the_format_without_the_answer():
    # wrong on DeepSeek-V3's FP8 case only, by a slip no diagnosis names: the hint is what shows
    def wrong(kind, n_layers, n_kv_heads, head_dim, kv_lora_rank=0, rope_head_dim=0, fp8_tile=0):
        right = _right(kind, n_layers, n_kv_heads, head_dim, kv_lora_rank, rope_head_dim, fp8_tile)
        return right + 3 if (kv_lora_rank, fp8_tile) == (512, 128) else right

    report = str(check_cache_bytes_per_token(wrong))
    assert "FlashMLA's own format" in report and "float32 scale per 128 elements" in report
    assert "656" not in report, report  # the bytes per token and layer: the answer over 61


def test_cache_bytes_unrelated_wrong_answer_gets_no_diagnosis():
    right = _cache_bytes()
    # the control: 3 bytes too many on every case, a number no named slip produces
    report = check_cache_bytes_per_token(lambda *a, **k: right(*a, **k) + 3)
    assert report.status == "failed" and "what is wrong" not in str(report)


def test_cache_bytes_stub_is_not_attempted():
    def cache_bytes_per_token(
        kind, n_layers, n_kv_heads, head_dim, kv_lora_rank=0, rope_head_dim=0, fp8_tile=0
    ):
        raise NotImplementedError

    assert check_cache_bytes_per_token(cache_bytes_per_token).status == "not attempted"


def test_cache_bytes_cases_agree_with_the_packages_flashmla_layout():
    """The hand-worked V3 FP8 case (hidden) against the package's FlashMLA layout fact: the same
    656 bytes per layer, reached independently."""
    from labs.common import fact
    from tests.grading.hidden.mla import HIDDEN

    v3_fp8 = next(c for c in HIDDEN["cache_bytes_per_token"] if "FlashMLA" in c.label)
    assert v3_fp8.expected == 61 * fact("flashmla_fp8_cache_layout").value["bytes_per_token"]


# --- 3.2 ---


def test_repeat_kv_correct_passes():
    def repeat_kv(k, n_heads):
        return np.repeat(k, n_heads // k.shape[1], axis=1)

    assert check_repeat_kv(repeat_kv).passed


def test_repeat_kv_with_tile_fails_with_the_grouping_hint():
    def repeat_kv(k, n_heads):
        return np.tile(k, (1, n_heads // k.shape[1], 1))  # heads interleaved, not grouped

    report = check_repeat_kv(repeat_kv)
    assert report.status == "failed"
    assert "values differ" in str(report) and "not np.tile" in str(report)
    assert "what is wrong: your query head h gets KV head h % n_kv_heads" in str(report)


def test_repeat_kv_with_transposed_axes_is_told_so():
    def repeat_kv(k, n_heads):
        return np.repeat(k, n_heads // k.shape[1], axis=1).transpose(1, 0, 2)  # (heads, tokens)

    report = check_repeat_kv(repeat_kv)
    assert report.status == "failed" and "in another order: transposed" in str(report)


def test_repeat_kv_stub_is_not_attempted():
    def repeat_kv(k, n_heads):
        raise NotImplementedError

    assert check_repeat_kv(repeat_kv).status == "not attempted"


# --- 3.3 ---


def test_absorbed_scores_correct_passes():
    def absorbed_scores(q, w_uk, c_kv):
        q_latent = np.einsum("chd,hd->hc", w_uk, q)  # W^UK_h^T q_h, per head
        return q_latent @ c_kv.T

    assert check_absorbed_scores(absorbed_scores).passed


def test_absorbed_scores_transposed_fails_with_a_shape_message():
    def absorbed_scores(q, w_uk, c_kv):
        return (np.einsum("chd,hd->hc", w_uk, q) @ c_kv.T).T  # (tokens, heads)

    report = check_absorbed_scores(absorbed_scores)
    assert report.status == "failed" and "expected shape (1, 4), got shape (4, 1)" in str(report)


def test_absorbed_scores_wrong_contraction_fails():
    def absorbed_scores(q, w_uk, c_kv):
        return np.einsum("chd,hd->hc", w_uk[:, ::-1], q) @ c_kv.T  # heads reversed

    report = check_absorbed_scores(absorbed_scores)
    assert report.status == "failed" and report.passed_cases == 1


def test_absorbed_scores_stub_is_not_attempted():
    def absorbed_scores(q, w_uk, c_kv):
        raise NotImplementedError

    assert check_absorbed_scores(absorbed_scores).status == "not attempted"


# --- widget and plot ---


def test_cache_calculator_and_plot():
    assert isinstance(cache_calculator(), ipywidgets.interactive)
    ax = plot_cache(tokens=1024, batch=2, bits_per_element=8)
    assert len(ax.patches) == len(PRESETS)
    widths = {p.get_width() for p in ax.patches}
    assert kv_cache_bytes(DEEPSEEK_V2, 1024, 2, 8) / 2**30 in widths
    with pytest.raises(ValueError, match="tokens must be >= 1"):
        plot_cache(tokens=0)
    with pytest.raises(TypeError, match="configs must be a non-empty dict"):
        plot_cache(configs=[])


# --- benchmark ---


def test_decode_benchmark_reports_cache_bytes_by_hand():
    configs = bench_configs(d_model=64, n_heads=4, head_dim=16)
    tps, nbytes = decode_benchmark(configs["MLA"], 32, batch=2, steps=2, repeats=1, absorbed=True)
    # after 32 cached + 1 warm-up + 2 steps = 35 tokens: 2 x 35 x (64 + 8) x 4 bytes = 20,160
    assert nbytes == 20_160 and tps > 0
    _, nbytes = decode_benchmark(configs["GQA"], 32, batch=2, steps=2, repeats=1)
    # GQA with 1 KV head of 16: 2 x 35 x 2 x 16 x 4 bytes = 8,960
    assert nbytes == 8_960
    assert torch.get_num_threads() >= 1  # restored after the run
    with pytest.raises(ValueError, match="absorbed=True needs an MLA config"):
        decode_benchmark(configs["MHA"], 8, absorbed=True)
    with pytest.raises(ValueError, match="context must be >= 1"):
        decode_benchmark(configs["MHA"], 0)


def test_decode_benchmark_cpu_clock_and_its_limits():
    configs = bench_configs(d_model=64, n_heads=4, head_dim=16)
    tps, nbytes = decode_benchmark(configs["MHA"], 16, batch=1, steps=2, repeats=1, clock="cpu")
    assert tps > 0 and nbytes == 2 * 19 * 4 * 16 * 4  # K and V, 19 tokens, 4 heads of 16, float32
    with pytest.raises(ValueError, match="clock must be one of"):
        decode_benchmark(configs["MHA"], 8, clock="gpu")
    with pytest.raises(ValueError, match="clock='cpu' needs device='cpu' and cpu_threads=1"):
        decode_benchmark(configs["MHA"], 8, clock="cpu", cpu_threads=2)


def test_batched_product_flops_counts_the_product_and_checks_its_arguments():
    rate = batched_product_flops(8, 32, 64, batch=2, repeats=2)
    # 2 x 2 x 8 x 32 x 64 = 65,536 FLOPs in a positive time: a finite, positive rate
    assert 0 < rate < float("inf")
    with pytest.raises(ValueError, match="rows must be >= 1"):
        batched_product_flops(0, 32, 64)
    with pytest.raises(ValueError, match="clock must be one of"):
        batched_product_flops(8, 32, 64, clock="gpu")
    with pytest.raises(ValueError, match=r"batch \* max\(rows, cols\) \* inner must be at most"):
        batched_product_flops(8, 2**14, 2**20)


def test_absorbed_roof_rounds_times_each_measurement_once_per_round_and_checks_its_arguments():
    mla = bench_configs(d_model=32, n_heads=4, head_dim=8)["MLA"]
    out = absorbed_roof_rounds(mla, 64, batch=2, steps=1, rounds=3, repeats=1)
    assert list(out) == ["step", "scores", "weighted sum", "square"]
    # one positive, finite rate per round for each of the four
    assert all(len(v) == 3 and all(0 < x < float("inf") for x in v) for v in out.values())
    with pytest.raises(ValueError, match="config must be an MLA config"):
        absorbed_roof_rounds(bench_configs()["GQA"], 64)
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        absorbed_roof_rounds(mla, 64, rounds=0)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        absorbed_roof_rounds(mla, 64, steps=0)
    wide = bench_configs(d_model=32, n_heads=2048, head_dim=4)["MLA"]  # more heads than d_c = 16
    with pytest.raises(ValueError, match=r"batch \* context \* max\(n_heads, kv_lora_rank\)"):
        absorbed_roof_rounds(wide, 2**14, batch=16)


@requires_gpu
def test_decode_benchmark_on_gpu():
    configs = bench_configs()
    tps, nbytes = decode_benchmark(configs["MLA"], 1024, absorbed=True, device="cuda")
    assert tps > 0 and nbytes > 0
    print(torch.cuda.get_device_name(0), f"{tps:.0f} tokens/s")


def test_decode_bound_exercise_accepts_a_solution_and_explains_a_wrong_one():
    from dataclasses import replace

    from labs.mla import attention_flops_and_bytes
    from labs.mla.exercises import check_decode_bound

    def decode_bound(config, tensor_parallel, peak_flops_per_s, peak_bytes_per_s):
        heads = config.n_heads // tensor_parallel
        kv = None if config.kind == "mla" else max(1, config.n_kv_heads // tensor_parallel)
        local = replace(config, n_heads=heads, n_kv_heads=kv)
        flops, nbytes = attention_flops_and_bytes(local, "decode", 1024)
        return "compute" if flops / nbytes > peak_flops_per_s / peak_bytes_per_s else "memory"

    def approximate(config, tensor_parallel, peak_flops_per_s, peak_bytes_per_s):
        # FlashMLA's shortcut 2 h for MLA (and 1 FLOP/byte otherwise): wrong at the edge
        heads = config.n_heads // tensor_parallel
        intensity = 2 * heads if config.kind == "mla" else 1
        return "compute" if intensity > peak_flops_per_s / peak_bytes_per_s else "memory"

    assert check_decode_bound(decode_bound).passed
    report = check_decode_bound(approximate)
    assert not report.passed
