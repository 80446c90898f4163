"""Attention configurations, the weights and cache they imply, and the presets the papers publish.

Taught in chapter 3, "The idea: generation reads the whole cache for every token" (the presets)
and "MLA: low-rank joint compression of keys and values" (the MLA fields and weights).

Weights act on the right (`x @ w`, w of shape (d_in, d_out)) and are named after the paper's
matrices: W^DKV is `w_dkv`, W^UK `w_uk`, W^UV `w_uv`, W^KR `w_kr`, W^DQ `w_dq`, W^UQ `w_uq`,
W^QR `w_qr`, W^O `wo`; MHA/GQA/MQA have `wq`, `wk`, `wv`, `wo`.
"""

from __future__ import annotations

from dataclasses import dataclass

from labs.common.facts import fact
from labs.common.validate import read_only
from labs.mla.checks import KINDS, AttentionFieldChecks, check_cache_size, check_config

__all__ = [
    "DEEPSEEK_67B",
    "DEEPSEEK_V2",
    "DEEPSEEK_V3",
    "KINDS",
    "LLAMA2_70B",
    "PRESETS",
    "AttentionConfig",
    "cache_shapes",
    "param_shapes",
]


@dataclass(frozen=True, kw_only=True)
class AttentionConfig(AttentionFieldChecks):
    """The shape of a model's attention, enough to size its KV cache and to build the layer.

    Attributes:
        kind: "mha" (every query head has its own key/value head), "gqa" (groups of query heads
            share one), "mqa" (all share one), "mla" (a compressed latent, DeepSeek-V2 §2.1).
        n_layers: number of attention layers l (at most 4,096).
        d_model: model width d.
        n_heads: query heads n_h.
        head_dim: per-head dimension d_h (for MLA: of the compressed part q^C, k^C, v^C).
        n_kv_heads: key/value heads n_g; defaults to n_heads for "mha", 1 for "mqa"; required for
            "gqa" (and must divide n_heads); for "mla" it is n_heads (each head gets its own
            up-projected key and value) and may be left out.
        kv_lora_rank: d_c, the size of the cached latent c^KV (MLA only).
        q_lora_rank: d_c', the size of the query latent c^Q (MLA only; None: no query compression).
        rope_head_dim: d_h^R, the decoupled RoPE dimension (MLA only; even).

    Widths and head counts are at most 65,536 (`checks.MAX_WIDTH`: a larger one is a typo).

    Raises:
        ValueError / TypeError, naming the field, for an impossible configuration (the rules are
        in `labs.mla.checks.AttentionFieldChecks`).
    """

    kind: str
    n_layers: int
    d_model: int
    n_heads: int
    head_dim: int
    n_kv_heads: int | None = None
    kv_lora_rank: int | None = None
    q_lora_rank: int | None = None
    rope_head_dim: int | None = None

    @property
    def group_size(self) -> int:
        """Query heads per KV head (n_h / n_g)."""
        return self.n_heads // self.n_kv_heads

    @property
    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        """The name and shape of every weight of one attention layer."""
        h, d, m = self.n_heads, self.head_dim, self.d_model
        if self.kind != "mla":
            g = self.n_kv_heads
            return {"wq": (m, h * d), "wk": (m, g * d), "wv": (m, g * d), "wo": (h * d, m)}
        d_c, d_r = self.kv_lora_rank, self.rope_head_dim
        d_q = m if self.q_lora_rank is None else self.q_lora_rank  # c^Q = h_t without compression
        shapes = {
            "w_dkv": (m, d_c),  # (9)
            "w_uk": (d_c, h * d),  # (10)
            "w_uv": (d_c, h * d),  # (11)
            "w_kr": (m, d_r),  # (15)
            "w_uq": (d_q, h * d),  # (13)
            "w_qr": (d_q, h * d_r),  # (14)
            "wo": (h * d, m),  # (19)
        }
        if self.q_lora_rank is not None:
            shapes["w_dq"] = (m, self.q_lora_rank)  # (12)
        return shapes

    @property
    def cache_widths(self) -> dict[str, tuple[int, ...]]:
        """What the cache holds per token: k, v (n_g, d_h) each; or c^KV (d_c,) and k^R (d_h^R,)."""
        if self.kind == "mla":
            return {"c_kv": (self.kv_lora_rank,), "k_rope": (self.rope_head_dim,)}
        return {"k": (self.n_kv_heads, self.head_dim), "v": (self.n_kv_heads, self.head_dim)}


def param_shapes(config: AttentionConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every weight of one attention layer of `config`."""
    return check_config(config).weight_shapes


def cache_shapes(config: AttentionConfig, batch: int, max_len: int) -> dict[str, tuple]:
    """A cache's arrays: k, v (B, S, n_g, d_h); or c_kv (B, S, d_c), k_rope (B, S, d_h^R).

    A cache of more than 2**28 elements (2 GiB in float64), or max_len beyond 2**24 positions,
    is refused: such a size is a typo (see `labs.mla.checks`).
    """
    batch, max_len = check_cache_size(check_config(config), batch, max_len)
    return _cache_shapes(config, batch, max_len)


def _cache_shapes(config: AttentionConfig, batch: int, max_len: int) -> dict[str, tuple]:
    """(B, S, *width) for each cached array."""
    return {name: (batch, max_len, *width) for name, width in config.cache_widths.items()}


def _preset(key: str) -> AttentionConfig:
    """The attention shape a paper publishes, stored with its field names in the facts registry."""
    return AttentionConfig(**fact(key).value)


DEEPSEEK_67B = _preset("deepseek67b_attention")
LLAMA2_70B = _preset("llama2_70b_attention")
DEEPSEEK_V2 = _preset("deepseekv2_attention")
DEEPSEEK_V3 = _preset("deepseekv3_attention")
PRESETS = read_only(
    {
        "DeepSeek 67B (GQA)": DEEPSEEK_67B,
        "Llama 2 70B (GQA)": LLAMA2_70B,
        "DeepSeek-V2 (MLA)": DEEPSEEK_V2,
        "DeepSeek-V3 (MLA)": DEEPSEEK_V3,
    }
)
