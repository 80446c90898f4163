"""The expert-parallel traffic model shared by chapters 4 and 7 (labs.common.interconnect): the
uniform counts (eqs. 1-2) against uniform draws simulated token by token, the router's counts
(eqs. 4-6) against exact enumeration and against the chapter's node-limited router (in
tests/moe/test_comm.py), cases worked by hand, the limit of independent draws, and bad input."""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations
from math import comb

import numpy as np
import pytest

from labs.common.interconnect import dispatch_bytes_per_token

V3 = {"k": 8, "n_nodes": 8, "max_nodes": 4, "gpus_per_node": 8, "n_experts": 256}
UNIFORM = {"node_choice": "uniform"}  # eqs. (1)-(2) under a node limit too


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
    """Eqs. (1) and (2) against routing 20,000 tokens to k distinct experts of max_nodes nodes
    drawn at random and counting their copies. Tolerance: 4 standard errors of the simulated mean
    (plus 1e-9 where every token makes the same copies); a seeded run, so the test is
    deterministic."""
    ib, nv = _route(k, n_nodes, max_nodes, g, n_experts, 20_000, np.random.default_rng(1))
    model = dispatch_bytes_per_token(
        7168, k, n_nodes, max_nodes, gpus_per_node=g, n_experts=n_experts, **UNIFORM
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
    distinct = dispatch_bytes_per_token(7168, **V3, **UNIFORM)
    independent = dispatch_bytes_per_token(7168, **{**V3, "n_experts": None}, **UNIFORM)
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
    model = dispatch_bytes_per_token(7168, k, n_nodes, max_nodes, gpus_per_node=g, **UNIFORM)
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


def test_v3_uniform_counts_from_binomials():
    # 8 of the 128 experts of 4 nodes (32 a node, 4 a GPU): a node is missed with probability
    # C(96, 8) / C(128, 8), a GPU with C(124, 8) / C(128, 8).
    t = dispatch_bytes_per_token(7168, **V3, **UNIFORM)
    assert t["remote_nodes"] == pytest.approx(4 * (1 - comb(96, 8) / comb(128, 8)) * 7 / 8)
    assert t["nvlink_copies"] == pytest.approx(4 * 7 * (1 - comb(124, 8) / comb(128, 8)))
    assert round(t["nvlink_copies"], 2) == 6.44 and round(t["remote_nodes"], 2) == 3.18


@pytest.mark.parametrize("node_choice", ["uniform", "router"])
def test_many_experts_approach_independent_draws(node_choice):
    limit = dispatch_bytes_per_token(7168, 8, 8, 4, node_choice=node_choice)
    counts = {
        e: dispatch_bytes_per_token(7168, 8, 8, 4, n_experts=e, node_choice=node_choice)
        for e in (64, 256, 4096, 65536)
    }
    for copies in ("nvlink_copies", "remote_nodes"):
        gaps = [abs(t[copies] - limit[copies]) for t in counts.values()]
        assert all(a > b for a, b in zip(gaps, gaps[1:], strict=False)) and gaps[-1] < 1e-3
        # distinct experts always reach at least as many GPUs and nodes as independent draws
        assert all(counts[e][copies] > limit[copies] for e in (64, 256, 4096))


def test_k_may_equal_the_experts_a_token_can_use():
    # All 8 experts of the single node: every GPU is hit, 7 NVLink copies, none over InfiniBand.
    t = dispatch_bytes_per_token(7168, 8, 1, n_experts=8)
    assert t["nvlink_copies"] == pytest.approx(7.0) and t["remote_nodes"] == 0.0


def _router_model_enumerated(k, n_nodes, max_nodes, g, n_experts):
    """Eqs. (4)-(6) by enumeration, in exact fractions: every set of k distinct experts over all
    n_nodes is equally likely; a set on X <= max_nodes nodes counts as it is, and the sets on more
    (the router holds them to max_nodes nodes) count as the sets on nodes 0 .. max_nodes - 1 that
    hit every one of them. A node reached gives (g - 1) / g NVLink copies per GPU hit (the landing
    GPU is the token's in-node index, uniform), and is remote with chance (n - 1) / n."""
    per_node, per_gpu = n_experts // n_nodes, n_experts // (n_nodes * g)
    sets = list(combinations(range(n_experts), k))
    nodes_reached, gpus_hit, beyond = Fraction(0), Fraction(0), Fraction(0)
    for chosen in sets:
        nodes = {x // per_node for x in chosen}
        if len(nodes) > max_nodes:
            beyond += Fraction(1, len(sets))
        else:
            nodes_reached += Fraction(len(nodes), len(sets))
            gpus_hit += Fraction(len({x // per_gpu for x in chosen}), len(sets))
    held = [c for c in combinations(range(max_nodes * per_node), k)
            if len({x // per_node for x in c}) == max_nodes]  # fmt: skip
    nodes_reached += beyond * max_nodes
    gpus_hit += beyond * Fraction(sum(len({x // per_gpu for x in c}) for c in held), len(held))
    return nodes_reached * Fraction(n_nodes - 1, n_nodes), gpus_hit * Fraction(g - 1, g)


@pytest.mark.parametrize(
    ("k", "n_nodes", "max_nodes", "g", "n_experts"),
    [
        (4, 4, 2, 2, 16),  # the limit binds on most tokens
        (4, 4, 3, 2, 16),  # on few: only where the 4 experts fall on 4 nodes
        (3, 4, 3, 2, 16),  # never: k = 3 experts reach at most 3 nodes
        (5, 3, 2, 2, 12),  # 4 a node, 2 a GPU
        (6, 4, 3, 1, 12),  # one GPU a node: no NVLink copies
    ],
)
def test_router_counts_match_their_definition_enumerated(k, n_nodes, max_nodes, g, n_experts):
    remote, nvlink = _router_model_enumerated(k, n_nodes, max_nodes, g, n_experts)
    t = dispatch_bytes_per_token(7168, k, n_nodes, max_nodes, gpus_per_node=g, n_experts=n_experts)
    assert t["remote_nodes"] == pytest.approx(float(remote), rel=1e-12)
    assert t["nvlink_copies"] == pytest.approx(float(nvlink), rel=1e-12, abs=1e-15)


def test_router_counts_by_hand():
    # 12 experts on 3 nodes of 2 GPUs (4 a node, 2 a GPU), at most 2 nodes, k = 3. Of the
    # C(12, 3) = 220 sets, 3 x C(4, 3) = 12 lie on one node (R = 1); the rest the router holds to 2
    # nodes, hit both: E[R] = (12 + 2 x 208) / 220 = 107/55, remote nodes x 2/3 = 214/165. NVLink:
    # on one node 3 experts hit both its GPUs (1 copy besides the landing GPU); on two nodes, of the
    # C(8, 3) - 2 C(4, 3) = 48 sets hitting both, a given GPU is missed by C(6, 3) - C(4, 3) = 16,
    # so hit with chance 2/3: 12/220 x 1 + 208/220 x 2 x 2/3 = 217/165.
    t = dispatch_bytes_per_token(1000, 3, 3, 2, gpus_per_node=2, n_experts=12)
    assert (t["remote_nodes"], t["nvlink_copies"]) == pytest.approx((214 / 165, 217 / 165))
    # Uniform draws from the 8 experts of 2 nodes miss one with chance C(4, 3) / C(8, 3) = 1/14:
    # 2 x 13/14 x 2/3 = 26/21 remote nodes, fewer than the router's.
    u = dispatch_bytes_per_token(1000, 3, 3, 2, gpus_per_node=2, n_experts=12, **UNIFORM)
    assert u["remote_nodes"] == pytest.approx(26 / 21) and u["remote_nodes"] < t["remote_nodes"]
    # k = 2 <= max_nodes: the limit never binds, so the router's 2 experts fall on the 3 nodes as
    # without it: a node missed with chance C(8, 2) / C(12, 2) = 28/66, 3 x 38/66 x 2/3 = 38/33,
    # where uniform draws over 2 nodes give 2 (1 - C(4, 2) / C(8, 2)) x 2/3 = 22/21.
    free = dispatch_bytes_per_token(1000, 2, 3, 2, gpus_per_node=2, n_experts=12)
    assert free["remote_nodes"] == pytest.approx(38 / 33)
    assert dict(free) == dict(dispatch_bytes_per_token(1000, 2, 3, gpus_per_node=2, n_experts=12))
    same = dispatch_bytes_per_token(1000, 2, 3, 2, gpus_per_node=2, n_experts=12, **UNIFORM)
    assert same["remote_nodes"] == pytest.approx(22 / 21)


@pytest.mark.parametrize("n_experts", [256, None])
@pytest.mark.parametrize("max_nodes", [None, 8])
def test_without_a_binding_limit_the_router_is_eqs_1_and_2(max_nodes, n_experts):
    """No limit (or max_nodes = n_nodes): both node choices give eqs. (1)-(2) over all nodes, the
    counts before the router's model existed, to the last bit."""
    router = dispatch_bytes_per_token(7168, 8, 8, max_nodes, n_experts=n_experts)
    uniform = dispatch_bytes_per_token(7168, 8, 8, max_nodes, n_experts=n_experts, **UNIFORM)
    assert dict(router) == dict(uniform)
    if n_experts is None:
        node_hit, gpu_hit = 1 - (7 / 8) ** 8, 1 - (63 / 64) ** 8
    else:
        node_hit, gpu_hit = 1 - comb(224, 8) / comb(256, 8), 1 - comb(252, 8) / comb(256, 8)
    assert router["remote_nodes"] == pytest.approx(8 * node_hit * 7 / 8, rel=1e-12)
    assert router["nvlink_copies"] == pytest.approx(8 * 7 * gpu_hit, rel=1e-12)


def test_v3_router_counts_near_every_allowed_node():
    # At most 4 of 8 nodes: 8 experts over 8 nodes miss the 4th node only 1.7 % of the time, so a
    # token reaches 3.98 nodes and crosses InfiniBand to 3.49, next to M (n - 1) / n = 3.5 and 10 %
    # above the uniform draws' 3.18; at k = 13 it barely moves ("the same communication cost").
    t = dispatch_bytes_per_token(7168, **V3)
    assert (round(t["remote_nodes"], 2), round(t["nvlink_copies"], 2)) == (3.49, 6.52)
    uniform = dispatch_bytes_per_token(7168, **V3, **UNIFORM)
    assert t["remote_nodes"] > 1.09 * uniform["remote_nodes"]
    k13 = dispatch_bytes_per_token(7168, **{**V3, "k": 13})
    assert 3.49 < k13["remote_nodes"] < 3.5


@pytest.mark.parametrize("bad", ["Router", "affinity", "", None, 1, object()])
def test_bad_node_choice_names_the_parameter(bad):
    with pytest.raises(ValueError, match="node_choice must be one of 'router', 'uniform'"):
        dispatch_bytes_per_token(7168, 8, 8, 4, n_experts=256, node_choice=bad)


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
