"""The exercises' checks pass a correct answer and explain a wrong one."""

from __future__ import annotations

import numpy as np

from labs.moe import route
from labs.moe.exercises import check_moe_layer_params, check_remote_nodes, check_v3_route


def test_correct_answers_pass():
    def params(d, f, e, s, k):
        expert = 3 * d * f
        return expert * (e + s) + d * e, expert * (k + s) + d * e

    def remote(k, n, m):
        return m * (1 - (1 - 1 / m) ** k) * (n - 1) / n

    assert check_moe_layer_params(params).passed
    assert check_v3_route(lambda s, k, b: route(s, k, b)).passed
    assert check_remote_nodes(remote).passed


def test_common_mistakes_fail_with_a_hint():
    def two_matrices(d, f, e, s, k):  # forgets SwiGLU's third matrix
        return 2 * d * f * (e + s) + d * e, 2 * d * f * (k + s) + d * e

    report = check_moe_layer_params(two_matrices)
    assert not report.passed and "THREE" in str(report)

    def biased_gates(scores, k, bias):  # weights by the biased affinities
        import numpy as np

        choice = 1 / (1 + np.exp(-scores)) + bias
        idx = np.argsort(-choice, axis=1)[:, :k]
        g = np.take_along_axis(choice, idx, 1)
        return idx, g / g.sum(1, keepdims=True)

    report = check_v3_route(biased_gates)
    assert not report.passed and "unbiased" in str(report)

    def ignores_limit(k, n, m):
        return n * (1 - (1 - 1 / n) ** k) * (n - 1) / n

    assert not check_remote_nodes(ignores_limit).passed


def _v3_route_with(slip):
    """V3's routing written by hand, with one of the known slips (None: correct)."""

    def v3_route(scores, k, bias):
        scores = np.asarray(scores, dtype=np.float64)
        if slip == "softmax":
            affinity = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        else:
            affinity = 1 / (1 + np.exp(-scores))
        chosen = np.argsort(-(affinity + bias), axis=1, kind="stable")[:, :k]
        weight = np.take_along_axis(affinity, chosen, axis=1)
        if slip == "bias in gates":
            weight = weight + np.asarray(bias)[chosen]
        if slip != "unnormalised":
            weight = weight / weight.sum(axis=1, keepdims=True)
        return chosen, weight

    return v3_route


def test_v3_route_names_each_known_slip_and_not_an_unrelated_error():
    assert check_v3_route(_v3_route_with(None)).passed
    for slip, words in (
        ("softmax", "not a softmax"),
        ("bias in gates", "your gates include the bias"),
        ("unnormalised", "not normalised"),
    ):
        report = str(check_v3_route(_v3_route_with(slip)))
        assert report.startswith("[failed]") and "what is wrong:" in report, slip
        assert words in report.split("what is wrong:")[1], (slip, report)

    def squared(scores, k, bias):  # control: wrong, but none of the named slips
        chosen, weight = _v3_route_with(None)(scores, k, bias)
        return chosen, weight**2

    report = str(check_v3_route(squared))
    assert report.startswith("[failed]") and "what is wrong" not in report


def test_remote_nodes_names_the_own_node_and_the_missing_limit():
    def remote_nodes(k, n_nodes, max_nodes, own=False, limit=True):
        m = max_nodes if limit else n_nodes
        hit = m * (1 - (1 - 1 / m) ** k)
        return hit if own else hit * (n_nodes - 1) / n_nodes

    assert check_remote_nodes(remote_nodes).passed
    counts_own = str(check_remote_nodes(lambda k, n, m: remote_nodes(k, n, m, own=True)))
    assert "the token's own node" in counts_own
    no_limit = str(check_remote_nodes(lambda k, n, m: remote_nodes(k, n, m, limit=False)))
    assert "case 3" in no_limit and "the one without the node limit" in no_limit
