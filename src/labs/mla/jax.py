"""Chapter 3 in JAX: MHA/GQA/MQA and MLA as pure functions over a parameter pytree.

Taught in chapter 3, "MLA: low-rank joint compression of keys and values" and "Weight
absorption: never build the keys" (the parity cells run it beside NumPy and PyTorch).

`params` is the same dict as `labs.mla.reference.init_params` makes (arrays named and shaped as in
`param_shapes`); a KV cache is a dict of arrays plus its fill level `length`. Nothing is mutated:
`decode` returns the output and the new cache. The configuration is static under `jax.jit` (a
frozen dataclass is hashable), so each config compiles once. Checks run outside `jit` and read
values (NaN, the fill level) only for arrays in host memory. Axes: B batch, T new tokens,
S cache slots, H query heads, G KV heads, D head dim, R RoPE dim d_h^R, C latent d_c, Q query
latent, M model width.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
from jaxtyping import Float, Int

from labs.common.validate import boolean, finite_result
from labs.mla.checks import (
    check_absorbed,
    check_cache_size,
    check_config,
    check_float_dtype,
    check_jax_cache,
    check_mla_config,
    check_params,
    check_rope,
    check_tokens,
)
from labs.mla.config import AttentionConfig, _cache_shapes
from labs.mla.rope import ROPE_BASE

__all__ = ["absorb_weights", "apply_rope", "attention", "decode", "new_cache"]

Array = jax.Array

# Every product asks for full float32 (or float64). At JAX's default precision a TPU multiplies
# float32 matrices in one bfloat16 pass and an Ampere or newer GPU in TF32: about 1e-2 and 1e-3
# off in the chapter's parity cells, far past float32's tolerance. A CPU ignores the setting.
_HIGHEST = jax.lax.Precision.HIGHEST
_einsum = partial(jnp.einsum, precision=_HIGHEST)


def _mm(a: Array, b: Array) -> Array:
    """a @ b at full precision."""
    return jnp.matmul(a, b, precision=_HIGHEST)


def apply_rope(
    x: jax.Array, positions: jax.Array, base: float = ROPE_BASE, interleaved: bool = False
) -> jax.Array:
    """RoPE of x (B, T, heads, dim) at integer positions (T,) in [0, 2**24); pairs (i, i + dim/2),
    or (2i, 2i + 1) with `interleaved=True` (the released checkpoints), rotate by
    position * base^(-2i/dim), base > 1."""
    x, positions, base = check_rope(x, positions, base, framework="jax")
    interleaved = boolean("interleaved", interleaved)
    return _apply_rope(jnp.asarray(x), jnp.asarray(positions), base, interleaved)


def _apply_rope(
    x: Float[Array, "B T H D"],
    positions: Int[Array, " T"],
    base: float = ROPE_BASE,
    interleaved: bool = False,
) -> Float[Array, "B T H D"]:
    """Rotate pairs (i, i + D/2) by position * base^(-2i/D), angles in float32 (float64 x: 64)."""
    half = x.shape[-1] // 2
    angle_dtype = jnp.promote_types(x.dtype, jnp.float32)  # float64 only under jax_enable_x64
    inv_freq = base ** (-jnp.arange(half, dtype=angle_dtype) * 2 / x.shape[-1])
    angles = positions.astype(angle_dtype)[:, None] * inv_freq  # (T, half)
    cos = jnp.cos(angles)[:, None, :].astype(x.dtype)
    sin = jnp.sin(angles)[:, None, :].astype(x.dtype)
    if interleaved:  # pairs (2i, 2i + 1): the released checkpoints' convention
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return jnp.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1).reshape(x.shape)
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


def absorb_weights(params: dict, config: AttentionConfig) -> tuple[jax.Array, jax.Array]:
    """(w_q_absorbed (d_c' or d_model, n_h, d_c), w_o_absorbed (n_h, d_c, d_model)).

    W^UK folded into the query side, W^UV into the output side (DeepSeek-V2 §2.1.2).
    """
    config = check_mla_config(config)
    return _absorb_weights(check_params(params, config, framework="jax"), config)


def _absorb_weights(
    params, config: AttentionConfig
) -> tuple[Float[Array, "Q H C"], Float[Array, "H C M"]]:
    """W^UQ_i^T W^UK_i and W^UV_i W^O_i for every head i."""
    h, d, d_c = config.n_heads, config.head_dim, config.kv_lora_rank
    w_uq, w_uk = params["w_uq"].reshape(-1, h, d), params["w_uk"].reshape(d_c, h, d)
    w_uv, wo = params["w_uv"].reshape(d_c, h, d), params["wo"].reshape(h, d, -1)
    return _einsum("qhd,chd->qhc", w_uq, w_uk), _einsum("chd,hdm->hcm", w_uv, wo)


def _masked_softmax(
    scores: Float[Array, "... T S"], q_pos: Int[Array, " T"], k_pos: Int[Array, " S"]
) -> Float[Array, "... T S"]:
    """Softmax over keys, future keys masked (also the cache slots not yet written)."""
    future = k_pos[None, :] > q_pos[:, None]
    return jax.nn.softmax(jnp.where(future, -jnp.inf, scores), axis=-1)


def _gqa(params, config: AttentionConfig, x: Float[Array, "B T M"], q_pos: Int[Array, " T"]):
    """Queries (B, T, H, D) and keys (B, T, G, D) after RoPE, values (B, T, G, D)."""
    b, t, _ = x.shape
    h, g, d = config.n_heads, config.n_kv_heads, config.head_dim
    q = _apply_rope(_mm(x, params["wq"]).reshape(b, t, h, d), q_pos)
    k = _apply_rope(_mm(x, params["wk"]).reshape(b, t, g, d), q_pos)
    v = _mm(x, params["wv"]).reshape(b, t, g, d)
    return q, k, v


def _gqa_attend(
    params,
    config: AttentionConfig,
    q: Float[Array, "B T H D"],
    k: Float[Array, "B S G D"],
    v: Float[Array, "B S G D"],
    q_pos: Int[Array, " T"],
    k_pos: Int[Array, " S"],
) -> Float[Array, "B T M"]:
    """Query heads grouped by the KV head they share, attention, then W^O."""
    b, t = q.shape[:2]
    q = q.reshape(b, t, config.n_kv_heads, config.group_size, config.head_dim)
    scores = _einsum("btgrd,bsgd->bgrts", q, k) / math.sqrt(config.head_dim)
    probs = _masked_softmax(scores, q_pos, k_pos)
    o = _einsum("bgrts,bsgd->btgrd", probs, v)
    return _mm(o.reshape(b, t, -1), params["wo"])


def _mla_latents(params, config: AttentionConfig, x: Float[Array, "B T M"], q_pos):
    """Eqs. 9, 12, 14, 15: c^KV (B,T,C), k^R (B,T,R), c^Q (B,T,Q), q^R (B,T,H,R)."""
    b, t, _ = x.shape
    h, r = config.n_heads, config.rope_head_dim
    c_kv = _mm(x, params["w_dkv"])  # (9)
    k_rope = _apply_rope(_mm(x, params["w_kr"]).reshape(b, t, 1, r), q_pos)[:, :, 0]  # (15)
    c_q = _mm(x, params["w_dq"]) if "w_dq" in params else x  # (12)
    q_r = _apply_rope(_mm(c_q, params["w_qr"]).reshape(b, t, h, r), q_pos)  # (14)
    return c_kv, k_rope, c_q, q_r


def _mla_attend(
    params,
    config: AttentionConfig,
    c_q: Float[Array, "B T Q"],
    q_r: Float[Array, "B T H R"],
    c_kv: Float[Array, "B S C"],
    k_rope: Float[Array, "B S R"],
    q_pos: Int[Array, " T"],
    k_pos: Int[Array, " S"],
    absorbed: bool | str,
) -> Float[Array, "B T M"]:
    """Eqs. 10, 11, 13, 16-19: naive, absorbed with the factors, or with merged matrices."""
    b, t = c_q.shape[:2]
    h, d, r = config.n_heads, config.head_dim, config.rope_head_dim
    scale = 1 / math.sqrt(d + r)
    rope_scores = _einsum("bthr,bsr->bhts", q_r, k_rope)
    if absorbed == "factored":  # as DeepSeek's inference code: the factors kept
        q_c = _mm(c_q, params["w_uq"]).reshape(b, t, h, d)  # (13)
        w_uk, w_uv = params["w_uk"].reshape(-1, h, d), params["w_uv"].reshape(-1, h, d)
        q_lat = _einsum("bthd,chd->bthc", q_c, w_uk)  # W^UK_i on each head's query
        scores = _einsum("bthc,bsc->bhts", q_lat, c_kv) + rope_scores
        probs = _masked_softmax(scores * scale, q_pos, k_pos)
        context = _einsum("bhts,bsc->bthc", probs, c_kv)  # weighted latents
        o = _einsum("bthc,chd->bthd", context, w_uv)  # W^UV_i after attention
        return _mm(o.reshape(b, t, -1), params["wo"])  # (19)
    if absorbed == "merged":
        w_q, w_o = _absorb_weights(params, config)
        q_lat = _einsum("btq,qhc->bthc", c_q, w_q)  # W^UK folded into the query
        scores = _einsum("bthc,bsc->bhts", q_lat, c_kv) + rope_scores
        probs = _masked_softmax(scores * scale, q_pos, k_pos)
        return _einsum("bthc,hcm->btm", _einsum("bhts,bsc->bthc", probs, c_kv), w_o)
    s = c_kv.shape[1]
    q_c = _mm(c_q, params["w_uq"]).reshape(b, t, h, d)  # (13)
    k_c = _mm(c_kv, params["w_uk"]).reshape(b, s, h, d)  # (10)
    v_c = _mm(c_kv, params["w_uv"]).reshape(b, s, h, d)  # (11)
    scores = _einsum("bthd,bshd->bhts", q_c, k_c) + rope_scores  # (16)-(17)
    probs = _masked_softmax(scores * scale, q_pos, k_pos)
    o = _einsum("bhts,bshd->bthd", probs, v_c)  # (18)
    return _mm(o.reshape(b, t, -1), params["wo"])  # (19)


@partial(jax.jit, static_argnums=(1,))
def _attention(params, config: AttentionConfig, x: Float[Array, "B T M"]) -> Float[Array, "B T M"]:
    """Every token attends to itself and the tokens before it."""
    pos = jnp.arange(x.shape[1])
    if config.kind == "mla":
        c_kv, k_rope, c_q, q_r = _mla_latents(params, config, x, pos)
        return _mla_attend(params, config, c_q, q_r, c_kv, k_rope, pos, pos, False)
    q, k, v = _gqa(params, config, x, pos)
    return _gqa_attend(params, config, q, k, v, pos, pos)


def attention(params: dict, config: AttentionConfig, x: jax.Array) -> jax.Array:
    """Causal self-attention over a whole sequence, no cache: x (B, T, d_model) -> same shape."""
    config = check_config(config)
    params = check_params(params, config, framework="jax")
    out = _attention(params, config, jnp.asarray(check_tokens(x, config, framework="jax")))
    return finite_result("the attention output", out, inputs={"x": x})


def new_cache(
    config: AttentionConfig, batch: int, max_len: int, dtype=jnp.float32
) -> dict[str, jax.Array]:
    """An empty cache pytree: the arrays of `reference.cache_shapes` and `length` (int32 0).

    `dtype` must be floating; at most 2**28 elements and 2**24 positions (`labs.mla.checks`).
    """
    batch, max_len = check_cache_size(check_config(config), batch, max_len)
    dtype = check_float_dtype("dtype", dtype)
    shapes = _cache_shapes(config, batch, max_len)
    cache = {name: jnp.zeros(shape, dtype=dtype) for name, shape in shapes.items()}
    cache["length"] = jnp.zeros((), dtype=jnp.int32)
    return cache


@partial(jax.jit, static_argnums=(1, 4))
def _decode(params, config: AttentionConfig, x: Float[Array, "B T M"], cache, absorbed: bool | str):
    """Write the new tokens into the cache at `length`, then attend to every slot written."""
    t = x.shape[1]
    start = cache["length"]
    q_pos = start + jnp.arange(t)
    names = ("c_kv", "k_rope") if config.kind == "mla" else ("k", "v")
    k_pos = jnp.arange(cache[names[0]].shape[1])
    if config.kind == "mla":
        c_kv, k_rope, c_q, q_r = _mla_latents(params, config, x, q_pos)
        new = (c_kv, k_rope)
    else:
        q, k, v = _gqa(params, config, x, q_pos)
        new = (k, v)
    out_cache = {"length": start + t}
    for name, value in zip(names, new, strict=True):
        zero = jnp.zeros_like(start)  # indices of one dtype, also with jax_enable_x64 on
        index = (zero, start) + (zero,) * (value.ndim - 2)
        out_cache[name] = jax.lax.dynamic_update_slice(cache[name], value.astype(x.dtype), index)
    if config.kind == "mla":
        c_all, r_all = out_cache["c_kv"], out_cache["k_rope"]
        out = _mla_attend(params, config, c_q, q_r, c_all, r_all, q_pos, k_pos, absorbed)
    else:
        out = _gqa_attend(params, config, q, out_cache["k"], out_cache["v"], q_pos, k_pos)
    return out, out_cache


def decode(
    params: dict, config: AttentionConfig, x: jax.Array, cache: dict, absorbed: bool | str = False
) -> tuple[jax.Array, dict]:
    """Append the new tokens x (B, T_new, d_model) to `cache` and attend to everything cached.

    Returns (out (B, T_new, d_model), new cache). For MLA, `absorbed` picks the path: False
    (naive), True or "factored" (W^UK and W^UV applied per head, as DeepSeek's inference code
    does), "merged" (the multiplied matrices of `absorb_weights`).
    Validation runs outside jit; call `decode` itself (not under your own jit) to keep it.
    """
    config = check_config(config)
    params = check_params(params, config, framework="jax")
    x = check_tokens(x, config, framework="jax")
    absorbed = check_absorbed(absorbed, config)
    check_jax_cache(cache, config, x)
    out, cache = _decode(params, config, jnp.asarray(x), dict(cache), absorbed)
    return finite_result("the attention output", out, inputs={"x": x}), cache
