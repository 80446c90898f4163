"""Chapter 7 exercises: three decisions, each checked against hand-worked arithmetic.

7.1 plans a run: given a budget, a GPU price, a peak and an MFU, how large a dense model on how
many tokens (compute-optimal at Chinchilla's 20 tokens per parameter, a rule fitted on dense models
that does not carry over to an MoE's active parameters)? 7.2 finds the InfiniBand bandwidth at which
expert dispatch starts to set V3's step time. 7.3 decides how many nodes of a fleet to own when
the rest can be rented by the hour.

Expected values are worked by hand in the comments beside each case (exact arithmetic on round
inputs, or the formula written out), not produced by the package's own functions.
"""

from __future__ import annotations

import math

from labs.common.exercises import Case, CheckReport, Exercise, check

PLAN_RUN = Exercise(
    name="plan_run",
    signature=(
        "plan_run(budget_usd: float, usd_per_gpu_hour: float, peak_tflops: float, mfu: float) "
        "-> tuple[float, float]"
    ),
    cases=(
        # $1M at $1/h is 1e6 GPU-hours; at 1,000 TFLOP/s and MFU 0.25 that is 3.6e9 s x 2.5e14
        # = 9e23 FLOPs. C = 6 N D with D = 20 N: C = 120 N^2, N = sqrt(7.5e21), D = 20 N.
        Case(
            (1e6, 1.0, 1000.0, 0.25),
            (math.sqrt(7.5e21), 20 * math.sqrt(7.5e21)),
            "$1M at $1 per GPU-hour, 1,000 TFLOP/s, MFU 0.25",
            "spend it all: FLOPs = budget / price x 3600 x peak (FLOP/s) x MFU; then C = 6 N D "
            "with D = 20 N gives N = sqrt(C / 120). Return (N, D).",
            rtol=1e-9,
            mistakes=(
                # C = 9e23 at MFU 0.25; 3.6e24 at the full peak: N = sqrt(3.6e24 / 120) = sqrt(3e22)
                (
                    (math.sqrt(3e22), 20 * math.sqrt(3e22)),
                    "your plan spends the peak's FLOPs: only a share mfu of the peak does "
                    "useful work, so multiply the FLOPs by mfu.",
                ),
                # C / mfu = 3.6e24 / 0.25 = 1.44e25: N = sqrt(1.44e25 / 120) = sqrt(1.2e23)
                (
                    (math.sqrt(1.2e23), 20 * math.sqrt(1.2e23)),
                    "your plan divides by mfu: the useful FLOPs are a share mfu of what the peak "
                    "could do, fewer than the peak's, so multiply by mfu.",
                ),
                # C = 6 N^2 instead of 6 N (20 N): N = sqrt(9e23 / 6) = sqrt(1.5e23)
                (
                    (math.sqrt(1.5e23), 20 * math.sqrt(1.5e23)),
                    "your N solves C = 6 N^2: with D = 20 N, C = 6 N D = 120 N^2.",
                ),
                # C = 2 N D (the forward pass only): 40 N^2 = 9e23, N = sqrt(2.25e22) = 1.5e11
                (
                    (1.5e11, 3e12),
                    "your N solves C = 2 N D, the forward pass alone: training also runs the "
                    "backward pass, twice the forward's FLOPs, so C = 6 N D = 120 N^2.",
                ),
            ),
        ),
        # $30K at $3/h is 1e4 GPU-hours = 3.6e7 s; at 500 TFLOP/s and MFU 0.4: 7.2e21 FLOPs;
        # N = sqrt(7.2e21 / 120) = sqrt(6e19), D = 20 N.
        Case(
            (30_000.0, 3.0, 500.0, 0.4),
            (math.sqrt(6e19), 20 * math.sqrt(6e19)),
            "$30K at $3 per GPU-hour, 500 TFLOP/s, MFU 0.4",
            "TFLOP/s is 1e12 FLOP/s, an hour 3600 s; the model grows as the square root of the "
            "compute, not linearly.",
            rtol=1e-9,
        ),
    ),
)


def _v3_ib_bytes_and_compute_s(compute_efficiency: float, max_nodes: int) -> tuple[float, float]:
    """7.2's two quantities, written out (V3 §3.2, §4.2; chapter 7 eqs. 5-6): the InfiniBand
    bytes a GPU sends in one step and the step's compute seconds."""
    token_layers = 15360 * 4096 * 58 / 2048  # tokens per step x MoE layers / GPUs
    # The router reaches the X nodes that 8 distinct experts of the 256 (32 a node, 8 nodes) fall
    # on, but at most max_nodes (chapter 4, "(c) On H800 and H100 clusters"): the sets of 8 on
    # exactly x nodes, by inclusion-exclusion, then E[min(X, max_nodes)], remote 7 times in 8
    on = {
        x: math.comb(8, x)
        * sum((-1) ** i * math.comb(x, i) * math.comb(32 * (x - i), 8) for i in range(x + 1))
        for x in range(1, 9)
    }
    reached = sum(min(x, max_nodes) * sets for x, sets in on.items()) / math.comb(256, 8)
    remote = reached * 7 / 8
    ib_bytes = token_layers * remote * 7168 * 6  # 6 bytes per element per step (V3 §3.3.3)
    flops = 6 * 37e9 + 3 * 2 * 61 * 128 * (192 + 128) * 4096 / 2  # 6N + causal attention
    compute_s = flops * 15360 * 4096 / (2048 * 989.5e12 * compute_efficiency)
    return ib_bytes, compute_s


def _v3_ib_binding_gbs(compute_efficiency: float, max_nodes: int) -> float:
    """The hand-worked answer of 7.2: the bandwidth at which the IB time equals the compute."""
    ib_bytes, compute_s = _v3_ib_bytes_and_compute_s(compute_efficiency, max_nodes)
    return ib_bytes / compute_s / 1e9


def _v3_ib_whole_step_gbs(compute_efficiency: float, max_nodes: int) -> float:
    """7.2's likely slip: the traffic set against the whole step, Zhao et al. Table 4's bubble
    (2.06 s) and optimizer (0.29 s) included, the bubble scaled with the busy time (19.926 - 2.06
    - 0.29 = 17.576 s measured), as chapter 7's calibrated step carries them."""
    ib_bytes, compute_s = _v3_ib_bytes_and_compute_s(compute_efficiency, max_nodes)
    busy_s = 19.926 - 2.06 - 0.29
    return ib_bytes / (compute_s * (1 + 2.06 / busy_s) + 0.29) / 1e9


IB_BANDWIDTH_WHERE_DISPATCH_BINDS = Exercise(
    name="ib_bandwidth_where_dispatch_binds",
    signature=(
        "ib_bandwidth_where_dispatch_binds(compute_efficiency: float, max_nodes: int) -> float"
    ),
    cases=(
        Case(
            (0.45, 4),
            _v3_ib_binding_gbs(0.45, 4),
            "V3's step at 45% of the BF16 peak, at most 4 nodes per token",
            "with overlap the step waits for InfiniBand once its time passes the compute time; "
            "IB time scales as 1 / bandwidth, so solve IB bytes / bandwidth = compute seconds "
            "(v3_training_step and step_time give both at any one bandwidth).",
            rtol=1e-6,
            mistakes=(
                (
                    _v3_ib_whole_step_gbs(0.45, 4),
                    "you set the traffic against the whole step: with overlap it hides only "
                    "behind the compute (eq. 7), not behind the pipeline bubble or the "
                    "optimizer's update, so divide the IB bytes by the compute seconds alone.",
                ),
            ),
        ),
        Case(
            (0.9, 8),
            _v3_ib_binding_gbs(0.9, 8),
            "twice as fast compute, no node limit",
            "faster compute leaves less time to hide the traffic (the binding bandwidth rises), "
            "and without the node limit more copies cross InfiniBand: pass max_nodes through.",
            rtol=1e-6,
        ),
    ),
)


NODES_TO_OWN = Exercise(
    name="nodes_to_own",
    signature=(
        "nodes_to_own(hourly_nodes: tuple[int, ...], owned_usd_per_node_hour: float, "
        "rent_usd_per_node_hour: float) -> int"
    ),
    cases=(
        # u* = 1 / 2. Nodes 1-2 are in use 24 of 24 hours: own them. Nodes 3-6 only 6 of 24 (25 %):
        # rent them. Day cost: own 2 -> 48 + 4 x 6 x 2 = 96; own 6 -> 144; own 3 (the average
        # load, 18 x 2 + 6 x 6 = 72 / 24) -> 72 + 3 x 6 x 2 = 108.
        Case(
            ((2,) * 18 + (6,) * 6, 1.0, 2.0),
            2,
            "18 hours at 2 nodes, 6 hours at 6; owned $1, rented $2 a node-hour",
            "own node k only if it is busy in more than a share c_own / rent of the hours; sizing "
            "for the peak (6) or the average (3) both cost more: compare each k's day cost, "
            "k x 24 x owned + rented node-hours x rent.",
            mistakes=(
                (
                    3,
                    "you sized the fleet for the average load (3 nodes): a node pays to own only "
                    "if it is busy in more than owned / rent = 1/2 of the hours, and nodes 3-6 "
                    "are busy 6 of 24: rent them.",
                ),
                (
                    6,
                    "you sized the fleet for the peak (6 nodes): nodes 3-6 are busy only 6 of 24 "
                    "hours, under owned / rent = 1/2 of them: rent them.",
                ),
            ),
        ),
        # u* = 1 / 3. Node 1 busy 24 of 24, nodes 2-3 12 of 24 (50 % > 33 %): own all 3.
        # Day cost: own 3 -> 72; own 1 -> 24 + 2 x 12 x 3 = 96.
        Case(
            ((1,) * 12 + (3,) * 12, 1.0, 3.0),
            3,
            "half the day at 1 node, half at 3; owned $1, rented $3 a node-hour",
            "when renting is dear, a node busy half the day already pays to own.",
        ),
        # u* = 1 / 1.5 = 2 / 3. Node 1 busy 24 of 24; nodes 2-3 12 of 24 (50 % < 67 %): own 1.
        # Day cost: own 1 -> 24 + 2 x 12 x 1.5 = 60; own 2 -> 48 + 12 x 1.5 = 66; own 3 -> 72.
        Case(
            ((1,) * 12 + (3,) * 12, 1.0, 1.5),
            1,
            "half the day at 1 node, half at 3; owned $1, rented $1.50 a node-hour",
            "the share of busy hours at which owning pays is owned / rent, set by the prices: "
            "here 2/3, so a node busy half the day is cheaper rented.",
            mistakes=(
                (
                    3,
                    "you own nodes 2-3, busy half the day, which pays only when a node must be "
                    "busy in more than owned / rent = 1 / 1.5 = 2/3 of the hours: rent them (a "
                    "fixed share such as 50 % ignores the prices).",
                ),
            ),
        ),
        # u* = 1 / 2. Node 2 is busy 12 of 24 hours, exactly u*: own 1 -> 24 + 12 x 2 = 48, own 2
        # -> 48 (a tie), own 0 -> 36 x 2 = 72. The smallest k on a tie is 1.
        Case(
            ((1,) * 12 + (2,) * 12, 1.0, 2.0),
            1,
            "half the day at 1 node, half at 2; owned $1, rented $2 a node-hour",
            "owning 1 node and owning 2 both cost $48 a day: return the smallest k on a tie.",
            mistakes=(
                (
                    2,
                    "owning 2 nodes costs the same $48 a day as owning 1 (node 2 is busy exactly "
                    "owned / rent = 1/2 of the hours): on a tie return the smallest k.",
                ),
            ),
        ),
    ),
)


def check_plan_run(fn) -> CheckReport:
    """Run the public cases of exercise 7.1 against `fn`."""
    return check(fn, PLAN_RUN)


def check_ib_bandwidth_where_dispatch_binds(fn) -> CheckReport:
    """Run the public cases of exercise 7.2 against `fn`."""
    return check(fn, IB_BANDWIDTH_WHERE_DISPATCH_BINDS)


def check_nodes_to_own(fn) -> CheckReport:
    """Run the public cases of exercise 7.3 against `fn`."""
    return check(fn, NODES_TO_OWN)
