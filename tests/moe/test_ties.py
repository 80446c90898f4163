"""Ties in routing, and the sigmoid's left tail: NumPy, torch and JAX choose the same experts.

The rule, in all three frameworks: where s + b ties, the lower expert index wins (for node-limited
routing, the lower node index too). The NumPy reference sorts stably, `jax.lax.top_k` documents
the rule, and `labs.moe.torch` sorts stably because `torch.topk` leaves ties unspecified (on a
CPU it takes [6, 5, 4] of 8 equal values). The expected choices below are worked out by hand
from that rule, not taken from a kernel.
"""

from __future__ import annotations

import numpy as np
import pytest

from labs.moe import node_limited_route, route
from labs.moe.reference import _sigmoid


def _torch_route(scores, k, bias=None, node=None):
    import torch

    from labs.moe import torch as moe_torch

    scores = torch.from_numpy(scores)
    bias = None if bias is None else torch.from_numpy(bias)
    if node is None:
        idx, gates = moe_torch.route(scores, k, bias)
    else:
        idx, gates = moe_torch.node_limited_route(scores, k, *node, bias)
    return idx.numpy(), gates.numpy()


def _jax_route(scores, k, bias=None, node=None):
    import jax.numpy as jnp

    from labs.moe import jax as moe_jax

    scores = jnp.asarray(scores)  # float32: x64 is off in the tests
    bias = None if bias is None else jnp.asarray(bias, scores.dtype)
    if node is None:
        idx, gates = moe_jax.route(scores, k, bias)
    else:
        idx, gates = moe_jax.node_limited_route(scores, k, *node, bias)
    return np.asarray(idx), np.asarray(gates)


def _numpy_route(scores, k, bias=None, node=None):
    if node is None:
        return route(scores, k, bias)
    return node_limited_route(scores, k, *node, bias)


def _row(*values, dtype=np.float32):
    return np.array([values], dtype=dtype)


# name: (scores (1, E) or (T, E), k, bias, (experts_per_node, max_nodes) or None, expected indices)
_E8 = np.zeros(8, np.float32)
TIES = {
    # every score equal: the three lowest indices
    "all equal": (np.zeros((3, 8), np.float32), 3, None, None, [[0, 1, 2]] * 3),
    # all below float32's underflow in every framework: sigmoid = 0 for all 8
    "all underflow": (np.full((2, 8), -200.0, np.float32), 3, None, None, [[0, 1, 2]] * 2),
    # one clear winner, then a tie at 0 among the other 7 for places 2 and 3
    "underflow at the k-th place": (
        _row(-200, -200, -200, -200, 1.0, -200, -200, -200),
        3,
        None,
        None,
        [[4, 0, 1]],
    ),
    # expert 6 first, then 1, 3 and 7 tie for the last two places
    "partial tie at the k-th place": (
        _row(0, 1, 0, 1, 0, 0, 2, 1),
        3,
        None,
        None,
        [[6, 1, 3]],
    ),
    # distinct affinities below 1e-13 vanish when a bias of 1 is added in float32: a tie made by
    # the bias, among the experts 2, 3, 5 that share the largest bias
    "tie made by the bias": (
        _row(-30, -31, -32, -33, -34, -35, -36, -37),
        2,
        np.array([0, 0, 1, 1, 0, 1, 0, 0], np.float32),
        None,
        [[2, 3]],
    ),
    # four nodes of two experts with the same scores on every node: the node sums tie, so the
    # nodes 0 and 1 are kept, and within them the experts tie pairwise (values 1 and 0)
    "node sums tie": (_row(1, 0, 1, 0, 1, 0, 1, 0), 2, None, (2, 2), [[0, 2]]),
    # nodes 1 and 3 tie for the second place behind node 2; node 1 is kept
    "second node tie": (_row(0, 0, 0, 1, 2, 2, 1, 0), 3, None, (2, 2), [[4, 5, 3]]),
    # node-limited routing where everything underflows: nodes 0 and 1, experts 0 to 3
    "node tie at underflow": (
        np.full((2, 8), -200.0, np.float32), 4, None, (2, 2), [[0, 1, 2, 3]] * 2
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(TIES))
def test_all_three_frameworks_break_ties_by_the_lower_index(name):
    scores, k, bias, node, expected = TIES[name]
    expected = np.array(expected)
    idx, gates = _numpy_route(scores, k, bias, node)
    np.testing.assert_array_equal(idx, expected)  # the hand-worked rule
    t_idx, t_gates = _torch_route(scores, k, bias, node)
    j_idx, j_gates = _jax_route(scores, k, bias, node)
    np.testing.assert_array_equal(t_idx, expected)
    np.testing.assert_array_equal(j_idx, expected)
    # float32 on all three: a few units of its 6e-8 rounding
    np.testing.assert_allclose(t_gates, gates, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(j_gates, gates, rtol=1e-6, atol=1e-7)


def _old_torch_indices(scores, k, bias=None):
    """The torch choice before the tie rule, written out here: `torch.topk` on s + b."""
    import torch

    s = torch.sigmoid(torch.from_numpy(scores))
    choice = s if bias is None else s + torch.from_numpy(bias)
    return torch.topk(choice, k, dim=-1).indices.numpy()


def test_negative_control_torch_topk_breaks_these_ties_otherwise():
    """The tests above can fail: the previous torch kernel (`torch.topk`) disagrees with the
    lower-index rule on most of the plain (not node-limited) ties. If this fails, torch.topk has
    started to take the lower index, and the tie tests above guard a rule no longer needed."""
    disagree = [
        name
        for name, (scores, k, bias, node, expected) in TIES.items()
        if node is None and not np.array_equal(_old_torch_indices(scores, k, bias), expected)
    ]
    assert len(disagree) >= 3, disagree


# (nodes, experts per node, max_nodes, k): few shapes, since JAX compiles once for each
_LAYOUTS = [(1, 4, 1, 2), (2, 3, 1, 3), (4, 2, 2, 3), (4, 4, 2, 4), (3, 4, 2, 5), (8, 2, 4, 8)]


@pytest.mark.parametrize("layout", _LAYOUTS)
def test_random_ties_choose_the_same_experts_in_all_three(layout):
    """Small integer scores and biases, so that ties are everywhere: 64 tokens per layout, plain
    and node-limited, with and without a bias."""
    n_nodes, per_node, max_nodes, k = layout
    rng = np.random.default_rng(11 + sum(layout))
    n_experts = n_nodes * per_node
    scores = rng.integers(-2, 3, (64, n_experts)).astype(np.float32)
    old_differs = 0
    for bias in (None, 0.5 * rng.integers(-1, 2, n_experts).astype(np.float32)):
        for node in (None, (per_node, max_nodes)):
            idx, gates = _numpy_route(scores, k, bias, node)
            for other in (_torch_route, _jax_route):
                o_idx, o_gates = other(scores, k, bias, node)
                np.testing.assert_array_equal(o_idx, idx, err_msg=f"{other.__name__} {node}")
                np.testing.assert_allclose(o_gates, gates, rtol=1e-6, atol=1e-7)
        old = _old_torch_indices(scores, k, bias)
        old_differs += (old != route(scores, k, bias)[0]).any(axis=1).sum()
    assert old_differs >= 5, old_differs  # negative control: the old torch kernel chose otherwise


# --- the sigmoid's left tail ------------------------------------------------------------------


def _tanh_sigmoid(x):
    """The reference's sigmoid before the fix, written out here: 0.5 (1 + tanh(x / 2))."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@pytest.mark.parametrize("x", [-30.0, -60.0, -300.0, 0.5, 30.0])
def test_sigmoid_matches_the_hand_formula_in_float64(x):
    """sigmoid(x) = e^x / (1 + e^x), evaluated directly in float64 (no cancellation for x < 0;
    for x > 0 it is 1 / (1 + e^-x)). The tanh form is off by 1.7e-4 at -30 and 0 at -60."""
    hand = np.exp(x) / (1.0 + np.exp(x)) if x < 0 else 1.0 / (1.0 + np.exp(-x))
    np.testing.assert_allclose(_sigmoid(np.float64(x)), hand, rtol=1e-15, atol=0)  # no abs floor
    if x <= -30:  # negative control: the old form misses by far more than the tolerance
        assert abs(_tanh_sigmoid(np.float64(x)) / hand - 1) > 1e-5


def test_sigmoid_agrees_in_all_three_frameworks_in_the_tail():
    """float32, from -80 to -17: the three sigmoids agree with the float64 hand value to
    float32's rounding; the old form does not come close anywhere in that range."""
    import jax
    import jax.numpy as jnp
    import torch

    x = np.linspace(-80.0, -17.0, 64).astype(np.float32)
    hand = np.exp(x.astype(np.float64)) / (1.0 + np.exp(x.astype(np.float64)))
    for got in (
        _sigmoid(x),
        torch.sigmoid(torch.from_numpy(x)).numpy(),
        np.asarray(jax.nn.sigmoid(jnp.asarray(x))),
    ):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, hand, rtol=1e-5)
    # negative control: the old form is 0 below about -17.3, and off by over 40% above it
    assert (np.abs(_tanh_sigmoid(x) / hand - 1) > 0.4).all()


def test_routing_in_the_sigmoid_tail_agrees_across_frameworks():
    """Distinct float32 scores between -80 and -20: every sigmoid is positive and distinct, so
    the choice follows the scores in all three frameworks. With the old tanh form the reference
    saw a tie at 0 and took the lowest indices instead."""
    rng = np.random.default_rng(3)
    scores = -rng.permuted(np.tile(np.linspace(20.0, 80.0, 16), (32, 1)), axis=1)
    scores = scores.astype(np.float32)
    k = 4
    expected = np.argsort(-scores, axis=1)[:, :k]  # no ties: the k largest scores
    idx, gates = route(scores, k)
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_array_equal(_torch_route(scores, k)[0], expected)
    np.testing.assert_array_equal(_jax_route(scores, k)[0], expected)
    old = np.argsort(-_tanh_sigmoid(scores), axis=1, kind="stable")[:, :k]
    assert (old != expected).any(axis=1).mean() > 0.9  # negative control: the old choice


def test_float64_scope_computes_in_float64_and_restores_float32():
    """The chapter's float64 cell runs on old and new JAX alike (`jax.enable_x64` exists from JAX
    0.8, `jax.experimental.enable_x64` before it); outside the scope JAX is back to float32."""
    jnp = pytest.importorskip("jax.numpy")
    from labs.moe import jax as moe_jax

    with moe_jax._float64():
        inside = jnp.asarray(np.float64(-708.5)).dtype
    assert (str(inside), str(jnp.zeros(1).dtype)) == ("float64", "float32")


def test_float64_scope_falls_back_to_the_experimental_context_on_old_jax(monkeypatch):
    """Where `jax.enable_x64` is missing (JAX before 0.8), `_float64` returns
    `jax.experimental.enable_x64()`; where it exists, the experimental one is left alone."""
    jax = pytest.importorskip("jax")
    experimental = pytest.importorskip("jax.experimental")
    from labs.moe import jax as moe_jax

    calls = []
    marker = object()

    def old_enable_x64(*args):
        calls.append(args)
        return marker

    monkeypatch.setattr(experimental, "enable_x64", old_enable_x64, raising=False)
    with moe_jax._float64():  # the pinned JAX has jax.enable_x64: the stub is not called
        pass
    assert calls == []
    monkeypatch.delattr(jax, "enable_x64")
    assert moe_jax._float64() is marker and calls == [()]
