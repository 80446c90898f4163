"""Rotary position embedding for chapter 3 in NumPy, and why MLA must decouple it.

`apply_rope` rotates pairs of coordinates by an angle that grows with the position (RoFormer), in
the half-split layout of this chapter's layers or the interleaved one of DeepSeek's checkpoints;
`labs.mla.reference` applies it to the queries and keys (MLA: to q^R and k^R, eqs. 14-15), and
`labs.mla.torch` and `labs.mla.jax` take their `ROPE_BASE` from here. `coupled_rope_scores` and
`scores_absorbed_without_rotation` show what goes wrong if RoPE is applied to the up-projected
key instead: the rotation sits between W^UK and the cached latent, so absorption folds the wrong
matrix into the query. `labs.mla.reference` re-exports every public name here.

Axes: B batch, T tokens, H heads, D the rotated dim, C latent d_c, S cached tokens. Taught in
chapter 3, "Why RoPE must be decoupled" and, for `interleaved`, "Loading the released weights:
two conventions".
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from labs.common.validate import boolean
from labs.mla.checks import check_rope, check_single_head

__all__ = ["ROPE_BASE", "apply_rope", "coupled_rope_scores", "scores_absorbed_without_rotation"]

ROPE_BASE = 10000.0
Array = np.ndarray


def apply_rope(x, positions, base: float = ROPE_BASE, interleaved: bool = False) -> np.ndarray:
    """Rotary position embedding (RoFormer) of x (B, T, heads, dim) at integer `positions` (T,).

    Coordinates i and i + dim/2 form a pair rotated by the angle position * base^(-2i/dim)
    (half-split, as this chapter's layers do); with `interleaved=True` the pairs are (2i, 2i + 1),
    the convention of DeepSeek-V2/V3's released checkpoints. Positions lie in [0, 2**24); `base`
    is a real number > 1.
    """
    x, positions, base = check_rope(x, positions, base)
    return _apply_rope(x, positions, base, boolean("interleaved", interleaved))


def _apply_rope(
    x: Float[Array, "B T H D"],
    positions: Int[Array, " T"],
    base: float = ROPE_BASE,
    interleaved: bool = False,
) -> Float[Array, "B T H D"]:
    """Rotate pairs (i, i + D/2), or (2i, 2i + 1) if interleaved, by position * base^(-2i/D)."""
    half = x.shape[-1] // 2
    inv_freq = base ** (-np.arange(half, dtype=np.float64) * 2 / x.shape[-1])
    angles = positions[:, None].astype(np.float64) * inv_freq  # (T, half)
    cos = np.cos(angles)[:, None, :].astype(x.dtype)  # (T, 1, half): the same for every head
    sin = np.sin(angles)[:, None, :].astype(x.dtype)
    if interleaved:  # pairs (2i, 2i + 1): the released checkpoints' convention
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return np.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1).reshape(x.shape)
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


# --- Why RoPE must be decoupled -------------------------------------------------------------


def coupled_rope_scores(q, w_uk, c_kv, q_position: int) -> np.ndarray:
    """Scores of one head if RoPE were applied to the up-projected key k^C_j = W^UK c^KV_j.

    Args:
        q: (d_h,) the query (before rotation) at position `q_position`.
        w_uk: (d_c, d_h) one head's up-projection.
        c_kv: (T, d_c) cached latents of positions 0 ... T-1.

    Returns:
        (T,) RoPE(q, i) . RoPE(W^UK c_j, j): the rotation R_j sits between W^UK and c_j, so no
        single matrix can be folded into the query for every j.
    """
    return _coupled_rope_scores(*check_single_head(q, w_uk, c_kv, q_position))


def _coupled_rope_scores(
    q: Float[Array, " D"], w_uk: Float[Array, "C D"], c_kv: Float[Array, "S C"], q_position: int
) -> Float[Array, " S"]:
    """RoPE(q, i) . RoPE(W^UK c_j, j) for every cached j."""
    keys = _apply_rope((c_kv @ w_uk)[None, :, None, :], np.arange(c_kv.shape[0]))[0, :, 0]
    query = _apply_rope(q[None, None, None, :], np.array([q_position]))[0, 0, 0]
    return keys @ query


def scores_absorbed_without_rotation(q, w_uk, c_kv, q_position: int) -> np.ndarray:
    """What absorption computes under coupled RoPE if it ignores the rotations: W^UK folded into q.

    RoPE(q, i) . RoPE(k, j) = q . R_{j-i} k, so the fold q~ = W^UK q is right only where j = i.
    Same arguments and result shape as `coupled_rope_scores`.
    """
    q, w_uk, c_kv, _ = check_single_head(q, w_uk, c_kv, q_position)
    return _scores_absorbed_without_rotation(q, w_uk, c_kv)


def _scores_absorbed_without_rotation(
    q: Float[Array, " D"], w_uk: Float[Array, "C D"], c_kv: Float[Array, "S C"]
) -> Float[Array, " S"]:
    """c_j . (W^UK q): the query folded into the latent space, no rotation anywhere."""
    return c_kv @ (w_uk @ q)
