"""Hidden cases of chapter 7, worked by hand (the arithmetic is beside each case)."""

import math

from labs.common.exercises import Case


def _ib_binding(eff, max_nodes):
    # V3 §3.2 and §4.2 written out: token-layers per GPU, remote IB copies (the router reaches
    # the X nodes that 8 distinct experts of the 256, 32 a node, fall on, at most max_nodes:
    # E[min(X, max_nodes)] x 7/8), 6 bytes per element; compute = (6N + causal attention) FLOPs
    # per token over 2,048 GPUs at 989.5 TFLOP/s x eff.
    token_layers = 15360 * 4096 * 58 / 2048
    on = [
        math.comb(8, x)
        * sum((-1) ** i * math.comb(x, i) * math.comb(32 * (x - i), 8) for i in range(x + 1))
        for x in range(9)
    ]  # sets of 8 experts on exactly x nodes, by inclusion-exclusion
    remote = sum(min(x, max_nodes) * sets for x, sets in enumerate(on)) / math.comb(256, 8) * 7 / 8
    flops = 6 * 37e9 + 3 * 2 * 61 * 128 * 320 * 4096 / 2
    return token_layers * remote * 7168 * 6 / (flops * 15360 * 4096 / (2048 * 989.5e12 * eff)) / 1e9


HIDDEN = {
    "plan_run": (
        # $120K at $2/h = 6e4 h = 2.16e8 s; x 1e15 x 0.5 = 1.08e23 FLOPs; N = sqrt(9e20) = 3e10.
        Case(
            (120_000.0, 2.0, 1000.0, 0.5),
            (3e10, 6e11),
            "$120K, $2/h, 1 PFLOP/s, MFU 0.5",
            rtol=1e-9,
        ),  # fmt: skip
        Case(
            (5e5, 2.5, 989.5, 0.35),
            (
                math.sqrt(5e5 / 2.5 * 3600 * 989.5e12 * 0.35 / 120),
                20 * math.sqrt(5e5 / 2.5 * 3600 * 989.5e12 * 0.35 / 120),
            ),
            "$500K on H100s at $2.5/h, MFU 0.35",
            rtol=1e-9,
        ),
    ),
    "ib_bandwidth_where_dispatch_binds": (
        Case((0.3, 4), _ib_binding(0.3, 4), "30% of peak, node-limited to 4", rtol=1e-6),
        Case((1.0, 2), _ib_binding(1.0, 2), "the whole peak, at most 2 nodes", rtol=1e-6),
    ),
    "nodes_to_own": (
        # u* = 1 / 1.4 = 71 %: nodes 1-4 are busy 16 of 24 hours (67 %): own none. Day cost: own 0
        # -> 64 x 1.4 = 89.6; own 4 -> 96.
        Case(((0,) * 8 + (4,) * 16, 1.0, 1.4), 0, "idle nights, owning dearer than 71 %"),
        # u* = 1 / 5 = 20 %: nodes 1-5 busy all day, nodes 6-10 4 of 24 (17 %): own 5. Day cost:
        # own 5 -> 120 + 5 x 4 x 5 = 220; own 10 -> 240.
        Case(((5,) * 20 + (10,) * 4, 1.0, 5.0), 5, "a 4-hour peak, rent 5 times the owned cost"),
    ),
}
FORBIDDEN = {
    "plan_run": (),
    "ib_bandwidth_where_dispatch_binds": ("labs.economics.steptime.binding_bandwidth",),
    "nodes_to_own": (),
}
