"""Argument checks for the accumulator models and the FP8 GEMM that uses them.

Taught in chapter 2 ("Accumulation: 14 bits are not enough for long sums", "Why every 128
elements?", "Control: truncation or rounding?"). `labs.fp8.checks` re-exports every name.
"""

from __future__ import annotations

import math

import numpy as np

from labs.common import validate
from labs.fp8.checks_codec import check_float, check_layout, format_by_name, host_float64

__all__: list[str] = []  # internal: the public entry points live in the kernel modules

FLOAT32_BITS = 24  # significant bits of a float32, the implicit leading 1 included
ROUNDINGS = ("truncate", "nearest")
ACCUMULATIONS = ("fp32", "limited")
# The limited accumulator holds all M * N * K products at once and loops over K in Python.
MAX_LIMITED_PRODUCTS = 2**24
# The aligned accumulator's domain: 2**-100 <= |value| <= 2**100, far beyond any FP8 product
# (E4M3 products lie between 2**-18 and about 2**17.6), so that every power-of-two shift it
# applies stays inside float32's normal exponents in each framework.
ALIGNED_RANGE = (2.0**-100, 2.0**100)


def check_bits(name: str, bits, minimum: int = 1) -> int:
    """A number of significant bits a float32 can hold: an int in [minimum, 24]."""
    bits = validate.integer(name, bits, minimum=minimum)
    if bits > FLOAT32_BITS:
        raise ValueError(f"{name} must be <= 24 (float32 holds 24 significant bits), got {bits}")
    return bits


def check_round(x, bits, rounding, *, framework: str = "numpy"):
    """The arguments of round_significand: (x, bits); bits in 1..24 in every framework."""
    x = check_float("x", x, framework=framework, min_ndim=0)
    validate.one_of("rounding", rounding, ROUNDINGS)
    return x, check_bits("bits", bits)


def check_accumulation(accumulator_bits, promote_every, rounding) -> tuple:
    """The accumulator model's arguments (bits in [2, 24], promote_every >= 1 or None)."""
    bits = check_bits("accumulator_bits", accumulator_bits, minimum=2)
    if promote_every is not None:  # JAX's scan counts K in int32
        promote_every = validate.size("promote_every", promote_every, maximum=2**31 - 1)
    validate.one_of("rounding", rounding, ROUNDINGS)
    return bits, promote_every, rounding


def check_aligned(accumulator_bits, group, promote_every) -> tuple[int, int, int | None]:
    """The aligned accumulator's (bits, group, promote_every): the group's sum of group + 1
    integers below 2**bits must stay exact in float32, and promotion falls on group ends."""
    group = validate.size("group", group, maximum=2**20)
    headroom = math.ceil(math.log2(group + 1))  # bits the sum of group + 1 terms can carry
    bits = check_bits("accumulator_bits", accumulator_bits, minimum=2)
    if bits + headroom > FLOAT32_BITS:
        raise ValueError(
            f"accumulator_bits must be <= {FLOAT32_BITS - headroom} with group={group} (the sum "
            f"of {group + 1} aligned {bits}-bit terms must stay exact in float32), got {bits}"
        )
    if promote_every is not None:
        promote_every = validate.size("promote_every", promote_every, maximum=2**31 - 1)
        if promote_every % group:
            raise ValueError(
                f"promote_every must be a multiple of group={group} (promotion happens between "
                f"groups), got {promote_every}"
            )
    return bits, group, promote_every


def check_aligned_values(values, *, framework: str):
    """Finite float values with every nonzero magnitude inside ALIGNED_RANGE (on the host)."""
    values = check_float("values", values, framework=framework)
    host = host_float64(values, framework)
    if host is not None and host.size:
        magnitude = np.abs(host.astype(np.float64))
        nonzero = magnitude[magnitude > 0]
        lo, hi = ALIGNED_RANGE
        if nonzero.size and (nonzero.min() < lo or nonzero.max() > hi):
            raise ValueError(
                f"values must be 0 or of magnitude in [2**-100, 2**100] (the model's shifts stay "
                f"in float32's exponents), got magnitudes from {nonzero.min():.3g} to "
                f"{nonzero.max():.3g}"
            )
    return values


def check_dot_products(lengths, trials, *accumulator, maximum: int) -> tuple:
    """The lengths K (a non-empty sequence of ints >= 1) and trials, with trials * K <= maximum,
    then the accumulator's (bits, promote_every, rounding): (lengths, trials, *accumulator)."""
    if isinstance(lengths, (str, bytes)) or not hasattr(lengths, "__iter__"):
        raise TypeError(
            f"lengths must be a sequence of ints, got {validate.describe_value(lengths)}"
        )
    lengths = [validate.integer(f"lengths[{i}]", k, minimum=1) for i, k in enumerate(lengths)]
    if not lengths:
        raise ValueError("lengths must name at least one K")
    trials = validate.size("trials", trials, maximum=maximum, why="trials * K products are held")
    if trials * max(lengths) > maximum:
        raise ValueError(
            f"trials * max(lengths) must be <= {maximum} (the products are held at once and "
            f"summed in a Python loop over K), got {trials} * {max(lengths)}"
        )
    return lengths, trials, *check_accumulation(*accumulator)


def check_matmul_layout(a, b, a_granularity: str, b_granularity: str, block) -> int:
    """The groups of `fp8_matmul`: a's along its rows, b's along its columns (through b.T)."""
    block = check_layout(tuple(a.shape), a_granularity, block, name="a", what="a_granularity")
    return check_layout(tuple(b.T.shape), b_granularity, block, name="b.T", what="b_granularity")


def check_fp8_matmul(a, b, a_granularity, b_granularity, accumulate, block, fmt, *, framework):
    """The operands and layout of fp8_matmul: (a, b, format, block). The accumulator's options
    are checked by `check_accumulation`."""

    a = check_float("a", a, framework=framework, min_ndim=2)
    b = check_float("b", b, framework=framework, min_ndim=2)
    if framework == "torch":
        validate.same_device(("a", a), ("b", b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(
            f"a and b must be (M, K) and (K, N) matrices, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    validate.one_of("accumulate", accumulate, ACCUMULATIONS)
    (m, k), n = a.shape, b.shape[1]
    if accumulate == "limited" and m * n * k > MAX_LIMITED_PRODUCTS:
        raise ValueError(
            f"a and b give M * N * K = {m * n * k} products, more than the limited accumulator's "
            f"{MAX_LIMITED_PRODUCTS} (it holds them all and loops over K in Python): use "
            "accumulate='fp32' or smaller matrices"
        )
    block = check_matmul_layout(a, b, a_granularity, b_granularity, block)
    return a, b, format_by_name(fmt), block
