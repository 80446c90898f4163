"""Expert-parallel traffic: the bytes a token moves over NVLink and InfiniBand per MoE layer.

Shared by chapter 4 ("When does sparsity pay?", through `labs.moe.comm`) and chapter 7 ("The
link that binds", through `labs.economics.steptime`), so that both chapters use one model.

The model. Experts are spread evenly over `n_nodes` nodes of `gpus_per_node` GPUs, and routing
is balanced (each expert equally likely, the k draws independent). A token sends one copy of its
hidden state over InfiniBand to each *remote node* that hosts one of its experts; the copy lands
on the GPU with the token's own in-node index, and from there one NVLink copy goes to each *other*
GPU of that node that hosts one of its experts (DeepSeek-V3 §3.2.2: "forwarded via NVLink to
specific GPUs that host their target experts"). The token's own node works the same way, from the
token's own GPU. Two experts on one GPU cost one copy, not two. The combine sends the results
back the same way. With k experts drawn from n nodes the expected number of distinct nodes is
n (1 - (1 - 1/n)^k); node-limited routing draws them from M <= n nodes instead, so
M (1 - (1 - 1/M)^k), and a node hit is remote with probability (n - 1) / n. Each of the M g
allowed GPUs is hit with probability 1 - (1 - 1/(M g))^k, and M (g - 1) of them are not a
landing GPU:

    remote nodes  = M (1 - (1 - 1/M)^k) (n - 1) / n                                     (1)
    NVLink copies = M (g - 1) (1 - (1 - 1/(M g))^k)                                      (2)
    bytes on a link = copies x d_model x bytes per element (dispatch + combine)          (3)

Eq. (2) is below k (g - 1) / g, the count with one copy per expert, by the chance that two of a
token's experts share a GPU (V3: 8 experts over the 32 GPUs of 4 nodes, 6.28 copies, not 7).
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
) -> MappingProxyType:
    """Bytes one token moves per MoE layer for dispatch plus combine, split by link (eqs. 1-3).

    Args:
        d_model: the hidden size sent per copy.
        k: routed experts per token.
        n_nodes: nodes the experts are spread over (the expert-parallel group).
        max_nodes: node-limited routing, at most this many nodes per token (None: no limit).
        gpus_per_node: GPUs joined by NVLink in one node.
        dispatch_bytes, combine_bytes: bytes per element of each direction (V3 dispatches in FP8,
            1 byte, and combines in BF16, 2 bytes).

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
    return _dispatch_bytes(
        d_model, k, n_nodes, max_nodes, gpus_per_node, dispatch_bytes + combine_bytes
    )


def _distinct(draws: int, bins: int) -> float:
    """Expected distinct bins hit by `draws` uniform draws."""
    return bins * (1.0 - (1.0 - 1.0 / bins) ** draws)


def _dispatch_bytes(d, k, n, m, g, round_trip_bytes) -> MappingProxyType:
    """Expected IB copies (remote nodes) and NVLink copies (other GPUs) times bytes per copy."""
    m = n if m is None else m
    remote_nodes = _distinct(k, m) * (n - 1) / n  # eq. (1): nodes hit, times P(not its own)
    nvlink_copies = _distinct(k, m * g) * (g - 1) / g  # eq. (2): GPUs hit, save the landing ones
    return MappingProxyType(
        {
            "inter_node": remote_nodes * d * round_trip_bytes,  # eq. (3)
            "intra_node": nvlink_copies * d * round_trip_bytes,  # eq. (3)
            "remote_nodes": remote_nodes,
            "nvlink_copies": nvlink_copies,
        }
    )
