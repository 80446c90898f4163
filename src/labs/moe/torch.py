"""Chapter 4 in PyTorch: V3's routing and the DeepSeekMoE layer as an `nn.Module`.

Taught in chapter 4, "Balancing each sequence" (`sequence_balance_loss`, differentiable, for a
training loss), "DeepSeekMoE in PyTorch" and "Training a tiny MoE language model" (the
module the training loop of `labs.moe.training` builds on).

The same mathematics as `labs.moe.reference` (V3 §2.1.2, eqs. 12-16), with weights named and
shaped as in the reference's parameter dict, so `module.load_params(init_params(config))` gives
all three frameworks the same layer. Axes: T tokens, E routed experts, K experts per token,
S shared experts, D model width, F expert width.

The routed experts run sparsely: each expert multiplies only the tokens routed to it (an index
gather, a SwiGLU, a weighted scatter-add), which is what makes a MoE cheaper than the dense layer
of the same total size, and what costs it overhead against a dense layer of the same active size.
The loop over experts takes each expert's weights from `unbind` and joins the outputs with one
`cat`, so that an expert's backward does not grow with the number of experts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import nn

from labs.common.validate import finite_result, same_device
from labs.moe.checks import (
    check_config,
    check_layer_input,
    check_node_route,
    check_params,
    check_route,
    check_sequence_balance,
    param_shapes,
)
from labs.moe.config import MoEConfig

__all__ = ["DeepSeekMoE", "node_limited_route", "route", "sequence_balance_loss"]

Tensor = torch.Tensor


def route(scores: torch.Tensor, k: int, bias: torch.Tensor | None = None):
    """V3's routing (eqs. 13-16) in torch: (expert_indices (T, K) int64, gate_weights (T, K))."""
    scores, k, bias = check_route(scores, k, bias, framework="torch")
    same_device(("scores", scores), ("bias", bias))
    return finite_result("the gate weights", _route(scores, k, bias), inputs={"scores": scores})


def _route(
    scores: Float[Tensor, "T E"], k: int, bias: Float[Tensor, " E"] | None
) -> tuple[Int[Tensor, "T K"], Float[Tensor, "T K"]]:
    """Top-k on s + b (eq. 16), gates from s alone (eqs. 13, 15), eq. 13 in log space as in
    `labs.moe.reference._route`: s / sum(s) is 0/0 once every sigmoid underflows."""
    affinity = torch.sigmoid(scores)  # s_{i,t}                               (eq. 15)
    choice = affinity if bias is None else affinity + bias.detach()  # s + b (eq. 16)
    idx = _top_k(choice.detach(), k)  # TopK (eq. 16); the choice is not differentiated
    log_s = F.logsigmoid(scores).gather(-1, idx)  # gates from unbiased affinities
    return idx, torch.softmax(log_s, dim=-1)  # s_i / sum_j s_j = softmax(log s)_i (eq. 13)


def _top_k(values: Float[Tensor, "T E"], k: int) -> Int[Tensor, "T K"]:
    """The indices of the k largest values, best first; of equal values the lower index first.

    `torch.topk` leaves the order of ties unspecified, and on a CPU it does not take the lower
    index: of 8 equal values its top 3 are [6, 5, 4]. Ties are real here (equal scores, or
    affinities that all underflow to 0), and the NumPy reference and `jax.lax.top_k` take the
    lower index, so a stable descending sort makes the three frameworks choose the same experts.
    The sort costs more than `torch.topk` (on one CPU thread, 2-3x for this step alone at 64 to
    256 experts and 1,024 tokens), which is lost in the layer's time: a DeepSeekMoE forward and
    backward of 8 or 32 experts timed the same with either, within 5%.
    """
    return torch.sort(values, dim=-1, descending=True, stable=True).indices[..., :k]


def node_limited_route(
    scores: torch.Tensor,
    k: int,
    experts_per_node: int,
    max_nodes: int,
    bias: torch.Tensor | None = None,
):
    """V3's node-limited routing in torch, as `labs.moe.node_limited_route`: keep the
    `max_nodes` nodes whose best ceil(k / max_nodes) biased affinities sum highest (the lower
    node index wins a tie), then route top-k within them. (expert_indices, gate_weights)."""
    scores, k, per_node, max_nodes, bias = check_node_route(
        scores, k, experts_per_node, max_nodes, bias, framework="torch"
    )
    same_device(("scores", scores), ("bias", bias))
    routed = _node_limited_route(scores, k, per_node, max_nodes, bias)
    return finite_result("the gate weights", routed, inputs={"scores": scores})


def _node_limited_route(
    scores: Float[Tensor, "T E"],
    k: int,
    per_node: int,
    max_nodes: int,
    bias: Float[Tensor, " E"] | None,
) -> tuple[Int[Tensor, "T K"], Float[Tensor, "T K"]]:
    """Rank nodes by their top-(k/M) biased affinities, exclude the others, then `_route`."""
    tokens, n_experts = scores.shape
    choice = torch.sigmoid(scores.detach())
    choice = choice if bias is None else choice + bias.detach()
    by_node = choice.reshape(tokens, n_experts // per_node, per_node)  # (T, N, E/N)
    top = by_node.topk(min(per_node, -(-k // max_nodes)), dim=-1).values  # values: ties harmless
    nodes = _top_k(top.sum(-1), max_nodes)  # (T, M)
    allowed = torch.zeros(by_node.shape[:2], dtype=torch.bool, device=scores.device)
    allowed.scatter_(-1, nodes, True)
    keep = allowed.repeat_interleave(per_node, dim=-1)  # (T, E)
    base = torch.zeros((), dtype=scores.dtype, device=scores.device) if bias is None else bias
    # An excluded expert gets a bias of -inf: it ranks below every kept one, ties at 0 included.
    return _route(scores, k, torch.where(keep, base.detach(), float("-inf")))


def sequence_balance_loss(scores: torch.Tensor, expert_indices: torch.Tensor) -> torch.Tensor:
    """V3's sequence-wise balance loss (eqs. 17-20) in torch, without alpha, as
    `labs.moe.sequence_balance_loss`: scores (B, T, E) router logits, expert_indices (B, T, K).
    A 0-d tensor, differentiable in scores through P_i (the counts f_i carry no gradient)."""
    scores, indices = check_sequence_balance(scores, expert_indices, framework="torch")
    same_device(("scores", scores), ("expert_indices", indices))
    loss = _sequence_balance_loss(scores, indices)
    return finite_result("the balance loss", loss, inputs={"scores": scores})


def _sequence_balance_loss(
    scores: Float[Tensor, "B T E"], indices: Int[Tensor, "B T K"]
) -> Float[Tensor, ""]:
    """mean over sequences of sum_i f_i P_i, s' in log space as in `_route`."""
    n_seq, tokens, n_experts = scores.shape
    s_norm = torch.softmax(F.logsigmoid(scores), dim=-1)  # s' = s / sum_j s_j     (eqs. 15, 19)
    p = s_norm.mean(1)  # (B, E): P_i of each sequence                             (eq. 20)
    slots = indices.reshape(n_seq, -1)  # (B, T K): the experts of each sequence's routing slots
    ones = torch.ones(slots.shape, dtype=scores.dtype, device=scores.device)
    counts = scores.new_zeros(n_seq, n_experts).scatter_add_(1, slots, ones)  # (B, E)
    f = n_experts / (indices.shape[-1] * tokens) * counts  # (eq. 18)
    return (f * p).sum(-1).mean()  # sum_i f_i P_i per sequence (eq. 17), mean over B


class DeepSeekMoE(nn.Module):
    """A DeepSeekMoE FFN (V3 eq. 12 without the residual): S shared SwiGLU experts on every token
    plus the gate-weighted top-k of E fine-grained routed experts.

    The balancing bias b (E,) is a buffer, not a parameter: it only chooses experts and is moved
    by `labs.moe.update_bias`, never by gradients. After each forward, `last_indices` (T, K) and
    `last_affinity` (T, E) hold what the router did, for load counts and an auxiliary loss.
    """

    def __init__(self, config: MoEConfig):
        super().__init__()
        self.config = check_config(config)
        for name, shape in param_shapes(config).items():
            self.register_parameter(name, nn.Parameter(torch.empty(shape)))
        self.register_buffer("bias", torch.zeros(config.n_routed))
        self.reset_parameters()
        self.last_indices: Tensor | None = None
        self.last_affinity: Tensor | None = None

    def reset_parameters(self) -> None:
        """Normal weights with 1/sqrt(fan-in) scale, as `labs.moe.init_params`."""
        with torch.no_grad():
            for name in param_shapes(self.config):
                weight = getattr(self, name)
                weight.normal_(0.0, weight.shape[-2] ** -0.5)

    def load_params(self, params: dict) -> DeepSeekMoE:
        """Copy weights from a NumPy parameter dict (`labs.moe.init_params`); returns self."""
        params = check_params(params, self.config, framework="numpy")
        with torch.no_grad():
            for name, value in params.items():
                getattr(self, name).copy_(torch.as_tensor(value, dtype=self.w1.dtype))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The FFN output for x (..., d_model) of the layer's dtype and device."""
        out = self._forward(check_layer_input(x, self.config, like=self.w1))
        return finite_result("the MoE output", out, inputs={"x": x})

    def _scores(self, flat: Float[Tensor, "T D"]) -> Float[Tensor, "T E"]:
        """The router logits u_t^T e_i, one centroid (router column) per routed expert (eq. 15)."""
        return flat @ self.router

    def _forward(self, x: Float[Tensor, "... D"]) -> Float[Tensor, "... D"]:
        """Shared experts on every token, routed experts on the tokens routed to them (eq. 12)."""
        flat = x.reshape(-1, x.shape[-1])  # (T, D)
        out = torch.zeros_like(flat)
        shared = (self.shared_w1.unbind(0), self.shared_w3.unbind(0), self.shared_w2.unbind(0))
        for w1, w3, w2 in zip(*shared, strict=True):  # the shared experts' weights, split once
            out = out + _swiglu(flat, w1, w3, w2)
        scores = self._scores(flat)  # (T, E)
        idx, gates = _route(scores, self.config.k, self.bias)  # (T, K), (T, K)
        self.last_indices, self.last_affinity = idx, torch.sigmoid(scores)
        order = idx.reshape(-1).argsort(stable=True)  # routing slots grouped by expert
        counts = torch.bincount(idx.reshape(-1), minlength=self.config.n_routed).tolist()
        token = order // self.config.k  # the token of each sorted slot
        # The experts' weights as views, split once per forward, and their outputs joined by one
        # `cat`: indexing `self.w1[e]` in the loop, or writing each output into a slot buffer,
        # would cost every expert's backward a tensor as large as all E experts' weights, or as
        # the whole buffer (chapter 4, "When does sparsity pay?"). The same numbers either way.
        # The per-expert gather `flat[token[...]]` still gives each expert's backward a (T, D)
        # zero tensor. One gather split per expert would not, but it sums a token's k expert
        # gradients in another order, which moves the committed runs off their records in the
        # last bits (tests/moe/test_expert_loop.py). Measured at T = 2048, D = 32 and 4 to 64
        # experts, it changed a forward and backward by -4% to +6% on one CPU thread.
        experts = zip(self.w1.unbind(0), self.w3.unbind(0), self.w2.unbind(0), strict=True)
        parts, start = [], 0
        for (w1, w3, w2), count in zip(experts, counts, strict=True):
            if count:  # one small SwiGLU per expert, on its tokens only
                parts.append(_swiglu(flat[token[start : start + count]], w1, w3, w2))
            start += count
        y = torch.cat(parts)  # (T K, D): the slots' outputs in sorted order, one copy
        weighted = y * gates.reshape(-1)[order, None]  # g_{i,t} FFN_i(u_t)
        return out.index_add(0, token, weighted).reshape(x.shape)


def _swiglu(x: Float[Tensor, "T D"], w1, w3, w2) -> Float[Tensor, "T D"]:
    """FFN(x) = (SiLU(x W1) * x W3) W2."""
    return (F.silu(x @ w1) * (x @ w3)) @ w2


class _BestOfCentroidsMoE(DeepSeekMoE):
    """A DeepSeekMoE whose routed expert i has `per_expert` centroids instead of one: its logit
    is the largest of u_t^T e_{i,1}, ..., u_t^T e_{i,c}, so its affinity is the largest of their
    sigmoids. The router is (D, c E), c times the weights and multiply-adds of the plain one,
    with the experts unchanged. Chapter 4's control for the router's share of the fine-grained
    gain (`labs.moe.granularity`): a coarse layer with a fine-grained layer's router. With c
    equal centroids it is the plain layer, so it can fit anything the plain router can."""

    def __init__(self, config: MoEConfig, per_expert: int):
        super().__init__(config)
        self.per_expert = per_expert
        d, e = self.config.d_model, self.config.n_routed
        self.router = nn.Parameter(torch.empty(d, e * per_expert).normal_(0.0, d**-0.5))

    def _scores(self, flat: Float[Tensor, "T D"]) -> Float[Tensor, "T E"]:
        logits = flat @ self.router  # (T, E c): expert i's centroids are columns i c .. i c + c-1
        return logits.reshape(flat.shape[0], self.config.n_routed, self.per_expert).amax(-1)


class _LowRankRouterMoE(DeepSeekMoE):
    """A DeepSeekMoE whose router is a product of two factors, (D, r) and (r, E): the E logits
    are u_t^T A B, of rank at most r. With r = D E / (D + E) it has the weights and multiply-adds
    of a plain router with fewer experts; every expert still gets a logit of its own, so top-k
    can pick any k experts. Chapter 4's control (`labs.moe.granularity`): a fine-grained layer
    with a coarse layer's router budget. Both factors start at 1/sqrt(fan-in) scale, so the
    logits start with the plain router's variance."""

    def __init__(self, config: MoEConfig, rank: int):
        super().__init__(config)
        del self.router
        d, e = self.config.d_model, self.config.n_routed
        self.router_in = nn.Parameter(torch.empty(d, rank).normal_(0.0, d**-0.5))
        self.router_out = nn.Parameter(torch.empty(rank, e).normal_(0.0, rank**-0.5))

    def _scores(self, flat: Float[Tensor, "T D"]) -> Float[Tensor, "T E"]:
        return (flat @ self.router_in) @ self.router_out


class _DeepLowRankRouterMoE(DeepSeekMoE):
    """A DeepSeekMoE whose router is a product of three factors, (D, h), (h, r) and (r, E): of rank
    at most r, like `_LowRankRouterMoE`, but with h (D + r) + r E weights. Same set of functions
    as the two-factor router of rank r, more weights to train: chapter 4's control that moves the
    router's weight count while holding its rank (`labs.moe.granularity`). Each factor starts at
    1/sqrt(fan-in) scale, so the logits start with the plain router's variance."""

    def __init__(self, config: MoEConfig, rank: int, hidden: int):
        super().__init__(config)
        del self.router
        d, e = self.config.d_model, self.config.n_routed
        self.router_in = nn.Parameter(torch.empty(d, hidden).normal_(0.0, d**-0.5))
        self.router_mid = nn.Parameter(torch.empty(hidden, rank).normal_(0.0, hidden**-0.5))
        self.router_out = nn.Parameter(torch.empty(rank, e).normal_(0.0, rank**-0.5))

    def _scores(self, flat: Float[Tensor, "T D"]) -> Float[Tensor, "T E"]:
        return ((flat @ self.router_in) @ self.router_mid) @ self.router_out


# the plain router and chapter 4's controls: wider, of rank 2 to 32 (two factors; rank 32 = D = E
# is full rank, the plain router's functions as a product), and of rank 4 through three factors
# (D x 24, 24 x 4, 4 x E). The NumPy reference and JAX score all of them with one function,
# `_scores` in `labs.moe.reference` and `labs.moe.jax`, from these layers' weights by their names.
ROUTERS = ("linear", "best of 4", "rank 4", "rank 2", "rank 8", "rank 16", "rank 4, 3 factors",
           "rank 32")  # fmt: skip


def _moe_layer(config: MoEConfig, router: str = "linear") -> DeepSeekMoE:
    """The DeepSeekMoE layer with router `router` of `ROUTERS` (training-only variants)."""
    if router == "linear":
        return DeepSeekMoE(config)
    if router == "best of 4":
        return _BestOfCentroidsMoE(config, per_expert=4)
    if router in ("rank 2", "rank 4", "rank 8", "rank 16", "rank 32"):
        return _LowRankRouterMoE(config, rank=int(router.split()[1]))
    if router == "rank 4, 3 factors":
        return _DeepLowRankRouterMoE(config, rank=4, hidden=24)
    raise ValueError(f"router must be one of {ROUTERS}, got {router!r}")
