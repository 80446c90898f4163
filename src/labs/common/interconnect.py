"""Expert-parallel traffic: the bytes a token moves over NVLink and InfiniBand per MoE layer.

Shared by chapter 4 ("When does sparsity pay?", through `labs.moe.comm`) and chapter 7 ("The
link that binds", through `labs.economics.steptime`), so that both chapters use one model.

The copies. `n_experts` = E routed experts are spread evenly over `n_nodes` = n nodes of
`gpus_per_node` = g GPUs, E / n per node and E / (n g) per GPU, and routing is balanced: a token
picks k *distinct* experts, as a top-k router does. A token sends one copy of its hidden state
over InfiniBand to each *remote node* that hosts one of its experts; the copy lands on the GPU
with the token's own in-node index, and from there one NVLink copy goes to each *other* GPU of
that node that hosts one of its experts (DeepSeek-V3 §3.2.2: "forwarded via NVLink to specific
GPUs that host their target experts"). The token's own node works the same way, from the token's
own GPU. Two experts on one GPU cost one copy, not two. The combine sends the results back the
same way.

Uniform draws. Draw the k experts uniformly, every set of k equally likely, from the P = M E / n
experts of M <= n nodes (M = n without a limit). k distinct draws from P miss a given s of them
with probability

    q(s) = C(P - s, k) / C(P, k),

so a node (s = E / n) is hit with probability 1 - q(E / n) and a GPU (s = E / (n g)) with
1 - q(E / (n g)). Each of the M nodes is hit alike, and a node hit is remote with probability
(n - 1) / n; of the M g GPUs, M (g - 1) are not a landing GPU:

    remote nodes  = M (1 - q(E / n)) (n - 1) / n                                        (1)
    NVLink copies = M (g - 1) (1 - q(E / (n g)))                                         (2)
    bytes on a link = copies x d_model x bytes per element (dispatch + combine)          (3)

Without a node limit this is what a top-k router does. With one (`max_nodes` = M < n), it is not:
V3's node-limited router (§2.1.2) ranks the nodes by the sum of their best k / M affinities and
keeps M of them *because* they hold high-affinity experts, so nearly every kept node receives one,
while uniform draws leave a kept node unhit with chance q(E / n) (0.093 for V3).

The router's nodes (`node_choice="router"`, the default). The router reaches the X nodes that k
distinct uniform draws over all n nodes would reach, but no more than M:

    R = min(X, M),                                                                       (4)

and, given R = r, its k experts are uniform over the experts of the r nodes with at least one on
each node. A reached node is remote with probability (n - 1) / n, and a GPU other than the
landing one is hit with probability h(r), the chance that k such draws hit a given GPU:

    remote nodes  = E[R] (n - 1) / n                                                     (5)
    NVLink copies = sum over r of P(R = r) r (g - 1) h(r)                                (6)

P(X = x) and h(r) come from counting the k draws one by one (`_reach`, a dynamic programme over
the nodes hit so far). When the limit cannot bind (M = n, or M >= k) R = X, and (5)-(6) are
(1)-(2) with M = n. For V3 (8 of 256 experts on 8 nodes of 8 GPUs, M = 4) X < 4 with probability
0.017, so R is 3.98 on average: a token crosses InfiniBand to 3.49 other nodes, close to
M (n - 1) / n = 3.5 whatever k is (hence V3 §3.2.2: k could grow to 13 "while preserving the same
communication cost"), and makes 6.52 NVLink copies. Uniform draws over the 4 nodes, (1)-(2), give
3.18 and 6.44.

(4) is a model of the router, not its rule. Against `labs.moe.node_limited_route` on random
scores it is within 0.5% on both counts for V3's layout and within 2.5% for every M on 8 nodes
(k = 4, 8 or 13; tests/moe/test_comm.py). It overcounts the nodes most where M lies just above
the mean of X: by 2% on 8 nodes, and by up to 7% on 16 (M = 7, k = 8: 6.2-6.6%;
tests/moe/test_comm.py).

`node_choice="uniform"` keeps (1)-(2) under a node limit too: Exercise 4.3's assumption.

`n_experts=None` is the limit E -> infinity, where q(s) -> (1 - s / P)^k: the k draws become
independent, with replacement, and (1)-(2) become M (1 - (1 - 1/M)^k) (n - 1) / n and
M (g - 1) (1 - (1 - 1/(M g))^k) ((4)-(6) likewise, with draws that may repeat). Drawing distinct
experts spreads a token over more GPUs and nodes than independent draws do, since no draw repeats
an expert already chosen. Eq. (2) is below k (g - 1) / g, the count with one copy per expert, by
the chance that two of a token's experts share a GPU.
"""

from __future__ import annotations

from functools import lru_cache
from math import exp, log
from types import MappingProxyType

import numpy as np

from labs.common.validate import integer, one_of, real_number, size

__all__ = [
    "MAX_EXPERTS",
    "MAX_NODES",
    "MAX_WIDTH",
    "NODE_CHOICES",
    "dispatch_bytes_per_token",
]

# Caps against typos (a width of 10**12 is a mistake, not a model): far above any real MoE.
MAX_WIDTH = 2**16
MAX_EXPERTS = 2**16
MAX_NODES = 2**16
# How a node-limited token's nodes are modelled: as the router picks them (eqs. 4-6) or as the
# nodes of uniform draws from the allowed nodes' experts (eqs. 1-2).
NODE_CHOICES = ("router", "uniform")


def dispatch_bytes_per_token(
    d_model: int,
    k: int,
    n_nodes: int,
    max_nodes: int | None = None,
    gpus_per_node: int = 8,
    dispatch_bytes: float = 1.0,
    combine_bytes: float = 2.0,
    *,
    n_experts: int | None = None,
    node_choice: str = "router",
) -> MappingProxyType:
    """Bytes one token moves per MoE layer for dispatch plus combine, split by link (eqs. 1-6).

    Args:
        d_model: the hidden size sent per copy.
        k: routed experts per token, distinct (at most the experts of the nodes it may use).
        n_nodes: nodes the experts are spread over (the expert-parallel group).
        max_nodes: node-limited routing, at most this many nodes per token (None: no limit).
        gpus_per_node: GPUs joined by NVLink in one node.
        dispatch_bytes, combine_bytes: bytes per element of each direction (V3 dispatches in FP8,
            1 byte, and combines in BF16, 2 bytes).
        n_experts: routed experts of the layer, spread evenly over the n_nodes x gpus_per_node
            GPUs (so a multiple of that number; V3: 256 over 64 GPUs). None: the limit of
            infinitely many experts, where the k draws are independent (with replacement), a
            slight undercount of the GPUs and nodes a token reaches.
        node_choice: how the max_nodes nodes are chosen. "router" (V3's node-limited router,
            eqs. 4-6): the nodes a top-k over all nodes would reach, at most max_nodes, each
            receiving at least one expert. "uniform" (eqs. 1-2): the k experts drawn uniformly
            from the experts of max_nodes nodes, which leaves some of them unhit. The two agree
            without a node limit.

    Returns:
        {"inter_node": InfiniBand bytes, "intra_node": NVLink bytes, "remote_nodes": expected
        InfiniBand copies, "nvlink_copies": expected NVLink copies}.
    """
    d_model = size("d_model", d_model, maximum=MAX_WIDTH)
    k = size("k", k, maximum=MAX_EXPERTS)
    n_nodes = size("n_nodes", n_nodes, maximum=MAX_NODES)
    if max_nodes is not None:
        max_nodes = integer("max_nodes", max_nodes, minimum=1, maximum=n_nodes)
    gpus_per_node = size("gpus_per_node", gpus_per_node, maximum=1024)
    dispatch_bytes = real_number("dispatch_bytes", dispatch_bytes, positive=True, maximum=8)
    combine_bytes = real_number("combine_bytes", combine_bytes, positive=True, maximum=8)
    if n_experts is not None:
        n_experts = check_expert_spread(n_experts, k, n_nodes, max_nodes, gpus_per_node)
    node_choice = one_of("node_choice", node_choice, NODE_CHOICES)
    return _dispatch_bytes(
        d_model,
        k,
        n_nodes,
        max_nodes,
        gpus_per_node,
        dispatch_bytes + combine_bytes,
        n_experts,
        node_choice,
    )


def check_expert_spread(
    n_experts,
    k: int,
    n_nodes: int,
    max_nodes: int | None,
    gpus_per_node: int,
    *,
    experts_name: str = "n_experts",
    nodes_name: str = "n_nodes",
    k_name: str = "k",
    gpus_name: str = "gpus_per_node",
) -> int:
    """`n_experts` checked against the layout it is spread over (the other arguments already
    checked): a positive int, a multiple of the n_nodes x gpus_per_node GPUs (the same number of
    experts on each), and at least k experts on the max_nodes nodes a token may use. The names
    are those of the caller's parameters (chapter 4 passes its config's `n_routed` and `k`)."""
    n_experts = size(experts_name, n_experts, maximum=MAX_EXPERTS)
    gpus = n_nodes * gpus_per_node
    if n_experts % gpus:
        raise ValueError(
            f"{experts_name} must spread evenly over the {nodes_name} x {gpus_name} = "
            f"{n_nodes} x {gpus_per_node} = {gpus} GPUs (a multiple of {gpus}, the same number "
            f"of experts on each GPU), got {experts_name}={n_experts}"
        )
    allowed = n_nodes if max_nodes is None else max_nodes
    pool = allowed * n_experts // n_nodes
    if k > pool:
        limit = "" if max_nodes is None else f" on the max_nodes={max_nodes} nodes it may use"
        raise ValueError(
            f"{k_name} must be at most the {pool} experts a token can choose from{limit} "
            f"({experts_name}={n_experts} over {nodes_name}={n_nodes} nodes; a router picks "
            f"{k_name} distinct experts), got {k_name}={k}"
        )
    return n_experts


def _miss(k: int, pool: int, held: int) -> float:
    """q(s) of eqs. (1)-(2): the chance that k distinct uniform draws from `pool` experts miss
    all `held` of them, C(pool - held, k) / C(pool, k), as a product of k ratios (no huge ints)."""
    q = 1.0
    for i in range(k):
        if pool - held - i <= 0:
            return 0.0  # fewer experts left outside than draws: every draw set hits one
        q *= (pool - held - i) / (pool - i)
    return q


def _dispatch_bytes(d, k, n, m, g, round_trip_bytes, e=None, node_choice="router"):
    """Expected IB copies (remote nodes) and NVLink copies (other GPUs) times bytes per copy.
    `e` experts spread evenly (checked by the caller), or None for independent draws."""
    m = n if m is None else m
    if node_choice == "router" and m < min(n, k):  # the limit can bind: eqs. (4)-(6)
        nodes_reached, nvlink_copies = _router_counts(k, n, m, g, e)
        remote_nodes = nodes_reached * (n - 1) / n  # eq. (5)
    else:
        if node_choice == "router":  # the limit never binds: R = X, eqs. (1)-(2) over n nodes
            m = n
        if e is None:  # E -> infinity: q(s) = (1 - s / P)^k, with s / P = 1 / M or 1 / (M g)
            node_hit = 1.0 - (1.0 - 1.0 / m) ** k
            gpu_hit = 1.0 - (1.0 - 1.0 / (m * g)) ** k
        else:
            pool = m * e // n  # the experts of the m nodes a token may use
            node_hit = 1.0 - _miss(k, pool, e // n)
            gpu_hit = 1.0 - _miss(k, pool, e // (n * g))
        remote_nodes = m * node_hit * (n - 1) / n  # eq. (1): nodes hit, times P(not its own)
        nvlink_copies = m * (g - 1) * gpu_hit  # eq. (2): GPUs hit, save the landing ones
    return MappingProxyType(
        {
            "inter_node": remote_nodes * d * round_trip_bytes,  # eq. (3)
            "intra_node": nvlink_copies * d * round_trip_bytes,  # eq. (3)
            "remote_nodes": remote_nodes,
            "nvlink_copies": nvlink_copies,
        }
    )


@lru_cache(maxsize=256)
def _router_counts(k: int, n: int, m: int, g: int, e: int | None) -> tuple[float, float]:
    """E[R] and the NVLink copies of eqs. (4) and (6), for a limit that can bind (m < n, m < k).

    Below m, R = X: the copies of the tokens whose draws hit x < m nodes count as without a limit,
    n (g - 1) P(a given GPU hit and X = x). The rest, P(X >= m), is held to m nodes, all hit:
    m (g - 1) h(m), with h(m) = 1 - P(the GPU missed and all m hit) / P(all m hit) for k draws
    from the experts of the m nodes."""
    distinct = e is not None
    s, t = (e // n, e // (n * g)) if distinct else (1.0, 1.0 / g)  # a node's and a GPU's share
    reach, gpu_missed, log_scale = _reach(k, n, s, t, distinct, m)  # x = 0 .. m - 1
    reach, gpu_missed = reach * exp(log_scale), gpu_missed * exp(log_scale)
    beyond = max(0.0, 1.0 - float(reach.sum()))  # P(X >= m): the router holds these to m nodes
    full, full_missed, _ = _reach(k, m, s, t, distinct, m + 1)
    held = 1.0 - full_missed[m] / full[m]  # h(m): a given GPU of the m nodes is hit
    nodes_reached = float(np.arange(m) @ reach) + m * beyond  # E[min(X, m)], eq. (4)
    nvlink = n * (g - 1) * float((reach - gpu_missed).sum()) + beyond * m * (g - 1) * float(held)
    return nodes_reached, nvlink  # eq. (6): the two parts


def _reach(k, nodes, s, t, distinct, cap):
    """Counting k draws over `nodes` nodes of s experts each (a GPU: t of them), one by one:
    (P(X = x), P(a given GPU missed and X = x), log of a common scale) for x = 0 .. cap - 1, X the
    nodes hit. Distinct draws take a different expert each time (the pool shrinks); otherwise
    each draw lands on a node with chance s / (nodes s). Both arrays are scaled by the same factor
    exp(-log scale), kept in range so that a ratio of tiny probabilities stays exact."""
    pool = nodes * s
    others = np.arange(cap)  # nodes hit among the nodes - 1 other than the GPU's node
    # [all, GPU missed] x [the GPU's node not hit, hit] x [others hit]: x = others (+ 1 if hit)
    p = np.zeros((2, 2, cap))
    p[:, 0, 0] = 1.0
    log_scale = 0.0
    for c in range(k):
        left = pool - c if distinct else pool
        to_other = np.clip(nodes - 1 - others, 0, None) * s / left  # a new node, not the GPU's
        to_node = np.array([s, s - t]) / left  # first draw on the GPU's node (missing the GPU)
        to_gpu = np.array([0.0, t / left])  # onto the given GPU: dropped from "GPU missed"
        new = np.zeros_like(p)
        for missed in (0, 1):
            not_hit, hit = p[missed]
            stay_out = np.clip(1 - to_other - to_node[0], 0, None)  # onto a node already hit
            stay_in = np.clip(1 - to_other - to_gpu[missed], 0, None)
            new[missed, 0] = not_hit * stay_out
            new[missed, 0, 1:] += (not_hit * to_other)[:-1]
            new[missed, 1] = hit * stay_in + not_hit * to_node[missed]
            new[missed, 1, 1:] += (hit * to_other)[:-1]
            new[missed, 1, -1] = 0.0  # x = cap: past what is asked for
        p = new
        top = p[0].max()
        if 0.0 < top < 1e-200:  # rescale before the probabilities underflow
            p /= top
            log_scale += log(top)
    x_dist = p[:, 0, :].copy()
    x_dist[:, 1:] += p[:, 1, :-1]
    return x_dist[0], x_dist[1], log_scale  # the cost grows as k x cap
