"""The expert-parallel traffic model shared by chapters 4 and 7 (labs.common.interconnect): its
expected copy counts against a router simulated token by token, a case worked by hand, the limit
of independent draws, and bad input."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from labs.common.interconnect import dispatch_bytes_per_token

V3 = {"k": 8, "n_nodes": 8, "max_nodes": 4, "gpus_per_node": 8, "n_experts": 256}


def _route(k, n_nodes, max_nodes, g, n_experts, tokens, rng):
    """Per-token IB and NVLink copies of `tokens` tokens sitting on GPU 0 of node 0. Expert x
    lives on GPU (x // per_gpu) % g of node x // per_node. Each token picks `max_nodes` of the
    nodes at random, then k distinct experts among theirs (n_experts None: k experts drawn with
    repeats, each on a uniform node of the chosen ones and a uniform GPU of it). A copy goes to
    every remote node hit (landing on its GPU 0) and to every GPU hit whose in-node index is not
    0 (the landing GPU, or the token's own)."""
    ib, nv = np.zeros(tokens), np.zeros(tokens)
    for t in range(tokens):
        nodes = rng.choice(n_nodes, max_nodes, replace=False)
        if n_experts is None:
            hits = {(nodes[rng.integers(max_nodes)], rng.integers(g)) for _ in range(k)}
        else:
            per_node, per_gpu = n_experts // n_nodes, n_experts // (n_nodes * g)
            allowed = (nodes[:, None] * per_node + np.arange(per_node)).ravel()
            experts = rng.choice(allowed, k, replace=False)  # as a top-k router: no repeats
            hits = {(x // per_node, (x // per_gpu) % g) for x in experts}
        ib[t] = len({node for node, _ in hits if node != 0})
        nv[t] = sum(1 for _, gpu in hits if gpu != 0)
    return ib, nv


def _sampling_error(x):
    return x.std(ddof=1) / np.sqrt(len(x))


@pytest.mark.parametrize(
    ("k", "n_nodes", "max_nodes", "g", "n_experts"),
    [
        (8, 8, 4, 8, 256),  # V3
        (8, 8, 8, 8, 256),  # V3 without the node limit
        (8, 1, 1, 8, 64),  # one node: nothing crosses InfiniBand
        (3, 4, 4, 2, 8),  # one expert per GPU: a token's GPUs never repeat
        (4, 4, 1, 2, 16),  # k = all the experts of the one node a token may use
    ],
)
def test_distinct_experts_match_a_simulated_router(k, n_nodes, max_nodes, g, n_experts):
    """Eqs. (1) and (2) against routing 20,000 tokens to k distinct experts and counting their
    copies. Tolerance: 4 standard errors of the simulated mean (plus 1e-9 where every token makes
    the same copies); a seeded run, so the test is deterministic."""
    ib, nv = _route(k, n_nodes, max_nodes, g, n_experts, 20_000, np.random.default_rng(1))
    model = dispatch_bytes_per_token(
        7168, k, n_nodes, max_nodes, gpus_per_node=g, n_experts=n_experts
    )
    assert abs(model["remote_nodes"] - ib.mean()) <= 4 * _sampling_error(ib) + 1e-9
    assert abs(model["nvlink_copies"] - nv.mean()) <= 4 * _sampling_error(nv) + 1e-9


def test_independent_draws_miss_the_simulated_router_for_v3():
    """Negative control: with V3's numbers the with-replacement count (n_experts=None) falls
    outside the 4-standard-error band that the distinct-expert count meets, on both links; so
    does one copy per expert, k (g - 1) / g = 7. Over seeds 0-9 (50,000 tokens each) the
    distinct-expert count was within 2.0 standard errors of the simulation every time, and the
    independent-draw count 6.6 to 10.0 below it on remote nodes (0.026 copies) and 35 to 37 below
    it on NVLink copies (0.16); this test runs seed 2."""
    ib, nv = _route(8, 8, 4, 8, 256, 50_000, np.random.default_rng(2))
    se_ib, se_nv = _sampling_error(ib), _sampling_error(nv)
    distinct = dispatch_bytes_per_token(7168, **V3)
    independent = dispatch_bytes_per_token(7168, **{**V3, "n_experts": None})
    assert abs(distinct["remote_nodes"] - ib.mean()) < 4 * se_ib
    assert abs(distinct["nvlink_copies"] - nv.mean()) < 4 * se_nv
    # the simulated router makes more copies than independent draws predict
    assert ib.mean() - independent["remote_nodes"] > 4 * se_ib
    assert nv.mean() - independent["nvlink_copies"] > 20 * se_nv
    assert 8 * 7 / 8 - nv.mean() > 20 * se_nv


@pytest.mark.parametrize(
    ("k", "n_nodes", "max_nodes", "g"), [(8, 8, 4, 8), (8, 1, 1, 8), (3, 4, 4, 2)]
)
def test_independent_draws_match_a_simulated_router_with_repeats(k, n_nodes, max_nodes, g):
    """n_experts=None is the with-replacement limit: it matches a router whose k draws may repeat
    a GPU (one NVLink copy per GPU hit, however many of the token's experts it holds)."""
    ib, nv = _route(k, n_nodes, max_nodes, g, None, 20_000, np.random.default_rng(0))
    model = dispatch_bytes_per_token(7168, k, n_nodes, max_nodes, gpus_per_node=g)
    assert abs(model["remote_nodes"] - ib.mean()) <= 4 * _sampling_error(ib) + 1e-9
    assert abs(model["nvlink_copies"] - nv.mean()) <= 4 * _sampling_error(nv) + 1e-9


def test_two_of_four_experts_by_hand():
    # 4 experts on 2 nodes of 2 GPUs (one each), the token on node a's GPU 0; k = 2 distinct:
    # 6 equally likely pairs. Node b is missed only by the pair {a0, a1}: 5/6 remote copies.
    # GPUs a1 and b1 (not landing GPUs) are each in 3 of the 6 pairs: 1 NVLink copy. 3 bytes per
    # element of a width of 1,000: 2,500 and 3,000 bytes. Independent draws give 0.75 and 0.875.
    t = dispatch_bytes_per_token(1000, 2, 2, gpus_per_node=2, n_experts=4)
    assert t["remote_nodes"] == pytest.approx(5 / 6)
    assert t["nvlink_copies"] == pytest.approx(1.0)
    assert (t["inter_node"], t["intra_node"]) == pytest.approx((2500.0, 3000.0))
    limit = dispatch_bytes_per_token(1000, 2, 2, gpus_per_node=2)
    assert (limit["remote_nodes"], limit["nvlink_copies"]) == pytest.approx((0.75, 0.875))


def test_v3_counts_from_binomials():
    # 8 of the 128 experts of 4 nodes (32 a node, 4 a GPU): a node is missed with probability
    # C(96, 8) / C(128, 8), a GPU with C(124, 8) / C(128, 8).
    t = dispatch_bytes_per_token(7168, **V3)
    assert t["remote_nodes"] == pytest.approx(4 * (1 - comb(96, 8) / comb(128, 8)) * 7 / 8)
    assert t["nvlink_copies"] == pytest.approx(4 * 7 * (1 - comb(124, 8) / comb(128, 8)))
    assert round(t["nvlink_copies"], 2) == 6.44 and round(t["remote_nodes"], 2) == 3.18


def test_many_experts_approach_independent_draws():
    limit = dispatch_bytes_per_token(7168, 8, 8, 4)
    gaps = [
        abs(dispatch_bytes_per_token(7168, 8, 8, 4, n_experts=e)["nvlink_copies"]
            - limit["nvlink_copies"])
        for e in (64, 256, 4096, 65536)
    ]  # fmt: skip
    assert all(a > b for a, b in zip(gaps, gaps[1:], strict=False)) and gaps[-1] < 1e-3
    # distinct experts always reach at least as many GPUs as independent draws
    assert all(
        dispatch_bytes_per_token(7168, 8, 8, 4, n_experts=e)["nvlink_copies"]
        > limit["nvlink_copies"]
        for e in (64, 256, 4096)
    )


def test_k_may_equal_the_experts_a_token_can_use():
    # All 8 experts of the single node: every GPU is hit, 7 NVLink copies, none over InfiniBand.
    t = dispatch_bytes_per_token(7168, 8, 1, n_experts=8)
    assert t["nvlink_copies"] == pytest.approx(7.0) and t["remote_nodes"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_experts": 0}, ValueError, "n_experts must be >= 1"),
        ({"n_experts": -64}, ValueError, "n_experts must be >= 1"),
        ({"n_experts": 256.0}, TypeError, "n_experts must be an int"),
        ({"n_experts": True}, TypeError, "n_experts must be an int"),
        ({"n_experts": "256"}, TypeError, "n_experts must be an int"),
        ({"n_experts": 2**20}, ValueError, "n_experts must be <= 65536"),
        # 100 experts cannot spread evenly over 8 x 8 = 64 GPUs, nor 32 over them (fewer than 1)
        ({"n_experts": 100}, ValueError, r"n_experts must spread evenly over .* 64 GPUs"),
        ({"n_experts": 32}, ValueError, r"n_experts must spread evenly over .* 64 GPUs"),
        # 64 experts, 8 a node; a token limited to 1 node has only 8 to choose from
        ({"n_experts": 64, "k": 9, "max_nodes": 1}, ValueError, r"k must be at most the 8 expert"),
        ({"n_experts": 64, "k": 65}, ValueError, r"k must be at most the 64 experts"),
    ],
)
def test_bad_expert_counts(kwargs, error, message):
    args = {"d_model": 7168, "k": 8, "n_nodes": 8, "gpus_per_node": 8, **kwargs}
    with pytest.raises(error, match=message):
        dispatch_bytes_per_token(**args)
