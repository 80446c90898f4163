"""V3's fixed-point accumulator (§3.5.2): hand-worked sums, three-framework parity, bad input.

Every expected sum below is worked by hand from the rule in labs.fp8.accumulator (the arithmetic
sits beside each case), not produced by the package.
"""

import math
from fractions import Fraction

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from labs.fp8 import aligned_sum, dot_product_errors
from labs.fp8 import jax as fj
from labs.fp8 import torch as ft
from labs.fp8.accumulator import _register_add, _round_to_bits

HAND = [
    # 64 ones, 4 bits, groups of 4: 4, 8, 12, 16; then 16 sets the exponent (16 < 2**5), the
    # step is 2**(5 - 4) = 2 and each 1 floors to 0: stuck at 16
    (np.ones(64), 4, 4, None, 16.0),
    # four 0.75 in one group, 2 bits: step 2**(0 - 2) = 0.25 holds 0.75 exactly, sum 3 = 11b.
    # A sequential 2-bit sum would give 2 (0.75, 1.5, 2.25 -> 2, 2.75 -> 2)
    (np.full(4, 0.75), 2, 4, None, 3.0),
    # 4 and -1.5, 2 bits: step 2**(3 - 2) = 2; floor(-1.5 / 2) = -1 -> -2 (sign-fill shift
    # floors; a cut toward zero would keep 4): 4 - 2 = 2
    (np.array([4.0, -1.5]), 2, 2, None, 2.0),
    # five ones, 3 bits, groups of 2: 2, then 4, then the last, shorter group: 5 = 101b
    (np.ones(5), 3, 2, None, 5.0),
    # three 1.5, 2 bits: exact terms sum to 4.5 = 100.1b; the register keeps 2 bits: 4
    (np.full(3, 1.5), 2, 3, None, 4.0),
    # -1, -1, -0.25 with 2 bits: step 0.5, -0.25 floors to -0.5; -2.5 in a 2-bit register
    # floors to -3
    (np.array([-1.0, -1.0, -0.25]), 2, 3, None, -3.0),
    # 32 ones, 4 bits, groups of 4, promoted every 8: each promoted part is exactly 8
    (np.ones(32), 4, 4, 8, 32.0),
]


@pytest.mark.parametrize(("values", "bits", "group", "promote", "expected"), HAND)
def test_hand_worked_sums_in_three_frameworks(values, bits, group, promote, expected):
    v = values.astype(np.float32)
    assert float(aligned_sum(v, bits, group, promote)) == expected
    assert float(ft.aligned_sum(torch.from_numpy(v), bits, group, promote)) == expected
    assert float(fj.aligned_sum(jnp.asarray(v), bits, group, promote)) == expected


HAND_4B = [
    # (values, bits, group, (4b), (4a)): the products of a group aligned among themselves, their
    # sum s added into the register, which floors the exact r + s to `bits` significant bits.
    # 64 ones, 4 bits, groups of 4: each group sums to 4 exactly, and every multiple of 4 up to
    # 64 has at most 4 significant bits: 64. (4a) aligns the 1s with r = 16 and floors them: 16
    (np.ones(64), 4, 4, 64.0, 16.0),
    # 4, 0 | 1.5, 1.5 with 2 bits: the second group alone has step 2**(1 - 2) = 0.5, s = 3; the
    # register floors 4 + 3 = 7 = 111b to 110b = 6. (4a): step 2 from r = 4, each 1.5 floors to
    # 0: 4
    (np.array([4.0, 0.0, 1.5, 1.5]), 2, 2, 6.0, 4.0),
    # -4, 0 | 1.5, 0 with 2 bits: s = 1.5 exactly; -4 + 1.5 = -2.5 floors to -3 in a 2-bit
    # register (toward -inf, not -2). (4a): step 2, 1.5 floors to 0: -4
    (np.array([-4.0, 0.0, 1.5, 0.0]), 2, 2, -3.0, -4.0),
    # 1024, -2**-20 with 3 bits, groups of 1: the exact sum 1024 - 2**-20 lies below 1024, whose
    # floor to 3 bits is 111b * 2**7 = 896 (its float32 sum would be 1024). (4a): step 2**8
    # from 1024, -2**-20 floors to -256: 768
    (np.array([1024.0, -(2.0**-20)]), 3, 1, 896.0, 768.0),
]


@pytest.mark.parametrize(("values", "bits", "group", "products_only", "with_running"), HAND_4B)
def test_hand_worked_sums_of_the_second_reading_4b(
    values, bits, group, products_only, with_running
):
    v = values.astype(np.float32)
    assert float(aligned_sum(v, bits, group)) == with_running  # the default is (4a)
    for fn, wrap in (
        (aligned_sum, np.asarray),
        (ft.aligned_sum, torch.from_numpy),
        (fj.aligned_sum, jnp.asarray),
    ):
        assert float(fn(wrap(v), bits, group, running_sum_aligned=False)) == products_only


def _exact_to_bits(y: Fraction, bits: int, rounding: str) -> Fraction:
    """y rounded to `bits` significant bits, exactly: floor, or nearest with ties to even."""
    if y == 0:
        return y
    e = 0  # |y| < 2**e <= 2|y|
    while abs(y) >= Fraction(2) ** e:
        e += 1
    while abs(y) < Fraction(2) ** (e - 1):
        e -= 1
    q = y / Fraction(2) ** (e - bits)
    n = math.floor(q)
    if rounding == "nearest" and (q - n > Fraction(1, 2) or (q - n == Fraction(1, 2) and n % 2)):
        n += 1
    return n * Fraction(2) ** (e - bits)


@pytest.mark.parametrize("rounding", ["truncate", "nearest"])
def test_the_4b_register_rounds_the_exact_sum_in_three_frameworks(rounding):
    # (4b)'s register add r + s where float32's sum is inexact: s far below r, and sums whose
    # float32 value is a tie at `bits` bits while the exact sum is not (the remainder decides).
    # Reference: exact rational arithmetic
    rng = np.random.default_rng(5)
    bits = 14
    r = _round_to_bits(rng.standard_normal(400).astype(np.float32) * 2.0**10, bits, "truncate")
    offsets = rng.standard_normal(400) * 2.0 ** rng.integers(-30, 8, 400)
    half_step = np.ldexp(1.0, np.frexp(r)[1] - bits - 1)  # ties of r's binade
    offsets[::4] = (
        half_step[::4] * rng.choice([-1, 1, 3], 100) + rng.choice([-1, 1], 100) * 2.0**-15
    )
    s = offsets.astype(np.float32)
    want = [
        _exact_to_bits(Fraction(float(a)) + Fraction(float(b)), bits, rounding)
        for a, b in zip(r, s, strict=True)
    ]
    inexact = (r + s).astype(np.float64) != r.astype(np.float64) + s.astype(np.float64)
    assert inexact.sum() > 100  # the cases that need the remainder
    got = {
        "numpy": _register_add(r, s, bits, rounding),
        "torch": ft._register_add(torch.from_numpy(r), torch.from_numpy(s), bits, rounding).numpy(),
        "jax": np.asarray(fj._register_add(jnp.asarray(r), jnp.asarray(s), bits, rounding)),
    }
    for name, values in got.items():
        assert [Fraction(float(v)) for v in values] == want, name


NEAREST = [
    # 4 and 1.5, 2 bits: step 2; 1.5 / 2 = 0.75 rounds to 1 -> 2 (floor: 0), 4 + 2 = 6 = 110b
    (np.array([4.0, 1.5]), 2, 2, 6.0, 4.0),
    # 4 and 3, 2 bits: 3 / 2 = 1.5, a tie, to even: 2 -> 4 (floor: 1 -> 2), 4 + 4 = 8
    (np.array([4.0, 3.0]), 2, 2, 8.0, 6.0),
    # -1, -1, -0.25 with 2 bits: step 0.5, -0.25 / 0.5 = -0.5 ties to 0 (floor: -1): -2 exactly
    (np.array([-1.0, -1.0, -0.25]), 2, 3, -2.0, -3.0),
    # 4 and 1, 2 bits: 1 / 2 = 0.5 ties to 0, as floor does: 4 both ways
    (np.array([4.0, 1.0]), 2, 2, 4.0, 4.0),
]


@pytest.mark.parametrize(("values", "bits", "group", "nearest", "truncated"), NEAREST)
def test_rounding_to_nearest_changes_only_the_rounding(values, bits, group, nearest, truncated):
    v = values.astype(np.float32)
    assert float(aligned_sum(v, bits, group)) == truncated  # the default floors
    assert float(aligned_sum(v, bits, group, rounding="nearest")) == nearest
    assert float(ft.aligned_sum(torch.from_numpy(v), bits, group, rounding="nearest")) == nearest
    assert float(fj.aligned_sum(jnp.asarray(v), bits, group, rounding="nearest")) == nearest


@pytest.mark.parametrize("running_sum_aligned", [True, False])
@pytest.mark.parametrize("rounding", ["truncate", "nearest"])
@pytest.mark.parametrize(
    ("bits", "group", "promote"), [(14, 32, None), (14, 32, 128), (18, 32, 64)]
)
def test_numpy_torch_jax_agree_bit_for_bit(bits, group, promote, rounding, running_sum_aligned):
    # the group sums are sums of integers below 2**24: exact, so the order of additions cannot
    # matter and the frameworks must agree exactly (tolerance 0)
    rng = np.random.default_rng(3)
    v = (rng.standard_normal((4, 6, 300)) * 10.0 ** rng.integers(-3, 4, (4, 6, 1))).astype(
        np.float32
    )
    args = (bits, group, promote, rounding, running_sum_aligned)
    want = aligned_sum(v, *args)
    assert want.shape == (4, 6)
    np.testing.assert_array_equal(ft.aligned_sum(torch.from_numpy(v), *args), want)
    np.testing.assert_array_equal(np.asarray(fj.aligned_sum(jnp.asarray(v), *args)), want)
    if not running_sum_aligned:  # and (4b) is not (4a) under another name
        assert np.any(want != aligned_sum(v, bits, group, promote, rounding))


def test_more_bits_approach_the_exact_sum_and_floor_is_biased_down():
    rng = np.random.default_rng(0)
    v = rng.random((16, 2048), dtype=np.float32)
    exact = v.astype(np.float64).sum(axis=-1)
    err = [np.max(np.abs(aligned_sum(v, b, 32) - exact) / exact) for b in (10, 14, 18)]
    assert err[0] > 8 * err[1] > 64 * err[2] > 0
    assert np.all(aligned_sum(v, 14, 32) <= exact)  # floors never round up
    # rounding to nearest errs both ways, and far less on positive values
    near = aligned_sum(v, 14, 32, rounding="nearest") - exact
    assert np.any(near > 0) and np.any(near < 0)
    assert np.max(np.abs(near) / exact) < err[1] / 4


def test_dot_product_errors_with_groups_match_the_hand_scale():
    # positive products, 14 bits, unpromoted: the error grows with K; promotion every 128 keeps
    # it below a tenth of the unpromoted error at K = 2048
    grown = dot_product_errors([128, 2048], trials=8, group=32)
    promoted = dot_product_errors([2048], trials=8, group=32, promote_every=128)
    assert grown[1] > 8 * grown[0] and promoted[0] < grown[1] / 10


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"group": 0}, ValueError, "group"),
        ({"group": 2.5}, TypeError, "group"),
        ({"accumulator_bits": 19}, ValueError, "accumulator_bits"),
        ({"accumulator_bits": 1}, ValueError, "accumulator_bits"),
        ({"promote_every": 100}, ValueError, "promote_every must be a multiple of group"),
        ({"values": np.full(4, 1e-35, np.float32)}, ValueError, "values"),
        ({"values": np.array([1.0, np.nan], np.float32)}, ValueError, "values"),
        ({"values": np.arange(4)}, TypeError, "values"),
        ({"rounding": "up"}, ValueError, "rounding"),
        ({"running_sum_aligned": 0}, TypeError, "running_sum_aligned"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, error, match):
    args = {"values": np.ones(64, np.float32), "accumulator_bits": 14, "group": 32} | kwargs
    for fn, wrap in (
        (aligned_sum, np.asarray),
        (ft.aligned_sum, torch.from_numpy),
        (fj.aligned_sum, jnp.asarray),
    ):
        a = dict(args, values=wrap(args["values"]))
        with pytest.raises(error, match=match):
            fn(**a)


def test_dot_product_errors_with_groups_rounds_as_asked():
    # the same products (same seed) summed by (4a): rounding to nearest errs far less than
    # flooring at K = 2048, and an unknown mode is refused by name
    floored = dot_product_errors([2048], trials=8, group=32)
    nearest = dot_product_errors([2048], trials=8, group=32, rounding="nearest")
    assert nearest[0] < floored[0] / 4
    with pytest.raises(ValueError, match="rounding"):
        dot_product_errors([128], trials=2, group=32, rounding="up")


def test_the_second_reading_4b_errs_far_less_on_the_same_products():
    # the same products (same seed): (4b) truncates once per group of 32 where (4a) truncates
    # every product, so at K = 2048 it errs over ten times less, still below the exact sum;
    # (4b) needs a group, and the flag must be a bool
    with_running = dot_product_errors([2048], trials=8, group=32)
    products_only = dot_product_errors([2048], trials=8, group=32, running_sum_aligned=False)
    assert 0 < products_only[0] < with_running[0] / 10
    with pytest.raises(ValueError, match="running_sum_aligned"):
        dot_product_errors([128], trials=2, running_sum_aligned=False)
    with pytest.raises(TypeError, match="running_sum_aligned"):
        dot_product_errors([128], trials=2, group=32, running_sum_aligned="no")
