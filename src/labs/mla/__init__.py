"""Chapter 3, Multi-head Latent Attention: the KV cache, from MHA to MLA.

Framework-free: the configuration, the cache formulas and (in `labs.mla.reference`) the NumPy
forward passes. `labs.mla.torch` and `labs.mla.jax` hold the same attention in each framework.

Per token and per layer, an attention layer that generates text must keep (DeepSeek-V2, Table 1)

    MHA: 2 n_h d_h    GQA: 2 n_g d_h    MQA: 2 d_h    MLA: d_c + d_h^R                    (T1)

elements in its KV cache: a key and a value per KV head, or, for MLA, one latent vector c^KV of
size d_c and one RoPE key k^R of size d_h^R shared by all heads.
"""

from __future__ import annotations

from dataclasses import dataclass

from labs.common.facts import fact
from labs.common.validate import integer, one_of, real_number

__all__ = [
    "DEEPSEEK_67B",
    "DEEPSEEK_V2",
    "DEEPSEEK_V3",
    "KINDS",
    "LLAMA2_70B",
    "PRESETS",
    "AttentionConfig",
    "equivalent_gqa_groups",
    "kv_cache_bytes",
    "kv_cache_bytes_per_token",
    "kv_cache_elements_per_layer",
    "kv_cache_elements_per_token",
]

KINDS = ("mha", "gqa", "mqa", "mla")


@dataclass(frozen=True)
class AttentionConfig:
    """The shape of a model's attention, enough to size its KV cache and to build the layer.

    Attributes:
        kind: "mha" (every query head has its own key/value head), "gqa" (groups of query heads
            share one), "mqa" (all share one), "mla" (a compressed latent, DeepSeek-V2 §2.1).
        n_layers: number of attention layers l.
        d_model: model width d.
        n_heads: query heads n_h.
        head_dim: per-head dimension d_h (for MLA: of the compressed part q^C, k^C, v^C).
        n_kv_heads: key/value heads n_g; defaults to n_heads for "mha", 1 for "mqa"; required for
            "gqa" (and must divide n_heads); for "mla" it is n_heads (each head gets its own
            up-projected key and value) and may be left out.
        kv_lora_rank: d_c, the size of the cached latent c^KV (MLA only).
        q_lora_rank: d_c', the size of the query latent c^Q (MLA only; None: no query compression).
        rope_head_dim: d_h^R, the decoupled RoPE dimension (MLA only; even).

    Raises:
        ValueError / TypeError, naming the field, for an impossible configuration.
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

    def __post_init__(self) -> None:
        one_of("kind", self.kind, KINDS)
        for name in ("n_layers", "d_model", "n_heads", "head_dim"):
            integer(name, getattr(self, name), minimum=1)
        kv = self.n_kv_heads
        if kv is not None:
            integer("n_kv_heads", kv, minimum=1)
        if self.kind == "mha":
            kv = self.n_heads if kv is None else kv
            if kv != self.n_heads:
                raise ValueError(
                    f"n_kv_heads must equal n_heads={self.n_heads} for kind='mha', got {kv}"
                )
        elif self.kind == "mqa":
            kv = 1 if kv is None else kv
            if kv != 1:
                raise ValueError(f"n_kv_heads must be 1 for kind='mqa', got {kv}")
        elif self.kind == "gqa":
            if kv is None:
                raise ValueError("n_kv_heads is required for kind='gqa', got None")
        else:  # mla
            kv = self.n_heads if kv is None else kv
            if kv != self.n_heads:
                raise ValueError(
                    f"n_kv_heads must equal n_heads={self.n_heads} for kind='mla' (or be left "
                    f"out), got {kv}"
                )
        if self.n_heads % kv:
            raise ValueError(
                f"n_heads={self.n_heads} must be divisible by n_kv_heads={kv} "
                "(each KV head serves a whole group of query heads)"
            )
        object.__setattr__(self, "n_kv_heads", kv)
        mla_fields = ("kv_lora_rank", "q_lora_rank", "rope_head_dim")
        if self.kind == "mla":
            for name in ("kv_lora_rank", "rope_head_dim"):
                if getattr(self, name) is None:
                    raise ValueError(f"{name} is required for kind='mla', got None")
            integer("kv_lora_rank", self.kv_lora_rank, minimum=1)
            integer("rope_head_dim", self.rope_head_dim, minimum=2)
            if self.q_lora_rank is not None:
                integer("q_lora_rank", self.q_lora_rank, minimum=1)
            if self.rope_head_dim % 2:
                raise ValueError(
                    f"rope_head_dim must be even (RoPE rotates pairs of coordinates), "
                    f"got {self.rope_head_dim}"
                )
        else:
            for name in mla_fields:
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{name} is an MLA setting; it must be None for kind={self.kind!r}, "
                        f"got {getattr(self, name)!r}"
                    )
            if self.head_dim % 2:
                raise ValueError(
                    f"head_dim must be even for kind={self.kind!r} (RoPE rotates pairs of "
                    f"coordinates of every key and query), got {self.head_dim}"
                )

    @property
    def group_size(self) -> int:
        """Query heads per KV head (n_h / n_g)."""
        return self.n_heads // self.n_kv_heads


def _config(name: str, config) -> AttentionConfig:
    if not isinstance(config, AttentionConfig):
        raise TypeError(f"{name} must be an AttentionConfig, got {type(config).__name__}")
    return config


def kv_cache_elements_per_layer(config: AttentionConfig) -> int:
    """Cached elements per token in one layer, eq. (T1): 2 n_g d_h, or d_c + d_h^R for MLA."""
    config = _config("config", config)
    if config.kind == "mla":
        return config.kv_lora_rank + config.rope_head_dim
    return 2 * config.n_kv_heads * config.head_dim  # one key and one value per KV head


def kv_cache_elements_per_token(config: AttentionConfig) -> int:
    """Cached elements per token, summed over all `n_layers` layers (eq. T1 times l)."""
    return kv_cache_elements_per_layer(config) * _config("config", config).n_layers


def kv_cache_bytes_per_token(config: AttentionConfig, bits_per_element: float = 16) -> float:
    """Bytes of KV cache per token over all layers, at `bits_per_element` (16: BF16/FP16)."""
    bits = real_number("bits_per_element", bits_per_element, positive=True)
    return kv_cache_elements_per_token(config) * bits / 8


def kv_cache_bytes(
    config: AttentionConfig, tokens: int, batch: int = 1, bits_per_element: float = 16
) -> float:
    """Bytes of KV cache for `batch` sequences of `tokens` tokens each."""
    tokens = integer("tokens", tokens, minimum=0)
    batch = integer("batch", batch, minimum=1)
    return kv_cache_bytes_per_token(config, bits_per_element) * tokens * batch


def equivalent_gqa_groups(config: AttentionConfig) -> float:
    """The number of GQA groups n_g whose cache equals this MLA config's (DeepSeek-V2, Table 1).

    GQA caches 2 n_g d_h elements per layer, MLA d_c + d_h^R, so n_g = (d_c + d_h^R) / (2 d_h).
    """
    config = _config("config", config)
    if config.kind != "mla":
        raise ValueError(f"config must be an MLA config (kind='mla'), got kind={config.kind!r}")
    return (config.kv_lora_rank + config.rope_head_dim) / (2 * config.head_dim)


def _preset(key: str) -> AttentionConfig:
    """The attention shape a paper publishes, stored with its field names in the facts registry."""
    return AttentionConfig(**fact(key).value)


DEEPSEEK_67B = _preset("deepseek67b_attention")
LLAMA2_70B = _preset("llama2_70b_attention")
DEEPSEEK_V2 = _preset("deepseekv2_attention")
DEEPSEEK_V3 = _preset("deepseekv3_attention")
PRESETS = {
    "DeepSeek 67B (GQA)": DEEPSEEK_67B,
    "Llama 2 70B (GQA)": LLAMA2_70B,
    "DeepSeek-V2 (MLA)": DEEPSEEK_V2,
    "DeepSeek-V3 (MLA)": DEEPSEEK_V3,
}

# The NumPy reference forward passes live beside this module; they need AttentionConfig above.
from labs.mla.reference import (  # noqa: E402
    KVCache,
    absorb_weights,
    apply_rope,
    attention,
    decode,
    init_params,
    new_cache,
)

__all__ += [
    "KVCache",
    "absorb_weights",
    "apply_rope",
    "attention",
    "decode",
    "init_params",
    "new_cache",
]
