"""The NumPy reference for chapter 3: MHA/GQA/MQA and MLA with decoupled RoPE, with a KV cache.

Taught in chapter 3, "MLA: low-rank joint compression of keys and values" (`_mla_latents`,
`_mla_naive`), "Weight absorption: never build the keys" (`_mla_absorbed`, the factors kept as
DeepSeek's inference code does; `_absorb_weights` and `_mla_absorbed_merged`, the merged form) and
"Why RoPE must be decoupled" (the rotation itself and the coupled counter-example live in
`labs.mla.rope`; `apply_rope`, `coupled_rope_scores`, `scores_absorbed_without_rotation` and
`ROPE_BASE` are re-exported here).

Axes: B batch, T new tokens (queries), S cached tokens (keys), H query heads, G KV heads, D head
dim d_h, R RoPE dim d_h^R, C latent d_c, Q query latent (d_c', or d_model without compression),
M model width d. Weights are the dict of `init_params`, named as in the paper (`labs.mla.config`):
the same dict that `labs.mla.torch` loads and `labs.mla.jax` takes as its parameter pytree.

MLA follows DeepSeek-V2 §2.1 (eqs. 9-19):

    c^KV_t = W^DKV h_t                  (9)      c^Q_t = W^DQ h_t                   (12)
    k^C_t  = W^UK c^KV_t                (10)     q^C_t = W^UQ c^Q_t                 (13)
    v^C_t  = W^UV c^KV_t                (11)     q^R_t = RoPE(W^QR c^Q_t)           (14)
    k^R_t  = RoPE(W^KR h_t)             (15)     q_{t,i} = [q^C_{t,i}; q^R_{t,i}]   (16)
    k_{t,i} = [k^C_{t,i}; k^R_t]        (17)
    o_{t,i} = sum_j softmax_j(q_{t,i}.k_{j,i} / sqrt(d_h + d_h^R)) v^C_{j,i}         (18)
    u_t = W^O [o_{t,1}; ...; o_{t,n_h}]                                             (19)

Only c^KV_t and k^R_t are cached. Without query compression (q_lora_rank None) c^Q_t = h_t.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from jaxtyping import Bool, Float, Int

from labs.common import validate
from labs.mla.checks import (
    check_absorbed,
    check_cache,
    check_cache_arrays,
    check_config,
    check_float_dtype,
    check_length,
    check_mla_config,
    check_params,
    check_tokens,
    check_weight_count,
)
from labs.mla.config import AttentionConfig, cache_shapes, param_shapes
from labs.mla.rope import (
    ROPE_BASE,
    _apply_rope,
    apply_rope,
    coupled_rope_scores,
    scores_absorbed_without_rotation,
)

__all__ = [
    "ROPE_BASE",
    "KVCache",
    "absorb_weights",
    "apply_rope",
    "attention",
    "cache_shapes",
    "coupled_rope_scores",
    "decode",
    "init_params",
    "new_cache",
    "param_shapes",
    "scores_absorbed_without_rotation",
]

Array = np.ndarray
Params = dict[str, Float[Array, "_ _"]]


def init_params(config: AttentionConfig, seed: int = 0, dtype=np.float64) -> dict[str, np.ndarray]:
    """Random weights for one layer: Gaussian with standard deviation 1 / sqrt(fan_in).

    `dtype` must be floating (an integer dtype would truncate almost every weight to 0). A layer
    of more than 2**28 weights is refused (see `labs.mla.checks`).
    """
    check_weight_count(check_config(config))
    seed = validate.seed("seed", seed)
    return _init_params(config, seed, check_float_dtype("dtype", dtype))


def _init_params(config: AttentionConfig, seed: int, dtype) -> Params:
    """N(0, 1 / fan_in) weights, named as in the paper."""
    rng = np.random.default_rng(seed)
    return {
        name: (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(dtype)
        for name, shape in config.weight_shapes.items()
    }


def _softmax(scores: Float[Array, "... S"]) -> Float[Array, "... S"]:
    """Softmax over the last axis, max subtracted."""
    scores = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=-1, keepdims=True)


def _causal_mask(q_pos: Int[Array, " T"], k_pos: Int[Array, " S"]) -> Bool[Array, "T S"]:
    """True where the key is in the query's future."""
    return k_pos[None, :] > q_pos[:, None]


def _attend(
    q: Float[Array, "B T H D"],
    k: Float[Array, "B S H D"],
    v: Float[Array, "B S H E"],
    q_pos: Int[Array, " T"],
    k_pos: Int[Array, " S"],
    scale: float,
) -> Float[Array, "B T H E"]:
    """softmax(q.k * scale) v with a causal mask."""
    scores = np.einsum("bthd,bshd->bhts", q, k) * scale
    scores = np.where(_causal_mask(q_pos, k_pos), -np.inf, scores)
    return np.einsum("bhts,bshd->bthd", _softmax(scores), v)


def _gqa_qkv(params: Params, config: AttentionConfig, x: Float[Array, "B T M"], positions):
    """Queries (B, T, H, D) and keys (B, T, G, D) after RoPE, values (B, T, G, D)."""
    b, t, _ = x.shape
    q = (x @ params["wq"]).reshape(b, t, config.n_heads, config.head_dim)
    k = (x @ params["wk"]).reshape(b, t, config.n_kv_heads, config.head_dim)
    v = (x @ params["wv"]).reshape(b, t, config.n_kv_heads, config.head_dim)
    return _apply_rope(q, positions), _apply_rope(k, positions), v


def _gqa_attend(params: Params, config: AttentionConfig, q, k, v, q_pos, k_pos):
    """Each KV head repeated for its group of query heads, then attention and W^O."""
    k, v = np.repeat(k, config.group_size, axis=2), np.repeat(v, config.group_size, axis=2)
    o = _attend(q, k, v, q_pos, k_pos, 1 / np.sqrt(config.head_dim))
    return o.reshape(*q.shape[:2], -1) @ params["wo"]


def _mla_latents(
    params: Params, config: AttentionConfig, x: Float[Array, "B T M"], positions: Int[Array, " T"]
) -> tuple[
    Float[Array, "B T C"],  # c^KV, cached
    Float[Array, "B T R"],  # k^R, cached
    Float[Array, "B T Q"],  # c^Q
    Float[Array, "B T H D"],  # q^C
    Float[Array, "B T H R"],  # q^R
]:
    """Eqs. 9, 12-15: the cached c^KV (B,T,C) and k^R (B,T,R); c^Q (B,T,Q), q^C, q^R (B,T,H,.)."""
    b, t, _ = x.shape
    h, d, r = config.n_heads, config.head_dim, config.rope_head_dim
    c_kv = x @ params["w_dkv"]  # (9)
    k_rope = _apply_rope((x @ params["w_kr"]).reshape(b, t, 1, r), positions)[:, :, 0]  # (15)
    c_q = x @ params["w_dq"] if "w_dq" in params else x  # (12)
    q_c = (c_q @ params["w_uq"]).reshape(b, t, h, d)  # (13)
    q_r = _apply_rope((c_q @ params["w_qr"]).reshape(b, t, h, r), positions)  # (14)
    return c_kv, k_rope, c_q, q_c, q_r


def _mla_naive(
    params: Params,
    config: AttentionConfig,
    c_kv: Float[Array, "B S C"],
    k_rope: Float[Array, "B S R"],
    q_c: Float[Array, "B T H D"],
    q_r: Float[Array, "B T H R"],
    q_pos: Int[Array, " T"],
    k_pos: Int[Array, " S"],
) -> Float[Array, "B T M"]:
    """Eqs. 10, 11, 16-19: up-project every cached latent to per-head keys and values."""
    b, s, _ = c_kv.shape
    h, d, r = config.n_heads, config.head_dim, config.rope_head_dim
    k_c = (c_kv @ params["w_uk"]).reshape(b, s, h, d)  # (10)
    v_c = (c_kv @ params["w_uv"]).reshape(b, s, h, d)  # (11)
    k_r = np.broadcast_to(k_rope[:, :, None, :], (b, s, h, r))  # one k^R shared by all heads
    q = np.concatenate([q_c, q_r], axis=-1)  # (16)
    k = np.concatenate([k_c, k_r], axis=-1)  # (17)
    o = _attend(q, k, v_c, q_pos, k_pos, 1 / np.sqrt(d + r))  # (18)
    return o.reshape(*o.shape[:2], -1) @ params["wo"]  # (19)


def absorb_weights(params, config: AttentionConfig) -> dict[str, np.ndarray]:
    """Fold W^UK into the query side and W^UV into the output side (DeepSeek-V2 §2.1.2).

    q^C_i . k^C_{j,i} = (W^UQ_i c^Q)^T W^UK_i c^KV_j = c^Q^T (W^UQ_i^T W^UK_i) c^KV_j, and
    W^O_i W^UV_i can be multiplied once, so keys and values are never materialised.

    Returns:
        w_q_absorbed: (d_c' or d_model, n_h, d_c), maps c^Q to one d_c-vector per head.
        w_o_absorbed: (n_h, d_c, d_model), maps each head's attention-weighted latent to u.
    """
    config = check_mla_config(config)
    return _absorb_weights(check_params(params, config), config)


def _absorb_weights(params: Params, config: AttentionConfig) -> dict[str, Array]:
    """W^UQ_i^T W^UK_i (Q, H, C) and W^UV_i W^O_i (H, C, M), once for all tokens."""
    h, d, d_c = config.n_heads, config.head_dim, config.kv_lora_rank
    w_uq = params["w_uq"].reshape(-1, h, d)
    w_uk = params["w_uk"].reshape(d_c, h, d)
    w_uv = params["w_uv"].reshape(d_c, h, d)
    wo = params["wo"].reshape(h, d, config.d_model)
    return {
        "w_q_absorbed": np.einsum("qhd,chd->qhc", w_uq, w_uk),  # W^UK absorbed into the query
        "w_o_absorbed": np.einsum("chd,hdm->hcm", w_uv, wo),  # W^UV absorbed into W^O
    }


def _mla_absorbed(
    params: Params,
    config: AttentionConfig,
    c_kv: Float[Array, "B S C"],
    k_rope: Float[Array, "B S R"],
    q_c: Float[Array, "B T H D"],
    q_r: Float[Array, "B T H R"],
    q_pos: Int[Array, " T"],
    k_pos: Int[Array, " S"],
) -> Float[Array, "B T M"]:
    """Eq. 18 on the latents with the factors kept: W^UK on each head's query, W^UV after."""
    h, d, d_c = config.n_heads, config.head_dim, config.kv_lora_rank
    w_uk = params["w_uk"].reshape(d_c, h, d)
    w_uv = params["w_uv"].reshape(d_c, h, d)
    q_lat = np.einsum("bthd,chd->bthc", q_c, w_uk)  # q^C_i W^UK_i^T: a d_c-wide query per head
    scores = np.einsum("bthc,bsc->bhts", q_lat, c_kv) + np.einsum("bthr,bsr->bhts", q_r, k_rope)
    scores = scores / np.sqrt(d + config.rope_head_dim)  # (18)
    scores = np.where(_causal_mask(q_pos, k_pos), -np.inf, scores)
    context = np.einsum("bhts,bsc->bthc", _softmax(scores), c_kv)  # weighted latents
    o = np.einsum("bthc,chd->bthd", context, w_uv)  # W^UV_i applied after attention
    return o.reshape(*o.shape[:2], -1) @ params["wo"]  # (19)


def _mla_absorbed_merged(
    params: Params,
    config: AttentionConfig,
    c_kv: Float[Array, "B S C"],
    k_rope: Float[Array, "B S R"],
    c_q: Float[Array, "B T Q"],
    q_r: Float[Array, "B T H R"],
    q_pos: Int[Array, " T"],
    k_pos: Int[Array, " S"],
) -> Float[Array, "B T M"]:
    """Eq. 18 on the latents with the merged matrices of `_absorb_weights` (for comparison)."""
    folded = _absorb_weights(params, config)
    q_lat = np.einsum("btq,qhc->bthc", c_q, folded["w_q_absorbed"])  # one d_c query per head
    scores = np.einsum("bthc,bsc->bhts", q_lat, c_kv) + np.einsum("bthr,bsr->bhts", q_r, k_rope)
    scores = scores / np.sqrt(config.head_dim + config.rope_head_dim)  # (18)
    scores = np.where(_causal_mask(q_pos, k_pos), -np.inf, scores)
    context = np.einsum("bhts,bsc->bthc", _softmax(scores), c_kv)  # weighted latents
    return np.einsum("bthc,hcm->btm", context, folded["w_o_absorbed"])  # (19) through W^UV


def attention(params, config: AttentionConfig, x) -> np.ndarray:
    """Causal self-attention over a whole sequence, no cache (MLA: the naive, up-projected form).

    Args:
        params: weights as `init_params` makes them.
        config: the layer's AttentionConfig.
        x: (B, T, d_model) floating array.

    Returns:
        (B, T, d_model).
    """
    config = check_config(config)
    params = check_params(params, config)
    return _attention(params, config, check_tokens(x, config))


def _attention(params: Params, config: AttentionConfig, x: Float[Array, "B T M"]):
    """Every token attends to itself and the tokens before it."""
    pos = np.arange(x.shape[1])
    if config.kind == "mla":
        c_kv, k_rope, _, q_c, q_r = _mla_latents(params, config, x, pos)
        return _mla_naive(params, config, c_kv, k_rope, q_c, q_r, pos, pos)
    q, k, v = _gqa_qkv(params, config, x, pos)
    return _gqa_attend(params, config, q, k, v, pos, pos)


@dataclass
class KVCache:
    """A KV cache for one layer: the arrays of `cache_shapes`, filled up to `length` tokens.

    The arrays must be finite floating NumPy arrays named and shaped as `config` needs.
    """

    config: AttentionConfig
    arrays: dict[str, np.ndarray]
    length: int = 0
    max_len: int = field(init=False)
    batch: int = field(init=False)

    def __post_init__(self) -> None:
        check_config(self.config)
        self.arrays = check_cache_arrays(self.arrays, self.config, "numpy", prefix="arrays")
        self.batch, self.max_len = next(iter(self.arrays.values())).shape[:2]
        self.length = check_length(self.length, self.max_len)

    @property
    def nbytes(self) -> int:
        """Bytes the cache holds for its `length` tokens (every sequence of the batch)."""
        return sum(a[:, : self.length].nbytes for a in self.arrays.values())


def new_cache(config: AttentionConfig, batch: int, max_len: int, dtype=np.float64) -> KVCache:
    """An empty cache for `batch` sequences of at most `max_len` tokens, in a floating `dtype`.

    At most 2**28 elements and 2**24 positions (see `cache_shapes`).
    """
    shapes = cache_shapes(config, batch, max_len)
    dtype = check_float_dtype("dtype", dtype)
    return KVCache(config, {name: np.zeros(s, dtype=dtype) for name, s in shapes.items()})


def decode(params, config: AttentionConfig, x, cache: KVCache, absorbed: bool | str = False):
    """Attend from the new tokens x (B, T_new, d_model) to the cache, after appending them to it.

    The new tokens sit at positions cache.length ... cache.length + T_new - 1. The cache is
    updated in place. For MLA, `absorbed=True` (or "factored") scores against the latents as
    DeepSeek's inference code does: W^UK applied to each head's query, W^UV to each head's
    attended latent; `absorbed="merged"` uses the multiplied matrices of `absorb_weights`
    instead; `absorbed=False` up-projects the cached latents (eqs. 10-11) first.

    Returns:
        (B, T_new, d_model).
    """
    config = check_config(config)
    params = check_params(params, config)
    x = check_tokens(x, config)
    check_cache(cache, KVCache, config, x)
    return _decode(params, config, x, cache, check_absorbed(absorbed, config))


def _decode(params: Params, config: AttentionConfig, x: Float[Array, "B T M"], cache, absorbed):
    """Append the new tokens' keys (or latents) to the cache, then attend to all of it."""
    start, end = cache.length, cache.length + x.shape[1]
    q_pos, k_pos = np.arange(start, end), np.arange(end)
    if config.kind == "mla":
        c_kv, k_rope, c_q, q_c, q_r = _mla_latents(params, config, x, q_pos)
        cache.arrays["c_kv"][:, start:end] = c_kv
        cache.arrays["k_rope"][:, start:end] = k_rope
        cache.length = end
        c_all, r_all = cache.arrays["c_kv"][:, :end], cache.arrays["k_rope"][:, :end]
        if absorbed == "merged":
            return _mla_absorbed_merged(params, config, c_all, r_all, c_q, q_r, q_pos, k_pos)
        if absorbed:
            return _mla_absorbed(params, config, c_all, r_all, q_c, q_r, q_pos, k_pos)
        return _mla_naive(params, config, c_all, r_all, q_c, q_r, q_pos, k_pos)
    q, k, v = _gqa_qkv(params, config, x, q_pos)
    cache.arrays["k"][:, start:end] = k
    cache.arrays["v"][:, start:end] = v
    cache.length = end
    k_all, v_all = cache.arrays["k"][:, :end], cache.arrays["v"][:, :end]
    return _gqa_attend(params, config, q, k_all, v_all, q_pos, k_pos)
