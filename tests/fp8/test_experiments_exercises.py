"""The chapter's experiment helpers, the explorer and the exercises' checks."""

import ipywidgets
import numpy as np
import pytest

from labs.fp8 import (
    E4M3,
    E5M2,
    dot_product_errors,
    fake_quantize,
    heavy_tailed_activations,
    markov_tokens,
    quantization_error,
    relative_loss_gap,
    round_significand,
)
from labs.fp8.exercises import check_choose_granularity, check_decode_float, check_v3_accumulate
from labs.fp8.widgets import encodings_of, format_explorer, format_table

# --- experiments -------------------------------------------------------------------------------


def test_heavy_tailed_activations():
    x = heavy_tailed_activations(64, 256, outlier_fraction=0.01, outlier_scale=100.0, seed=1)
    assert x.shape == (64, 256) and x.dtype == np.float32
    big = np.abs(x) > 10
    assert 0.002 < big.mean() < 0.02  # about 1% of values scaled by 100
    np.testing.assert_array_equal(x, heavy_tailed_activations(64, 256, 0.01, 100.0, seed=1))
    with pytest.raises(ValueError, match="outlier_fraction must be in"):
        heavy_tailed_activations(outlier_fraction=2.0)


def test_quantization_error_fine_scaling_wins_with_outliers():
    x = heavy_tailed_activations(128, 512, outlier_scale=1e4, seed=0)
    errs = {g: quantization_error(x, granularity=g)["relative_rms"] for g in ("tensor", "tile")}
    assert errs["tile"] < errs["tensor"]
    flushed = quantization_error(x, granularity="tensor")["flushed_to_zero"]
    assert flushed > quantization_error(x, granularity="tile")["flushed_to_zero"]
    with pytest.raises(ValueError, match="all zeros"):
        quantization_error(np.zeros((1, 128), np.float32))
    bulk = np.abs(x) < 100
    only_bulk = quantization_error(x, granularity="tile", where=bulk)["relative_rms"]
    by_hand = np.linalg.norm((fake_quantize(x, E4M3, "tile") - x)[bulk]) / np.linalg.norm(x[bulk])
    assert only_bulk == pytest.approx(by_hand, rel=1e-6)
    with pytest.raises(ValueError, match="where must be a boolean mask"):
        quantization_error(x, where=bulk[:1])


def test_dot_product_errors_grow_without_promotion_only():
    lengths = [128, 1024]
    none = dot_product_errors(lengths, trials=16, promote_every=None)
    promoted = dot_product_errors(lengths, trials=16, promote_every=128)
    assert none[1] > 4 * none[0]  # truncation error grows about linearly with K
    assert promoted[1] < 2 * promoted[0]  # promotion keeps it flat
    assert none[0] == promoted[0]  # K = 128: one group, promotion changes nothing
    with pytest.raises(ValueError, match="at least one K"):
        dot_product_errors([])


def test_markov_tokens_entropy_matches_the_empirical_conditional_entropy():
    tokens, entropy = markov_tokens(60_000, vocab=4, concentration=0.5, seed=3)
    assert tokens.min() >= 0 and tokens.max() < 4
    counts = np.zeros((4, 4, 4))
    np.add.at(counts, (tokens[:-2], tokens[1:-1], tokens[2:]), 1)
    p = counts / counts.sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.nansum(counts * np.log(p)) / counts.sum()
    assert abs(h - entropy) < 0.02


def test_relative_loss_gap():
    assert relative_loss_gap(2.01, 2.0) == pytest.approx(0.005)
    with pytest.raises(ValueError, match="reference_loss must be > 0"):
        relative_loss_gap(1.0, 0.0)


# --- explorer ----------------------------------------------------------------------------------


def test_encodings_of_hand_worked():
    rows = {r["format"]: r for r in encodings_of(3.14159)}
    assert rows["E4M3"]["bits"] == "0 1000 101" and rows["E4M3"]["value"] == 3.25
    assert rows["E5M2"]["bits"] == "0 10000 10" and rows["E5M2"]["value"] == 3.0
    assert rows["BF16"]["value"] == 3.140625
    assert rows["E4M3"]["rel_error"] == pytest.approx((3.25 - 3.14159) / 3.14159)
    sat = {r["format"]: r["value"] for r in encodings_of(1000.0)}
    assert sat["E4M3"] == 448.0 and sat["E5M2"] == 1024.0
    assert np.isnan({r["format"]: r["value"] for r in encodings_of(1000.0, False)}["E4M3"])
    with pytest.raises(TypeError, match="x must be a real number"):
        encodings_of("pi")


def test_explorer_widget():
    assert isinstance(format_explorer(), ipywidgets.interactive)
    assert "E4M3" in format_table(1.0)


# --- exercises ---------------------------------------------------------------------------------


def _decoder(bias=None, top="by convention", subnormal_exp=1, fraction_bits=None, sign_bit=None):
    """decode_float, right by default; each keyword plants one slip."""

    def decode_float(code, exponent_bits, mantissa_bits, infinities):
        b = 2 ** (exponent_bits - 1) - 1 if bias is None else bias
        m_den = 2 ** (mantissa_bits if fraction_bits is None else fraction_bits)
        ones = 2**exponent_bits - 1
        s_bit = exponent_bits + mantissa_bits if sign_bit is None else sign_bit
        sign = -1.0 if (code >> s_bit) & 1 else 1.0
        e, m = (code >> mantissa_bits) & ones, code & (2**mantissa_bits - 1)
        ieee = infinities if top == "by convention" else top == "ieee"
        if e == ones and ieee:
            return sign * float("inf") if m == 0 else float("nan")
        if e == ones and m == 2**mantissa_bits - 1:
            return float("nan")
        if e == 0:
            return sign * 2.0 ** (subnormal_exp - b) * m / m_den
        return sign * 2.0 ** (e - b) * (1 + m / m_den)

    return decode_float


def test_decode_float_correct_solution_passes():
    assert check_decode_float(_decoder()).passed


@pytest.mark.parametrize(
    ("slip", "passed", "says"),
    [
        # the old exercise's E4M3 decoder, transcribed: right until E5M2's bias
        ({"bias": 7}, 5, "The bias depends on the exponent width"),
        ({"top": "ieee"}, 2, "Without infinities (E4M3, OCP Table 2)"),
        ({"top": "finite"}, 6, "With infinities (E5M2"),
        ({"subnormal_exp": 0}, 4, "1 - bias"),
        ({"fraction_bits": 3}, 9, "not M / 2**mantissa_bits"),
        ({"sign_bit": 7}, 11, "opposite sign"),
    ],
)
def test_decode_float_names_each_slip(slip, passed, says):
    report = check_decode_float(_decoder(**slip))
    assert report.status == "failed" and report.passed_cases == passed
    assert says in str(report)


def test_decode_float_unrelated_wrong_answer_gets_no_diagnosis():
    right = _decoder()
    report = check_decode_float(lambda *a: right(*a) + 0.3)  # the control: no slip makes +0.3
    assert report.status == "failed" and "what is wrong" not in str(report)


def test_decode_float_hand_worked_cases_agree_with_ml_dtypes_and_numpy():
    """The check's literals, public and hidden, against independent decoders where a dtype with
    the same widths and convention exists (the check itself never uses them)."""
    import ml_dtypes

    from labs.fp8.exercises import DECODE_FLOAT
    from tests.grading.hidden.fp8 import HIDDEN

    dtypes = {
        (4, 3, False): (np.uint8, ml_dtypes.float8_e4m3fn),
        (5, 2, True): (np.uint8, ml_dtypes.float8_e5m2),
        (4, 3, True): (np.uint8, ml_dtypes.float8_e4m3),
        (3, 4, True): (np.uint8, ml_dtypes.float8_e3m4),
        (5, 10, True): (np.uint16, np.float16),
        (8, 7, True): (np.uint16, ml_dtypes.bfloat16),
    }
    checked = 0
    for case in DECODE_FLOAT.cases + HIDDEN["decode_float"]:
        code, *layout = case.args
        if tuple(layout) not in dtypes:
            continue
        bits, dtype = dtypes[tuple(layout)]
        value = float(np.array([code], dtype=bits).view(dtype).astype(np.float64)[0])
        assert value == case.expected or (np.isnan(value) and np.isnan(case.expected)), case.label
        checked += 1
    assert checked >= 20  # all but the E2M5 cases, which no library dtype has


def test_choose_granularity_correct_solution_passes():
    def choose_granularity(x, budget):
        for g in ("tensor", "row", "tile"):
            e = quantization_error(x, E4M3, g)
            if e["relative_rms"] <= budget and e["flushed_to_zero"] <= budget:
                return g
        return None

    assert check_choose_granularity(choose_granularity).passed


def test_choose_granularity_on_the_error_alone_fails_with_a_hint():
    def choose_granularity(x, budget):  # ignores the flushed values
        for g in ("tensor", "row", "tile"):
            if quantization_error(x, E4M3, g)["relative_rms"] <= budget:
                return g
        return None

    report = check_choose_granularity(choose_granularity)
    assert report.status == "failed" and report.passed_cases == 1
    assert "flushed_to_zero" in str(report)


def test_choose_granularity_that_stops_at_rows_fails_on_flushing():
    def choose_granularity(x, budget):  # never tries tiles
        for g in ("tensor", "row"):
            e = quantization_error(x, E4M3, g)
            if e["relative_rms"] <= budget and e["flushed_to_zero"] <= budget:
                return g
        return None

    report = check_choose_granularity(choose_granularity)
    assert report.status == "failed" and report.passed_cases == 2
    assert "expected 'tile', got None" in str(report) and "flushing decides it" in str(report)
    assert "found no granularity within the budget" in str(report)


def test_choose_granularity_in_e5m2_is_pointed_to_e4m3():
    def choose_granularity(x, budget):  # the right order, the wrong format
        for g in ("tensor", "row", "tile"):
            e = quantization_error(x, E5M2, g)
            if e["relative_rms"] <= budget and e["flushed_to_zero"] <= budget:
                return g
        return None

    report = check_choose_granularity(choose_granularity)
    assert report.status == "failed"
    assert "expected 'tensor', got None" in str(report) and "Did you measure in E4M3" in str(report)


def test_choose_granularity_finest_first_is_told_to_start_coarse():
    def choose_granularity(x, budget):  # the finest that fits, not the coarsest
        for g in ("tile", "row", "tensor"):
            e = quantization_error(x, E4M3, g)
            if e["relative_rms"] <= budget and e["flushed_to_zero"] <= budget:
                return g
        return None

    text = str(check_choose_granularity(choose_granularity))
    assert "expected 'tensor', got 'tile'" in text and "the exercise asks for the coarsest" in text


def test_choose_granularity_returning_none_is_told_no_granularity_met_the_budget():
    def choose_granularity(x, budget):  # answers "none meets it" every time
        return None

    text = str(check_choose_granularity(choose_granularity))
    assert "expected 'tensor', got None" in text
    assert "your function found no granularity within the budget" in text
    assert "return` missing?)" in text  # the forgotten return is offered second, in brackets
    assert "your function returned None" not in text


def test_decode_float_that_drops_the_sign_of_infinity_fails_with_a_hint():
    from tests.grading.solutions.fp8 import decode_float as reference

    def decode_float(code, exponent_bits, mantissa_bits, infinities):
        value = reference(code, exponent_bits, mantissa_bits, infinities)
        return abs(value) if np.isinf(value) else value

    report = check_decode_float(decode_float)
    assert report.status == "failed" and "the sign bit is set, so this code is -inf" in str(report)


def _v3_accumulate(values, bits, group, *, floor=np.floor, register=True, register_floor=None):
    """A student's answer: V3's §3.5.2 accumulator; `floor`, `register` and `register_floor` (the
    register's own rounding, `floor` by default) make it wrong."""
    register_floor = floor if register_floor is None else register_floor
    running = 0.0
    for start in range(0, len(values), group):
        terms = [running] + [float(v) for v in values[start : start + group]]
        step = 2.0 ** (np.frexp(max(abs(t) for t in terms))[1] - bits)
        running = sum(floor(t / step) * step for t in terms)
        if register:
            step_r = 2.0 ** (np.frexp(running)[1] - bits)
            running = float(register_floor(running / step_r) * step_r)
    return float(running)


def test_v3_accumulate_correct_solution_passes():
    assert check_v3_accumulate(_v3_accumulate).passed


def test_v3_accumulate_that_cuts_toward_zero_fails_with_a_hint():
    report = check_v3_accumulate(lambda v, b, g: _v3_accumulate(v, b, g, floor=np.trunc))
    assert report.status == "failed" and "minus infinity" in str(report)
    assert "cut -1.5 toward zero" in str(report) and "twice the expected" not in str(report)


def test_v3_accumulate_that_rounds_to_nearest_fails_with_a_hint():
    report = check_v3_accumulate(lambda v, b, g: _v3_accumulate(v, b, g, floor=np.rint))
    assert report.status == "failed" and report.passed_cases == 3
    assert "floor, not round" in str(report) and "rounded 1.5 to the nearest" in str(report)


def test_v3_accumulate_that_rounds_half_up_fails_with_a_hint():
    report = check_v3_accumulate(
        lambda v, b, g: _v3_accumulate(v, b, g, floor=lambda t: np.floor(t + 0.5))
    )
    assert report.status == "failed" and "expected 16, got 32" in str(report)
    assert "your answer kept each 1" in str(report) and "np.frexp's e" in str(report)
    assert "twice the expected" not in str(report)


def test_v3_accumulate_whose_register_rounds_otherwise_fails_with_a_hint():
    """Terms floored right, but the register rounded to nearest or cut toward zero: the cases
    before the two register cases pass, and each slip is named (they passed every case before)."""
    nearest = check_v3_accumulate(lambda v, b, g: _v3_accumulate(v, b, g, register_floor=np.rint))
    assert nearest.status == "failed" and "your register rounds to nearest" in str(nearest)
    toward_zero = check_v3_accumulate(
        lambda v, b, g: _v3_accumulate(v, b, g, register_floor=np.trunc)
    )
    assert toward_zero.status == "failed" and "your register cuts toward zero" in str(toward_zero)


def test_v3_accumulate_whose_exponent_is_one_too_small_is_told_so():
    """floor(log2(max)) instead of np.frexp's e keeps one bit too many: case 2 returns 32."""

    def log2_exponent(values, bits, group):
        running = 0.0
        for start in range(0, len(values), group):
            terms = [running] + [float(v) for v in values[start : start + group]]
            step = 2.0 ** (np.floor(np.log2(max(abs(t) for t in terms))) - bits)
            running = sum(np.floor(t / step) * step for t in terms)
            step_r = 2.0 ** (np.floor(np.log2(abs(running))) - bits) if running else 1.0
            running = float(np.floor(running / step_r) * step_r)
        return float(running)

    report = str(check_v3_accumulate(log2_exponent))
    assert "expected 16, got 32" in report and "floor(log2(max))" in report


def test_choose_granularity_flushing_hint_matches_the_case():
    # case 3's hint: "most rows" hold an outlier, rows flush "about 12%", "about one 1 x 128 tile
    # in eight" holds one, tiles flush "about 2%"
    from labs.fp8.exercises import heavy_tailed_activations

    x = heavy_tailed_activations(256, 1024, 1e-3, 1e5, seed=0)
    big = np.abs(x) > 1e3 * np.median(np.abs(x))
    assert 0.5 < big.any(axis=1).mean() and 0.1 < big.reshape(256, 8, 128).any(axis=2).mean() < 0.15
    assert 0.115 < quantization_error(x, E4M3, "row")["flushed_to_zero"] < 0.125
    assert 0.015 < quantization_error(x, E4M3, "tile")["flushed_to_zero"] < 0.025


def test_v3_accumulate_without_the_register_rounding_fails_with_a_hint():
    report = check_v3_accumulate(lambda v, b, g: _v3_accumulate(v, b, g, register=False))
    assert report.status == "failed" and "register" in str(report)


def test_v3_accumulate_rounding_after_each_addition_fails_with_a_hint():
    def sequential(values, bits, group):  # eq. (4): the wrong model for this exercise
        running = np.float32(0)
        for v in values:
            running = round_significand(running + v, bits)
        return float(running)

    report = check_v3_accumulate(sequential)
    assert report.status == "failed" and "do not round after each addition" in str(report)


@pytest.mark.parametrize(
    "check", [check_decode_float, check_choose_granularity, check_v3_accumulate]
)
def test_stubs_are_not_attempted(check):
    def stub(*args):
        raise NotImplementedError

    assert check(stub).status == "not attempted"
