"""Chapter 4 in JAX: V3's routing, the DeepSeekMoE layer as pure functions, and expert
parallelism with `jax.sharding` (`shard_map` with an all-to-all dispatch and combine).

Taught in chapter 4, "Expert parallelism on eight devices". Parameters are the reference's dict
(`labs.moe.init_params`); every kernel is jitted, its checks run outside `jit`.

The layer is written GShard-style (Lepikhin et al.): a dispatch tensor (T, E, C) puts each token
in a slot of each chosen expert's buffer of capacity C, experts run on their buffers, and a
combine tensor (the dispatch weighted by the gates) brings the results back. With C = T no token
is ever dropped, so the result equals the reference exactly. On several devices the routed
experts are sharded over the mesh axis, tokens too, and two `all_to_all`s move the buffers to
the experts' devices and back. Axes: T tokens, E experts, K per token, C capacity, D width,
F expert width, N devices.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import Float, Int

from labs.common.validate import finite_result
from labs.moe.checks import (
    check_bias,
    check_config,
    check_expert_parallel,
    check_node_route,
    check_params,
    check_route,
    check_sequence_balance,
    check_tokens,
)
from labs.moe.config import MoEConfig

try:  # newer JAX exports shard_map at the top level
    _shard_map = jax.shard_map
except AttributeError:  # older JAX, from 0.4.30 (pyproject's lower bound), keeps it here
    from jax.experimental.shard_map import shard_map as _shard_map

__all__ = [
    "expert_parallel_moe",
    "moe_forward",
    "node_limited_route",
    "route",
    "sequence_balance_loss",
]

Array = jax.Array


def route(scores, k: int, bias=None) -> tuple[jax.Array, jax.Array]:
    """V3's routing (eqs. 13-16) in JAX: (expert_indices (T, K) int32, gate_weights (T, K))."""
    scores, k, bias = check_route(scores, k, bias, framework="jax")
    routed = _route(jnp.asarray(scores), k, None if bias is None else jnp.asarray(bias))
    return finite_result("the gate weights", routed, inputs={"scores": scores})


@partial(jax.jit, static_argnums=1)
def _route(
    scores: Float[Array, "T E"], k: int, bias: Float[Array, " E"] | None
) -> tuple[Int[Array, "T K"], Float[Array, "T K"]]:
    """Top-k on s + b (eq. 16), gates from s alone (eqs. 13, 15), eq. 13 in log space as in
    `labs.moe.reference._route`: s / sum(s) is 0/0 once every sigmoid underflows."""
    affinity = jax.nn.sigmoid(scores)  # s_{i,t}                             (eq. 15)
    choice = affinity if bias is None else affinity + bias  # s_{i,t} + b_i (eq. 16)
    # TopK (eq. 16). jax.lax.top_k documents that of equal values the lower index comes first:
    # the rule of the NumPy reference's stable sort, so ties (equal scores, or affinities that all
    # underflow to 0) choose the same experts in all three frameworks.
    _, idx = jax.lax.top_k(jax.lax.stop_gradient(choice), k)
    log_s = jnp.take_along_axis(jax.nn.log_sigmoid(scores), idx, axis=-1)
    return idx, jax.nn.softmax(log_s, axis=-1)  # s_i / sum_j s_j = softmax(log s)_i (eq. 13)


def node_limited_route(
    scores, k: int, experts_per_node: int, max_nodes: int, bias=None
) -> tuple[jax.Array, jax.Array]:
    """V3's node-limited routing in JAX, as `labs.moe.node_limited_route`: keep the `max_nodes`
    nodes whose best ceil(k / max_nodes) biased affinities sum highest (the lower node index wins
    a tie), then route top-k within them. (expert_indices (T, K) int32, gate_weights (T, K))."""
    scores, k, per_node, max_nodes, bias = check_node_route(
        scores, k, experts_per_node, max_nodes, bias, framework="jax"
    )
    bias = None if bias is None else jnp.asarray(bias)
    routed = _node_limited_route(jnp.asarray(scores), k, per_node, max_nodes, bias)
    return finite_result("the gate weights", routed, inputs={"scores": scores})


@partial(jax.jit, static_argnums=(1, 2, 3))
def _node_limited_route(
    scores: Float[Array, "T E"],
    k: int,
    per_node: int,
    max_nodes: int,
    bias: Float[Array, " E"] | None,
) -> tuple[Int[Array, "T K"], Float[Array, "T K"]]:
    """Rank nodes by their top-(k/M) biased affinities, exclude the others, then `_route`."""
    tokens, n_experts = scores.shape
    choice = jax.nn.sigmoid(jax.lax.stop_gradient(scores))
    choice = choice if bias is None else choice + jax.lax.stop_gradient(bias)
    by_node = choice.reshape(tokens, n_experts // per_node, per_node)  # (T, N, E/N)
    top, _ = jax.lax.top_k(by_node, min(per_node, -(-k // max_nodes)))  # (T, N, k/M)
    _, nodes = jax.lax.top_k(top.sum(-1), max_nodes)  # (T, M), the lower index wins a tie
    allowed = jnp.zeros(by_node.shape[:2], bool).at[jnp.arange(tokens)[:, None], nodes].set(True)
    keep = jnp.repeat(allowed, per_node, axis=-1)  # (T, E)
    base = jnp.zeros((), scores.dtype) if bias is None else bias
    # An excluded expert gets a bias of -inf: it ranks below every kept one, ties at 0 included.
    return _route(scores, k, jnp.where(keep, base, -jnp.inf).astype(scores.dtype))


def sequence_balance_loss(scores, expert_indices) -> jax.Array:
    """V3's sequence-wise balance loss (eqs. 17-20) in JAX, without alpha, as
    `labs.moe.sequence_balance_loss`: scores (B, T, E) router logits, expert_indices (B, T, K).
    A 0-d array; `jax.grad` of the bare kernel differentiates it in scores."""
    scores, indices = check_sequence_balance(scores, expert_indices, framework="jax")
    loss = _sequence_balance_loss(jnp.asarray(scores), jnp.asarray(indices))
    return finite_result("the balance loss", loss, inputs={"scores": scores})


@jax.jit
def _sequence_balance_loss(
    scores: Float[Array, "B T E"], indices: Int[Array, "B T K"]
) -> Float[Array, ""]:
    """mean over sequences of sum_i f_i P_i, s' in log space as in `_route`."""
    n_seq, tokens, n_experts = scores.shape
    s_norm = jax.nn.softmax(jax.nn.log_sigmoid(scores), axis=-1)  # s' = s / sum_j s_j (eqs. 15, 19)
    p = s_norm.mean(1)  # (B, E): P_i of each sequence                                 (eq. 20)
    counts = jax.nn.one_hot(indices, n_experts, dtype=scores.dtype).sum((1, 2))  # (B, E)
    f = n_experts / (indices.shape[-1] * tokens) * counts  # (eq. 18)
    return (f * p).sum(-1).mean()  # sum_i f_i P_i per sequence (eq. 17), mean over B


def _swiglu(x: Float[Array, "... C D"], w1, w3, w2) -> Float[Array, "... C D"]:
    """FFN(x) = (SiLU(x W1) * x W3) W2, one expert per leading index of the weights."""
    h = jnp.einsum("...ecd,edf->...ecf", x, w1)
    g = jnp.einsum("...ecd,edf->...ecf", x, w3)
    return jnp.einsum("...ecf,efd->...ecd", jax.nn.silu(h) * g, w2)


def _shared(params: dict, x: Float[Array, "T D"]) -> Float[Array, "T D"]:
    """The sum of the shared experts on every token."""
    y = _swiglu(x[None], params["shared_w1"], params["shared_w3"], params["shared_w2"])
    return y.sum(0)  # (S, T, D) -> (T, D)


def _scores(params: dict, x: Float[Array, "T D"], n_experts: int) -> Float[Array, "T E"]:
    """The router logits of each of chapter 4's routers, as `labs.moe.reference._scores`: c
    centroids per expert in `router` (D, c E), the largest dot product wins (c = 1: the plain
    router, eq. 15); or a product of two or three factors (`router_in`, `router_mid`,
    `router_out`)."""
    if "router_in" in params:
        h = x @ params["router_in"]  # (T, r), or (T, h) with three factors
        if "router_mid" in params:
            h = h @ params["router_mid"]  # (T, r)
        return h @ params["router_out"]
    logits = x @ params["router"]  # (T, c E)
    return logits.reshape(x.shape[0], n_experts, -1).max(-1)  # best of each expert's c


def _dispatch(
    x: Float[Array, "T D"], scores: Float[Array, "T E"], k: int, bias
) -> tuple[Float[Array, "E C D"], Float[Array, "T E C"]]:
    """Route, then fill each expert's buffer of capacity C = T: (buffers, combine weights)."""
    n_experts = scores.shape[1]
    idx, gates = _route(scores, k, bias)  # (T, K), (T, K)
    chosen = jax.nn.one_hot(idx, n_experts, dtype=x.dtype)  # (T, K, E)
    assigned = chosen.sum(1)  # (T, E): 1 where token t chose expert e
    gate = (chosen * gates[..., None]).sum(1)  # (T, E): g_{e,t}, 0 if not chosen
    slot = jnp.cumsum(assigned, axis=0).astype(jnp.int32) - 1  # place in each expert's queue
    dispatch = assigned[..., None] * jax.nn.one_hot(slot, x.shape[0], dtype=x.dtype)  # (T, E, C)
    buffers = jnp.einsum("tec,td->ecd", dispatch, x)  # (E, C, D)
    return buffers, dispatch * gate[..., None]


def moe_forward(params, config: MoEConfig, x, bias=None) -> jax.Array:
    """DeepSeekMoE's FFN output (V3 eq. 12 without the residual) on one device; x (..., D)."""
    config = check_config(config)
    params = check_params(params, config, framework="jax")
    x = check_tokens(x, config, framework="jax")
    bias = check_bias(bias, config.n_routed, framework="jax")
    out = _moe_forward(params, config.k, jnp.asarray(x), bias)
    return finite_result("the MoE output", out, inputs={"x": x})


@partial(jax.jit, static_argnums=1)
def _moe_forward(params: dict, k: int, x: Float[Array, "... D"], bias) -> Float[Array, "... D"]:
    """Shared experts + combine(experts(dispatch(x))) (eq. 12)."""
    flat = x.reshape(-1, x.shape[-1])  # (T, D)
    scores = _scores(params, flat, params["w1"].shape[0])  # (T, E)
    buffers, combine = _dispatch(flat, scores, k, bias)  # (E, C, D), (T, E, C)
    y = _swiglu(buffers, params["w1"], params["w3"], params["w2"])  # (E, C, D)
    out = _shared(params, flat) + jnp.einsum("tec,ecd->td", combine, y)
    return out.reshape(x.shape)


def _expert_parallel_shard(params: dict, x, bias, *, k: int, axis: str):
    """One device's part: its tokens (T/N, D) and its experts (E/N, ...), two all-to-alls."""
    # The plain router only (`check_params`); it is replicated: every device scores all E experts.
    buffers, combine = _dispatch(x, x @ params["router"], k, bias)  # (E, C, D): for every expert
    # Dispatch: the buffers of device j's experts go to device j; each device receives, from
    # every source device, the tokens routed to its own E/N experts.
    received = jax.lax.all_to_all(buffers, axis, 0, 0, tiled=True)  # (N * E/N, C, D) by source
    n_local = params["w1"].shape[0]
    received = received.reshape(-1, n_local, *received.shape[1:])  # (N, E/N, C, D)
    y = _swiglu(received, params["w1"], params["w3"], params["w2"]).reshape(buffers.shape)
    # Combine: send each source device its tokens' results back, ordered by expert.
    returned = jax.lax.all_to_all(y, axis, 0, 0, tiled=True)  # (E, C, D) in global expert order
    return _shared(params, x) + jnp.einsum("tec,ecd->td", combine, returned)


def expert_parallel_moe(params, x, mesh: Mesh, config: MoEConfig, bias=None) -> jax.Array:
    """The DeepSeekMoE layer with its routed experts sharded over the devices of a 1-D `mesh`
    (expert parallelism): tokens are split over the devices too, and `shard_map` runs each
    device's part with an all-to-all dispatch and combine. Equals `moe_forward` on one device.

    Args:
        params: the layer's weights (`labs.moe.init_params`), replicated or already sharded.
        x: tokens (T, d_model), T divisible by the mesh size.
        mesh: a `jax.sharding.Mesh` with one axis; its size must divide n_routed.
        config: the layer's MoEConfig.
        bias: optional balancing bias (n_routed,).
    """
    params, x, config, bias = check_expert_parallel(params, x, mesh, config, bias)
    bias = jnp.zeros(config.n_routed, x.dtype) if bias is None else jnp.asarray(bias)
    specs = _specs(mesh.axis_names[0])
    put = partial(_put, mesh)  # place each array where its spec says (a no-op if it is there)
    params = {name: put(value, specs[name]) for name, value in params.items()}
    out = _expert_parallel(mesh, config.k)(params, put(x, P(mesh.axis_names[0])), put(bias, P()))
    return finite_result("the MoE output", out, inputs={"x": x})


def _put(mesh: Mesh, value, spec):
    return jax.device_put(jnp.asarray(value), NamedSharding(mesh, spec))


def _specs(axis: str) -> dict:
    """Routed experts split on their first axis over the mesh; router and shared replicated."""
    names = ("router", "shared_w1", "shared_w3", "shared_w2", "w1", "w3", "w2")
    return {name: P(axis) if name in ("w1", "w3", "w2") else P() for name in names}


def _expert_parallel(mesh: Mesh, k: int):
    """The jitted, shard_mapped layer for `mesh` (routed experts and tokens split on its axis)."""
    axis = mesh.axis_names[0]
    specs = _specs(axis)
    body = partial(_expert_parallel_shard, k=k, axis=axis)
    mapped = _shard_map(body, mesh=mesh, in_specs=(specs, P(axis), P()), out_specs=P(axis))
    return jax.jit(mapped)


def _float64():
    """A context in which JAX computes in float64: `jax.enable_x64(True)` where JAX has it (0.8
    and later), `jax.experimental.enable_x64()` in older JAX (0.4.30 to 0.7)."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64

    return enable_x64()
