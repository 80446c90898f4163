"""Routing and balancing: NumPy/torch/JAX parity, node-limited properties, bias balancing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.moe import (
    aux_balance_loss,
    expert_load,
    load_imbalance,
    node_limited_route,
    route,
    update_bias,
)


def _scores(tokens=7, experts=8, seed=0):
    return np.random.default_rng(seed).standard_normal((tokens, experts))


@pytest.mark.parametrize("with_bias", [False, True])
def test_route_parity_numpy_torch_jax(with_bias):
    import jax.numpy as jnp
    import torch

    from labs.moe import jax as moe_jax
    from labs.moe import torch as moe_torch

    scores = _scores()
    bias = 0.3 * np.random.default_rng(9).standard_normal(8) if with_bias else None
    idx, gates = route(scores, 3, bias)
    t_idx, t_gates = moe_torch.route(
        torch.from_numpy(scores), 3, None if bias is None else torch.from_numpy(bias)
    )
    j_idx, j_gates = moe_jax.route(
        jnp.asarray(scores, jnp.float32), 3, None if bias is None else jnp.asarray(bias)
    )
    np.testing.assert_array_equal(t_idx.numpy(), idx)
    np.testing.assert_array_equal(np.asarray(j_idx), idx)
    np.testing.assert_allclose(t_gates.numpy(), gates, rtol=1e-12)  # float64 on both sides
    np.testing.assert_allclose(np.asarray(j_gates), gates, rtol=1e-6)  # JAX float32


def test_gates_come_from_unbiased_affinities():
    scores = _scores()
    bias = np.zeros(8)
    bias[5] = 10.0  # expert 5 is always chosen, whatever its affinity
    idx, gates = route(scores, 2, bias)
    assert (idx[:, 0] == 5).all()
    affinity = 1 / (1 + np.exp(-scores))
    chosen = np.take_along_axis(affinity, idx, axis=1)
    np.testing.assert_allclose(gates, chosen / chosen.sum(1, keepdims=True))
    np.testing.assert_allclose(gates.sum(1), 1.0)


@settings(max_examples=40, deadline=None)
@given(
    tokens=st.integers(1, 6),
    n_nodes=st.integers(1, 6),
    per_node=st.integers(1, 4),
    data=st.data(),
)
def test_node_limited_routing_never_exceeds_max_nodes(tokens, n_nodes, per_node, data):
    max_nodes = data.draw(st.integers(1, n_nodes))
    k = data.draw(st.integers(1, max_nodes * per_node))
    seed = data.draw(st.integers(0, 1000))
    scores = _scores(tokens, n_nodes * per_node, seed)
    bias = data.draw(st.sampled_from([None, 0.5]))
    bias = (
        None
        if bias is None
        else bias * np.random.default_rng(seed + 1).standard_normal(n_nodes * per_node)
    )
    idx, gates = node_limited_route(scores, k, per_node, max_nodes, bias)
    for row in idx:
        assert len(set(row)) == k  # k distinct experts
        assert len({e // per_node for e in row}) <= max_nodes
    np.testing.assert_allclose(gates.sum(1), 1.0)
    full_idx, full_gates = route(scores, k, bias)
    if max_nodes == n_nodes:  # no limit: plain top-k
        np.testing.assert_array_equal(idx, full_idx)
        np.testing.assert_allclose(gates, full_gates)


def test_node_limit_changes_the_choice_when_it_binds():
    scores = _scores(200, 16, 3)
    idx, _ = node_limited_route(scores, 4, 4, 1)
    full, _ = route(scores, 4)
    nodes_full = np.array([len({e // 4 for e in row}) for row in full])
    assert (nodes_full > 1).mean() > 0.5  # the negative control: plain top-k spreads out
    assert all(len({e // 4 for e in row}) == 1 for row in idx)


def test_update_bias_moves_against_the_load():
    bias = update_bias(np.zeros(4), np.array([10, 2, 4, 4]), 0.1)
    np.testing.assert_allclose(bias, [-0.1, 0.1, 0.1, 0.1])  # mean 5: only expert 0 is over
    unchanged = update_bias(np.ones(3), np.array([2, 2, 2]), 0.5)
    np.testing.assert_allclose(unchanged, 1.0)


def test_bias_balancing_lowers_the_imbalance_of_a_skewed_router():
    rng = np.random.default_rng(0)
    skew = np.linspace(2.0, -2.0, 8)  # expert 0 favoured by every token
    bias = np.zeros(8)
    history = []
    for _ in range(300):
        scores = rng.standard_normal((256, 8)) + skew
        idx, _ = route(scores, 2, bias)
        load = expert_load(idx, 8)
        history.append(load_imbalance(load))
        bias = update_bias(bias, load, 0.01)
    assert history[0] > 2.5  # skewed at the start (the experiment could fail here)
    assert np.mean(history[-50:]) < 1.3
    assert np.mean(history[-50:]) < 0.5 * history[0]
    assert bias[0] < 0 < bias[-1]  # the favoured expert was pushed down, the shunned one up


def test_aux_balance_loss_is_one_when_balanced_and_larger_when_skewed():
    probs = np.full((4, 4), 0.25)
    idx = np.array([[0, 1], [2, 3], [0, 1], [2, 3]])
    assert aux_balance_loss(probs, idx) == pytest.approx(1.0)
    skewed = np.tile([0.7, 0.1, 0.1, 0.1], (4, 1))
    collapsed = np.array([[0, 1]] * 4)
    assert aux_balance_loss(skewed, collapsed) == pytest.approx(4 * (0.5 * 0.7 + 0.5 * 0.1))


def test_load_imbalance():
    assert load_imbalance(np.array([1, 1, 1, 1])) == 1.0
    assert load_imbalance(np.array([4, 0, 0, 0])) == 4.0
