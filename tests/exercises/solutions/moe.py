"""Reference solutions of chapter 4's exercises."""

import numpy as np


def moe_layer_params(d_model, d_expert, n_routed, n_shared, k):
    per_expert = 3 * d_model * d_expert
    router = d_model * n_routed
    total = per_expert * (n_routed + n_shared) + router
    active = per_expert * (k + n_shared) + router
    return total, active


def v3_route(scores, k, bias):
    affinity = 1 / (1 + np.exp(-scores))
    chosen = np.argsort(-(affinity + bias), axis=1, kind="stable")[:, :k]
    picked = np.take_along_axis(affinity, chosen, axis=1)
    return chosen, picked / picked.sum(axis=1, keepdims=True)


def remote_nodes(k, n_nodes, max_nodes):
    reached = max_nodes * (1 - (1 - 1 / max_nodes) ** k)
    return reached * (n_nodes - 1) / n_nodes
