"""Chapter 3 in JAX: MHA/GQA/MQA and MLA as pure functions over a parameter pytree.

`params` is the same dict as `labs.mla.reference.init_params` makes (arrays named and shaped as in
`param_shapes`); a KV cache is a dict of arrays plus its fill level `length`. Nothing is mutated:
`decode` returns the output and the new cache. The configuration is static under `jax.jit` (a
frozen dataclass is hashable), so each config compiles once.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

from labs.common.validate import integer
from labs.mla import AttentionConfig
from labs.mla.reference import ROPE_BASE, cache_shapes, param_shapes

__all__ = ["absorb_weights", "apply_rope", "attention", "decode", "new_cache"]


def _check(params, config, x) -> None:
    if not isinstance(config, AttentionConfig):
        raise TypeError(f"config must be an AttentionConfig, got {type(config).__name__}")
    expected = param_shapes(config)
    if not isinstance(params, dict) or set(params) != set(expected):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params must have the keys {sorted(expected)}, got {got}")
    for name, shape in expected.items():
        if tuple(jnp.shape(params[name])) != shape:
            raise ValueError(
                f"params[{name!r}] must have shape {shape}, got {tuple(jnp.shape(params[name]))}"
            )
    if not jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating):
        raise TypeError(f"x must hold floating-point numbers, got dtype {jnp.asarray(x).dtype}")
    if jnp.ndim(x) != 3 or jnp.shape(x)[-1] != config.d_model:
        raise ValueError(
            f"x must have shape (batch, tokens, {config.d_model}), got {tuple(jnp.shape(x))}"
        )


def apply_rope(x: jax.Array, positions: jax.Array, base: float = ROPE_BASE) -> jax.Array:
    """RoPE of x (B, T, heads, dim) at integer positions (T,); pairs (i, i + dim/2) rotate."""
    half = x.shape[-1] // 2
    inv_freq = base ** (-jnp.arange(half, dtype=jnp.float32) * 2 / x.shape[-1])
    angles = positions.astype(jnp.float32)[:, None] * inv_freq  # (T, half)
    cos = jnp.cos(angles)[:, None, :].astype(x.dtype)
    sin = jnp.sin(angles)[:, None, :].astype(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


def absorb_weights(params: dict, config: AttentionConfig) -> tuple[jax.Array, jax.Array]:
    """(w_q_absorbed (d_c' or d_model, n_h, d_c), w_o_absorbed (n_h, d_c, d_model)).

    W^UK folded into the query side, W^UV into the output side (DeepSeek-V2 §2.1.2).
    """
    c = config
    h, d, dc = c.n_heads, c.head_dim, c.kv_lora_rank
    w_q = jnp.einsum(
        "qhd,chd->qhc", params["w_uq"].reshape(-1, h, d), params["w_uk"].reshape(dc, h, d)
    )
    w_o = jnp.einsum(
        "chd,hdm->hcm", params["w_uv"].reshape(dc, h, d), params["wo"].reshape(h, d, -1)
    )
    return w_q, w_o


def _masked_softmax(scores, q_pos, k_pos):
    future = k_pos[None, :] > q_pos[:, None]  # also hides the cache slots not yet written
    return jax.nn.softmax(jnp.where(future, -jnp.inf, scores), axis=-1)


def _gqa(params, c: AttentionConfig, x, q_pos):
    b, t, _ = x.shape
    q = apply_rope((x @ params["wq"]).reshape(b, t, c.n_heads, c.head_dim), q_pos)
    k = apply_rope((x @ params["wk"]).reshape(b, t, c.n_kv_heads, c.head_dim), q_pos)
    v = (x @ params["wv"]).reshape(b, t, c.n_kv_heads, c.head_dim)
    return q, k, v


def _gqa_attend(params, c: AttentionConfig, q, k, v, q_pos, k_pos):
    b, t = q.shape[:2]
    q = q.reshape(b, t, c.n_kv_heads, c.group_size, c.head_dim)
    scores = jnp.einsum("btgrd,bsgd->bgrts", q, k) / math.sqrt(c.head_dim)
    probs = _masked_softmax(scores, q_pos, k_pos)
    o = jnp.einsum("bgrts,bsgd->btgrd", probs, v)
    return o.reshape(b, t, -1) @ params["wo"]


def _mla_latents(params, c: AttentionConfig, x, q_pos):
    b, t, _ = x.shape
    c_kv = x @ params["w_dkv"]  # (9)
    k_rope = apply_rope((x @ params["w_kr"]).reshape(b, t, 1, c.rope_head_dim), q_pos)[:, :, 0]
    c_q = x @ params["w_dq"] if "w_dq" in params else x  # (12)
    q_r = apply_rope((c_q @ params["w_qr"]).reshape(b, t, c.n_heads, c.rope_head_dim), q_pos)
    return c_kv, k_rope, c_q, q_r


def _mla_attend(params, c: AttentionConfig, c_q, q_r, c_kv, k_rope, q_pos, k_pos, absorbed):
    b, t = c_q.shape[:2]
    scale = 1 / math.sqrt(c.head_dim + c.rope_head_dim)
    rope_scores = jnp.einsum("bthr,bsr->bhts", q_r, k_rope)
    if absorbed:
        w_q, w_o = absorb_weights(params, c)
        q_lat = jnp.einsum("btq,qhc->bthc", c_q, w_q)
        scores = jnp.einsum("bthc,bsc->bhts", q_lat, c_kv) + rope_scores
        probs = _masked_softmax(scores * scale, q_pos, k_pos)
        return jnp.einsum("bthc,hcm->btm", jnp.einsum("bhts,bsc->bthc", probs, c_kv), w_o)
    s = c_kv.shape[1]
    q_c = (c_q @ params["w_uq"]).reshape(b, t, c.n_heads, c.head_dim)  # (13)
    k_c = (c_kv @ params["w_uk"]).reshape(b, s, c.n_heads, c.head_dim)  # (10)
    v_c = (c_kv @ params["w_uv"]).reshape(b, s, c.n_heads, c.head_dim)  # (11)
    scores = jnp.einsum("bthd,bshd->bhts", q_c, k_c) + rope_scores  # (16)-(17)
    probs = _masked_softmax(scores * scale, q_pos, k_pos)
    o = jnp.einsum("bhts,bshd->bthd", probs, v_c)  # (18)
    return o.reshape(b, t, -1) @ params["wo"]  # (19)


@partial(jax.jit, static_argnums=(1,))
def _attention(params, c: AttentionConfig, x):
    pos = jnp.arange(x.shape[1])
    if c.kind == "mla":
        c_kv, k_rope, c_q, q_r = _mla_latents(params, c, x, pos)
        return _mla_attend(params, c, c_q, q_r, c_kv, k_rope, pos, pos, False)
    q, k, v = _gqa(params, c, x, pos)
    return _gqa_attend(params, c, q, k, v, pos, pos)


def attention(params: dict, config: AttentionConfig, x: jax.Array) -> jax.Array:
    """Causal self-attention over a whole sequence, no cache: x (B, T, d_model) -> same shape."""
    _check(params, config, x)
    return _attention(params, config, jnp.asarray(x))


def new_cache(
    config: AttentionConfig, batch: int, max_len: int, dtype=jnp.float32
) -> dict[str, jax.Array]:
    """An empty cache pytree: the arrays of `reference.cache_shapes` and `length` (int32 0)."""
    shapes = cache_shapes(config, batch, max_len)
    cache = {name: jnp.zeros(shape, dtype=dtype) for name, shape in shapes.items()}
    cache["length"] = jnp.zeros((), dtype=jnp.int32)
    return cache


@partial(jax.jit, static_argnums=(1, 4))
def _decode(params, c: AttentionConfig, x, cache, absorbed):
    t = x.shape[1]
    start = cache["length"]
    q_pos = start + jnp.arange(t)
    names = ("c_kv", "k_rope") if c.kind == "mla" else ("k", "v")
    max_len = cache[names[0]].shape[1]
    k_pos = jnp.arange(max_len)
    if c.kind == "mla":
        c_kv, k_rope, c_q, q_r = _mla_latents(params, c, x, q_pos)
        new = (c_kv, k_rope)
    else:
        q, k, v = _gqa(params, c, x, q_pos)
        new = (k, v)
    out_cache = {"length": start + t}
    for name, value in zip(names, new, strict=True):
        index = (0, start) + (0,) * (value.ndim - 2)
        out_cache[name] = jax.lax.dynamic_update_slice(cache[name], value.astype(x.dtype), index)
    if c.kind == "mla":
        out = _mla_attend(
            params, c, c_q, q_r, out_cache["c_kv"], out_cache["k_rope"], q_pos, k_pos, absorbed
        )
    else:
        out = _gqa_attend(params, c, q, out_cache["k"], out_cache["v"], q_pos, k_pos)
    return out, out_cache


def decode(
    params: dict, config: AttentionConfig, x: jax.Array, cache: dict, absorbed: bool = False
) -> tuple[jax.Array, dict]:
    """Append the new tokens x (B, T_new, d_model) to `cache` and attend to everything cached.

    Returns (out (B, T_new, d_model), new cache). For MLA, `absorbed` picks the folded-weight path.
    Validation runs outside jit; call `decode` itself (not under your own jit) to keep it.
    """
    _check(params, config, x)
    if not isinstance(absorbed, bool):
        raise TypeError(f"absorbed must be a bool, got {type(absorbed).__name__}")
    if absorbed and config.kind != "mla":
        raise ValueError(f"absorbed=True needs an MLA config, got kind={config.kind!r}")
    if not isinstance(cache, dict) or "length" not in cache:
        raise TypeError(f"cache must be a dict made by new_cache, got {type(cache).__name__}")
    batch, max_len = jnp.shape(x)[0], None
    for name, shape in cache_shapes(config, max(batch, 1), 1).items():
        if name not in cache or jnp.ndim(cache[name]) != len(shape):
            raise ValueError(
                f"cache was built for another config: it has {sorted(cache)}, this layer needs "
                f"{sorted(cache_shapes(config, 1, 1))} + length"
            )
        got = tuple(jnp.shape(cache[name]))
        if got[0] != shape[0] or got[2:] != shape[2:]:
            raise ValueError(
                f"cache was built for another config or batch: cache[{name!r}] has shape {got}, "
                f"this layer needs ({shape[0]}, max_len, {', '.join(map(str, shape[2:]))})"
            )
        max_len = got[1]
    length = integer("cache['length']", int(cache["length"]), minimum=0)
    if length + jnp.shape(x)[1] > max_len:
        raise ValueError(
            f"sequence too long for the cache: {length} cached + {jnp.shape(x)[1]} new tokens "
            f"> max_len={max_len}"
        )
    return _decode(params, config, jnp.asarray(x), cache, absorbed)
