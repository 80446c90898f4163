"""The argument checks of chapter 3, written once for the NumPy, PyTorch and JAX entry points.

Used by every section of chapter 3 that runs code: the public functions of `reference`, `torch`,
`jax` and `benchmark` call these, then a bare kernel. The checks read only `.shape`, `.dtype` and
the config, so one function serves every framework; values (NaN, position ranges, the cache's fill
level) are read only for host-resident data (`labs.common.validate`), never from a GPU.

`AttentionFieldChecks` is the base class of `labs.mla.AttentionConfig`: its `__post_init__` holds
the configuration's field rules, and it is what `check_config` recognises, so this module needs
nothing from `labs.mla.config`.

Caps, and why: a width or head count above `MAX_WIDTH` (65,536), more than `MAX_LAYERS` (4,096)
layers, or a position at or above `MAX_POSITION` (2**24) is a typo, not a model (the largest
published models have a few hundred layers and widths of a few thousand; JAX computes RoPE angles
in float32, which holds integers exactly only up to 2**24). A layer's weights or a cache of more
than `validate.MAX_ELEMENTS` (2**28, 2 GiB in float64) elements is refused before it is allocated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from labs.common import validate
from labs.common.validate import describe_value, integer, one_of, real_number, size

# The checks are the chapter's own plumbing, not its API: only the caps are exported (the public
# functions that call the checks are what the hostile-input walker attacks).
__all__ = ["ABSORPTION_FORMS", "KINDS", "MAX_LAYERS", "MAX_POSITION", "MAX_WIDTH"]

KINDS = ("mha", "gqa", "mqa", "mla")
MAX_WIDTH = 2**16
MAX_LAYERS = 2**12
MAX_POSITION = 2**24
_WIDTH_WHY = "no attention layer is that wide; a larger value is a typo"


class AttentionFieldChecks:
    """The field rules of an attention configuration, run when one is made (base class of
    `labs.mla.AttentionConfig`). It fills in the default n_kv_heads for the kind."""

    def __post_init__(self) -> None:
        one_of("kind", self.kind, KINDS)
        size("n_layers", self.n_layers, maximum=MAX_LAYERS, why="no model has that many layers")
        for name in ("d_model", "n_heads", "head_dim"):
            size(name, getattr(self, name), maximum=MAX_WIDTH, why=_WIDTH_WHY)
        kv = _n_kv_heads(self.kind, self.n_heads, self.n_kv_heads)
        if self.n_heads % kv:
            raise ValueError(
                f"n_heads={self.n_heads} must be divisible by n_kv_heads={kv} "
                "(each KV head serves a whole group of query heads)"
            )
        object.__setattr__(self, "n_kv_heads", kv)
        for name, minimum in (("kv_lora_rank", 1), ("q_lora_rank", 1), ("rope_head_dim", 2)):
            value = getattr(self, name)
            if self.kind != "mla" and value is not None:
                raise ValueError(
                    f"{name} is an MLA setting; it must be None for kind={self.kind!r}, "
                    f"got {value!r}"
                )
            if self.kind == "mla" and value is None and name != "q_lora_rank":
                raise ValueError(f"{name} is required for kind='mla', got None")
            if value is not None:
                size(name, value, minimum=minimum, maximum=MAX_WIDTH, why=_WIDTH_WHY)
        rotated = "rope_head_dim" if self.kind == "mla" else "head_dim"
        if getattr(self, rotated) % 2:
            raise ValueError(
                f"{rotated} must be even for kind={self.kind!r} (RoPE rotates pairs of "
                f"coordinates), got {getattr(self, rotated)}"
            )


def _n_kv_heads(kind: str, n_heads: int, n_kv_heads) -> int:
    """n_kv_heads, checked against the kind, with the kind's default when it was left out."""
    if n_kv_heads is not None:
        integer("n_kv_heads", n_kv_heads, minimum=1)
    if kind == "gqa" and n_kv_heads is None:
        raise ValueError("n_kv_heads is required for kind='gqa', got None")
    if kind == "mqa" and n_kv_heads not in (None, 1):
        raise ValueError(f"n_kv_heads must be 1 for kind='mqa', got {n_kv_heads}")
    if kind in ("mha", "mla") and n_kv_heads not in (None, n_heads):
        left_out = " (or be left out)" if kind == "mla" else ""
        raise ValueError(
            f"n_kv_heads must equal n_heads={n_heads} for kind={kind!r}{left_out}, got {n_kv_heads}"
        )
    return {"mqa": 1, "gqa": n_kv_heads}.get(kind, n_heads if n_kv_heads is None else n_kv_heads)


def check_config(config, kinds: tuple[str, ...] = KINDS, user: str = "", name: str = "config"):
    """`config` if it is an AttentionConfig of one of `kinds` (`user`: who needs those kinds)."""
    validate.instance(name, config, AttentionFieldChecks, "an AttentionConfig")
    if config.kind not in kinds:
        raise ValueError(f"{name}.kind must be one of {kinds}{user}, got {config.kind!r}")
    return config


def check_mla_config(config):
    """`config` if it is an MLA AttentionConfig."""
    validate.instance("config", config, AttentionFieldChecks, "an AttentionConfig")
    if config.kind != "mla":
        raise ValueError(f"config must be an MLA config (kind='mla'), got kind={config.kind!r}")
    return config


def check_weight_count(config) -> None:
    """Refuse a config whose weights would not fit in memory (see the module docstring)."""
    count = sum(math.prod(shape) for shape in config.weight_shapes.values())
    if count > validate.MAX_ELEMENTS:
        raise ValueError(
            f"config describes a layer of {count:,} weights, more than {validate.MAX_ELEMENTS:,} "
            "(2 GiB in float64): too large to build here"
        )


def check_cache_size(config, batch, max_len) -> tuple[int, int]:
    """batch and max_len of a cache for `config`, within the caps of the module docstring."""
    batch = size("batch", batch, maximum=validate.MAX_ELEMENTS)
    max_len = size("max_len", max_len, maximum=MAX_POSITION, why="positions beyond 2**24")
    count = batch * max_len * sum(math.prod(width) for width in config.cache_widths.values())
    if count > validate.MAX_ELEMENTS:
        raise ValueError(
            f"batch={batch} and max_len={max_len} make a cache of {count:,} elements, more than "
            f"{validate.MAX_ELEMENTS:,} (2 GiB in float64)"
        )
    return batch, max_len


def check_float_dtype(name: str, dtype):
    """A NumPy/JAX floating dtype (float16/32/64, bfloat16); never an integer or None."""
    return validate.float_dtype(name, dtype, framework="jax")


def _floating_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and bool(value.is_floating_point())


def check_params(params, config, framework: str = "numpy") -> dict:
    """A dict holding exactly the weights of `config`, finite floats of the right shapes."""
    expected = config.weight_shapes
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of arrays, got {describe_value(params)}")
    if set(params) != set(expected):
        raise ValueError(
            f"params must have the keys {sorted(expected)} for kind={config.kind!r}, "
            f"got {sorted(params, key=str)}"
        )
    checked = {}
    for key, shape in expected.items():
        value = validate.array(f"params[{key!r}]", params[key], framework=framework)
        if tuple(value.shape) != shape:
            raise ValueError(f"params[{key!r}] must have shape {shape}, got {tuple(value.shape)}")
        checked[key] = value
    return checked


def check_tokens(x, config, framework: str = "numpy", like=None):
    """x of shape (batch, tokens, d_model), floating and finite (`like`: a weight it must match)."""
    if framework == "torch" and not _floating_tensor(x):
        raise TypeError(f"x must be a floating torch.Tensor, got {describe_value(x)}")
    x = validate.array("x", x, framework=framework)
    if x.ndim != 3 or x.shape[-1] != config.d_model:
        raise ValueError(f"x must have shape (batch, tokens, {config.d_model}), got {x.shape}")
    if like is not None and (x.dtype != like.dtype or x.device != like.device):
        raise TypeError(
            f"x must have the layer's dtype {like.dtype} and device {like.device}, "
            f"got {x.dtype} on {x.device}"
        )
    return x


ABSORPTION_FORMS = ("factored", "merged")


def check_absorbed(absorbed, config) -> bool | str:
    """False (naive), or the absorbed form: True or "factored" (W^UK and W^UV kept as factors, as
    DeepSeek's inference code does), "merged" (W^UQ W^UK and W^UV W^O multiplied once). Returns
    False, "factored" or "merged"; an absorbed form only for an MLA config."""
    if not isinstance(absorbed, bool) and not (
        isinstance(absorbed, str) and absorbed in ABSORPTION_FORMS
    ):
        raise TypeError(
            f"absorbed must be a bool, 'factored' or 'merged', got {describe_value(absorbed)}"
        )
    if absorbed and config.kind != "mla":
        raise ValueError(f"absorbed={absorbed!r} needs an MLA config, got kind={config.kind!r}")
    return "factored" if absorbed is True else absorbed


def check_cache(cache, cache_type: type, config, x) -> None:
    """A cache object (NumPy or torch KVCache) for `config` and x's batch (a torch cache: and x's
    dtype and device), with room for x."""
    validate.instance("cache", cache, cache_type, "a KVCache (see new_cache)")
    if cache.config != config:
        raise ValueError(
            f"cache was built for another config ({cache.config}); this layer has {config}"
        )
    if x.shape[0] != cache.batch:
        raise ValueError(
            f"x has batch {x.shape[0]} but the cache was built for batch {cache.batch}"
        )
    if hasattr(cache, "device") and (cache.dtype, cache.device) != (x.dtype, x.device):
        raise TypeError(
            f"cache holds {cache.dtype} on {cache.device}, but x is {x.dtype} on {x.device}"
        )
    _check_room(cache.length, x.shape[1], cache.max_len)


def _check_room(length: int, new: int, max_len: int) -> None:
    if length + new > max_len:
        raise ValueError(
            f"sequence too long for the cache: {length} cached + {new} new tokens "
            f"> max_len={max_len}"
        )


def check_cache_arrays(arrays, config, framework: str, prefix: str = "cache") -> dict:
    """Cache arrays named and shaped as `config` needs, (B, S, *width), one batch and length."""
    widths = config.cache_widths
    if not isinstance(arrays, Mapping) or not set(widths) <= set(arrays):
        got = sorted(arrays, key=str) if isinstance(arrays, Mapping) else describe_value(arrays)
        raise ValueError(
            f"{prefix} was built for another config: it has {got}, this layer needs "
            f"{sorted(widths)}"
        )
    checked = {
        k: validate.array(f"{prefix}[{k!r}]", arrays[k], framework=framework) for k in widths
    }
    first = checked[next(iter(widths))].shape
    for key, width in widths.items():
        got = tuple(checked[key].shape)
        if len(got) != 2 + len(width) or got[2:] != width or got[:2] != tuple(first[:2]):
            raise ValueError(
                f"{prefix} was built for another config or batch: {prefix}[{key!r}] has shape "
                f"{got}, this layer needs ({first[0]}, {first[1]}, {', '.join(map(str, width))})"
            )
    return checked


def check_jax_cache(cache, config, x) -> None:
    """A cache pytree of `labs.mla.jax.new_cache` for `config`, x's batch, with room for x.

    The fill level is read only where it lives on the host (no device synchronisation)."""
    if not isinstance(cache, Mapping) or "length" not in cache:
        raise TypeError(f"cache must be a dict made by new_cache, got {describe_value(cache)}")
    arrays = check_cache_arrays(cache, config, "jax")
    batch, max_len = next(iter(arrays.values())).shape[:2]
    if x.shape[0] != batch:
        raise ValueError(f"x has batch {x.shape[0]} but the cache was built for batch {batch}")
    length = validate.integer_array(
        "cache['length']", cache["length"], framework="jax", ndim=0, low=0
    )
    if _is_host(length):
        _check_room(int(length), x.shape[1], max_len)


def _is_host(value) -> bool:
    """True for a concrete value in host memory (reading it costs no device sync)."""
    return validate.host_values(value) is not None


def check_length(length, max_len: int) -> int:
    """A cache fill level: an int in [0, max_len]."""
    return integer("length", length, minimum=0, maximum=max_len)


def check_rope(x, positions, base, framework: str = "numpy"):
    """x (B, T, heads, even dim), positions T ints in [0, 2**24), base a real number > 1."""
    x = validate.array("x", x, framework=framework)
    if x.ndim != 4 or x.shape[-1] % 2:
        raise ValueError(f"x must have shape (B, T, heads, even dim), got {tuple(x.shape)}")
    positions = _positions(positions, x.shape[1], framework)
    return x, positions, check_rope_base(base)


_INT_DTYPES = {f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)}


def _positions(positions, tokens: int, framework: str):
    if framework == "numpy" and isinstance(positions, (list, tuple, range)):
        positions = np.asarray(positions)
    dtype = str(getattr(positions, "dtype", "")).removeprefix("torch.")
    if dtype not in _INT_DTYPES or tuple(positions.shape) != (tokens,):
        raise ValueError(
            f"positions must be {tokens} integers (one per token), got {describe_value(positions)}"
        )
    return validate.integer_array(
        "positions", positions, framework=framework, ndim=1, low=0, high=MAX_POSITION
    )


def check_rope_base(base) -> float:
    """RoPE's base: a finite real number > 1 (base <= 1 gives no rotation or NaN angles)."""
    base = real_number("base", base, positive=True)
    if base <= 1:
        raise ValueError(f"base must be > 1 (RoPE's wavelengths grow as base^(2i/d)), got {base}")
    return base


def check_single_head(q, w_uk, c_kv, q_position):
    """One query (d_h,), one head's W^UK (d_c, d_h), cached latents (T, d_c), a position."""
    q = validate.array("q", q, ndim=1)
    w_uk = validate.array("w_uk", w_uk)
    c_kv = validate.array("c_kv", c_kv)
    if q.shape[0] % 2:
        raise ValueError(f"q must be one query of even size d_h, got shape {q.shape}")
    if w_uk.ndim != 2 or w_uk.shape[1:] != q.shape:
        raise ValueError(f"w_uk must have shape (d_c, {q.shape[0]}), got {w_uk.shape}")
    if c_kv.ndim != 2 or c_kv.shape[1] != w_uk.shape[0]:
        raise ValueError(f"c_kv must have shape (T, {w_uk.shape[0]}), got {c_kv.shape}")
    if c_kv.shape[0] > MAX_POSITION:
        raise ValueError(f"c_kv must hold at most {MAX_POSITION} tokens, got {c_kv.shape[0]}")
    q_position = integer("q_position", q_position, minimum=0, maximum=MAX_POSITION - 1)
    return q, w_uk, c_kv, q_position


def check_bench_shape(n_heads, head_dim) -> tuple[int, int]:
    """The benchmark layer's heads and head dim: multiples of 4 (GQA groups of 4; d_h / 2 even)."""
    n_heads = size("n_heads", n_heads, minimum=4, maximum=MAX_WIDTH, why=_WIDTH_WHY)
    head_dim = size("head_dim", head_dim, minimum=4, maximum=MAX_WIDTH, why=_WIDTH_WHY)
    if n_heads % 4 or head_dim % 4:
        raise ValueError(
            f"n_heads and head_dim must be multiples of 4, got n_heads={n_heads}, "
            f"head_dim={head_dim}"
        )
    return n_heads, head_dim


def check_benchmark(config, context, batch, steps, absorbed, repeats, seed, cpu_threads) -> tuple:
    """The arguments of `labs.mla.benchmark.decode_benchmark`, within its caps."""
    config = check_config(config)
    context = size("context", context, maximum=MAX_POSITION // 2, why="positions beyond 2**23")
    steps = size("steps", steps, maximum=1024, why="a benchmark, not a generation")
    batch, _ = check_cache_size(config, batch, context + steps + 1)
    absorbed = check_absorbed(absorbed, config)
    repeats = size("repeats", repeats, maximum=100, why="the best of 100 is as good as it gets")
    seed = validate.seed("seed", seed)
    cpu_threads = size("cpu_threads", cpu_threads, maximum=1024, why="more than any CPU has")
    return config, context, batch, steps, absorbed, repeats, seed, cpu_threads


MAX_DECODE_BLOCK = 1024  # cache rows per block: one block's scores (H, block) sit in registers
MAX_SPLITS = 256  # context chunks per sequence: more than a GPU has SMs to spread them over


def check_decode_output(out, q_latent, q_rope, c_kv, k_rope, scale):
    """`out` of a Pallas or Triton `mla_decode` if finite; else a ValueError naming the largest
    of the inputs it came from (`validate.finite_result`)."""
    inputs = {"scale": scale, "q_latent": q_latent, "q_rope": q_rope}
    inputs |= {"c_kv": c_kv, "k_rope": k_rope}
    return validate.finite_result("the attention output", out, inputs=inputs)


def check_pallas_decode(
    q_latent, q_rope, c_kv, k_rope, lengths, scale, block, splits, block_table, framework="jax"
):
    """The arguments of `labs.mla.pallas.mla_decode` ("jax") and `labs.mla.triton.mla_decode`
    ("torch"): shapes, caps, lengths and page ids."""
    q_latent = validate.array("q_latent", q_latent, framework=framework, ndim=3)
    q_rope = validate.array("q_rope", q_rope, framework=framework, ndim=3)
    c_kv = validate.array("c_kv", c_kv, framework=framework, ndim=3)
    k_rope = validate.array("k_rope", k_rope, framework=framework, ndim=3)
    (batch, heads, latent), rope = q_latent.shape, q_rope.shape[-1]
    if q_rope.shape[:2] != (batch, heads):
        raise ValueError(f"q_rope must be (B, H, R) = ({batch}, {heads}, R), got {q_rope.shape}")
    if c_kv.shape[-1] != latent or k_rope.shape != (*c_kv.shape[:2], rope):
        raise ValueError(
            f"c_kv and k_rope must be (., S, {latent}) and (., S, {rope}), got {c_kv.shape} and "
            f"{k_rope.shape}"
        )
    scale = real_number("scale", scale, positive=True)
    block = size("block", block, maximum=MAX_DECODE_BLOCK, why="one block's scores in registers")
    splits = size("splits", splits, maximum=MAX_SPLITS, why="more chunks than a GPU has SMs")
    if block_table is None:  # contiguous: one cache row per sequence
        if c_kv.shape[0] != batch:
            raise ValueError(f"c_kv must hold one cache per sequence ({batch}), got {c_kv.shape}")
        capacity = c_kv.shape[1]
    else:  # paged: c_kv is a pool of pages of `block` rows
        pages = c_kv.shape[0]
        if c_kv.shape[1] != block:
            raise ValueError(f"block must equal the page size {c_kv.shape[1]}, got {block}")
        block_table = validate.integer_array(
            "block_table", block_table, framework=framework, ndim=2, low=0, high=pages
        )
        if block_table.shape[0] != batch:
            raise ValueError(f"block_table must have {batch} rows, got {block_table.shape}")
        capacity = block_table.shape[1] * block
    lengths = validate.integer_array(
        "lengths", lengths, framework=framework, ndim=1, low=1, high=capacity + 1
    )
    if lengths.shape != (batch,):
        raise ValueError(f"lengths must be ({batch},), one per sequence, got {lengths.shape}")
    return q_latent, q_rope, c_kv, k_rope, lengths, scale, block, splits, block_table
