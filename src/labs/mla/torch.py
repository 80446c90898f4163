"""Chapter 3 in PyTorch: grouped-query attention (MHA, GQA, MQA) and multi-head latent attention.

Taught in chapter 3, "MLA: low-rank joint compression of keys and values" and "A decode
benchmark" (the modules the benchmark times).

The same mathematics as `labs.mla.reference` (DeepSeek-V2 eqs. 9-19), as `nn.Module`s with a KV
cache. Weights are named and shaped as in the reference's parameter dict (x @ w, w of shape
(d_in, d_out)), so `module.load_params(init_params(config))` gives all three frameworks the same
layer. Axes: B batch, T new tokens, S cached tokens, H query heads, G KV heads, D head dim,
R RoPE dim, C latent d_c, Q query latent, M model width.

Checks run once per call on shapes and dtypes; values (NaN) are read only for CPU tensors, so a
decode step on a GPU never waits for a validation.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import nn

from labs.common import validate
from labs.mla.checks import (
    check_absorbed,
    check_cache,
    check_cache_size,
    check_config,
    check_params,
    check_rope,
    check_tokens,
    check_weight_count,
)
from labs.mla.config import AttentionConfig, _cache_shapes
from labs.mla.rope import ROPE_BASE

__all__ = [
    "GroupedQueryAttention",
    "KVCache",
    "MultiHeadLatentAttention",
    "apply_rope",
    "attention_module",
]

Tensor = torch.Tensor


def apply_rope(
    x: torch.Tensor, positions: torch.Tensor, base: float = ROPE_BASE, interleaved: bool = False
) -> torch.Tensor:
    """RoPE of x (B, T, heads, dim) at integer positions (T,) in [0, 2**24); pairs (i, i + dim/2),
    or (2i, 2i + 1) with `interleaved=True` (the released checkpoints), rotate by
    position * base^(-2i/dim), base > 1."""
    x, positions, base = check_rope(x, positions, base, framework="torch")
    validate.same_device(("x", x), ("positions", positions))
    return _apply_rope(x, positions, base, validate.boolean("interleaved", interleaved))


def _apply_rope(
    x: Float[Tensor, "B T H D"],
    positions: Int[Tensor, " T"],
    base: float = ROPE_BASE,
    interleaved: bool = False,
) -> Float[Tensor, "B T H D"]:
    """Rotate pairs (i, i + D/2), or (2i, 2i + 1), by position * base^(-2i/D), angles in float64."""
    half = x.shape[-1] // 2
    inv_freq = base ** (-torch.arange(half, dtype=torch.float64, device=x.device) * 2 / x.shape[-1])
    angles = positions.to(torch.float64)[:, None] * inv_freq  # (T, half)
    cos = torch.cos(angles)[:, None, :].to(x.dtype)
    sin = torch.sin(angles)[:, None, :].to(x.dtype)
    if interleaved:  # pairs (2i, 2i + 1): the released checkpoints' convention
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).reshape(x.shape)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def check_device(device) -> torch.device:
    """A torch.device, or a string naming one ("cpu", "cuda:0")."""
    return validate.torch_device_arg("device", device, default=None)


class KVCache:
    """One layer's KV cache, filled up to `length` tokens.

    GQA/MHA/MQA: k and v head-major, (B, n_kv_heads, max_len, head_dim), keys after RoPE, so a
    decode step reads each head's keys as one contiguous block (the reference's (B, S, n_g, d_h)
    layout, transposed). MLA: c_kv (B, max_len, kv_lora_rank) and the shared rotated key
    k_rope (B, max_len, d_h^R). At most 2**28 elements and 2**24 positions (`labs.mla.checks`).
    """

    def __init__(self, config: AttentionConfig, batch: int, max_len: int, dtype, device) -> None:
        batch, max_len = check_cache_size(check_config(config), batch, max_len)
        validate.instance("dtype", dtype, torch.dtype, "a torch dtype")
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point torch dtype, got {dtype}")
        device = check_device(device)
        self.config = config
        self.seq_dim = 1 if config.kind == "mla" else 2
        self.tensors = {}
        for name, shape in _cache_shapes(config, batch, max_len).items():
            if self.seq_dim == 2:
                shape = (shape[0], shape[2], shape[1], shape[3])  # head-major
            self.tensors[name] = torch.zeros(shape, dtype=dtype, device=device)
        self.batch, self.max_len, self.length = batch, max_len, 0
        self.dtype, self.device = dtype, next(iter(self.tensors.values())).device

    def filled(self, name: str) -> torch.Tensor:
        """The cached part of tensor `name`: its first `length` positions."""
        validate.one_of("name", name, self.tensors)
        return self.tensors[name].narrow(self.seq_dim, 0, self.length)

    @property
    def nbytes(self) -> int:
        """Bytes held for the `length` cached tokens of every sequence."""
        return sum(self.filled(n).numel() * t.element_size() for n, t in self.tensors.items())


class _Attention(nn.Module):
    def __init__(self, config: AttentionConfig, kinds: tuple[str, ...]) -> None:
        super().__init__()
        check_weight_count(check_config(config, kinds, f" for {type(self).__name__}"))
        self.config = config
        for name, shape in config.weight_shapes.items():
            weight = torch.randn(shape) / math.sqrt(shape[0])
            self.register_parameter(name, nn.Parameter(weight))

    def load_params(self, params: dict) -> _Attention:
        """Copy weights from a dict of finite float arrays (NumPy, torch or JAX) named as in
        `param_shapes`."""
        params = check_params(params, self.config, framework="any")
        with torch.no_grad():
            for name, value in params.items():
                getattr(self, name).copy_(
                    torch.as_tensor(np.asarray(value) if not torch.is_tensor(value) else value)
                )
        return self

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        """An empty cache for `batch` sequences of at most `max_len` tokens, on this layer's
        device and in its dtype."""
        weight = next(self.parameters())
        return KVCache(self.config, batch, max_len, weight.dtype, weight.device)

    def _check(self, x, cache) -> tuple[Tensor, Tensor]:
        """x and cache checked once; the query and key positions."""
        check_tokens(x, self.config, framework="torch", like=next(self.parameters()))
        start = 0
        if cache is not None:
            check_cache(cache, KVCache, self.config, x)
            start = cache.length
        q_pos = torch.arange(start, start + x.shape[1], device=x.device)
        return q_pos, torch.arange(start + x.shape[1], device=x.device)

    @staticmethod
    def _mask(scores: Float[Tensor, "... T S"], q_pos: Int[Tensor, " T"], k_pos: Int[Tensor, " S"]):
        """Scores of future keys set to -inf."""
        if q_pos.numel() == 1:  # one new token sees the whole cache: nothing to mask
            return scores
        future = k_pos[None, :] > q_pos[:, None]  # (T, S)
        return scores.masked_fill(future, float("-inf"))


class GroupedQueryAttention(_Attention):
    """Causal attention with n_kv_heads key/value heads shared by groups of query heads.

    kind "mha" (n_kv_heads = n_heads), "gqa" (1 < n_kv_heads < n_heads) or "mqa" (n_kv_heads = 1).
    Keys and queries get RoPE over the whole head.

    forward(x, cache=None): x (B, T, d_model) -> (B, T, d_model), x finite and in the layer's
    dtype and device. With a cache, the T new tokens are appended to it (in place) and attend to
    everything cached so far.
    """

    def __init__(self, config: AttentionConfig) -> None:
        super().__init__(config, ("mha", "gqa", "mqa"))

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        q_pos, k_pos = self._check(x, cache)
        return self._forward(x, cache, q_pos, k_pos)

    def _forward(self, x: Float[Tensor, "B T M"], cache, q_pos, k_pos) -> Float[Tensor, "B T M"]:
        """RoPE'd queries and keys, the cache appended, one batched product per KV head."""
        config = self.config
        b, t, _ = x.shape
        h, g, d = config.n_heads, config.n_kv_heads, config.head_dim
        q = _apply_rope((x @ self.wq).view(b, t, h, d), q_pos)
        k = _apply_rope((x @ self.wk).view(b, t, g, d), q_pos).transpose(1, 2)  # (B, G, T, D)
        v = (x @ self.wv).view(b, t, g, d).transpose(1, 2)  # (B, G, T, D)
        if cache is not None:
            start, end = cache.length, cache.length + t
            cache.tensors["k"][:, :, start:end] = k
            cache.tensors["v"][:, :, start:end] = v
            cache.length = end
            k, v = cache.filled("k"), cache.filled("v")  # (B, G, S, D)
        # Group the query heads by the KV head they share (head h = g * group_size + i), so one
        # batched matrix product per KV head reads its keys once, without copying the cache.
        n = config.group_size  # query heads per KV head
        q = q.view(b, t, g, n, d).permute(0, 2, 3, 1, 4).reshape(b, g, n * t, -1)
        scores = (q @ k.transpose(-1, -2)).view(b, g, n, t, -1) / math.sqrt(d)
        probs = torch.softmax(self._mask(scores, q_pos, k_pos), dim=-1)
        o = (probs.view(b, g, n * t, -1) @ v).view(b, g, n, t, d)
        return o.permute(0, 3, 1, 2, 4).reshape(b, t, -1) @ self.wo


class MultiHeadLatentAttention(_Attention):
    """Multi-head latent attention with decoupled RoPE (DeepSeek-V2 eqs. 9-19).

    The cache holds only c^KV (B, S, d_c) and the shared rotated key k^R (B, S, d_h^R).

    forward(x, cache=None, absorbed=False): x (B, T, d_model) -> (B, T, d_model), x finite and
    in the layer's dtype and device. absorbed=False up-projects every cached latent to per-head
    keys and values (eqs. 10-11); absorbed=True (or "factored") attends on the latents directly,
    applying W^UK to each head's query and W^UV to each head's attended latent, as DeepSeek's
    inference code does; absorbed="merged" uses the multiplied matrices of `absorbed_weights`
    (larger than the factors, kept for comparison). All agree to rounding.
    """

    def __init__(self, config: AttentionConfig) -> None:
        super().__init__(config, ("mla",))
        self._folded: tuple | None = None

    def absorbed_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(w_q_absorbed (d_c' or d_model, n_h, d_c), w_o_absorbed (n_h, d_c, d_model)).

        Recomputed whenever a weight changed (tracked with the tensors' version counters).
        """
        weights = (self.w_uq, self.w_uk, self.w_uv, self.wo)
        cacheable = not torch.is_grad_enabled() and not any(w.is_inference() for w in weights)
        version = tuple((w.data_ptr(), w._version) for w in weights) if cacheable else None
        if cacheable and self._folded is not None and self._folded[0] == version:
            return self._folded[1]
        folded = self._absorb_weights()
        if cacheable:
            self._folded = (version, folded)
        return folded

    def _absorb_weights(self) -> tuple[Float[Tensor, "Q H C"], Float[Tensor, "H C M"]]:
        """W^UQ_i^T W^UK_i and W^UV_i W^O_i for every head i."""
        h, d, d_c = self.config.n_heads, self.config.head_dim, self.config.kv_lora_rank
        w_q = torch.einsum("qhd,chd->qhc", self.w_uq.view(-1, h, d), self.w_uk.view(d_c, h, d))
        w_o = torch.einsum("chd,hdm->hcm", self.w_uv.view(d_c, h, d), self.wo.view(h, d, -1))
        return w_q, w_o

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, absorbed: bool | str = False
    ) -> torch.Tensor:
        absorbed = check_absorbed(absorbed, self.config)
        q_pos, k_pos = self._check(x, cache)
        return self._forward(x, cache, absorbed, q_pos, k_pos)

    def _forward(
        self, x: Float[Tensor, "B T M"], cache, absorbed: bool | str, q_pos, k_pos
    ) -> Float[Tensor, "B T M"]:
        """Eqs. 9-19, naive (up-projected keys and values) or absorbed (on the latents)."""
        config = self.config
        b, t, _ = x.shape
        h, d, r = config.n_heads, config.head_dim, config.rope_head_dim
        c_kv = x @ self.w_dkv  # (9)
        k_rope = _apply_rope((x @ self.w_kr).view(b, t, 1, r), q_pos)[:, :, 0]  # (15)
        c_q = x @ self.w_dq if hasattr(self, "w_dq") else x  # (12)
        q_r = _apply_rope((c_q @ self.w_qr).view(b, t, h, r), q_pos)  # (14)
        if cache is not None:
            start, end = cache.length, cache.length + t
            cache.tensors["c_kv"][:, start:end] = c_kv
            cache.tensors["k_rope"][:, start:end] = k_rope
            cache.length = end
            c_kv, k_rope = cache.filled("c_kv"), cache.filled("k_rope")
        scale = 1 / math.sqrt(d + r)
        s = c_kv.shape[1]

        def per_head_scores(queries, keys):  # (B, T, H, E) x (B, S, E) -> (B, H, T, S)
            flat = queries.reshape(b, t * h, -1) @ keys.transpose(1, 2)  # one batched product
            return flat.view(b, t, h, s).transpose(1, 2)

        rope_scores = per_head_scores(q_r, k_rope)  # the shared RoPE key serves every head
        if absorbed == "factored":  # as DeepSeek's inference code: the factors kept
            w_uk, w_uv = self.w_uk.view(-1, h, d), self.w_uv.view(-1, h, d)  # (C, H, D)
            q_c = (c_q @ self.w_uq).view(b, t, h, d)  # (13)
            q_lat = torch.einsum("bthd,chd->bthc", q_c, w_uk)  # W^UK_i on each head's query
            scores = per_head_scores(q_lat, c_kv) + rope_scores
            probs = torch.softmax(self._mask(scores * scale, q_pos, k_pos), dim=-1)
            context = probs.transpose(1, 2).reshape(b, t * h, s) @ c_kv  # weighted latents
            o = torch.einsum("bthc,chd->bthd", context.view(b, t, h, -1), w_uv)  # W^UV_i after
            return o.reshape(b, t, -1) @ self.wo  # (19)
        if absorbed == "merged":
            w_q, w_o = self.absorbed_weights()
            q_lat = torch.einsum("btq,qhc->bthc", c_q, w_q)  # W^UK folded into the query
            scores = per_head_scores(q_lat, c_kv) + rope_scores
            probs = torch.softmax(self._mask(scores * scale, q_pos, k_pos), dim=-1)
            context = probs.transpose(1, 2).reshape(b, t * h, s) @ c_kv  # weighted latents
            return torch.einsum("bthc,hcm->btm", context.view(b, t, h, -1), w_o)  # W^UV in W^O
        q_c = (c_q @ self.w_uq).view(b, t, h, d)  # (13)
        k_c = (c_kv @ self.w_uk).view(b, s, h, d)  # (10)
        v_c = (c_kv @ self.w_uv).view(b, s, h, d)  # (11)
        scores = torch.einsum("bthd,bshd->bhts", q_c, k_c) + rope_scores  # (16)-(17)
        probs = torch.softmax(self._mask(scores * scale, q_pos, k_pos), dim=-1)
        o = torch.einsum("bhts,bshd->bthd", probs, v_c)  # (18)
        return o.reshape(b, t, -1) @ self.wo  # (19)


def attention_module(config: AttentionConfig) -> _Attention:
    """The module for `config`: MultiHeadLatentAttention for "mla", else GroupedQueryAttention."""
    if check_config(config).kind == "mla":
        return MultiHeadLatentAttention(config)
    return GroupedQueryAttention(config)
