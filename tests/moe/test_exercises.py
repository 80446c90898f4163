"""The exercises' checks pass a correct answer and explain a wrong one."""

from __future__ import annotations

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
