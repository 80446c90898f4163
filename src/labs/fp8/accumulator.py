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

and every `promote_every` products (a multiple of G) r is added into a float32 total and reset,
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
) -> np.ndarray:
    """Sum `values` along the last axis in V3's fixed-point tensor-core accumulator (§3.5.2).

    Each group of `group` values is aligned, with the running sum, to their largest exponent;
    each term keeps its highest `accumulator_bits` bits, floored (a sign-fill right shift); the
    register keeps as many. A last, shorter group is summed too.

    Args:
        values: finite floating array, shape (..., K); nonzero magnitudes in [2**-100, 2**100].
        accumulator_bits: 2..24 - ceil(log2(group + 1)) (14 in V3).
        group: products aligned together, >= 1 (32 in V3's revised wording).
        promote_every: None (never) or a multiple of `group`: the running sum is added into a
            float32 total and restarts from zero (V3: 128).
        rounding: "truncate" (floor, as §3.5.2 describes) or "nearest" (each aligned term and
            the register rounded to the nearest step, ties to even): the control that changes
            the rounding mode alone.

    Returns:
        float32 array of shape (...).
    """
    bits, group, promote_every = checks.check_aligned(accumulator_bits, group, promote_every)
    rounding = validate.one_of("rounding", rounding, ROUNDINGS)
    values = checks.check_aligned_values(values, framework="numpy")
    return _aligned_sum(values, bits, group, promote_every, rounding)


def _floor_to_bits(
    t: Float[np.ndarray, "*s T"], shift, rounding: str = "truncate"
) -> Float[np.ndarray, "*s T"]:
    """floor(t * 2**shift) (or rint, ties to even, for "nearest"), in float32: the aligned
    integer part of each term."""
    integer = np.floor if rounding == "truncate" else np.rint
    return integer(np.ldexp(t, shift)).astype(np.float32)


def _aligned_sum(
    values: Float[np.ndarray, "*s K"],
    bits: int,
    group: int,
    promote_every: int | None,
    rounding: str = "truncate",
) -> Float[np.ndarray, "*s"]:
    """Groups of `group` values aligned to their largest exponent, `bits` kept, floored (4a)
    (rounded to nearest with rounding="nearest")."""
    total = np.zeros(values.shape[:-1], dtype=np.float32)
    running = np.zeros_like(total)
    for start in range(0, values.shape[-1], group):
        terms = np.concatenate([running[..., None], values[..., start : start + group]], axis=-1)
        _, e = np.frexp(np.abs(terms).max(axis=-1))  # max |t| < 2**e
        shift = (bits - e).astype(np.int32)
        aligned = _floor_to_bits(terms, shift[..., None], rounding).sum(axis=-1, dtype=np.float32)
        running = np.ldexp(aligned, -shift).astype(np.float32)  # exact: integers below 2**24
        _, e_r = np.frexp(running)
        shift_r = (bits - e_r).astype(np.int32)
        running = np.ldexp(_floor_to_bits(running, shift_r, rounding), -shift_r).astype(np.float32)
        if promote_every is not None and (start + group) % promote_every == 0:
            total, running = total + running, np.zeros_like(running)  # promotion to FP32
    return total + running
