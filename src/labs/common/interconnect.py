"""Expert-parallel traffic: the bytes a token moves over NVLink and InfiniBand per MoE layer.

Shared by chapter 4 ("When does sparsity pay?", through `labs.moe.comm`) and chapter 7 ("The
link that binds", through `labs.economics.steptime`), so that both chapters use one model.

The model. `n_experts` = E routed experts are spread evenly over `n_nodes` = n nodes of
`gpus_per_node` = g GPUs, E / n per node and E / (n g) per GPU, and routing is balanced: a token
picks k *distinct* experts, every set of k equally likely, as a top-k router does. A token sends
one copy of its hidden state over InfiniBand to each *remote node* that hosts one of its experts;
the copy lands on the GPU with the token's own in-node index, and from there one NVLink copy goes
to each *other* GPU of that node that hosts one of its experts (DeepSeek-V3 §3.2.2: "forwarded via
NVLink to specific GPUs that host their target experts"). The token's own node works the same
way, from the token's own GPU. Two experts on one GPU cost one copy, not two. The combine sends
the results back the same way.

Node-limited routing draws the k experts from the P = M E / n experts of M <= n nodes (M = n
without a limit). k distinct draws from P miss a given s of them with probability

    q(s) = C(P - s, k) / C(P, k),

so a node (s = E / n) is hit with probability 1 - q(E / n) and a GPU (s = E / (n g)) with
1 - q(E / (n g)). Each of the M allowed nodes is hit alike, and a node hit is remote with
probability (n - 1) / n; of the M g allowed GPUs, M (g - 1) are not a landing GPU:

    remote nodes  = M (1 - q(E / n)) (n - 1) / n                                        (1)
    NVLink copies = M (g - 1) (1 - q(E / (n g)))                                         (2)
    bytes on a link = copies x d_model x bytes per element (dispatch + combine)          (3)

`n_experts=None` is the limit E -> infinity, where q(s) -> (1 - s / P)^k: the k draws become
independent, with replacement, and (1)-(2) become M (1 - (1 - 1/M)^k) (n - 1) / n and
M (g - 1) (1 - (1 - 1/(M g))^k). Drawing distinct experts spreads a token over more GPUs and
nodes than independent draws do, since no draw repeats an expert already chosen.

Eq. (2) is below k (g - 1) / g, the count with one copy per expert, by the chance that two of a
token's experts share a GPU. V3 (§3.2, §4.2): 8 of its 256 experts, drawn from the 128 on 4 of
its 8 nodes (4 per GPU), make 6.44 NVLink copies, not 7 (one per expert) and not the 6.28 of
independent draws, and reach 3.18 remote nodes, not 3.15.
"""

from __future__ import annotations

from types import MappingProxyType

from labs.common.validate import integer, real_number, size

__all__ = ["MAX_EXPERTS", "MAX_NODES", "MAX_WIDTH", "dispatch_bytes_per_token"]

# Caps against typos (a width of 10**12 is a mistake, not a model): far above any real MoE.
MAX_WIDTH = 2**16
MAX_EXPERTS = 2**16
MAX_NODES = 2**16


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
) -> MappingProxyType:
    """Bytes one token moves per MoE layer for dispatch plus combine, split by link (eqs. 1-3).

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
    return _dispatch_bytes(
        d_model, k, n_nodes, max_nodes, gpus_per_node, dispatch_bytes + combine_bytes, n_experts
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


def _dispatch_bytes(d, k, n, m, g, round_trip_bytes, e=None) -> MappingProxyType:
    """Expected IB copies (remote nodes) and NVLink copies (other GPUs) times bytes per copy.
    `e` experts spread evenly (checked by the caller), or None for independent draws."""
    m = n if m is None else m
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
