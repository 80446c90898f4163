"""Chapter 3 in PyTorch: grouped-query attention (MHA, GQA, MQA) and multi-head latent attention.

The same mathematics as `labs.mla.reference` (DeepSeek-V2 eqs. 9-19), as `nn.Module`s with a KV
cache. Weights are named and shaped as in the reference's parameter dict (x @ w, w of shape
(d_in, d_out)), so `module.load_params(init_params(config))` gives all three frameworks the same
layer.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from labs.common.validate import integer
from labs.mla import AttentionConfig
from labs.mla.reference import ROPE_BASE, cache_shapes, param_shapes

__all__ = [
    "GroupedQueryAttention",
    "KVCache",
    "MultiHeadLatentAttention",
    "apply_rope",
    "attention_module",
]


def apply_rope(x: torch.Tensor, positions: torch.Tensor, base: float = ROPE_BASE) -> torch.Tensor:
    """RoPE of x (B, T, heads, dim) at integer positions (T,); pairs (i, i + dim/2) rotate."""
    half = x.shape[-1] // 2
    inv_freq = base ** (-torch.arange(half, dtype=torch.float64, device=x.device) * 2 / x.shape[-1])
    angles = positions.to(torch.float64)[:, None] * inv_freq  # (T, half), float64 like NumPy
    cos = torch.cos(angles)[:, None, :].to(x.dtype)
    sin = torch.sin(angles)[:, None, :].to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class KVCache:
    """One layer's KV cache, filled up to `length` tokens.

    GQA/MHA/MQA: k and v head-major, (B, n_kv_heads, max_len, head_dim), keys after RoPE, so a
    decode step reads each head's keys as one contiguous block (the reference's (B, S, n_g, d_h)
    layout, transposed). MLA: c_kv (B, max_len, kv_lora_rank) and the shared rotated key
    k_rope (B, max_len, d_h^R).
    """

    def __init__(self, config: AttentionConfig, batch: int, max_len: int, dtype, device) -> None:
        self.config = config
        self.seq_dim = 1 if config.kind == "mla" else 2
        self.tensors = {}
        for name, shape in cache_shapes(config, batch, max_len).items():
            if self.seq_dim == 2:
                shape = (shape[0], shape[2], shape[1], shape[3])
            self.tensors[name] = torch.zeros(shape, dtype=dtype, device=device)
        self.batch, self.max_len, self.length = batch, max_len, 0

    def filled(self, name: str) -> torch.Tensor:
        """The cached part of tensor `name`: its first `length` positions."""
        return self.tensors[name].narrow(self.seq_dim, 0, self.length)

    @property
    def nbytes(self) -> int:
        """Bytes held for the `length` cached tokens of every sequence."""
        return sum(self.filled(n).numel() * t.element_size() for n, t in self.tensors.items())


class _Attention(nn.Module):
    def __init__(self, config: AttentionConfig, kinds: tuple[str, ...]) -> None:
        super().__init__()
        if not isinstance(config, AttentionConfig):
            raise TypeError(f"config must be an AttentionConfig, got {type(config).__name__}")
        if config.kind not in kinds:
            raise ValueError(
                f"config.kind must be one of {kinds} for {type(self).__name__}, got {config.kind!r}"
            )
        self.config = config
        self._shapes = param_shapes(config)
        for name, shape in self._shapes.items():
            weight = torch.randn(shape) / math.sqrt(shape[0])
            self.register_parameter(name, nn.Parameter(weight))

    def load_params(self, params: dict) -> _Attention:
        """Copy weights from a dict of arrays (NumPy, torch or JAX) named as in `param_shapes`."""
        if not isinstance(params, dict) or set(params) != set(self._shapes):
            got = sorted(params) if isinstance(params, dict) else type(params).__name__
            raise ValueError(f"params must have the keys {sorted(self._shapes)}, got {got}")
        with torch.no_grad():
            for name, shape in self._shapes.items():
                value = torch.as_tensor(np.asarray(params[name]))
                if tuple(value.shape) != shape:
                    raise ValueError(
                        f"params[{name!r}] must have shape {shape}, got {tuple(value.shape)}"
                    )
                getattr(self, name).copy_(value)
        return self

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        """An empty cache for `batch` sequences of at most `max_len` tokens, on this layer's
        device and in its dtype."""
        batch = integer("batch", batch, minimum=1)
        max_len = integer("max_len", max_len, minimum=1)
        weight = next(self.parameters())
        return KVCache(self.config, batch, max_len, weight.dtype, weight.device)

    def _check(self, x, cache) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating torch.Tensor, got {type(x).__name__}")
        if x.dim() != 3 or x.shape[-1] != self.config.d_model:
            raise ValueError(
                f"x must have shape (batch, tokens, {self.config.d_model}), got {tuple(x.shape)}"
            )
        start = 0
        if cache is not None:
            if not isinstance(cache, KVCache):
                raise TypeError(f"cache must be a KVCache, got {type(cache).__name__}")
            if cache.config != self.config:
                raise ValueError(
                    f"cache was built for another config ({cache.config}); "
                    f"this layer has {self.config}"
                )
            if x.shape[0] != cache.batch:
                raise ValueError(f"x has batch {x.shape[0]}, the cache batch {cache.batch}")
            if cache.length + x.shape[1] > cache.max_len:
                raise ValueError(
                    f"sequence too long for the cache: {cache.length} cached + {x.shape[1]} "
                    f"new tokens > max_len={cache.max_len}"
                )
            start = cache.length
        q_pos = torch.arange(start, start + x.shape[1], device=x.device)
        return q_pos, torch.arange(start + x.shape[1], device=x.device)

    @staticmethod
    def _mask(scores: torch.Tensor, q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor:
        if q_pos.numel() == 1:  # one new token sees the whole cache: nothing to mask
            return scores
        future = k_pos[None, :] > q_pos[:, None]  # (T, S)
        return scores.masked_fill(future, float("-inf"))


class GroupedQueryAttention(_Attention):
    """Causal attention with n_kv_heads key/value heads shared by groups of query heads.

    kind "mha" (n_kv_heads = n_heads), "gqa" (1 < n_kv_heads < n_heads) or "mqa" (n_kv_heads = 1).
    Keys and queries get RoPE over the whole head.

    forward(x, cache=None): x (B, T, d_model) -> (B, T, d_model). With a cache, the T new tokens
    are appended to it (in place) and attend to everything cached so far.
    """

    def __init__(self, config: AttentionConfig) -> None:
        super().__init__(config, ("mha", "gqa", "mqa"))

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        c = self.config
        q_pos, k_pos = self._check(x, cache)
        b, t, _ = x.shape
        q = apply_rope((x @ self.wq).view(b, t, c.n_heads, c.head_dim), q_pos)
        k = apply_rope((x @ self.wk).view(b, t, c.n_kv_heads, c.head_dim), q_pos).transpose(1, 2)
        v = (x @ self.wv).view(b, t, c.n_kv_heads, c.head_dim).transpose(1, 2)  # (B, G, T, D)
        if cache is not None:
            start, end = cache.length, cache.length + t
            cache.tensors["k"][:, :, start:end] = k
            cache.tensors["v"][:, :, start:end] = v
            cache.length = end
            k, v = cache.filled("k"), cache.filled("v")  # (B, G, S, D)
        # Group the query heads by the KV head they share (head h = g * group_size + r), so one
        # batched matrix product per KV head reads its keys once, without copying the cache.
        g, r = c.n_kv_heads, c.group_size
        q = q.view(b, t, g, r, c.head_dim).permute(0, 2, 3, 1, 4).reshape(b, g, r * t, -1)
        scores = (q @ k.transpose(-1, -2)).view(b, g, r, t, -1) / math.sqrt(c.head_dim)
        probs = torch.softmax(self._mask(scores, q_pos, k_pos), dim=-1)
        o = (probs.view(b, g, r * t, -1) @ v).view(b, g, r, t, c.head_dim)
        return o.permute(0, 3, 1, 2, 4).reshape(b, t, -1) @ self.wo


class MultiHeadLatentAttention(_Attention):
    """Multi-head latent attention with decoupled RoPE (DeepSeek-V2 eqs. 9-19).

    The cache holds only c^KV (B, S, d_c) and the shared rotated key k^R (B, S, d_h^R).

    forward(x, cache=None, absorbed=False): x (B, T, d_model) -> (B, T, d_model).
    absorbed=False up-projects every cached latent to per-head keys and values (eqs. 10-11);
    absorbed=True folds W^UK into the query side and W^UV into the output side, and attends on
    the latents directly. The two agree to rounding.
    """

    def __init__(self, config: AttentionConfig) -> None:
        super().__init__(config, ("mla",))
        self._folded: tuple | None = None

    def absorbed_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(w_q_absorbed (d_c' or d_model, n_h, d_c), w_o_absorbed (n_h, d_c, d_model)).

        Recomputed whenever a weight changed (tracked with the tensors' version counters).
        """
        c = self.config
        weights = (self.w_uq, self.w_uk, self.w_uv, self.wo)
        cacheable = not torch.is_grad_enabled() and not any(w.is_inference() for w in weights)
        version = tuple((w.data_ptr(), w._version) for w in weights) if cacheable else None
        if cacheable and self._folded is not None and self._folded[0] == version:
            return self._folded[1]
        h, d, dc = c.n_heads, c.head_dim, c.kv_lora_rank
        w_q = torch.einsum("qhd,chd->qhc", self.w_uq.view(-1, h, d), self.w_uk.view(dc, h, d))
        w_o = torch.einsum("chd,hdm->hcm", self.w_uv.view(dc, h, d), self.wo.view(h, d, -1))
        if cacheable:
            self._folded = (version, (w_q, w_o))
        return w_q, w_o

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, absorbed: bool = False
    ) -> torch.Tensor:
        c = self.config
        if not isinstance(absorbed, bool):
            raise TypeError(f"absorbed must be a bool, got {type(absorbed).__name__}")
        q_pos, k_pos = self._check(x, cache)
        b, t, _ = x.shape
        c_kv = x @ self.w_dkv  # (9)
        k_rope = apply_rope((x @ self.w_kr).view(b, t, 1, c.rope_head_dim), q_pos)[:, :, 0]
        c_q = x @ self.w_dq if hasattr(self, "w_dq") else x  # (12)
        q_r = apply_rope((c_q @ self.w_qr).view(b, t, c.n_heads, c.rope_head_dim), q_pos)
        if cache is not None:
            start, end = cache.length, cache.length + t
            cache.tensors["c_kv"][:, start:end] = c_kv
            cache.tensors["k_rope"][:, start:end] = k_rope
            cache.length = end
            c_kv, k_rope = cache.filled("c_kv"), cache.filled("k_rope")
        scale = 1 / math.sqrt(c.head_dim + c.rope_head_dim)
        h, s = c.n_heads, c_kv.shape[1]

        def per_head_scores(queries, keys):  # (B, T, H, E) x (B, S, E) -> (B, H, T, S)
            flat = queries.reshape(b, t * h, -1) @ keys.transpose(1, 2)  # one batched product
            return flat.view(b, t, h, s).transpose(1, 2)

        rope_scores = per_head_scores(q_r, k_rope)  # the shared RoPE key serves every head
        if absorbed:
            w_q, w_o = self.absorbed_weights()
            q_lat = torch.einsum("btq,qhc->bthc", c_q, w_q)  # W^UK folded into the query
            scores = per_head_scores(q_lat, c_kv) + rope_scores
            probs = torch.softmax(self._mask(scores * scale, q_pos, k_pos), dim=-1)
            context = probs.transpose(1, 2).reshape(b, t * h, s) @ c_kv  # weighted latents
            return torch.einsum("bthc,hcm->btm", context.view(b, t, h, -1), w_o)  # W^UV in W^O
        q_c = (c_q @ self.w_uq).view(b, t, c.n_heads, c.head_dim)  # (13)
        k_c = (c_kv @ self.w_uk).view(b, s, c.n_heads, c.head_dim)  # (10)
        v_c = (c_kv @ self.w_uv).view(b, s, c.n_heads, c.head_dim)  # (11)
        scores = torch.einsum("bthd,bshd->bhts", q_c, k_c) + rope_scores  # (16)-(17)
        probs = torch.softmax(self._mask(scores * scale, q_pos, k_pos), dim=-1)
        o = torch.einsum("bhts,bshd->bthd", probs, v_c)  # (18)
        return o.reshape(b, t, -1) @ self.wo  # (19)


def attention_module(config: AttentionConfig) -> _Attention:
    """The module for `config`: MultiHeadLatentAttention for "mla", else GroupedQueryAttention."""
    if not isinstance(config, AttentionConfig):
        raise TypeError(f"config must be an AttentionConfig, got {type(config).__name__}")
    if config.kind == "mla":
        return MultiHeadLatentAttention(config)
    return GroupedQueryAttention(config)
