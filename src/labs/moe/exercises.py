"""Chapter 4 exercises, with their instant checks.

4.1 `moe_layer_params`: total and active parameters of one DeepSeekMoE layer.
4.2 `v2_device_route`: DeepSeek-V2's device-limited routing, which differs from V3's node-limited
    router (shown in the chapter) in its affinities, its device ranking and its gates.
4.3 `remote_nodes`: the expected number of other nodes a token's hidden state crosses InfiniBand
    to reach, with and without node-limited routing.

Expected values are worked by hand (4.1, 4.3: the arithmetic is in the comments) or computed by
brute force here, with loops that share no code with the package (4.2; the package has no V2
router).

4.2 reads V2 §2.2.2's "select M devices that have experts with the highest affinity scores in
them" as: rank each device by its single highest affinity. The sentence alone allows other
readings; DeepSeek's released V2 routing (`topk_method="group_limited_greedy"`, each group of
experts scored by its maximum softmax affinity) uses this one. V2's released configuration also
multiplies the gates by a `routed_scaling_factor`, which the paper's equations do not have; the
check follows the paper (gate = affinity).
"""

from __future__ import annotations

import math

import numpy as np

from labs.common.exercises import Case, CheckReport, Exercise, check

__all__ = [
    "MOE_LAYER_PARAMS",
    "REMOTE_NODES",
    "V2_DEVICE_ROUTE",
    "check_moe_layer_params",
    "check_remote_nodes",
    "check_v2_device_route",
]

# --- 4.1 ---------------------------------------------------------------------------------------

_TWO_MATRICES = (
    "you counted two matrices per expert: a SwiGLU expert has three, W1 and W3 (D x F) for the "
    "gate and the up projection, and W2 (F x D) back down."
)
_ROUTER_NOT_ACTIVE = (
    "your active count leaves out the router: every token multiplies its D x E weights to score "
    "all the experts, so they are active."
)
_SHARED_NOT_ACTIVE = (
    "your active count leaves out the shared expert: every token passes through it, so it is "
    "active as well as stored."
)

_ONE_ROUTED = (
    "you counted one routed expert per token: each token uses k of them (top-k), so k routed "
    "experts are active beside the shared ones."
)

_SHARED_AS_ONE = (
    "you counted the shared experts as one: n_shared is how many there are (this layer has 2), "
    "and each is a full SwiGLU expert, stored and used by every token."
)

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
            mistakes=(
                ((80, 32), _TWO_MATRICES),  # 4 x 16 + 16; 16 + 16
                ((112, 24), _ROUTER_NOT_ACTIVE),  # active 24 without the router's 16
            ),
        ),
        Case(
            args=(8, 4, 8, 1, 3),
            expected=(928, 448),  # 9 experts x 96 = 864 + router 64; active 4 x 96 + 64
            label="8 routed + 1 shared expert, top-3",
            hint="a shared expert is used by every token: it counts in total AND in active, "
            "beside the k routed experts each token uses.",
            mistakes=(
                ((640, 320), _TWO_MATRICES),  # 2 x 8 x 4 = 64 per expert: 9 x 64 + 64; 4 x 64 + 64
                ((928, 384), _ROUTER_NOT_ACTIVE),  # active 4 x 96
                ((928, 352), _SHARED_NOT_ACTIVE),  # active 3 x 96 + 64
                ((928, 256), _ONE_ROUTED),  # active (1 + 1) x 96 + 64: k = 1 passes case 1
            ),
        ),
        Case(
            args=(5120, 1536, 160, 2, 6),  # DeepSeek-V2 (deepseekv2, §3.1.2)
            expected=(
                162 * 23_592_960 + 819_200,
                8 * 23_592_960 + 819_200,
            ),  # 3 x 5120 x 1536 = 23,592,960 per expert; router 5120 x 160 = 819,200
            label="one DeepSeek-V2 MoE layer: 2 shared and 160 routed experts, top-6",
            hint="n_shared is a count: every shared expert is stored and used by every token.",
            mistakes=(((161 * 23_592_960 + 819_200, 7 * 23_592_960 + 819_200), _SHARED_AS_ONE),),
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


def _device_route_brute_force(
    scores: np.ndarray,
    k: int,
    experts_per_device: int,
    max_devices: int,
    slip: str | None = None,
) -> tuple:
    """DeepSeek-V2's device-limited routing by loops (V2 §2.2.1-2.2.2); `slip` makes one known
    mistake instead (for `Case.mistakes`): "sigmoid" affinities, gates "normalised", devices
    ranked by the sum of their best ceil(k / max_devices) affinities ("v3 nodes", the rule the
    chapter shows) or by their "total" affinity, "no limit" on the devices, gates from a softmax
    over the "allowed" experts only, experts in "index order" instead of best first, or all of
    V3's rules at once ("v3 copy": sigmoid, V3's node ranking, normalised gates)."""
    slips = {"sigmoid", "v3 nodes", "normalised"} if slip == "v3 copy" else {slip}
    tokens, n_experts = scores.shape
    n_devices = n_experts // experts_per_device
    indices = np.zeros((tokens, k), dtype=np.int64)
    gates = np.zeros((tokens, k))
    for t in range(tokens):
        if "sigmoid" in slips:
            affinity = [1.0 / (1.0 + math.exp(-scores[t, e])) for e in range(n_experts)]
        else:  # s_{i,t} = Softmax_i(u_t^T e_i), over all routed experts
            z = sum(math.exp(scores[t, e]) for e in range(n_experts))
            affinity = [math.exp(scores[t, e]) / z for e in range(n_experts)]
        device_score = []
        for d in range(n_devices):
            mine = sorted(affinity[d * experts_per_device : (d + 1) * experts_per_device])[::-1]
            if "v3 nodes" in slips:
                device_score.append(sum(mine[: -(-k // max_devices)]))
            elif slip == "total":
                device_score.append(sum(mine))
            else:  # the device's highest affinity
                device_score.append(mine[0])
        keep_n = n_devices if slip == "no limit" else max_devices
        kept = sorted(range(n_devices), key=lambda d: -device_score[d])[:keep_n]
        allowed = [e for e in range(n_experts) if e // experts_per_device in kept]
        ranked = sorted(allowed, key=lambda e: -affinity[e])[:k]
        if slip == "index order":
            ranked = sorted(ranked)
        if "normalised" in slips:
            total = sum(affinity[e] for e in ranked)
        elif slip == "allowed":  # a softmax over the allowed experts: affinity / their share
            total = sum(affinity[e] for e in allowed)
        else:
            total = 1.0
        for j, e in enumerate(ranked):
            indices[t, j] = e
            gates[t, j] = affinity[e] / total  # V2's gate is the affinity itself
    return indices, gates


_DEVICE_ROUTE_SLIPS = {
    "sigmoid": "your gates are sigmoids of the scores, V3's affinities: V2's affinity is a "
    "softmax over all routed experts (V2 §2.2.1).",
    "normalised": "your gates sum to 1 over the chosen experts: V2 does not normalise them; the "
    "gate of a chosen expert is its softmax affinity as it is (V2 §2.2.1; V3 added the "
    "normalisation, eq. 13).",
    "v3 nodes": "you ranked the devices by the sum of their best ceil(k / max_devices) "
    "affinities, V3's node rule shown earlier in the chapter: V2 keeps the devices 'that have "
    "experts with the highest affinity scores in them', one best expert per device.",
    "total": "you ranked the devices by the sum of all their experts' affinities: V2 keeps the "
    "devices holding the highest single affinities.",
    "no limit": "your experts span more than max_devices devices: that is plain top-k; first keep "
    "max_devices devices, then take the top k of the experts on them.",
    "allowed": "your gates are a softmax over the experts on the kept devices only: V2's affinity "
    "is a softmax over ALL routed experts, taken before any device is dropped, and a chosen "
    "expert's gate is that affinity as it is (V2 §2.2.1).",
    "index order": "your experts are the right ones in index order: return them best first, the "
    "highest affinity in column 0, each gate beside its expert.",
    "v3 copy": "your answer is V3's node-limited router, the source shown in the chapter: V2 "
    "differs in its affinities (a softmax), in how it ranks the devices (each by its single "
    "best affinity) and in its gates (not normalised); see V2 §2.2.1-2.2.2.",
}


def _device_route_case(
    tokens, n_devices, experts_per_device, k, max_devices, label, hint="", seed=0, spread=1.0
) -> Case:
    rng = np.random.default_rng(seed)
    scores = spread * rng.standard_normal((tokens, n_devices * experts_per_device))
    args = (scores, k, experts_per_device, max_devices)
    expected = _device_route_brute_force(*args)
    mistakes = []
    for slip, meaning in _DEVICE_ROUTE_SLIPS.items():
        wrong = _device_route_brute_force(*args, slip=slip)
        if not all(np.allclose(w, e, rtol=1e-6) for w, e in zip(wrong, expected, strict=True)):
            mistakes.append((wrong, meaning))  # only slips that change this case's answer
    return Case(
        args=args,
        expected=expected,
        label=label,
        hint=hint,
        rtol=1e-9,
        atol=1e-12,
        mistakes=tuple(mistakes),
    )


V2_DEVICE_ROUTE = Exercise(
    name="v2_device_route",
    signature="v2_device_route(scores, k, experts_per_device, max_devices) -> "
    "(expert_indices (T, k), gate_weights (T, k))",
    cases=(
        _device_route_case(
            4,
            4,
            3,
            2,
            1,
            "12 experts on 4 devices of 3, top-2, one device per token",
            "with max_devices = 1 both experts come from one device: the device that holds the "
            "token's single highest affinity.",
            seed=3,
        ),
        _device_route_case(
            6,
            4,
            4,
            4,
            2,
            "16 experts on 4 devices of 4, top-4, at most 2 devices",
            "keep the max_devices devices first, then take the top k of the experts on them, best "
            "first; the gates are softmax affinities over ALL the experts, not only the kept ones.",
            seed=7,
        ),
        _device_route_case(
            3,
            2,
            3,
            3,
            2,
            "6 experts on 2 devices, max_devices = the number of devices",
            "with every device allowed this is V2's plain top-k routing.",
            seed=11,
        ),
    ),
)


def check_v2_device_route(fn) -> CheckReport:
    """Run the public cases of exercise 4.2 against `fn`."""
    return check(fn, V2_DEVICE_ROUTE)


# --- 4.3 ---------------------------------------------------------------------------------------

_OWN_NODE_COUNTED = (
    "your answer counts every node the experts live on: the token's own node is reached over "
    "NVLink, not InfiniBand; count only the other ones."
)

_OWN_NODE_ALLOWED = (
    "your answer takes the token's own node to be one of the max_nodes allowed nodes, so that "
    "(max_nodes - 1) others can be hit. The exercise takes the own node to be any of the n_nodes "
    "with equal chance, whichever nodes are allowed: each node the experts reach is another one "
    "with chance (n_nodes - 1) / n_nodes. (With max_nodes = n_nodes the two readings agree.)"
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
            "from all n_nodes; the token's own node is any of the n_nodes, whichever nodes are "
            "allowed.",
            mistakes=(
                (
                    8 * (1 - (7 / 8) ** 8) * 7 / 8,  # 4.70, the unlimited answer
                    "your answer is the one without the node limit: the k draws fall on "
                    "max_nodes nodes, so at most max_nodes can be hit.",
                ),
                (
                    3 * (1 - (3 / 4) ** 8),  # 2.70: (M - 1)(1 - (1 - 1/M)^k), own node allowed
                    _OWN_NODE_ALLOWED,
                ),
            ),
        ),
        Case(args=(2, 1, 1), expected=0.0, label="a single node: nothing crosses InfiniBand"),
    ),
)


def check_remote_nodes(fn) -> CheckReport:
    """Run the public cases of exercise 4.3 against `fn`."""
    return check(fn, REMOTE_NODES)
