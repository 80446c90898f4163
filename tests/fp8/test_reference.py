"""Fine-grained quantisation and the limited accumulator, NumPy reference: error bounds as
properties, hand-worked values, brute-force scales, and bad input."""

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labs.fp8 import (
    E4M3,
    E5M2,
    GRANULARITIES,
    decode,
    dequantize,
    expand_scales,
    fake_quantize,
    fp8_matmul,
    limited_sum,
    quantize,
    round_significand,
)

BLOCK = 4  # small blocks keep hypothesis fast; the code does not special-case 128

matrices = arrays(
    np.float32,
    st.tuples(st.sampled_from([4, 8]), st.sampled_from([4, 8, 12])),
    elements=st.floats(-1e4, 1e4, allow_nan=False, width=32),
)


def brute_force_scales(x, granularity, block, fmt):
    """Scales by explicit loops over the groups (independent of the vectorised reshapes)."""
    r, c = x.shape
    amax = {
        "tensor": lambda: np.array(np.abs(x).max()),
        "row": lambda: np.array([[np.abs(x[i]).max()] for i in range(r)]),
        "tile": lambda: np.array(
            [[np.abs(x[i, j : j + block]).max() for j in range(0, c, block)] for i in range(r)]
        ),
        "column_tile": lambda: np.array(
            [[np.abs(x[i : i + block, j]).max() for j in range(c)] for i in range(0, r, block)]
        ),
        "block": lambda: np.array(
            [
                [np.abs(x[i : i + block, j : j + block]).max() for j in range(0, c, block)]
                for i in range(0, r, block)
            ]
        ),
    }[granularity]()
    amax = amax.astype(np.float32)
    scales = np.maximum(amax * np.float32(1 / fmt.max_finite), np.float32(2.0**-126))
    return np.where(amax > 0, scales, np.float32(1)).astype(np.float32)


@settings(max_examples=60, deadline=None)
@given(x=matrices, granularity=st.sampled_from(GRANULARITIES), fmt=st.sampled_from([E4M3, E5M2]))
def test_error_bound_per_element(x, granularity, fmt):
    codes, scales = quantize(x, fmt, granularity, BLOCK)
    np.testing.assert_array_equal(scales, brute_force_scales(x, granularity, BLOCK, fmt))
    s = expand_scales(scales, x.shape, granularity, BLOCK).astype(np.float64)
    x_hat = dequantize(codes, scales, fmt, granularity, BLOCK).astype(np.float64)
    # Rounding to nearest in FP8 errs by at most half a step: 2^-(m+1) of the value in the
    # normal range, half the smallest subnormal below it; times the group's scale. The float32
    # multiplications by 1/s and by s add at most a few float32 ulps.
    half_step = np.maximum(np.abs(x) * 2.0 ** -(fmt.mantissa_bits + 1), s * fmt.min_subnormal / 2)
    slack = 4 * 2.0**-24 * (np.abs(x) + half_step)
    assert np.all(np.abs(x - x_hat) <= half_step + slack)


@settings(max_examples=60, deadline=None)
@given(x=matrices, granularity=st.sampled_from(GRANULARITIES))
def test_each_group_max_lands_on_the_format_max(x, granularity):
    codes, scales = quantize(x, E4M3, granularity, BLOCK)
    values = np.abs(decode(codes, E4M3))
    group_max = brute_force_scales(values, granularity, BLOCK, E4M3) * np.float32(448)
    scales = brute_force_scales(np.abs(x), granularity, BLOCK, E4M3)
    # all-zero groups keep scale 1; groups so tiny that max / 448 < 2**-126 get the floored
    # scale 2**-126 (documented in quantize), so their max lands below 448, not on it
    regular = (scales != 1) & (scales > np.float32(2.0**-126))
    np.testing.assert_allclose(group_max[regular], 448.0, rtol=1e-6)
    assert np.all(group_max[scales == np.float32(2.0**-126)] <= 448.0)


def test_outliers_hurt_a_tensor_scale_more_than_tiles():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 512)).astype(np.float32)
    x[3, 7] = 1e5  # one outlier, in the first 128 x 128 block
    # with a single scale, 1e5 -> 448 pushes |x| < 1e5 * 2**-6 / 448 ~ 3.5 into subnormals
    err = {g: np.linalg.norm(fake_quantize(x, E4M3, g, 128)[128:] - x[128:]) for g in GRANULARITIES}
    # rows far from the outlier keep their own scale under row, tile and block scaling
    assert err["tile"] <= err["row"] < err["tensor"] / 3
    assert err["block"] < err["tensor"] / 3


def test_hand_worked_tile_quantisation():
    x = np.array([[448.0, 1.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    codes, scales = quantize(x, E4M3, "tile", 4)
    np.testing.assert_array_equal(scales, [[1.0, 1.0]])  # max 448 -> scale 1; zeros -> 1
    np.testing.assert_array_equal(codes[0, :3], [0x7E, 0x38, 0xC0])  # 448, 1.0, -2.0


def test_exact_fp8_inputs_multiply_exactly():
    # integers up to 16 are exact in E4M3; with 16 in each tensor the scale is 16/448, which
    # maps them to k * 28 (exact in E4M3 for the k below) and back exactly.
    a = np.array([[1.0, 2.0, 4.0, 16.0]], dtype=np.float32)
    b = np.array([[1.0], [-2.0], [16.0], [0.5]], dtype=np.float32)
    got = fp8_matmul(a, b, "tensor", "tensor", block=4)
    assert got.shape == (1, 1) and float(got[0, 0]) == 1 - 4 + 64 + 8


def test_round_significand_against_frexp_formula():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(10_000) * 10.0 ** rng.uniform(-5, 5, 10_000)).astype(np.float32)
    for bits in (4, 10, 14):
        m, e = np.frexp(x.astype(np.float64))
        expected = np.ldexp(np.trunc(np.ldexp(m, bits)), e - bits)
        np.testing.assert_array_equal(round_significand(x, bits, "truncate"), expected)
    # bfloat16 keeps 8 significant bits: rounding to nearest must agree with ml_dtypes
    bf16 = x.astype(ml_dtypes.bfloat16).astype(np.float32)
    np.testing.assert_array_equal(round_significand(x, 8, "nearest"), bf16)


def test_limited_sum_hand_worked():
    ones = np.ones(32, dtype=np.float32)
    assert float(limited_sum(ones, 4, None)) == 16.0  # 17 needs 5 bits: stuck at 16
    assert float(limited_sum(ones, 4, 8)) == 32.0  # each group of 8 is exact
    assert float(limited_sum(ones, 4, 16)) == 32.0
    # nearest rounding: 16 + 1 = 17 -> 16 (tie to even), stuck as well
    assert float(limited_sum(ones, 4, None, "nearest")) == 16.0


def test_limited_sum_with_24_bits_is_the_sequential_float32_sum():
    rng = np.random.default_rng(3)
    v = rng.standard_normal((5, 300)).astype(np.float32)
    sequential = np.add.accumulate(v, axis=-1, dtype=np.float32)[:, -1]
    np.testing.assert_array_equal(limited_sum(v, 24, None), sequential)


def test_promotion_removes_the_growth_with_k():
    rng = np.random.default_rng(4)
    p = rng.random((64, 4096), dtype=np.float32)
    exact = p.astype(np.float64).sum(-1)
    err_none = np.abs(limited_sum(p, 14, None) - exact) / exact
    err_128 = np.abs(limited_sum(p, 14, 128) - exact) / exact
    assert err_128.max() < err_none.max() / 10


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda: quantize(np.ones((2, 8)), E4M3, "column"), ValueError, "granularity must be"),
        (lambda: quantize(np.ones((2, 6)), E4M3, "tile", 4), ValueError, "multiple of block=4"),
        (lambda: quantize(np.ones((4, 6)), E4M3, "block", 4), ValueError, "pad with zeros"),
        (lambda: quantize(np.ones(8), E4M3, "block", 4), ValueError, "at least 2 dimensions"),
        (lambda: quantize(np.ones((2, 8)), E4M3, "tile", 0), ValueError, "block must be >= 1"),
        (lambda: quantize(np.ones((2, 8)), E4M3, "tile", 2.5), TypeError, "block must be an int"),
        (lambda: quantize(np.array([1.0, np.nan]), E4M3, "row"), ValueError, "NaN or inf"),
        (lambda: quantize(np.arange(4), E4M3, "row"), TypeError, "floating"),
        (lambda: quantize(np.ones(4), "fp8", "row"), TypeError, "fmt must be"),
        (
            lambda: dequantize(np.zeros((1, 4), np.uint8), np.array([[np.inf]]), E4M3, "row"),
            ValueError,
            "finite and > 0",
        ),
        (
            lambda: dequantize(np.zeros((1, 4), np.uint8), np.array([[0.0]]), E4M3, "row"),
            ValueError,
            "finite and > 0",
        ),
        (
            lambda: dequantize(np.zeros((1, 4), np.uint8), np.ones((1, 2)), E4M3, "row"),
            ValueError,
            r"scales must have shape \(1, 1\)",
        ),
        (
            lambda: dequantize(np.zeros((1, 4)), np.ones((1, 1)), E4M3, "row"),
            TypeError,
            "uint8",
        ),
        (lambda: limited_sum(np.ones(4), 1), ValueError, "accumulator_bits must be >= 2"),
        (lambda: limited_sum(np.ones(4), 30), ValueError, "<= 24"),
        (lambda: limited_sum(np.ones(4), 14, 0), ValueError, "promote_every must be >= 1"),
        (lambda: limited_sum(np.ones(4), 14, 8, "up"), ValueError, "rounding must be"),
        (lambda: round_significand(np.ones(2), 0), ValueError, "bits must be >= 1"),
        (lambda: fp8_matmul(np.ones((2, 4)), np.ones((3, 4))), ValueError, r"\(M, K\)"),
        (
            lambda: fp8_matmul(np.ones((2, 4)), np.ones((4, 4)), accumulate="fp16"),
            ValueError,
            "accumulate must be",
        ),
    ],
)
def test_bad_input(call, exc, fragment):
    with pytest.raises(exc, match=fragment):
        call()
