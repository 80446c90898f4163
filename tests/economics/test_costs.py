"""Training cost, 6ND, MFU, GPU-hours per token and the break-even: hand-worked values and the
V3 report's own numbers (through the facts registry), never the code's own output."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labs.common.facts import fact
from labs.economics import (
    DEEPSEEK_V3_TRAINING,
    attention_training_flops_per_token,
    deepseek_v3_cost_table,
    gpu_hours_per_trillion_tokens,
    hardware,
    model_flops_utilization,
    self_hosting_breakeven,
    tokens_per_gpu_hour,
    training_cost,
    training_days,
    training_flops,
)


def test_v3_table_1_is_reproduced_to_the_dollar():
    # The report prints $5.328M, $0.238M, $0.01M and $5.576M at $2 per GPU-hour.
    published = fact("econ_v3_cost_usd").value
    rows = deepseek_v3_cost_table(2.0)
    assert [r.stage for r in rows] == [
        "Pre-training",
        "Context extension",
        "Post-training",
        "Total",
    ]
    for row, usd in zip(rows, published, strict=True):
        assert round(row.usd) == round(usd)
    assert rows[-1].gpu_hours == fact("econ_v3_total_gpu_hours").value
    assert round(rows[-1].usd) == 5_576_000  # 2,788,000 h x $2, by hand


def test_table_stages_come_from_the_report():
    assert [s.gpu_hours for s in DEEPSEEK_V3_TRAINING] == [2_664_000, 119_000, 5_000]


def test_cost_table_scales_with_price():
    # At $3 per hour every dollar figure is 1.5 times the $2 one: 2,788,000 x 3 = 8,364,000.
    assert deepseek_v3_cost_table(3.0)[-1].usd == pytest.approx(8_364_000)


def test_training_cost_by_hand():
    assert training_cost(100, 2.5) == 250.0
    assert training_cost(0, 2.0) == 0.0


def test_six_n_d_for_v3():
    # 6 x 37e9 x 14.8e12 = 3,285.6e21 = 3.2856e24 FLOPs.
    assert training_flops(37e9, 14.8e12) == pytest.approx(3.2856e24, rel=1e-12)


def test_v3_mfu_under_stated_assumptions():
    # Assumptions: 37B active parameters, 14.8T tokens, the 2,664K pre-training GPU-hours, dense
    # H800 peaks of 989.5 (BF16) and 1,979 (FP8) TFLOP/s. By hand: 2.664e6 h x 3600 s =
    # 9.5904e9 s; x 989.5e12 = 9.48970e24 FLOPs possible; 3.2856e24 / 9.48970e24 = 0.34623.
    flops = training_flops(fact("econ_v3_active_params").value, fact("econ_v3_tokens").value)
    hours = fact("econ_v3_pretraining_gpu_hours").value
    h800 = hardware("H800 SXM")
    assert model_flops_utilization(flops, hours, h800.peak_flops("bf16")) == pytest.approx(
        0.34623, abs=5e-5
    )
    assert model_flops_utilization(flops, hours, h800.peak_flops("fp8")) == pytest.approx(
        0.17311, abs=5e-5
    )


def test_v3_gpu_hours_per_trillion_tokens_matches_the_report():
    got = gpu_hours_per_trillion_tokens(
        fact("econ_v3_pretraining_gpu_hours").value, fact("econ_v3_tokens").value
    )
    assert got == pytest.approx(fact("econ_v3_gpu_hours_per_trillion_tokens").value, rel=1e-9)


def test_days_per_trillion_tokens_and_total_days():
    # 180,000 / 2,048 / 24 = 3.662 days, which the report rounds to 3.7.
    days = training_days(180_000, 2048)
    assert days == pytest.approx(3.662109375)
    assert round(days, 1) == fact("econ_v3_days_per_trillion_tokens").value
    # 2,788,000 / 2,048 / 24 = 56.72 days: under two months.
    assert training_days(2_788_000, 2048) == pytest.approx(56.722005, rel=1e-6)


def test_v3_tokens_per_gpu_hour_at_its_mfu():
    # At the MFU implied above, an H800 trains 14.8e12 / 2.664e6 = 5,555,556 tokens an hour.
    assert tokens_per_gpu_hour(37e9, 989.5e12, 0.346228) == pytest.approx(5_555_556, rel=1e-5)


def test_tokens_per_gpu_hour_by_hand():
    # 0.5 x 1e15 FLOP/s x 3600 s / (6 x 1e9 FLOPs per token) = 3e8 tokens per hour.
    assert tokens_per_gpu_hour(1e9, 1e15, 0.5) == pytest.approx(3e8)


@given(
    n=st.floats(1e6, 1e12),
    d=st.floats(1e9, 1e14),
    peak=st.floats(1e13, 1e16),
)
def test_tokens_per_hour_inverts_mfu(n, d, peak):
    # A run that takes exactly the hours implied at MFU m reports MFU m.
    mfu = 0.4
    hours = d / tokens_per_gpu_hour(n, peak, mfu)
    assert model_flops_utilization(training_flops(n, d), hours, peak) == pytest.approx(mfu)


def test_attention_flops_by_hand():
    # One layer, one head, dims 1 and 1, context 2: 3 x 2 x 1 x 1 x (1 + 1) x 2 / 2 = 12.
    assert attention_training_flops_per_token(1, 1, 1, 1, 2) == 12.0
    # V3: 6 x 61 x 128 x 320 x 2048 = 30,702,305,280 FLOPs per token.
    assert attention_training_flops_per_token(61, 128, 192, 128, 4096) == 30_702_305_280


def test_breakeven_by_hand():
    # $10,000 / ($10 - $2) per million = 1,250 million tokens per month.
    assert self_hosting_breakeven(10_000, 10.0, 2.0) == pytest.approx(1.25e9)
    assert self_hosting_breakeven(0, 1.0, 0.5) == 0.0
    assert self_hosting_breakeven(10_000, 1.0, 1.0) == math.inf
    assert self_hosting_breakeven(10_000, 1.0, 3.0) == math.inf


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: training_cost(-1, 2.0), "gpu_hours must be >= 0"),
        (lambda: training_cost(10, 0.0), "usd_per_gpu_hour must be > 0"),
        (lambda: training_cost(10, -2.0), "usd_per_gpu_hour must be > 0"),
        (lambda: training_cost(float("nan"), 2.0), "gpu_hours must be finite"),
        (lambda: deepseek_v3_cost_table(0), "usd_per_gpu_hour must be > 0"),
        (lambda: training_flops(0, 1e12), "active_params must be > 0"),
        (lambda: training_flops(1e9, -1), "tokens must be >= 0"),
        (lambda: model_flops_utilization(1e20, 0, 1e15), "gpu_hours must be > 0"),
        (lambda: model_flops_utilization(1e20, 1, 0), "peak_flops_per_gpu must be > 0"),
        (lambda: model_flops_utilization(1e30, 1, 989.5), "check the units"),
        (lambda: gpu_hours_per_trillion_tokens(-5, 1e12), "gpu_hours must be >= 0"),
        (lambda: gpu_hours_per_trillion_tokens(5, 0), "tokens must be > 0"),
        (lambda: tokens_per_gpu_hour(1e9, 1e15, 1.5), "mfu must be a fraction"),
        (lambda: training_days(-1, 8), "gpu_hours must be >= 0"),
        (lambda: training_days(10, 0), "n_gpus must be >= 1"),
        (lambda: attention_training_flops_per_token(0, 1, 1, 1, 1), "n_layers must be >= 1"),
        (lambda: self_hosting_breakeven(-1, 1.0, 0.5), "monthly_fixed_usd must be >= 0"),
        (lambda: self_hosting_breakeven(1, 0.0, 0.0), "api_usd_per_million_tokens must be > 0"),
        (lambda: self_hosting_breakeven(1, 1.0, -0.1), "self_host_usd_per_million_tokens"),
    ],
)
def test_bad_values_raise_value_error_naming_the_parameter(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: training_cost("100", 2.0),
        lambda: training_cost(100, None),
        lambda: training_days(10, 2.5),
        lambda: training_flops(True, 1e12),
        lambda: self_hosting_breakeven(1000, "10", 1),
    ],
)
def test_bad_types_raise_type_error(call):
    with pytest.raises(TypeError, match="must be"):
        call()


def test_r1_cost_table_parts_add_up_to_its_reported_total():
    # Supplementary B.4.4, Table 7: 512 GPUs x (198 + 80) hours + 5K GPU-hours = 147,336 GPU-hours,
    # $294,672 at $2; the table's total, $294K, is rounded to 1K GPU-hours ($2K).
    gpus = fact("econ_r1_gpus").value
    hours = gpus * (fact("econ_r1_zero_rl_hours").value + fact("econ_r1_rl_hours").value)
    hours += fact("econ_r1_sft_data_gpu_hours").value
    assert hours == 147_336
    assert abs(training_cost(hours, 2.0) - fact("econ_r1_rl_cost_usd").value) < 2_000
