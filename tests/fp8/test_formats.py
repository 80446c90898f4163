"""The codec against ml_dtypes (an independent implementation) and the papers' format limits."""

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.common.facts import fact
from labs.fp8 import E4M3, E5M2, bit_string, decode, encode, round_to_bfloat16, round_to_format

ML = {"E4M3": ml_dtypes.float8_e4m3fn, "E5M2": ml_dtypes.float8_e5m2}
FORMATS = [E4M3, E5M2]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_limits_match_the_paper_and_ml_dtypes(fmt):
    key = fmt.name.lower()
    assert fmt.max_finite == fact(f"fp8_{key}_max").value
    assert fmt.min_subnormal == fact(f"fp8_{key}_min_subnormal").value
    info = ml_dtypes.finfo(ML[fmt.name])
    assert fmt.max_finite == float(info.max)
    assert fmt.min_normal == float(info.smallest_normal)
    assert fmt.min_subnormal == float(info.smallest_subnormal)
    assert fmt.epsilon == float(info.eps)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_all_256_codes_decode_like_ml_dtypes(fmt):
    codes = np.arange(256, dtype=np.uint8)
    expected = codes.view(ML[fmt.name]).astype(np.float32)
    got = decode(codes, fmt)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)  # NaN == NaN for assert_array_equal
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))  # -0.0 kept


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_every_non_nan_code_round_trips(fmt):
    codes = np.arange(256, dtype=np.uint8)
    values = decode(codes, fmt)
    keep = ~np.isnan(values)
    np.testing.assert_array_equal(encode(values[keep], fmt, saturate=False), codes[keep])


def random_values(fmt, n=100_000, seed=0) -> np.ndarray:
    """Values across the whole range: normals, subnormals, exact ties, near and past the max."""
    rng = np.random.default_rng(seed)
    finite = np.unique(fmt.values[np.isfinite(fmt.values)])
    ties = (finite[:-1] + finite[1:]) / 2  # exact midpoints, both signs (float32-exact)
    parts = [
        rng.standard_normal(n // 4) * np.exp2(rng.uniform(-20, 18, n // 4)),  # all magnitudes
        rng.uniform(-fmt.min_normal, fmt.min_normal, n // 4),  # the subnormal range
        rng.choice(ties, n // 4),
        rng.uniform(0.9, 1.2, n - 3 * (n // 4)) * fmt.max_finite * rng.choice([-1, 1]),
    ]
    return np.concatenate(parts).astype(np.float32)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_100k_random_values_encode_like_ml_dtypes(fmt):
    x = random_values(fmt)
    assert x.size == 100_000
    expected = x.astype(ML[fmt.name]).view(np.uint8)
    np.testing.assert_array_equal(encode(x, fmt, saturate=False), expected)


def test_float64_is_rounded_once():
    # 1.0625 * (1 + 2**-30) lies just above the tie between 1.0 and 1.125, so it rounds up.
    # Through float32 first it becomes the tie itself and rounds to even: 1.0, the control.
    x = np.float64(1.0625) * (1 + 2.0**-30)
    assert float(decode(encode(x, E4M3), E4M3)) == 1.125
    assert float(decode(encode(np.float32(x), E4M3), E4M3)) == 1.0
    # ml_dtypes went through float32 up to 0.6 (the course's pin); 0.7 rounds float64 once
    once = tuple(int(part) for part in ml_dtypes.__version__.split(".")[:2]) >= (0, 7)
    assert float(np.asarray(x).astype(ml_dtypes.float8_e4m3fn)) == (1.125 if once else 1.0)


def test_ties_go_to_even():
    # 1.0625 lies halfway between 1.0 (mantissa 000) and 1.125 (001): even wins, 1.0.
    assert decode(encode(1.0625, E4M3), E4M3) == 1.0
    # 1.1875 lies halfway between 1.125 (001) and 1.25 (010): even wins, 1.25.
    assert decode(encode(1.1875, E4M3), E4M3) == 1.25
    # E4M3 max 448 = 1.110 * 2^8; halfway to the next step (464) ties to the even 448.
    assert decode(encode(464.0, E4M3, saturate=False), E4M3) == 448.0
    # E5M2 max 57344 = 1.11 * 2^15 is odd: its tie 61440 rounds up, past the max, to inf.
    assert np.isinf(decode(encode(61440.0, E5M2, saturate=False), E5M2))


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_overflow_saturates_by_default(fmt):
    big = np.array([1e6, -1e6, np.inf, -np.inf, fmt.max_finite * 1.2], dtype=np.float32)
    got = decode(encode(big, fmt), fmt)
    np.testing.assert_array_equal(got, np.sign(big) * fmt.max_finite)


def test_overflow_without_saturation_is_nan_for_e4m3_and_inf_for_e5m2():
    big = np.array([1e6, -1e6, np.inf], dtype=np.float32)
    assert np.isnan(decode(encode(big, E4M3, saturate=False), E4M3)).all()
    np.testing.assert_array_equal(
        decode(encode(big, E5M2, saturate=False), E5M2), [np.inf, -np.inf, np.inf]
    )


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
@pytest.mark.parametrize("saturate", [True, False])
def test_nan_stays_nan(fmt, saturate):
    assert np.isnan(decode(encode(np.nan, fmt, saturate), fmt))


@settings(max_examples=200, deadline=None)
@given(x=st.floats(-600.0, 600.0, allow_nan=False, width=32))
def test_round_to_format_is_the_nearest_value_brute_force(x):
    finite = E4M3.values[np.isfinite(E4M3.values)]
    got = float(round_to_format(np.float32(x), E4M3, saturate=True))
    best = np.min(np.abs(finite - np.clip(x, -448, 448)))
    assert abs(got - np.clip(x, -448, 448)) == best


def test_round_to_bfloat16_matches_ml_dtypes():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(50_000) * np.exp2(rng.uniform(-60, 60, 50_000))).astype(np.float32)
    expected = x.astype(ml_dtypes.bfloat16).astype(np.float32)
    np.testing.assert_array_equal(round_to_bfloat16(x), expected)


def test_bit_strings():
    assert bit_string(0x38, E4M3) == "0 0111 000"
    assert bit_string(0x3C, E5M2) == "0 01111 00"
    assert float(decode(np.uint8(0x3C), E5M2)) == 1.0


@pytest.mark.parametrize(
    "call, exc, fragment",
    [
        (lambda: encode(1.0, "E3M4"), TypeError, "fmt must be"),
        (lambda: encode(np.array(["a"]), E4M3), TypeError, "x must hold real numbers"),
        (lambda: encode(1.0, E4M3, saturate="yes"), TypeError, "saturate must be a bool"),
        (lambda: decode(np.array([1.5]), E4M3), TypeError, "codes must be uint8"),
        (lambda: decode(np.array([300]), E4M3), ValueError, "0..255"),
        (lambda: bit_string(256, E4M3), ValueError, "0..255"),
        (lambda: round_to_bfloat16(np.array([1, 2])), TypeError, "floating"),
    ],
)
def test_bad_input(call, exc, fragment):
    with pytest.raises(exc, match=fragment):
        call()


def test_format_names_are_accepted():
    assert float(decode(encode(2.0, "e4m3"), "E4M3")) == 2.0


def test_the_framework_free_package_imports_neither_torch_nor_jax():
    import subprocess
    import sys

    code = (
        "import sys, labs.fp8, labs.fp8.widgets, labs.fp8.exercises; "
        "print(sorted(m for m in ('torch', 'jax') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
