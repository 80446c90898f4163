"""Chapter 4's NumPy reference: V3's routing, load balancing and the DeepSeekMoE forward pass.

Taught in chapter 4, "Routing: sigmoid affinities, top-k, and a bias that only chooses"
(`route`, `node_limited_route`), "Routing collapse, and two cures" (`update_bias`,
`aux_balance_loss`, `expert_load`, `load_imbalance`), its subsection "Balancing each sequence"
(`sequence_balance_loss`) and "DeepSeekMoE" (`init_params`, `moe_forward`). Equation numbers are
those of the DeepSeek-V3 report, §2.1.2.

Axes: B sequences, T tokens (of a sequence, or of the batch), E routed experts, K experts per
token, S shared experts, D model width, F expert width, N nodes.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from labs.common import validate
from labs.moe.checks import (
    check_aux,
    check_bias,
    check_config,
    check_indices,
    check_load,
    check_node_route,
    check_params,
    check_route,
    check_sequence_balance,
    check_tokens,
    check_update_bias,
    param_shapes,
)
from labs.moe.config import MoEConfig

__all__ = [
    "aux_balance_loss",
    "expert_load",
    "init_params",
    "load_imbalance",
    "moe_forward",
    "node_limited_route",
    "route",
    "sequence_balance_loss",
    "update_bias",
]

Array = np.ndarray


def route(scores, k: int, bias=None) -> tuple[np.ndarray, np.ndarray]:
    """V3's routing (§2.1.2, eqs. 13-16): top-k experts on sigmoid affinity + bias, gate weights
    from the unbiased affinities of the chosen experts, normalised to sum to 1.

    Args:
        scores: router logits u_t^T e_i, shape (tokens, experts), finite floats.
        k: experts per token, 1 <= k <= experts.
        bias: optional per-expert bias b_i (experts,), used only to choose.
    Returns:
        (expert_indices (tokens, k) int64, best first; gate_weights (tokens, k)).
    """
    scores, k, bias = check_route(scores, k, bias)
    return validate.finite_result(
        "the gate weights", _route(scores, k, bias), inputs={"scores": scores}
    )


def _sigmoid(x: Float[Array, "..."]) -> Float[Array, "..."]:
    """The logistic function, accurate in both tails: 1 / (1 + e^-x) for x >= 0 and
    e^x / (1 + e^x) below, so exp never overflows and nothing cancels. (The form
    0.5 (1 + tanh(x / 2)) cancels for x < 0: its relative error is 2e-4 at -30 in float64, and it
    is exactly 0 from about -38, and from about -17 in float32, where the true value is not.)"""
    e = np.exp(-np.abs(x))  # in (0, 1]: no overflow
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _log_sigmoid(x: Float[Array, "..."]) -> Float[Array, "..."]:
    """log Sigmoid(x) = -softplus(-x), finite for every finite x."""
    return -np.logaddexp(0.0, -x)


def _route(
    scores: Float[Array, "T E"], k: int, bias: Float[Array, " E"] | None
) -> tuple[Int[Array, "T K"], Float[Array, "T K"]]:
    """Top-k on s + b (eq. 16), gates from s alone (eqs. 13, 15).

    Eq. 13 is computed in log space, g_i = s_i / sum_j s_j = softmax_j(log s_j)_i: far enough
    below 0 every sigmoid is 0 and s / sum(s) is 0/0 (on a CPU, in float64 from about -745 here
    and -710 in torch and JAX; in float32 from about -104 here, -88.7 in torch and -87.3 in JAX,
    which flushes subnormals to 0), while log s = -softplus(-u) stays finite. Where s + b ties
    (equal scores, or affinities all 0 after such an underflow), the lower expert index wins: a
    stable sort, the rule that `labs.moe.torch` and `labs.moe.jax` follow too. (Between -104 and
    -87.3 in float32 the three sigmoids disagree on whether a score underflows, so there a tie in
    one framework can be a strict order in another.)
    """
    affinity = _sigmoid(scores)  # s_{i,t} = Sigmoid(u_t^T e_i)       (eq. 15)
    choice = affinity if bias is None else affinity + bias  # s_{i,t} + b_i (eq. 16)
    idx = np.argsort(-choice, axis=-1, kind="stable")[:, :k]  # TopK           (eq. 16)
    log_s = np.take_along_axis(_log_sigmoid(scores), idx, axis=-1)  # the bias is not in the gate
    shifted = np.exp(log_s - log_s.max(-1, keepdims=True))  # largest chosen s -> 1, no underflow
    return idx.astype(np.int64), shifted / shifted.sum(-1, keepdims=True)  # (eq. 13)


def node_limited_route(
    scores, k: int, experts_per_node: int, max_nodes: int, bias=None
) -> tuple[np.ndarray, np.ndarray]:
    """V3's node-limited routing (§2.1.2): keep the `max_nodes` nodes whose best
    ceil(k / max_nodes) biased affinities sum highest, then route top-k within them.

    Experts are laid out node by node: experts [j * experts_per_node, (j + 1) * experts_per_node)
    live on node j. With max_nodes equal to the node count this is `route`.
    """
    scores, k, per_node, max_nodes, bias = check_node_route(
        scores, k, experts_per_node, max_nodes, bias
    )
    routed = _node_limited_route(scores, k, per_node, max_nodes, bias)
    return validate.finite_result("the gate weights", routed, inputs={"scores": scores})


def _node_limited_route(
    scores: Float[Array, "T E"],
    k: int,
    per_node: int,
    max_nodes: int,
    bias: Float[Array, " E"] | None,
) -> tuple[Int[Array, "T K"], Float[Array, "T K"]]:
    """Rank nodes by their top-(k/M) biased affinities, exclude the others, then `_route`."""
    tokens, n_experts = scores.shape
    choice = _sigmoid(scores) if bias is None else _sigmoid(scores) + bias
    by_node = choice.reshape(tokens, n_experts // per_node, per_node)  # (T, N, E/N)
    top = -np.sort(-by_node, axis=-1)[..., : min(per_node, -(-k // max_nodes))]
    nodes = np.argsort(-top.sum(-1), axis=-1, kind="stable")[:, :max_nodes]  # (T, M)
    allowed = np.zeros(by_node.shape[:2], dtype=bool)
    np.put_along_axis(allowed, nodes, True, axis=-1)
    keep = np.repeat(allowed, per_node, axis=-1)  # (T, E)
    # An excluded expert gets a bias of -inf, so it ranks below every kept one whatever the scores.
    # Masking its affinity to 0 instead is not enough: where the kept experts' sigmoids underflow
    # to 0 too, the tie goes to the lower index, which can be an excluded expert.
    bias = np.where(keep, np.zeros((), scores.dtype) if bias is None else bias, -np.inf)
    return _route(scores, k, bias)


def expert_load(expert_indices, n_experts: int) -> np.ndarray:
    """Tokens routed to each expert: counts (n_experts,) from expert_indices (tokens, k)."""
    n_experts = validate.size("n_experts", n_experts, maximum=2**16)
    indices = check_indices(expert_indices, n_experts)
    return _expert_load(indices, n_experts)


def _expert_load(indices: Int[Array, "T K"], n_experts: int) -> Int[Array, " E"]:
    """One count per expert."""
    return np.bincount(indices.reshape(-1), minlength=n_experts)


def load_imbalance(expert_load) -> float:
    """Max over mean of the per-expert load: 1.0 is perfect balance, E: one expert takes all."""
    return _load_imbalance(check_load(expert_load))


def _load_imbalance(load: Float[Array, " E"]) -> float:
    """max_i load_i / mean_i load_i."""
    return float(load.max() / load.mean())


def update_bias(bias, expert_load, gamma: float) -> np.ndarray:
    """The auxiliary-loss-free update (V3 §2.1.2): each bias moves by gamma against its load,
    down for an overloaded expert, up for an underloaded one, unchanged at the mean."""
    return _update_bias(*check_update_bias(bias, expert_load, gamma))


def _update_bias(bias: Float[Array, " E"], load: Float[Array, " E"], gamma: float):
    """b_i <- b_i - gamma * sign(load_i - mean load) (written with comparisons, so that the
    training loop can pass torch tensors)."""
    mean = load.mean()
    return bias - gamma * ((load > mean) * 1.0 - (load < mean) * 1.0)


def aux_balance_loss(probs, expert_indices) -> float:
    """The classic auxiliary balance loss (Switch / GShard form), without its weight alpha:
    E * sum_i f_i P_i, where f_i is the share of the k * T routing slots that went to expert i
    and P_i the mean router probability of expert i. It is 1.0 at perfect balance.

    Args:
        probs: router probabilities (tokens, experts), each row summing to 1 (a softmax, or V3's
            normalised sigmoid affinities).
        expert_indices: the chosen experts (tokens, k).
    """
    probs, indices = check_aux(probs, expert_indices)
    return float(_aux_balance_loss(probs, indices))


def _aux_balance_loss(probs: Float[Array, "T E"], indices: Int[Array, "T K"]):
    """E * sum_i f_i * P_i."""
    n_experts = probs.shape[1]
    f = _expert_load(indices, n_experts) / indices.size  # share of the routing slots
    return n_experts * np.sum(f * probs.mean(0))


def sequence_balance_loss(scores, expert_indices) -> float:
    """V3's complementary sequence-wise balance loss (§2.1.2, eqs. 17-20), without its weight
    alpha: sum_i f_i P_i computed on each sequence alone, then averaged over the sequences.

    f_i = E / (K T) x (tokens of the sequence routed to expert i) and P_i is the mean over the
    sequence's T tokens of s'_{i,t} = s_{i,t} / sum_j s_{j,t}, the normalised sigmoid affinity.
    A sequence whose load is exactly balanced (every f_i = 1) scores 1; one that sends all its
    tokens to the same K experts scores up to E / K. 1 is not a lower bound: a skewed load can
    score a little below it where its experts' mean affinities are low.

    Args:
        scores: router logits u_t^T e_i, shape (sequences, tokens, experts), finite floats, as
            `route` takes them per token (s = Sigmoid(scores), eq. 15).
        expert_indices: the chosen experts, shape (sequences, tokens, k), k distinct per token.
            Eq. 18 as printed ranks the unbiased affinities; the experts that `route` chose with
            the balancing bias are the load each device actually serves. With b = 0 they agree.
    Returns:
        the mean over sequences of sum_i f_i P_i, a float (multiply by alpha for L_Bal).
    """
    scores, indices = check_sequence_balance(scores, expert_indices)
    loss = float(_sequence_balance_loss(scores, indices))
    return validate.finite_result("the balance loss", loss, inputs={"scores": scores})


def _sequence_balance_loss(scores: Float[Array, "B T E"], indices: Int[Array, "B T K"]):
    """mean over sequences of sum_i f_i P_i; s' in log space as in `_route` (eq. 13)."""
    n_seq, tokens, n_experts = scores.shape
    log_s = _log_sigmoid(scores)  # log s_{i,t}, finite where s_{i,t} underflows (eq. 15)
    shifted = np.exp(log_s - log_s.max(-1, keepdims=True))
    s_norm = shifted / shifted.sum(-1, keepdims=True)  # s'_{i,t} = s_{i,t} / sum_j s_{j,t} (eq. 19)
    p = s_norm.mean(1)  # (B, E): P_i of each sequence                                   (eq. 20)
    offset = n_experts * np.arange(n_seq)[:, None, None]  # one bincount for all sequences
    counts = np.bincount((indices + offset).ravel(), minlength=n_seq * n_experts)
    f = n_experts / (indices.shape[-1] * tokens) * counts.reshape(n_seq, n_experts)  # (eq. 18)
    return np.sum(f * p, axis=-1).mean()  # sum_i f_i P_i per sequence (eq. 17), mean over B


def init_params(config: MoEConfig, seed: int = 0, dtype=np.float64) -> dict[str, np.ndarray]:
    """Random weights of a DeepSeekMoE layer (1/sqrt(fan-in) scale), as a dict of arrays."""
    config = check_config(config)
    seed = validate.seed("seed", seed)
    dtype = validate.float_dtype("dtype", dtype)
    rng = np.random.default_rng(seed)
    return {
        name: (rng.standard_normal(shape) / np.sqrt(shape[-2])).astype(dtype)
        for name, shape in param_shapes(config).items()
    }


def moe_forward(params, config: MoEConfig, x, bias=None) -> np.ndarray:
    """DeepSeekMoE's FFN output (V3 eq. 12 without the residual u_t): the shared experts plus
    the gate-weighted top-k routed experts, each a SwiGLU. x: (..., d_model)."""
    config = check_config(config)
    params = check_params(params, config)
    x = check_tokens(x, config)
    bias = check_bias(bias, config.n_routed)
    return validate.finite_result(
        "the MoE output", _moe_forward(params, config.k, x, bias), inputs={"x": x}
    )


def _swiglu(x: Float[Array, "T D"], w1, w3, w2) -> Float[Array, "T D"]:
    """FFN(x) = (SiLU(x W1) * x W3) W2."""
    h = x @ w1
    return (h * _sigmoid(h) * (x @ w3)) @ w2


def _scores(params: dict, flat: Float[Array, "T D"], n_experts: int) -> Float[Array, "T E"]:
    """The router logits of each of chapter 4's routers, told apart by the names of their weights,
    the names `labs.moe.torch._moe_layer(config, router)` gives them:

    - `router` (D, c E): c centroids per expert, expert i's logit the largest of its c dot
      products u_t^T e_{i,j} (columns i c to i c + c - 1). With c = 1 it is the plain router's
      u_t^T e_i (eq. 15): the largest of one value is that value.
    - `router_in` (D, r) and `router_out` (r, E): u_t^T A B, a product of two factors, of rank
      at most r; with `router_mid` (h, r) between them (`router_in` then (D, h)), three factors.
    """
    if "router_in" in params:
        h = flat @ params["router_in"]  # (T, r), or (T, h) with three factors
        if "router_mid" in params:
            h = h @ params["router_mid"]  # (T, r)
        return h @ params["router_out"]
    logits = flat @ params["router"]  # (T, c E)
    return logits.reshape(flat.shape[0], n_experts, -1).max(-1)  # best of each expert's c


def _moe_forward(params: dict, k: int, x: Float[Array, "... D"], bias) -> Float[Array, "... D"]:
    """Shared experts on every token, routed experts on the tokens routed to them (eq. 12)."""
    flat = x.reshape(-1, x.shape[-1])  # (T, D)
    out = np.zeros_like(flat)
    for s in range(params["shared_w1"].shape[0]):  # sum_i FFN^(s)_i(u_t)
        out += _swiglu(flat, params["shared_w1"][s], params["shared_w3"][s], params["shared_w2"][s])
    idx, gates = _route(_scores(params, flat, params["w1"].shape[0]), k, bias)  # (T, K), (T, K)
    for e in range(params["w1"].shape[0]):  # sum_i g_{i,t} FFN^(r)_i(u_t)
        token, slot = np.nonzero(idx == e)  # the tokens that chose expert e
        if token.size:
            y = _swiglu(flat[token], params["w1"][e], params["w3"][e], params["w2"][e])
            np.add.at(out, token, gates[token, slot, None] * y)
    return out.reshape(x.shape)
