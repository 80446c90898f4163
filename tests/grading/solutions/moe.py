"""Reference solutions of chapter 4's exercises."""

import numpy as np


def moe_layer_params(d_model, d_expert, n_routed, n_shared, k):
    per_expert = 3 * d_model * d_expert
    router = d_model * n_routed
    total = per_expert * (n_routed + n_shared) + router
    active = per_expert * (k + n_shared) + router
    return total, active


def v2_device_route(scores, k, experts_per_device, max_devices):
    scores = np.asarray(scores, dtype=np.float64)
    z = np.exp(scores - scores.max(axis=1, keepdims=True))
    affinity = z / z.sum(axis=1, keepdims=True)
    tokens, n_experts = affinity.shape
    by_device = affinity.reshape(tokens, n_experts // experts_per_device, experts_per_device)
    best = by_device.max(axis=-1)
    kept = np.argsort(-best, axis=1, kind="stable")[:, :max_devices]
    allowed = np.zeros(best.shape, dtype=bool)
    np.put_along_axis(allowed, kept, True, axis=1)
    masked = np.where(np.repeat(allowed, experts_per_device, axis=1), affinity, -np.inf)
    chosen = np.argsort(-masked, axis=1, kind="stable")[:, :k]
    return chosen, np.take_along_axis(affinity, chosen, axis=1)


def remote_nodes(k, n_nodes, max_nodes):
    reached = max_nodes * (1 - (1 - 1 / max_nodes) ** k)
    return reached * (n_nodes - 1) / n_nodes
