"""RoPE's defining property, and why it must be decoupled from the compressed key."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.mla import apply_rope
from labs.mla import jax as mla_jax
from labs.mla import torch as mla_torch
from labs.mla.reference import coupled_rope_scores, scores_absorbed_without_rotation


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 500), st.integers(0, 500), st.integers(0, 200), st.integers(0, 2**31))
def test_rope_scores_depend_only_on_the_offset(i, j, shift, seed):
    # <R_i q, R_j k> = <q, R_{j-i} k>: moving both positions by `shift` changes nothing, and the
    # rotation keeps lengths.
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((2, 1, 1, 1, 16))

    def score(a, b):
        return float(np.sum(apply_rope(q, np.array([a])) * apply_rope(k, np.array([b]))))

    assert np.isclose(score(i, j), score(i + shift, j + shift), rtol=1e-9, atol=1e-9)
    assert np.isclose(np.linalg.norm(apply_rope(q, np.array([i]))), np.linalg.norm(q))


def test_rope_at_position_zero_is_the_identity_and_frameworks_agree():
    x = np.random.default_rng(0).standard_normal((2, 5, 3, 8))
    pos = np.arange(5)
    np.testing.assert_array_equal(apply_rope(x[:, :1], np.array([0])), x[:, :1])
    want = apply_rope(x, pos)
    got_torch = mla_torch.apply_rope(torch.from_numpy(x), torch.from_numpy(pos)).numpy()
    np.testing.assert_allclose(got_torch, want, rtol=1e-12, atol=1e-12)  # both float64
    got_jax = mla_jax.apply_rope(jnp.asarray(x, jnp.float32), jnp.asarray(pos))
    # float32 angles and products: a few 1e-7 relative error on O(1) values
    np.testing.assert_allclose(np.asarray(got_jax), want, rtol=1e-5, atol=1e-5)


def test_absorbing_through_a_coupled_rope_is_right_only_at_offset_zero():
    rng = np.random.default_rng(3)
    d_c, d_h, t = 16, 8, 40
    q, w_uk, c_kv = (
        rng.standard_normal(d_h),
        rng.standard_normal((d_c, d_h)),
        rng.standard_normal((t, d_c)),
    )
    true = coupled_rope_scores(q, w_uk, c_kv, q_position=t - 1)
    folded = scores_absorbed_without_rotation(q, w_uk, c_kv, q_position=t - 1)
    # Brute force, independent of both: rotate q and each key by its own position by hand.
    brute = []
    half = d_h // 2
    theta = 10000.0 ** (-np.arange(half) * 2 / d_h)

    def rot(v, p):
        c, s = np.cos(p * theta), np.sin(p * theta)
        return np.concatenate([v[:half] * c - v[half:] * s, v[:half] * s + v[half:] * c])

    for j in range(t):
        brute.append(rot(q, t - 1) @ rot(w_uk.T @ c_kv[j], j))
    np.testing.assert_allclose(true, brute, rtol=1e-10, atol=1e-10)
    assert np.isclose(folded[t - 1], true[t - 1])  # same position: the rotations cancel
    assert np.abs(folded[:-1] - true[:-1]).max() > 0.1 * np.abs(true).max()  # elsewhere: wrong


def _rope_interleaved_complex(x, positions, base=10000.0):
    """The released checkpoints' RoPE written independently: pair (2i, 2i + 1) is the complex
    number x_{2i} + 1j x_{2i+1}, multiplied by exp(1j * position * base**(-2i/d))."""
    z = x[..., 0::2] + 1j * x[..., 1::2]
    theta = positions[:, None] * base ** (-2 * np.arange(x.shape[-1] // 2) / x.shape[-1])
    z = z * np.exp(1j * theta)[:, None, :]
    return np.stack([z.real, z.imag], axis=-1).reshape(x.shape)


def test_interleaved_rope_matches_the_checkpoints_convention_in_every_framework():
    x = np.random.default_rng(0).standard_normal((2, 6, 3, 8))
    pos = np.arange(6) * 7
    want = _rope_interleaved_complex(x, pos)
    np.testing.assert_allclose(apply_rope(x, pos, interleaved=True), want, atol=1e-12)
    got = mla_torch.apply_rope(torch.from_numpy(x), torch.from_numpy(pos), interleaved=True)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)  # float64 both
    got = mla_jax.apply_rope(jnp.asarray(x, jnp.float32), jnp.asarray(pos), interleaved=True)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)  # float32 angles
    # the two conventions differ, and a fixed permutation of coordinates converts one to the other
    assert not np.allclose(apply_rope(x, pos), want, atol=1e-3)
    perm = np.concatenate([np.arange(0, 8, 2), np.arange(1, 8, 2)])
    np.testing.assert_allclose(
        apply_rope(x[..., perm], pos)[..., np.argsort(perm)], want, atol=1e-12
    )


def test_interleaved_must_be_a_bool():
    with pytest.raises(TypeError, match="interleaved must be True or False"):
        apply_rope(np.zeros((1, 2, 1, 4)), np.arange(2), interleaved="yes")
