"""Chapter 4 exercises, with their instant checks.

4.1 `moe_layer_params`: total and active parameters of one DeepSeekMoE layer.
4.2 `v3_route`: V3's routing, with a bias that chooses experts but never weights them.
4.3 `remote_nodes`: the expected number of other nodes a token's hidden state crosses InfiniBand
    to reach, with and without node-limited routing.

Expected values are worked by hand (4.1, 4.3: the arithmetic is in the comments) or computed by
brute force here, with loops that share no code with the package (4.2).
"""

from __future__ import annotations

import math

import numpy as np

from labs.common.exercises import Case, CheckReport, Exercise, check

__all__ = [
    "MOE_LAYER_PARAMS",
    "REMOTE_NODES",
    "V3_ROUTE",
    "check_moe_layer_params",
    "check_remote_nodes",
    "check_v3_route",
]

# --- 4.1 ---------------------------------------------------------------------------------------

MOE_LAYER_PARAMS = Exercise(
    name="moe_layer_params",
    signature="moe_layer_params(d_model, d_expert, n_routed, n_shared, k) -> (total, active)",
    cases=(
        Case(
            args=(4, 2, 4, 0, 1),
            expected=(112, 40),  # experts 4 x 3*4*2 = 96, router 4*4 = 16; active 24 + 16
            label="4 routed experts of width 2 in a model of width 4, top-1, no shared expert",
            hint="each SwiGLU expert has THREE matrices (W1, W3: D x F; W2: F x D), and the "
            "router's D x E weights are used by every token, so they count as active.",
        ),
        Case(
            args=(8, 4, 8, 1, 2),
            expected=(928, 352),  # 9 experts x 96 = 864 + router 64; active 3 x 96 + 64
            label="8 routed + 1 shared expert, top-2",
            hint="a shared expert is used by every token: it counts in total AND in active.",
        ),
        Case(
            args=(7168, 2048, 256, 1, 8),
            expected=(
                257 * 44_040_192 + 1_835_008,
                9 * 44_040_192 + 1_835_008,
            ),  # 3 x 7168 x 2048 each
            label="one DeepSeek-V3 MoE layer",
            hint="use Python ints: 257 experts of 44 million weights each.",
        ),
    ),
)


def check_moe_layer_params(fn) -> CheckReport:
    """Run the public cases of exercise 4.1 against `fn`."""
    return check(fn, MOE_LAYER_PARAMS)


# --- 4.2 ---------------------------------------------------------------------------------------


def _route_brute_force(
    scores: np.ndarray, k: int, bias: np.ndarray, slip: str | None = None
) -> tuple:
    """V3's routing by loops; `slip` makes one known mistake instead (for `Case.mistakes`):
    "softmax" affinities, the bias also in the "gates", or gates left "unnormalised"."""
    tokens, n_experts = scores.shape
    indices = np.zeros((tokens, k), dtype=np.int64)
    gates = np.zeros((tokens, k))
    for t in range(tokens):
        if slip == "softmax":
            z = sum(math.exp(scores[t, e]) for e in range(n_experts))
            affinity = [math.exp(scores[t, e]) / z for e in range(n_experts)]
        else:
            affinity = [1.0 / (1.0 + math.exp(-scores[t, e])) for e in range(n_experts)]
        ranked = sorted(range(n_experts), key=lambda e: -(affinity[e] + bias[e]))[:k]
        weight = [affinity[e] + (bias[e] if slip == "gates" else 0.0) for e in ranked]
        total = 1.0 if slip == "unnormalised" else sum(weight)
        for j, e in enumerate(ranked):
            indices[t, j] = e
            gates[t, j] = weight[j] / total  # the bias chose; it does not weight
    return indices, gates


_ROUTE_SLIPS = {
    "softmax": "your gates are what a softmax over the scores gives: V3's affinities are "
    "sigmoid(scores), each expert's own, not a softmax over all of them (eq. 15).",
    "gates": "your gates include the bias: the bias only chooses the experts; the gate weights "
    "are the unbiased affinities of the chosen ones, normalised (eq. 16).",
    "unnormalised": "your gates are the chosen experts' sigmoid affinities, not normalised: "
    "divide each by their sum over the k chosen experts (eq. 13).",
}


def _route_case(tokens, n_experts, k, bias_scale, label, hint="", seed=0) -> Case:
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((tokens, n_experts))
    bias = bias_scale * rng.standard_normal(n_experts)
    expected = _route_brute_force(scores, k, bias)
    mistakes = []
    for slip, meaning in _ROUTE_SLIPS.items():
        wrong = _route_brute_force(scores, k, bias, slip)
        if not all(np.allclose(w, e, rtol=1e-6) for w, e in zip(wrong, expected, strict=True)):
            mistakes.append((wrong, meaning))  # only slips that change this case's answer
    return Case(
        args=(scores, k, bias),
        expected=expected,
        label=label,
        hint=hint,
        rtol=1e-9,
        atol=1e-12,
        mistakes=tuple(mistakes),
    )


V3_ROUTE = Exercise(
    name="v3_route",
    signature="v3_route(scores, k, bias) -> (expert_indices (T, k), gate_weights (T, k))",
    cases=(
        _route_case(
            3,
            4,
            2,
            0.0,
            "zero bias, 4 experts, top-2",
            "affinities are sigmoid(scores), not a softmax; list the chosen experts best first "
            "and normalise their affinities to sum to 1.",
        ),
        _route_case(
            5,
            8,
            3,
            0.5,
            "a bias large enough to change the choice",
            "add the bias only to CHOOSE the experts (top-k of sigmoid(scores) + bias); the gate "
            "weights come from the unbiased sigmoid(scores) of the chosen experts.",
            seed=1,
        ),
        _route_case(4, 6, 6, 0.3, "k equal to the number of experts", seed=2),
    ),
)


def check_v3_route(fn) -> CheckReport:
    """Run the public cases of exercise 4.2 against `fn`."""
    return check(fn, V3_ROUTE)


# --- 4.3 ---------------------------------------------------------------------------------------

_OWN_NODE_COUNTED = (
    "your answer counts every node the experts live on: the token's own node is reached over "
    "NVLink, not InfiniBand; count only the other ones."
)

REMOTE_NODES = Exercise(
    name="remote_nodes",
    signature="remote_nodes(k, n_nodes, max_nodes) -> float",
    cases=(
        Case(
            args=(1, 2, 2),
            expected=0.5,  # one expert, on the other node half the time
            label="one expert, two nodes",
            hint="two steps: how many distinct nodes do k uniform draws over the allowed nodes "
            "hit on average (work out the chance that one node is missed by all k draws), and "
            "what share of the nodes hit are not the token's own?",
            mistakes=((1.0, _OWN_NODE_COUNTED),),  # the one node hit, counted even when own
        ),
        Case(
            args=(8, 8, 8),
            expected=8 * (1 - (7 / 8) ** 8) * 7 / 8,  # 4.70: no node limit, V3's 8 nodes
            label="V3's k = 8 over 8 nodes, no node limit",
            mistakes=((8 * (1 - (7 / 8) ** 8), _OWN_NODE_COUNTED),),  # 5.37
        ),
        Case(
            args=(8, 8, 4),
            expected=4 * (1 - (3 / 4) ** 8) * 7 / 8,  # 3.15: at most 4 nodes
            label="V3's k = 8 over 8 nodes, at most 4 nodes per token",
            hint="with node-limited routing the k experts are drawn from max_nodes nodes, not "
            "from all n_nodes.",
            mistakes=(
                (
                    8 * (1 - (7 / 8) ** 8) * 7 / 8,  # 4.70, the unlimited answer
                    "your answer is the one without the node limit: the k draws fall on "
                    "max_nodes nodes, so at most max_nodes can be hit.",
                ),
            ),
        ),
        Case(args=(2, 1, 1), expected=0.0, label="a single node: nothing crosses InfiniBand"),
    ),
)


def check_remote_nodes(fn) -> CheckReport:
    """Run the public cases of exercise 4.3 against `fn`."""
    return check(fn, REMOTE_NODES)
