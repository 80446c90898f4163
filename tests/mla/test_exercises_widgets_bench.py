"""The exercise checks (correct, typical wrong, stub), the calculator widget and the benchmark."""

import ipywidgets
import numpy as np
import pytest
import torch

from labs.mla import DEEPSEEK_V2, PRESETS, kv_cache_bytes
from labs.mla.benchmark import batched_product_flops, bench_configs, decode_benchmark
from labs.mla.exercises import check_absorbed_scores, check_kv_cache_elements, check_repeat_kv
from labs.mla.widgets import cache_calculator, plot_cache
from tests.conftest import requires_gpu

# --- 3.1 ---


def test_kv_cache_elements_correct_passes():
    def kv_cache_elements(kind, n_layers, n_kv_heads, head_dim, kv_lora_rank=0, rope_head_dim=0):
        if kind == "mla":
            return n_layers * (kv_lora_rank + rope_head_dim)
        return n_layers * 2 * n_kv_heads * head_dim

    assert check_kv_cache_elements(kv_cache_elements).passed


def test_kv_cache_elements_forgetting_values_fails_with_a_hint():
    def kv_cache_elements(kind, n_layers, n_kv_heads, head_dim, kv_lora_rank=0, rope_head_dim=0):
        if kind == "mla":
            return n_layers * (kv_lora_rank + rope_head_dim)
        return n_layers * n_kv_heads * head_dim  # keys only

    report = check_kv_cache_elements(kv_cache_elements)
    assert report.status == "failed" and report.passed_cases == 0
    assert "expected 384, got 192" in str(report) and "a key AND a value" in str(report)
    assert "what is wrong: your count holds keys only" in str(report)


def _kv_wrong(mha=None, mla=None):
    """A kv_cache_elements that is right except for one kind's formula."""

    def kv_cache_elements(kind, n_layers, n_kv_heads, head_dim, kv_lora_rank=0, rope_head_dim=0):
        if kind == "mla":
            rank, rope = kv_lora_rank, rope_head_dim
            return mla(n_layers, n_kv_heads, rank, rope) if mla else n_layers * (rank + rope)
        if mha:
            return mha(n_layers, n_kv_heads, head_dim)
        return n_layers * 2 * n_kv_heads * head_dim

    return kv_cache_elements


@pytest.mark.parametrize(
    ("wrong", "passed", "says"),
    [
        # each typical derivation error gets its own diagnosis, not only "expected ..., got ..."
        (_kv_wrong(mha=lambda L, n, d: 2 * n * d), 0, "one layer's (2 x 4 x 16)"),
        (_kv_wrong(mha=lambda L, n, d: n * d), 0, "one layer's keys"),
        (_kv_wrong(mla=lambda L, n, c, r: 2 * L * (c + r)), 3, "cached once"),
        (_kv_wrong(mla=lambda L, n, c, r: L * n * (c + r)), 3, "one k^R shared by all heads"),
        (_kv_wrong(mla=lambda L, n, c, r: L * (c + n * r)), 3, "no head index"),
        (_kv_wrong(mha=lambda L, n, d: 2 * L * n * d + 1), 0, "off by one"),
    ],
)
def test_kv_cache_elements_says_what_is_wrong(wrong, passed, says):
    report = check_kv_cache_elements(wrong)
    assert report.status == "failed" and report.passed_cases == passed
    assert says in str(report), str(report)


def test_kv_cache_elements_mla_without_rope_key_fails_on_the_mla_case():
    def kv_cache_elements(kind, n_layers, n_kv_heads, head_dim, kv_lora_rank=0, rope_head_dim=0):
        if kind == "mla":
            return n_layers * kv_lora_rank
        return n_layers * 2 * n_kv_heads * head_dim

    report = check_kv_cache_elements(kv_cache_elements)
    assert report.status == "failed" and report.passed_cases == 3
    assert "expected 34560, got 30720" in str(report) and "shared RoPE key" in str(report)
    assert "the decoupled RoPE key k^R of eq. (15) cannot be rebuilt" in str(report)


def test_kv_cache_elements_stub_is_not_attempted():
    def kv_cache_elements(kind, n_layers, n_kv_heads, head_dim, kv_lora_rank=0, rope_head_dim=0):
        raise NotImplementedError

    assert check_kv_cache_elements(kv_cache_elements).status == "not attempted"


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
