"""The FP8 tensor-core accumulator DeepSeek-V3 describes (§3.5.2), in NumPy.

V3's hardware section reports what its experiments found inside the Hopper tensor cores: FP8
GEMMs use fixed-point accumulation. The products of a group (32 of them, in the revised wording)
are aligned by right-shifting each to the group's largest exponent, only the highest 14 bits of
each aligned product are kept (after a sign-fill right shift, the bits beyond are truncated), and
the register that accumulates the groups' sums also holds 14 bits. A sign-fill (arithmetic) right
shift of a two's-complement number rounds toward minus infinity, so truncation here is `floor`,
not a cut toward zero: the two agree on positive sums and differ on mixed signs.

The model, for a running sum r and the next group of products p_1..p_G,

    e = the exponent of max(|r|, |p_1|, ..., |p_G|)          (|t| < 2**e)
    r = sum_i floor(t_i * 2**(b - e)) * 2**(e - b)      over t = (r, p_1, ..., p_G)      (4a)
    r = floor(r * 2**(b - e_r)) * 2**(e_r - b)          (the register keeps b bits)

§3.5.2 does not say whether the running sum takes part in a group's alignment; (4a) is the
reading in which it does. In the other reading, (4b) (`running_sum_aligned=False`), only the
group's products are aligned among themselves, and their sum s is then added into the register:

    e = the exponent of max(|p_1|, ..., |p_G|)
    s = sum_i floor(p_i * 2**(b - e)) * 2**(e - b)                                       (4b)
    r = floor(r + s) to b significant bits (the exact sum r + s, floored)

so the running sum's coarse step truncates once per group, not once per product.

In both, every `promote_every` products (a multiple of G) r is added into a float32 total and reset,
V3's promotion to CUDA cores. Each aligned term is an integer below 2**b times a power of two, so
the group's sum is exact in float32 when b + log2(G + 1) <= 24: the result does not depend on
the order of the additions, and NumPy, torch and JAX agree bit for bit.

Taught in chapter 2 ("Accumulation: 14 bits are not enough for long sums").
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float

from labs.common import validate
from labs.fp8 import checks

__all__ = ["aligned_sum"]

ROUNDINGS = ("truncate", "nearest")


def aligned_sum(
    values,
    accumulator_bits: int = 14,
    group: int = 32,
    promote_every: int | None = None,
    rounding: str = "truncate",
    running_sum_aligned: bool = True,
) -> np.ndarray:
    """Sum `values` along the last axis in V3's fixed-point tensor-core accumulator (§3.5.2).

    Each group of `group` values is aligned, with the running sum, to their largest exponent;
    each term keeps its highest `accumulator_bits` bits, floored (a sign-fill right shift); the
    register keeps as many (4a). With `running_sum_aligned=False`, only the group's values are
    aligned among themselves, and their sum is added into the register, which floors the exact
    sum to `accumulator_bits` significant bits (4b). A last, shorter group is summed too.

    Args:
        values: finite floating array, shape (..., K); nonzero magnitudes in [2**-100, 2**100].
        accumulator_bits: 2..24 - ceil(log2(group + 1)) (14 in V3).
        group: products aligned together, >= 1 (32 in V3's revised wording).
        promote_every: None (never) or a multiple of `group`: the running sum is added into a
            float32 total and restarts from zero (V3: 128).
        rounding: "truncate" (floor, as §3.5.2 describes) or "nearest" (each aligned term and
            the register rounded to the nearest step, ties to even): the control that changes
            the rounding mode alone.
        running_sum_aligned: True for (4a), the running sum aligned with each group's values;
            False for (4b), the group's values aligned among themselves and their sum added
            into the register (rounded as `rounding` says).

    Returns:
        float32 array of shape (...).
    """
    bits, group, promote_every = checks.check_aligned(accumulator_bits, group, promote_every)
    rounding = validate.one_of("rounding", rounding, ROUNDINGS)
    running_sum_aligned = validate.boolean("running_sum_aligned", running_sum_aligned)
    values = checks.check_aligned_values(values, framework="numpy")
    return _aligned_sum(values, bits, group, promote_every, rounding, running_sum_aligned)


def _floor_to_bits(
    t: Float[np.ndarray, "*s T"], shift, rounding: str = "truncate"
) -> Float[np.ndarray, "*s T"]:
    """floor(t * 2**shift) (or rint, ties to even, for "nearest"), in float32: the aligned
    integer part of each term."""
    integer = np.floor if rounding == "truncate" else np.rint
    return integer(np.ldexp(t, shift)).astype(np.float32)


def _round_to_bits(
    x: Float[np.ndarray, "*s"], bits: int, rounding: str = "truncate"
) -> Float[np.ndarray, "*s"]:
    """x floored (or rounded to nearest) to `bits` significant bits, in float32."""
    _, e = np.frexp(x)
    shift = (bits - e).astype(np.int32)
    return np.ldexp(_floor_to_bits(x, shift, rounding), -shift).astype(np.float32)


def _register_add(
    running: Float[np.ndarray, "*s"], s: Float[np.ndarray, "*s"], bits: int, rounding: str
) -> Float[np.ndarray, "*s"]:
    """The exact sum running + s rounded to `bits` significant bits (4b's register), in float32.

    x = fl(running + s) may miss the exact sum by up to half a float32 ulp; Fast2Sum gives the
    remainder exactly. Every `bits`-bit number and every tie between two of them is a float32,
    so none lies strictly between the exact sum and x: x rounds as the exact sum does, unless x
    is itself such a point and the remainder is nonzero. Then x's float32 neighbour on the exact
    sum's side rounds as the exact sum does (flooring: where the remainder is negative, the
    neighbour below, always correct; nearest: where x is a tie, the neighbour toward the sum).
    """
    x = (running + s).astype(np.float32)
    keep = np.abs(running) >= np.abs(s)
    remainder = np.where(keep, s, running) - (x - np.where(keep, running, s))  # exact: Fast2Sum
    if rounding == "truncate":
        moved = np.where(remainder < 0, np.nextafter(x, np.float32(-np.inf)), x)
    else:
        _, e = np.frexp(x)
        scaled = np.ldexp(x, (bits - e).astype(np.int32))
        tie = (scaled - np.floor(scaled) == 0.5) & (remainder != 0)
        toward = np.where(remainder < 0, -np.inf, np.inf).astype(np.float32)
        moved = np.where(tie, np.nextafter(x, toward), x)
    return _round_to_bits(moved.astype(np.float32), bits, rounding)


def _aligned_sum(
    values: Float[np.ndarray, "*s K"],
    bits: int,
    group: int,
    promote_every: int | None,
    rounding: str = "truncate",
    running_sum_aligned: bool = True,
) -> Float[np.ndarray, "*s"]:
    """Groups of `group` values aligned to their largest exponent, `bits` kept, floored (4a), or
    (4b) without the running sum in the alignment (rounded to nearest with rounding="nearest")."""
    total = np.zeros(values.shape[:-1], dtype=np.float32)
    running = np.zeros_like(total)
    for start in range(0, values.shape[-1], group):
        terms = values[..., start : start + group]
        if running_sum_aligned:
            terms = np.concatenate([running[..., None], terms], axis=-1)
        _, e = np.frexp(np.abs(terms).max(axis=-1))  # max |t| < 2**e
        shift = (bits - e).astype(np.int32)
        aligned = _floor_to_bits(terms, shift[..., None], rounding).sum(axis=-1, dtype=np.float32)
        aligned = np.ldexp(aligned, -shift).astype(np.float32)  # exact: integers below 2**24
        if running_sum_aligned:
            running = _round_to_bits(aligned, bits, rounding)
        else:
            running = _register_add(running, aligned, bits, rounding)
        if promote_every is not None and (start + group) % promote_every == 0:
            total, running = total + running, np.zeros_like(running)  # promotion to FP32
    return total + running
