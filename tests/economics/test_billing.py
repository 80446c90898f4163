"""Billing the prompt (labs.economics.billing): hand-worked values, DeepSeek's own revenue figure
recomputed from its published token counts, and bad input. Expected values are worked out by hand
in the comments, never taken from the code under test."""

import math

import pytest

from labs.common.facts import fact
from labs.economics import (
    DEEPSEEK_API_PRICES,
    MARGIN_DEFINITIONS,
    ApiPrices,
    margin,
    output_tokens_per_second_with_prefill,
    priced_self_hosting_breakeven,
)

# deepseek-chat's list prices, typed here so the hand values below do not lean on the registry.
PRICES = ApiPrices(
    model="test", input_miss_usd_per_m=0.27, input_hit_usd_per_m=0.07, output_usd_per_m=1.10
)


def test_a_request_is_billed_for_its_prompt_and_its_output():
    # 1,000 prompt tokens, half hits: 500 x 0.07 + 500 x 0.27 = 35 + 135 = 170 micro-dollars;
    # 250 output tokens x 1.10 = 275; total 445 micro-dollars.
    assert PRICES.usd_per_request(1000, 250, 0.5) == pytest.approx(445e-6, rel=1e-12)
    # All hits: 70 + 275 = 345; all misses: 270 + 275 = 545; no prompt: 275 whatever the share.
    assert PRICES.usd_per_request(1000, 250, 1.0) == pytest.approx(345e-6, rel=1e-12)
    assert PRICES.usd_per_request(1000, 250, 0.0) == pytest.approx(545e-6, rel=1e-12)
    for share in (0.0, 0.3, 1.0):
        assert PRICES.usd_per_request(0, 250, share) == pytest.approx(275e-6, rel=1e-12)


def test_the_bill_per_million_output_tokens_counts_the_prompt_behind_each():
    # 4 prompt tokens per output token, a quarter of them hits: mean prompt price
    # 0.25 x 0.07 + 0.75 x 0.27 = 0.0175 + 0.2025 = 0.22; 4 x 0.22 + 1.10 = 1.98 per M output.
    assert PRICES.usd_per_million_output_tokens(4.0, 0.25) == pytest.approx(1.98, rel=1e-12)
    assert PRICES.usd_per_million_output_tokens(0.0, 0.25) == pytest.approx(1.10, rel=1e-12)
    # The same request both ways: 1,000 in and 250 out (4 per output token), half hits:
    # 4 x 0.17 + 1.10 = 1.78 per M output = 445 micro-dollars / 250 tokens.
    per_m = PRICES.usd_per_million_output_tokens(4.0, 0.5)
    assert per_m == pytest.approx(1.78, rel=1e-12)
    assert PRICES.usd_per_request(1000, 250, 0.5) / 250 * 1e6 == pytest.approx(per_m, rel=1e-12)


def test_deepseeks_theoretical_day_of_revenue_is_recomputed_from_its_token_counts():
    # The overview: 608B prompt tokens, 342B of them cache hits, 168B output, billed at R1's
    # $0.14 (hit), $0.55 (miss), $2.19 (output) would bring $562,027. By hand:
    # 342e9 x 0.14 = 47,880; 266e9 x 0.55 = 146,300; 168e9 x 2.19 = 367,920; sum 562,100.
    r1 = DEEPSEEK_API_PRICES["deepseek-reasoner"]
    day_in = fact("econ_v3_serving_input_tokens_per_day").value
    day_hit = fact("econ_v3_serving_cache_hit_tokens_per_day").value
    day_out = fact("econ_v3_serving_output_tokens_per_day").value
    revenue = r1.usd_per_request(day_in, day_out, day_hit / day_in)
    assert revenue == pytest.approx(562_100.0, rel=1e-9)
    reported = fact("econ_v3_serving_theoretical_revenue_usd_per_day").value
    assert abs(revenue - reported) / reported < 2e-4  # the token counts are rounded to 1B
    # Output alone (367,920) or every prompt token at the miss price (702,320) misses by far.
    assert abs(r1.usd_per_request(0, day_out, 0.0) - reported) > 0.3 * reported
    assert abs(r1.usd_per_request(day_in, day_out, 0.0) - reported) > 0.2 * reported


def test_the_registry_holds_deepseeks_list_prices_and_is_read_only():
    chat = DEEPSEEK_API_PRICES["deepseek-chat"]
    assert (chat.input_miss_usd_per_m, chat.input_hit_usd_per_m, chat.output_usd_per_m) == (
        0.27,
        0.07,
        1.10,
    )
    with pytest.raises(TypeError):
        DEEPSEEK_API_PRICES["deepseek-chat"] = PRICES
    with pytest.raises(AttributeError):
        chat.output_usd_per_m = 0.0


def test_billing_the_prompt_scales_a_one_unit_break_even_by_the_price_ratio():
    # While one unit holds the volume, T* = (F + U) / p (eq. 4'): billing the prompt replaces p
    # by p_eff. At 4 prompt tokens per output token and half hits p_eff = 1.78 (above), so T*
    # falls to 1.10 / 1.78 = 0.61798 of the output-only figure. By hand for F = $10,000 and one
    # node at $16/h for 730 h (U = $11,680): T* = 21,680 / 1.10e-6 = 19.709B tokens a month
    # against 21,680 / 1.78e-6 = 12.180B.
    plain = priced_self_hosting_breakeven(10_000, 1.10, 16.0, 14_800.0, 1, 730.0)
    billed = priced_self_hosting_breakeven(10_000, 1.78, 16.0, 14_800.0, 1, 730.0)
    assert plain["units"] == billed["units"] == 1
    assert plain["tokens_per_month"] == pytest.approx(21_680 / 1.10e-6, rel=1e-12)
    assert billed["tokens_per_month"] == pytest.approx(21_680 / 1.78e-6, rel=1e-12)
    assert billed["tokens_per_month"] / plain["tokens_per_month"] == pytest.approx(
        1.10 / 1.78, rel=1e-12
    )


def test_a_node_that_reads_the_prompts_serves_fewer_output_tokens():
    # 2 prompt tokens per output token at 400/s prefill and 100/s decode: 2/400 + 1/100 = 0.015 s
    # per output token, 66.67 tokens/s. No prompt: the decode rate.
    assert output_tokens_per_second_with_prefill(100.0, 400.0, 2.0) == pytest.approx(200 / 3)
    assert output_tokens_per_second_with_prefill(100.0, 400.0, 0.0) == pytest.approx(100.0)
    # DeepSeek's rates and mix: 608/168 = 3.619 prompt tokens per output token;
    # 3.619 / 73,700 + 1 / 14,800 = 4.9105e-5 + 6.7568e-5 = 1.16673e-4 s: 8,571 tokens/s.
    rate = output_tokens_per_second_with_prefill(14_800.0, 73_700.0, 608 / 168)
    assert rate == pytest.approx(8571.0, abs=1.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        (dict(input_hit_usd_per_m=0.5), ValueError, "input_hit_usd_per_m"),  # above the miss
        (dict(input_miss_usd_per_m=0.0), ValueError, "input_miss_usd_per_m"),
        (dict(output_usd_per_m=-1.0), ValueError, "output_usd_per_m"),
        (dict(output_usd_per_m=math.inf), ValueError, "output_usd_per_m"),
        (dict(output_usd_per_m=1e6), ValueError, "output_usd_per_m"),  # a price per token x 1e6
        (dict(input_hit_usd_per_m="0.07"), TypeError, "input_hit_usd_per_m"),
        (dict(model=""), ValueError, "model"),
    ],
)
def test_bad_prices_are_refused_by_name(kwargs, error, name):
    fields = dict(
        model="m", input_miss_usd_per_m=0.27, input_hit_usd_per_m=0.07, output_usd_per_m=1.1
    )
    with pytest.raises(error, match=name):
        ApiPrices(**{**fields, **kwargs})


@pytest.mark.parametrize(
    ("args", "error", "name"),
    [
        ((-1.0, 250.0, 0.5), ValueError, "prompt_tokens"),
        ((1000.0, 0.0, 0.5), ValueError, "output_tokens"),
        ((1000.0, 250.0, 1.5), ValueError, "cache_hit_share"),
        ((1000.0, 250.0, -0.1), ValueError, "cache_hit_share"),
        ((1000.0, 250.0, math.nan), ValueError, "cache_hit_share"),
        ((1e16, 250.0, 0.5), ValueError, "prompt_tokens"),
        ((1000.0, 250.0, True), TypeError, "cache_hit_share"),
    ],
)
def test_bad_requests_are_refused_by_name(args, error, name):
    with pytest.raises(error, match=name):
        PRICES.usd_per_request(*args)


def test_bad_ratios_and_rates_are_refused_by_name():
    with pytest.raises(ValueError, match="prompt_tokens_per_output_token"):
        PRICES.usd_per_million_output_tokens(-1.0, 0.5)
    with pytest.raises(ValueError, match="cache_hit_share"):
        PRICES.usd_per_million_output_tokens(4.0, 2.0)
    with pytest.raises(ValueError, match="decode_tokens_per_second"):
        output_tokens_per_second_with_prefill(0.0, 100.0, 1.0)
    with pytest.raises(ValueError, match="prefill_tokens_per_second"):
        output_tokens_per_second_with_prefill(100.0, -1.0, 1.0)
    with pytest.raises(TypeError, match="prompt_tokens_per_output_token"):
        output_tokens_per_second_with_prefill(100.0, 100.0, "3")


def test_the_three_readings_of_margin_on_hand_worked_values():
    # Revenue 300, cost 100: profit 200; profit over cost 2.0 (200 %), revenue over cost 3.0,
    # profit over revenue 200/300 = 0.666...
    assert margin(300.0, 100.0, definition="profit over cost") == pytest.approx(2.0, rel=1e-12)
    assert margin(300.0, 100.0, definition="revenue over cost") == pytest.approx(3.0, rel=1e-12)
    assert margin(300.0, 100.0, definition="profit over revenue") == pytest.approx(2 / 3, rel=1e-12)
    # A loss: revenue 50, cost 100: -0.5, 0.5, -1.0. No revenue at all: -1 over cost, 0 over cost.
    assert margin(50.0, 100.0, definition="profit over cost") == pytest.approx(-0.5, rel=1e-12)
    assert margin(50.0, 100.0, definition="profit over revenue") == pytest.approx(-1.0, rel=1e-12)
    assert margin(0.0, 100.0, definition="profit over cost") == -1.0
    assert margin(0.0, 100.0, definition="revenue over cost") == 0.0
    assert MARGIN_DEFINITIONS[0] == "profit over cost"  # DeepSeek's reading comes first


def test_deepseeks_545_percent_is_profit_over_cost_and_no_other_reading():
    # $562,027 and $87,072, typed from the overview: (562,027 - 87,072) / 87,072 = 474,955 / 87,072
    # = 5.4547 (545 %); 562,027 / 87,072 = 6.4547 (645 %); 474,955 / 562,027 = 0.8451 (84.5 %).
    revenue, cost = 562_027.0, 87_072.0
    got = {d: margin(revenue, cost, definition=d) for d in MARGIN_DEFINITIONS}
    assert got["profit over cost"] == pytest.approx(5.4547, abs=1e-4)
    assert got["revenue over cost"] == pytest.approx(6.4547, abs=1e-4)
    assert got["profit over revenue"] == pytest.approx(0.8451, abs=1e-4)
    assert [d for d, m in got.items() if round(m * 100) == 545] == ["profit over cost"]
    # At V3's list prices, by hand: 342e9 x 0.07 = 23,940; 266e9 x 0.27 = 71,820;
    # 168e9 x 1.10 = 184,800; sum 280,560; (280,560 - 87,072) / 87,072 = 2.2222.
    v3 = DEEPSEEK_API_PRICES["deepseek-chat"].usd_per_request(608e9, 168e9, 342 / 608)
    assert v3 == pytest.approx(280_560.0, rel=1e-9)
    assert margin(v3, cost, definition="profit over cost") == pytest.approx(2.2222, abs=1e-4)


@pytest.mark.parametrize(
    ("args", "definition", "error", "name"),
    [
        ((-1.0, 100.0), "profit over cost", ValueError, "revenue_usd"),
        ((100.0, 0.0), "profit over cost", ValueError, "cost_usd"),
        ((100.0, -5.0), "revenue over cost", ValueError, "cost_usd"),
        ((math.inf, 100.0), "profit over cost", ValueError, "revenue_usd"),
        ((1e16, 100.0), "profit over cost", ValueError, "revenue_usd"),  # cents or tokens
        ((100.0, math.nan), "profit over cost", ValueError, "cost_usd"),
        (("562027", 100.0), "profit over cost", TypeError, "revenue_usd"),
        ((100.0, None), "profit over cost", TypeError, "cost_usd"),
        ((0.0, 100.0), "profit over revenue", ValueError, "revenue_usd"),  # divides by it
        ((100.0, 50.0), "markup", ValueError, "definition"),
        ((100.0, 50.0), None, ValueError, "definition"),
    ],
)
def test_bad_margins_are_refused_by_name(args, definition, error, name):
    with pytest.raises(error, match=name):
        margin(*args, definition=definition)


def test_a_margin_needs_its_definition_named():
    with pytest.raises(TypeError, match="definition"):
        margin(100.0, 50.0)  # no default: the readings differ by factors of several
