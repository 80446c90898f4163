"""Hidden cases of chapter 4: hand arithmetic (4.1, 4.3) and the brute-force V2 router of the
public cases (4.2). Lands before chapter 4 on this branch: read once labs.moe exists."""

import importlib

from labs.common.exercises import Case

# Imported by name: on a branch without chapter 4 this file is never read.
_device_route_case = importlib.import_module("labs.moe.exercises")._device_route_case

# 4.1: one expert is 3 x d x f weights; the router d x e.
HIDDEN = {
    "moe_layer_params": (
        # 3 x 6 x 3 = 54 per expert; 5 experts = 270 + router 6 x 4 = 24; active 2 x 54 + 24.
        Case(args=(6, 3, 4, 1, 1), expected=(294, 132), label="4 routed + 1 shared of width 3"),
        # 3 x 2 x 1 = 6 per expert; 16 experts = 96 + router 2 x 16 = 32; active 4 x 6 + 32.
        Case(args=(2, 1, 16, 0, 4), expected=(128, 56), label="16 tiny experts, top-4"),
    ),
    "v2_device_route": (
        # V2's own layout in small: 8 devices, at most 3 per token (V2 §3.1.2: D = 8, M = 3)
        _device_route_case(5, 8, 4, 6, 3, "32 experts on 8 devices, top-6, at most 3", seed=41),
        _device_route_case(3, 3, 2, 1, 2, "top-1 of 6 experts on 3 devices", seed=42),
        _device_route_case(4, 4, 3, 5, 2, "k = 5 spilling over 2 devices of 3", seed=43),
    ),
    "remote_nodes": (
        Case(args=(4, 4, 2), expected=2 * (1 - 0.5**4) * 3 / 4, label="k = 4, 4 nodes, at most 2"),
        Case(args=(1, 16, 16), expected=15 / 16, label="one expert among 16 nodes"),
    ),
}
FORBIDDEN = {
    "moe_layer_params": ("labs.moe.comm.v3_parameter_counts",),
    "v2_device_route": (
        "labs.moe.reference.route",
        "labs.moe.reference.node_limited_route",
        "labs.moe.torch.route",
        "labs.moe.jax.route",
    ),
    "remote_nodes": ("labs.moe.comm.dispatch_bytes_per_token",),
}
