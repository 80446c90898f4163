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


# --- eq. 13 in log space ----------------------------------------------------------------------
# The gates are s_i / sum_j s_j over the chosen experts; the kernels compute the same function as
# softmax_j(log s_j), which stays finite when every sigmoid underflows to 0.


def _old_gates(scores, idx):
    """Eq. 13 as the kernels computed it before the log form: s / sum(s), NaN once s is all 0."""
    with np.errstate(over="ignore", invalid="ignore"):  # exp(1e30) = inf, then 0/0
        affinity = 1 / (1 + np.exp(-scores))  # in the scores' dtype
        chosen = np.take_along_axis(affinity, np.asarray(idx), axis=-1)
        return chosen / chosen.sum(-1, keepdims=True)


def _route_in(framework, scores, k, bias=None):
    """(indices, gates) as NumPy arrays from the framework's public `route`, in scores' dtype."""
    if framework == "numpy":
        return route(scores, k, bias)
    if framework == "torch":
        import torch

        from labs.moe import torch as moe_torch

        tb = None if bias is None else torch.from_numpy(bias)
        idx, gates = moe_torch.route(torch.from_numpy(scores), k, tb)
        return idx.numpy(), gates.numpy()
    import jax.numpy as jnp

    from labs.moe import jax as moe_jax

    jb = None if bias is None else jnp.asarray(bias, dtype=scores.dtype)
    idx, gates = moe_jax.route(jnp.asarray(scores, dtype=scores.dtype), k, jb)
    return np.asarray(idx), np.asarray(gates)


_FRAMEWORK_DTYPES = [
    ("numpy", np.float64),
    ("numpy", np.float32),
    ("torch", np.float64),
    ("torch", np.float32),
    ("jax", np.float32),  # x64 is off in the JAX tests
]


@pytest.mark.parametrize(("framework", "dtype"), _FRAMEWORK_DTYPES)
def test_log_space_gates_match_the_old_formula(framework, dtype):
    rng = np.random.default_rng(4)
    scores = rng.uniform(-10.0, 10.0, (64, 16)).astype(dtype)
    bias = (0.2 * rng.standard_normal(16)).astype(dtype)
    idx, gates = _route_in(framework, scores, 4, bias)
    assert gates.dtype == dtype
    rtol = 1e-6 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(gates, _old_gates(scores, idx), rtol=rtol, atol=0)


# sigmoid(-200) = 1e-87 underflows in float32 only; sigmoid(-1e30) underflows in both.
_UNDERFLOWS = [(f, d, -1e30) for f, d in _FRAMEWORK_DTYPES] + [
    (f, d, -200.0) for f, d in _FRAMEWORK_DTYPES if d == np.float32
]


@pytest.mark.parametrize(("framework", "dtype", "level"), _UNDERFLOWS)
def test_gates_stay_finite_when_every_sigmoid_underflows(framework, dtype, level):
    rng = np.random.default_rng(5)
    scores = (level * (1.0 + 0.05 * rng.random((6, 8)))).astype(dtype)
    scores[0] = level  # a row of equal scores: equal gates 1/k
    k = 3
    idx, gates = _route_in(framework, scores, k)
    assert np.isfinite(gates).all() and (gates >= 0).all()
    np.testing.assert_allclose(gates.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(gates[0], 1.0 / k, rtol=1e-6)
    # Far below 0, log Sigmoid(u) = u: the gates are the softmax of the chosen scores.
    chosen = np.take_along_axis(scores.astype(np.float64), idx, axis=-1)
    expected = np.exp(chosen - chosen.max(-1, keepdims=True))
    np.testing.assert_allclose(gates, expected / expected.sum(-1, keepdims=True), atol=1e-5)
    # Negative control: the old formula on the same input and choice is 0/0.
    assert np.isnan(_old_gates(scores, idx)).all()


def test_route_gradients_reach_the_scores_torch():
    import torch

    from labs.moe import torch as moe_torch

    scores = torch.from_numpy(_scores(4, 6, seed=6)).requires_grad_()
    bias = torch.from_numpy(0.3 * np.random.default_rng(7).standard_normal(6))
    # The choice is piecewise constant; gradcheck's 1e-6 steps do not change it here.
    assert torch.autograd.gradcheck(lambda s: moe_torch._route(s, 3, bias)[1], (scores,))


def test_route_gradients_reach_the_scores_jax():
    import jax
    import jax.numpy as jnp
    from jax.test_util import check_grads

    from labs.moe import jax as moe_jax

    with jax.enable_x64(True):
        scores = jnp.asarray(_scores(4, 6, seed=6))
        bias = jnp.asarray(0.3 * np.random.default_rng(7).standard_normal(6))
        check_grads(lambda s: moe_jax._route(s, 3, bias)[1], (scores,), order=1, eps=1e-6)
        grad = jax.grad(lambda s: (moe_jax._route(s, 3, bias)[1] ** 2).sum())(scores)
        assert float(jnp.abs(grad).max()) > 0


def _sigmoid(x):
    """1 / (1 + e^-x), in x's dtype: 0 once e^-x overflows (from -710 in float64, -88.7 in
    float32), and accurate to rounding for the moderate scores of the tests below."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _old_node_limited_indices(scores, k, per_node, max_nodes, bias):
    """The selection of `node_limited_route` before the fix, written out here (not imported): an
    excluded expert had its score set to -inf, so an affinity of sigmoid(-inf) = 0, and a bias of
    -inf only when a bias was given."""
    tokens, n_experts = scores.shape
    choice = _sigmoid(scores) if bias is None else _sigmoid(scores) + bias
    by_node = choice.reshape(tokens, n_experts // per_node, per_node)
    top = -np.sort(-by_node, axis=-1)[..., : min(per_node, -(-k // max_nodes))]
    nodes = np.argsort(-top.sum(-1), axis=-1, kind="stable")[:, :max_nodes]
    allowed = np.zeros(by_node.shape[:2], dtype=bool)
    np.put_along_axis(allowed, nodes, True, axis=-1)
    keep = np.repeat(allowed, per_node, axis=-1)
    affinity = _sigmoid(np.where(keep, scores, -np.inf))
    choice = affinity if bias is None else affinity + np.where(keep, bias, -np.inf)
    return np.argsort(-choice, axis=-1, kind="stable")[:, :k]


@pytest.mark.parametrize(
    ("low", "dtype"),
    [(-1e30, np.float64), (-200.0, np.float32), (-800.0, np.float64), (-110.0, np.float32)],
)
def test_node_limited_routing_never_chooses_an_excluded_expert(low, dtype):
    """Two nodes of 4 experts, M = 1, k = 3. Node 1 holds the only expert whose sigmoid does not
    underflow, so node 1 is kept and node 0 excluded; the 2 other experts of node 1 have an
    affinity of exactly 0 (sigmoid(-800) and sigmoid(-110) are 0.0 in float64 and float32). The
    excluded experts must not win the tie at 0."""
    scores = np.full((1, 8), low, dtype=dtype)
    scores[0, 4] = 1.0
    assert _sigmoid(scores[0, 5]) == 0.0  # the tie the old rule broke the wrong way
    old = _old_node_limited_indices(scores, 3, 4, 1, None)
    assert (old // 4 == 0).any()  # negative control: the old rule picks an expert of node 0
    idx, gates = node_limited_route(scores, 3, 4, 1)
    assert (idx // 4 == 1).all()  # every chosen expert lies on the kept node
    assert idx[0, 0] == 4 and len(set(idx[0])) == 3
    assert np.isfinite(gates).all()
    np.testing.assert_allclose(gates.sum(1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_node_limited_fix_keeps_the_choice_for_ordinary_scores(dtype):
    """For scores in [-10, 10], where no sigmoid underflows, the fixed selection chooses exactly
    the experts the old rule chose, with and without a bias, over 500 random draws."""
    rng = np.random.default_rng(7)
    for draw in range(500):
        n_nodes, per_node = rng.integers(1, 9), rng.integers(1, 9)
        max_nodes = rng.integers(1, n_nodes + 1)
        k = rng.integers(1, max_nodes * per_node + 1)
        scores = rng.uniform(-10, 10, (16, n_nodes * per_node)).astype(dtype)
        bias = None if draw % 2 else rng.uniform(-0.5, 0.5, n_nodes * per_node)
        idx, gates = node_limited_route(scores, k, per_node, max_nodes, bias)
        np.testing.assert_array_equal(
            idx, _old_node_limited_indices(scores, k, per_node, max_nodes, bias)
        )
        chosen = np.take_along_axis(1 / (1 + np.exp(-scores.astype(np.float64))), idx, axis=1)
        np.testing.assert_allclose(gates, chosen / chosen.sum(1, keepdims=True), rtol=1e-5)
