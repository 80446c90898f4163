"""The exercises' checks pass a correct answer and explain a wrong one."""

from __future__ import annotations

import numpy as np

from labs.moe import node_limited_route
from labs.moe.exercises import (
    check_moe_layer_params,
    check_remote_nodes,
    check_v2_device_route,
)


def test_correct_answers_pass():
    def params(d, f, e, s, k):
        expert = 3 * d * f
        return expert * (e + s) + d * e, expert * (k + s) + d * e

    def remote(k, n, m):
        return m * (1 - (1 - 1 / m) ** k) * (n - 1) / n

    assert check_moe_layer_params(params).passed
    assert check_v2_device_route(_v2_route_with(None)).passed
    assert check_remote_nodes(remote).passed


def test_common_mistakes_fail_with_a_hint():
    def two_matrices(d, f, e, s, k):  # forgets SwiGLU's third matrix
        return 2 * d * f * (e + s) + d * e, 2 * d * f * (k + s) + d * e

    report = check_moe_layer_params(two_matrices)
    assert not report.passed and "THREE" in str(report)

    def v3_router(scores, k, per_device, max_devices):  # the router the chapter shows
        return node_limited_route(scores, k, per_device, max_devices)

    report = str(check_v2_device_route(v3_router))
    assert report.startswith("[failed]") and "V3's node-limited router" in report

    def ignores_limit(k, n, m):
        return n * (1 - (1 - 1 / n) ** k) * (n - 1) / n

    assert not check_remote_nodes(ignores_limit).passed


def _v2_route_with(slip):
    """DeepSeek-V2's device-limited routing written by hand (vectorised, unlike the check's
    loops), with one of the known slips (None: correct)."""

    def v2_device_route(scores, k, experts_per_device, max_devices):
        scores = np.asarray(scores, dtype=np.float64)
        if slip == "sigmoid":
            affinity = 1 / (1 + np.exp(-scores))
        else:
            affinity = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        by_device = affinity.reshape(len(scores), -1, experts_per_device)
        if slip == "v3 nodes":
            per = -(-k // max_devices)
            device_score = -np.sort(-by_device, axis=-1)[..., :per].sum(-1)
        elif slip == "total":
            device_score = by_device.sum(-1)
        else:
            device_score = by_device.max(-1)
        keep = device_score.shape[1] if slip == "no limit" else max_devices
        kept = np.argsort(-device_score, axis=1, kind="stable")[:, :keep]
        allowed = np.zeros(device_score.shape, dtype=bool)
        np.put_along_axis(allowed, kept, True, axis=1)
        masked = np.where(np.repeat(allowed, experts_per_device, axis=1), affinity, -np.inf)
        chosen = np.argsort(-masked, axis=1, kind="stable")[:, :k]
        if slip == "index order":
            chosen = np.sort(chosen, axis=1)
        weight = np.take_along_axis(affinity, chosen, axis=1)
        if slip == "normalised":
            weight = weight / weight.sum(axis=1, keepdims=True)
        if slip == "allowed":  # a softmax over the kept devices' experts only
            kept_scores = np.where(np.isfinite(masked), scores, -np.inf)
            z = np.exp(kept_scores - kept_scores.max(axis=1, keepdims=True))
            weight = np.take_along_axis(z / z.sum(axis=1, keepdims=True), chosen, axis=1)
        return chosen, weight

    return v2_device_route


def test_v2_device_route_names_each_known_slip_and_not_an_unrelated_error():
    assert check_v2_device_route(_v2_route_with(None)).passed
    for slip, words in (
        ("sigmoid", "softmax over all routed experts"),
        ("normalised", "does not normalise"),
        ("v3 nodes", "V3's node rule"),
        ("total", "sum of all their experts' affinities"),
        ("no limit", "that is plain top-k"),
        ("allowed", "a softmax over the experts on the kept devices only"),
        ("index order", "return them best first"),
    ):
        report = str(check_v2_device_route(_v2_route_with(slip)))
        assert report.startswith("[failed]") and "what is wrong:" in report, slip
        assert words in report.split("what is wrong:")[1], (slip, report)

    def squared(scores, k, per_device, max_devices):  # control: wrong, but no named slip
        chosen, weight = _v2_route_with(None)(scores, k, per_device, max_devices)
        return chosen, weight**2

    report = str(check_v2_device_route(squared))
    assert report.startswith("[failed]") and "what is wrong" not in report


def test_v2_slips_differ_from_the_answer_on_some_public_case():
    """Each named slip is a real mistake on the public cases, not a no-op the check would pass."""
    for slip in (
        "sigmoid",
        "normalised",
        "v3 nodes",
        "total",
        "no limit",
        "allowed",
        "index order",
    ):
        assert not check_v2_device_route(_v2_route_with(slip)).passed, slip


def test_v2_softmax_over_the_kept_experts_is_not_told_it_normalised():
    """Case 1 keeps one device of 3 experts and picks 2: a softmax over the kept experts and
    gates normalised over the chosen ones differ there, and each is named for what it is."""
    report = str(check_v2_device_route(_v2_route_with("allowed")))
    assert "case 1" in report and "does not normalise" not in report
    assert "kept devices only" in report.split("what is wrong:")[1]


def test_moe_layer_params_names_each_counting_slip():
    def params(d, f, e, s, k, matrices=3, router=True, shared=True, top_k=True):
        expert = matrices * d * f
        routed = k if top_k else 1
        active = expert * (routed + (s if shared else 0)) + (d * e if router else 0)
        return expert * (e + s) + d * e, active

    assert check_moe_layer_params(params).passed
    for kwargs, words in (
        ({"matrices": 2}, "two matrices per expert"),
        ({"router": False}, "leaves out the router"),
        ({"shared": False}, "leaves out the shared expert"),
        ({"top_k": False}, "one routed expert per token"),
    ):
        report = str(check_moe_layer_params(lambda *a, kw=kwargs: params(*a, **kw)))
        assert report.startswith("[failed]") and words in report.split("what is wrong:")[1], words

    def counts_router_twice(d, f, e, s, k):  # control: wrong, but none of the named slips
        total, active = params(d, f, e, s, k)
        return total + d * e, active + d * e

    assert "what is wrong: you" not in str(check_moe_layer_params(counts_router_twice))


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


def test_remote_nodes_names_the_own_node_taken_among_the_allowed_ones():
    """A student who puts the token's own node among the max_nodes allowed ones computes
    (M - 1)(1 - (1 - 1/M)^k); the check says which assumption differs, not only that it does."""

    def own_node_allowed(k, n_nodes, max_nodes):
        return (max_nodes - 1) * (1 - (1 - 1 / max_nodes) ** k)

    report = str(check_remote_nodes(own_node_allowed))
    assert report.startswith("[failed]") and "case 3" in report
    assert "one of the max_nodes allowed nodes" in report.split("what is wrong:")[1]


def test_moe_layer_params_counts_more_than_one_shared_expert():
    """Exercise 4.1's V2 case has two shared experts: counting them as a 0/1 flag fails it."""
    from labs.common import fact
    from labs.moe.exercises import MOE_LAYER_PARAMS

    routing = fact("deepseekv2_moe_routing").value
    v2 = (fact("deepseekv2_attention").value["d_model"], routing["d_expert"], routing["n_routed"])
    assert any(c.args == (*v2, routing["n_shared"], routing["k"]) for c in MOE_LAYER_PARAMS.cases)

    def shared_as_a_flag(d, f, e, s, k):
        expert = 3 * d * f
        return expert * (e + min(s, 1)) + d * e, expert * (k + min(s, 1)) + d * e

    report = str(check_moe_layer_params(shared_as_a_flag))
    assert report.startswith("[failed]") and "DeepSeek-V2" in report
    assert "counted the shared experts as one" in report.split("what is wrong:")[1]
