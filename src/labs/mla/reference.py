"""The NumPy reference for chapter 3: MHA/GQA/MQA and MLA with decoupled RoPE, with a KV cache.

Shapes: x is (batch B, tokens T, d_model); per-head tensors are (B, T, heads, dim). Weights act
on the right (`x @ w`, w of shape (d_in, d_out)) and live in a plain dict of arrays, the same dict
that `labs.mla.torch` loads and `labs.mla.jax` takes as its parameter pytree.

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

from labs.common.validate import float_array, integer
from labs.mla import AttentionConfig

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

ROPE_BASE = 10000.0


def _check_config(config) -> AttentionConfig:
    if not isinstance(config, AttentionConfig):
        raise TypeError(f"config must be an AttentionConfig, got {type(config).__name__}")
    return config


def param_shapes(config: AttentionConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every weight of one attention layer of `config`."""
    c = _check_config(config)
    h, d, m = c.n_heads, c.head_dim, c.d_model
    if c.kind != "mla":
        g = c.n_kv_heads
        return {"wq": (m, h * d), "wk": (m, g * d), "wv": (m, g * d), "wo": (h * d, m)}
    dq = c.q_lora_rank if c.q_lora_rank is not None else m
    shapes = {
        "w_dkv": (m, c.kv_lora_rank),
        "w_uk": (c.kv_lora_rank, h * d),
        "w_uv": (c.kv_lora_rank, h * d),
        "w_kr": (m, c.rope_head_dim),
        "w_uq": (dq, h * d),
        "w_qr": (dq, h * c.rope_head_dim),
        "wo": (h * d, m),
    }
    if c.q_lora_rank is not None:
        shapes["w_dq"] = (m, c.q_lora_rank)
    return shapes


def init_params(config: AttentionConfig, seed: int = 0, dtype=np.float64) -> dict[str, np.ndarray]:
    """Random weights for one layer: Gaussian with standard deviation 1 / sqrt(fan_in)."""
    seed = integer("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    return {
        name: (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(dtype)
        for name, shape in param_shapes(config).items()
    }


def _check_params(params, config: AttentionConfig) -> None:
    expected = param_shapes(config)
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    if set(params) != set(expected):
        raise ValueError(
            f"params must have the keys {sorted(expected)} for kind={config.kind!r}, "
            f"got {sorted(params)}"
        )
    for name, shape in expected.items():
        if tuple(np.shape(params[name])) != shape:
            raise ValueError(
                f"params[{name!r}] must have shape {shape}, got {tuple(np.shape(params[name]))}"
            )


def _check_x(x, config: AttentionConfig) -> np.ndarray:
    x = float_array("x", x)
    if x.ndim != 3 or x.shape[-1] != config.d_model:
        raise ValueError(f"x must have shape (batch, tokens, {config.d_model}), got {x.shape}")
    return x


def apply_rope(x, positions, base: float = ROPE_BASE) -> np.ndarray:
    """Rotary position embedding (RoFormer) of x (B, T, heads, dim) at integer `positions` (T,).

    Coordinates i and i + dim/2 form a pair rotated by the angle position * base^(-2i/dim).
    """
    x = float_array("x", x)
    if x.ndim != 4 or x.shape[-1] % 2:
        raise ValueError(f"x must have shape (B, T, heads, even dim), got {x.shape}")
    positions = np.asarray(positions)
    if positions.shape != (x.shape[1],) or positions.dtype.kind not in "iu":
        raise ValueError(
            f"positions must be {x.shape[1]} integers (one per token), got "
            f"dtype {positions.dtype} and shape {positions.shape}"
        )
    half = x.shape[-1] // 2
    inv_freq = base ** (-np.arange(half, dtype=np.float64) * 2 / x.shape[-1])
    angles = positions[:, None].astype(np.float64) * inv_freq  # (T, half)
    cos = np.cos(angles)[:, None, :].astype(x.dtype)  # (T, 1, half): the same for every head
    sin = np.sin(angles)[:, None, :].astype(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=-1, keepdims=True)


def _causal_mask(q_positions: np.ndarray, k_positions: np.ndarray) -> np.ndarray:
    return k_positions[None, :] > q_positions[:, None]  # True where the key is in the future


def _attend(q, k, v, q_pos, k_pos, scale):
    """softmax(q.k * scale) v with a causal mask; q (B,T,H,D), k (B,S,H,D), v (B,S,H,Dv)."""
    scores = np.einsum("bthd,bshd->bhts", q, k) * scale
    scores = np.where(_causal_mask(q_pos, k_pos), -np.inf, scores)
    return np.einsum("bhts,bshd->bthd", _softmax(scores), v)


def _gqa_qkv(params, c: AttentionConfig, x, positions):
    b, t, _ = x.shape
    q = (x @ params["wq"]).reshape(b, t, c.n_heads, c.head_dim)
    k = (x @ params["wk"]).reshape(b, t, c.n_kv_heads, c.head_dim)
    v = (x @ params["wv"]).reshape(b, t, c.n_kv_heads, c.head_dim)
    return apply_rope(q, positions), apply_rope(k, positions), v


def _mla_latents(params, c: AttentionConfig, x, positions):
    """Eqs. 9, 12-15: the cached latent c^KV, the rotated shared key k^R, and both query parts."""
    b, t, _ = x.shape
    c_kv = x @ params["w_dkv"]  # (9)
    k_rope = apply_rope((x @ params["w_kr"]).reshape(b, t, 1, c.rope_head_dim), positions)  # (15)
    c_q = x @ params["w_dq"] if "w_dq" in params else x  # (12)
    q_c = (c_q @ params["w_uq"]).reshape(b, t, c.n_heads, c.head_dim)  # (13)
    q_r = (c_q @ params["w_qr"]).reshape(b, t, c.n_heads, c.rope_head_dim)
    return c_kv, k_rope[:, :, 0], q_c, apply_rope(q_r, positions)  # (14)


def _mla_naive(params, c: AttentionConfig, c_kv, k_rope, q_c, q_r, q_pos, k_pos):
    """Eqs. 10, 11, 16-19: up-project every cached latent to per-head keys and values."""
    b, s, _ = c_kv.shape
    k_c = (c_kv @ params["w_uk"]).reshape(b, s, c.n_heads, c.head_dim)  # (10)
    v_c = (c_kv @ params["w_uv"]).reshape(b, s, c.n_heads, c.head_dim)  # (11)
    k_r = np.broadcast_to(k_rope[:, :, None, :], (b, s, c.n_heads, c.rope_head_dim))
    q = np.concatenate([q_c, q_r], axis=-1)  # (16)
    k = np.concatenate([k_c, k_r], axis=-1)  # (17)
    o = _attend(q, k, v_c, q_pos, k_pos, 1 / np.sqrt(c.head_dim + c.rope_head_dim))  # (18)
    return o.reshape(*o.shape[:2], -1) @ params["wo"]  # (19)


def absorb_weights(params, config: AttentionConfig) -> dict[str, np.ndarray]:
    """Fold W^UK into the query side and W^UV into the output side (DeepSeek-V2 §2.1.2).

    q^C_i . k^C_{j,i} = (W^UQ_i c^Q)^T W^UK_i c^KV_j = c^Q^T (W^UQ_i^T W^UK_i) c^KV_j, and
    W^O_i W^UV_i can be multiplied once, so keys and values are never materialised.

    Returns:
        w_q_absorbed: (d_c' or d_model, n_h, d_c), maps c^Q to one d_c-vector per head.
        w_o_absorbed: (n_h, d_c, d_model), maps each head's attention-weighted latent to u.
    """
    c = _check_config(config)
    if c.kind != "mla":
        raise ValueError(f"config must be an MLA config, got kind={c.kind!r}")
    _check_params(params, c)
    h, d, dc = c.n_heads, c.head_dim, c.kv_lora_rank
    w_uq = params["w_uq"].reshape(-1, h, d)
    w_uk = params["w_uk"].reshape(dc, h, d)
    w_uv = params["w_uv"].reshape(dc, h, d)
    wo = params["wo"].reshape(h, d, c.d_model)
    return {
        "w_q_absorbed": np.einsum("qhd,chd->qhc", w_uq, w_uk),
        "w_o_absorbed": np.einsum("chd,hdm->hcm", w_uv, wo),
    }


def _mla_absorbed(params, c: AttentionConfig, c_kv, k_rope, x, q_r, q_pos, k_pos):
    """Eq. 18 computed on the latents: scores and outputs without any up-projected key/value."""
    folded = absorb_weights(params, c)
    c_q = x @ params["w_dq"] if "w_dq" in params else x
    q_lat = np.einsum("btq,qhc->bthc", c_q, folded["w_q_absorbed"])  # one d_c query per head
    scores = np.einsum("bthc,bsc->bhts", q_lat, c_kv) + np.einsum("bthr,bsr->bhts", q_r, k_rope)
    scores = scores / np.sqrt(c.head_dim + c.rope_head_dim)
    scores = np.where(_causal_mask(q_pos, k_pos), -np.inf, scores)
    context = np.einsum("bhts,bsc->bthc", _softmax(scores), c_kv)  # weighted latents
    return np.einsum("bthc,hcm->btm", context, folded["w_o_absorbed"])


def attention(params, config: AttentionConfig, x) -> np.ndarray:
    """Causal self-attention over a whole sequence, no cache (MLA: the naive, up-projected form).

    Args:
        params: weights as `init_params` makes them.
        config: the layer's AttentionConfig.
        x: (B, T, d_model) floating array.

    Returns:
        (B, T, d_model).
    """
    c = _check_config(config)
    _check_params(params, c)
    x = _check_x(x, c)
    pos = np.arange(x.shape[1])
    if c.kind == "mla":
        c_kv, k_rope, q_c, q_r = _mla_latents(params, c, x, pos)
        return _mla_naive(params, c, c_kv, k_rope, q_c, q_r, pos, pos)
    q, k, v = _gqa_qkv(params, c, x, pos)
    k, v = np.repeat(k, c.group_size, axis=2), np.repeat(v, c.group_size, axis=2)
    o = _attend(q, k, v, pos, pos, 1 / np.sqrt(c.head_dim))
    return o.reshape(*x.shape[:2], -1) @ params["wo"]


def cache_shapes(config: AttentionConfig, batch: int, max_len: int) -> dict[str, tuple]:
    """A cache's arrays: k, v (B, S, n_g, d_h); or c_kv (B, S, d_c), k_rope (B, S, d_h^R)."""
    c = _check_config(config)
    batch = integer("batch", batch, minimum=1)
    max_len = integer("max_len", max_len, minimum=1)
    if c.kind == "mla":
        return {
            "c_kv": (batch, max_len, c.kv_lora_rank),
            "k_rope": (batch, max_len, c.rope_head_dim),
        }
    return {
        "k": (batch, max_len, c.n_kv_heads, c.head_dim),
        "v": (batch, max_len, c.n_kv_heads, c.head_dim),
    }


@dataclass
class KVCache:
    """A KV cache for one layer: the arrays of `cache_shapes`, filled up to `length` tokens."""

    config: AttentionConfig
    arrays: dict[str, np.ndarray]
    length: int = 0
    max_len: int = field(init=False)

    def __post_init__(self) -> None:
        self.max_len = next(iter(self.arrays.values())).shape[1]

    @property
    def nbytes(self) -> int:
        """Bytes the cache holds for its `length` tokens (every sequence of the batch)."""
        return sum(a[:, : self.length].nbytes for a in self.arrays.values())


def new_cache(config: AttentionConfig, batch: int, max_len: int, dtype=np.float64) -> KVCache:
    """An empty cache for `batch` sequences of at most `max_len` tokens."""
    shapes = cache_shapes(config, batch, max_len)
    return KVCache(config, {name: np.zeros(s, dtype=dtype) for name, s in shapes.items()})


def _check_cache(cache, config: AttentionConfig, x: np.ndarray) -> None:
    if not isinstance(cache, KVCache):
        raise TypeError(f"cache must be a KVCache (see new_cache), got {type(cache).__name__}")
    if cache.config != config:
        raise ValueError(
            f"cache was built for another config ({cache.config}); this layer has {config}"
        )
    batch = next(iter(cache.arrays.values())).shape[0]
    if x.shape[0] != batch:
        raise ValueError(f"x has batch {x.shape[0]} but the cache was built for batch {batch}")
    if cache.length + x.shape[1] > cache.max_len:
        raise ValueError(
            f"sequence too long for the cache: {cache.length} cached + {x.shape[1]} new tokens "
            f"> max_len={cache.max_len}"
        )


def decode(params, config: AttentionConfig, x, cache: KVCache, absorbed: bool = False):
    """Attend from the new tokens x (B, T_new, d_model) to the cache, after appending them to it.

    The new tokens sit at positions cache.length ... cache.length + T_new - 1. The cache is
    updated in place. For MLA, `absorbed=True` scores against the latents with the folded weights
    of `absorb_weights`; `absorbed=False` up-projects the cached latents (eqs. 10-11) first.

    Returns:
        (B, T_new, d_model).
    """
    c = _check_config(config)
    _check_params(params, c)
    x = _check_x(x, c)
    _check_cache(cache, c, x)
    if not isinstance(absorbed, bool):
        raise TypeError(f"absorbed must be a bool, got {type(absorbed).__name__}")
    if absorbed and c.kind != "mla":
        raise ValueError(f"absorbed=True needs an MLA config, got kind={c.kind!r}")
    start, end = cache.length, cache.length + x.shape[1]
    q_pos, k_pos = np.arange(start, end), np.arange(end)
    if c.kind == "mla":
        c_kv, k_rope, q_c, q_r = _mla_latents(params, c, x, q_pos)
        cache.arrays["c_kv"][:, start:end] = c_kv
        cache.arrays["k_rope"][:, start:end] = k_rope
        cache.length = end
        c_all, r_all = cache.arrays["c_kv"][:, :end], cache.arrays["k_rope"][:, :end]
        if absorbed:
            return _mla_absorbed(params, c, c_all, r_all, x, q_r, q_pos, k_pos)
        return _mla_naive(params, c, c_all, r_all, q_c, q_r, q_pos, k_pos)
    q, k, v = _gqa_qkv(params, c, x, q_pos)
    cache.arrays["k"][:, start:end] = k
    cache.arrays["v"][:, start:end] = v
    cache.length = end
    k_all = np.repeat(cache.arrays["k"][:, :end], c.group_size, axis=2)
    v_all = np.repeat(cache.arrays["v"][:, :end], c.group_size, axis=2)
    o = _attend(q, k_all, v_all, q_pos, k_pos, 1 / np.sqrt(c.head_dim))
    return o.reshape(*x.shape[:2], -1) @ params["wo"]


# --- Why RoPE must be decoupled -------------------------------------------------------------


def _single_head_inputs(q, w_uk, c_kv, q_position):
    q = float_array("q", q)
    w_uk = float_array("w_uk", w_uk)
    c_kv = float_array("c_kv", c_kv)
    if q.ndim != 1 or q.shape[0] % 2:
        raise ValueError(f"q must be one query of even size d_h, got shape {q.shape}")
    if w_uk.shape[1:] != q.shape or w_uk.ndim != 2:
        raise ValueError(f"w_uk must have shape (d_c, {q.shape[0]}), got {w_uk.shape}")
    if c_kv.ndim != 2 or c_kv.shape[1] != w_uk.shape[0]:
        raise ValueError(f"c_kv must have shape (T, {w_uk.shape[0]}), got {c_kv.shape}")
    q_position = integer("q_position", q_position, minimum=0)
    return q, w_uk, c_kv, q_position


def coupled_rope_scores(q, w_uk, c_kv, q_position: int) -> np.ndarray:
    """Scores of one head if RoPE were applied to the up-projected key k^C_j = W^UK c^KV_j.

    Args:
        q: (d_h,) the query (before rotation) at position `q_position`.
        w_uk: (d_c, d_h) one head's up-projection.
        c_kv: (T, d_c) cached latents of positions 0 ... T-1.

    Returns:
        (T,) RoPE(q, i) . RoPE(W^UK c_j, j): the rotation R_j sits between W^UK and c_j, so no
        single matrix can be folded into the query for every j.
    """
    q, w_uk, c_kv, i = _single_head_inputs(q, w_uk, c_kv, q_position)
    t = c_kv.shape[0]
    keys = apply_rope((c_kv @ w_uk)[None, :, None, :], np.arange(t))[0, :, 0]
    query = apply_rope(q[None, None, None, :], np.array([i]))[0, 0, 0]
    return keys @ query


def scores_absorbed_without_rotation(q, w_uk, c_kv, q_position: int) -> np.ndarray:
    """What absorption computes under coupled RoPE if it ignores the rotations: W^UK folded into q.

    RoPE(q, i) . RoPE(k, j) = q . R_{j-i} k, so the fold q~ = W^UK q is right only where j = i.
    Same arguments and result shape as `coupled_rope_scores`.
    """
    q, w_uk, c_kv, _ = _single_head_inputs(q, w_uk, c_kv, q_position)
    return c_kv @ (w_uk @ q)
