"""Every public function rejects bad input with an error naming the parameter."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from labs.mla import (
    DEEPSEEK_67B,
    DEEPSEEK_V2,
    AttentionConfig,
    KVCache,
    absorb_weights,
    apply_rope,
    attention,
    decode,
    equivalent_gqa_groups,
    init_params,
    kv_cache_bytes,
    kv_cache_bytes_per_token,
    kv_cache_elements_per_token,
    new_cache,
)
from labs.mla import jax as mla_jax
from labs.mla import torch as mla_torch
from labs.mla.reference import coupled_rope_scores

MLA = AttentionConfig(
    kind="mla",
    n_layers=1,
    d_model=32,
    n_heads=4,
    head_dim=8,
    kv_lora_rank=12,
    q_lora_rank=10,
    rope_head_dim=4,
)
MLA_WIDER = AttentionConfig(
    kind="mla",
    n_layers=1,
    d_model=32,
    n_heads=4,
    head_dim=8,
    kv_lora_rank=16,
    q_lora_rank=10,
    rope_head_dim=4,
)
GQA = AttentionConfig(kind="gqa", n_layers=1, d_model=32, n_heads=4, head_dim=8, n_kv_heads=2)
MHA = AttentionConfig(kind="mha", n_layers=1, d_model=32, n_heads=4, head_dim=8)


def test_n_heads_not_divisible_by_n_kv_heads():
    with pytest.raises(ValueError, match=r"n_heads=6 must be divisible by n_kv_heads=4"):
        AttentionConfig(kind="gqa", n_layers=1, d_model=48, n_heads=6, head_dim=8, n_kv_heads=4)


def test_odd_rope_head_dim():
    with pytest.raises(ValueError, match=r"rope_head_dim must be even.*got 5"):
        AttentionConfig(
            kind="mla",
            n_layers=1,
            d_model=32,
            n_heads=4,
            head_dim=8,
            kv_lora_rank=12,
            rope_head_dim=5,
        )


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        (dict(kind="sparse"), ValueError, "kind must be one of"),
        (dict(n_layers=0), ValueError, "n_layers must be >= 1"),
        (dict(n_heads=2.0), TypeError, "n_heads must be an int"),
        (dict(head_dim=True), TypeError, "head_dim must be an int"),
        (dict(kind="gqa"), ValueError, "n_kv_heads is required"),
        (dict(kind="mha", n_kv_heads=2), ValueError, "n_kv_heads must equal n_heads"),
        (dict(kind="mqa", n_kv_heads=2), ValueError, "n_kv_heads must be 1"),
        (dict(kind="mla", rope_head_dim=4), ValueError, "kv_lora_rank is required"),
        (dict(kind="mla", kv_lora_rank=8), ValueError, "rope_head_dim is required"),
        (dict(kind="mha", kv_lora_rank=8), ValueError, "kv_lora_rank is an MLA setting"),
        (dict(kind="mha", head_dim=7, d_model=28), ValueError, "head_dim must be even"),
    ],
)
def test_bad_configs(kwargs, error, pattern):
    base = dict(kind="mha", n_layers=1, d_model=32, n_heads=4, head_dim=8)
    with pytest.raises(error, match=pattern):
        AttentionConfig(**{**base, **kwargs})


def test_cache_formulas_reject_bad_arguments():
    with pytest.raises(TypeError, match="config must be an AttentionConfig"):
        kv_cache_elements_per_token({"kind": "mha"})
    with pytest.raises(ValueError, match="bits_per_element must be > 0"):
        kv_cache_bytes_per_token(DEEPSEEK_V2, bits_per_element=0)
    with pytest.raises(TypeError, match="bits_per_element must be a real number"):
        kv_cache_bytes_per_token(DEEPSEEK_V2, bits_per_element="16")
    with pytest.raises(ValueError, match="tokens must be >= 0"):
        kv_cache_bytes(DEEPSEEK_V2, -1)
    with pytest.raises(ValueError, match="batch must be >= 1"):
        kv_cache_bytes(DEEPSEEK_V2, 10, batch=0)
    with pytest.raises(ValueError, match="must be an MLA config"):
        equivalent_gqa_groups(DEEPSEEK_67B)


def test_cache_built_for_another_config_numpy():
    params = init_params(MLA)
    cache = new_cache(MLA_WIDER, batch=1, max_len=4)
    with pytest.raises(ValueError, match="cache was built for another config"):
        decode(params, MLA, np.zeros((1, 1, 32)), cache)


def test_cache_built_for_another_config_torch():
    module = mla_torch.MultiHeadLatentAttention(MLA)
    other = mla_torch.GroupedQueryAttention(GQA).new_cache(1, 4)
    with pytest.raises(ValueError, match="cache was built for another config"):
        module(torch.zeros(1, 1, 32), other)


def test_cache_built_for_another_config_jax():
    params = {k: jnp.asarray(v) for k, v in init_params(MLA).items()}
    with pytest.raises(ValueError, match="cache was built for another config"):
        mla_jax.decode(params, MLA, jnp.zeros((1, 1, 32)), mla_jax.new_cache(MLA_WIDER, 1, 4))
    with pytest.raises(ValueError, match="cache was built for another config"):
        mla_jax.decode(params, MLA, jnp.zeros((1, 1, 32)), mla_jax.new_cache(GQA, 1, 4))


def test_sequence_longer_than_the_cache_numpy():
    params = init_params(GQA)
    cache = new_cache(GQA, batch=1, max_len=4)
    decode(params, GQA, np.zeros((1, 3, 32)), cache)
    with pytest.raises(ValueError, match=r"3 cached \+ 2 new tokens > max_len=4"):
        decode(params, GQA, np.zeros((1, 2, 32)), cache)


def test_sequence_longer_than_the_cache_torch():
    module = mla_torch.MultiHeadLatentAttention(MLA)
    cache = module.new_cache(1, 4)
    with pytest.raises(ValueError, match=r"0 cached \+ 5 new tokens > max_len=4"):
        module(torch.zeros(1, 5, 32), cache)


def test_sequence_longer_than_the_cache_jax():
    params = {k: jnp.asarray(v) for k, v in init_params(MLA).items()}
    cache = mla_jax.new_cache(MLA, 1, 4)
    _, cache = mla_jax.decode(params, MLA, jnp.zeros((1, 4, 32)), cache)
    with pytest.raises(ValueError, match=r"4 cached \+ 1 new tokens > max_len=4"):
        mla_jax.decode(params, MLA, jnp.zeros((1, 1, 32)), cache)


def test_wrong_inputs_to_the_reference():
    params = init_params(MLA)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, tokens, 32\)"):
        attention(params, MLA, np.zeros((1, 3, 16)))
    with pytest.raises(TypeError, match="x must hold floating-point numbers"):
        attention(params, MLA, np.zeros((1, 3, 32), dtype=int))
    with pytest.raises(ValueError, match="params must have the keys"):
        attention(init_params(GQA), MLA, np.zeros((1, 3, 32)))
    bad = {**params, "w_dkv": np.zeros((32, 5))}
    with pytest.raises(ValueError, match=r"params\['w_dkv'\] must have shape \(32, 12\)"):
        attention(bad, MLA, np.zeros((1, 3, 32)))
    with pytest.raises(TypeError, match="config must be an AttentionConfig"):
        attention(params, "mla", np.zeros((1, 3, 32)))
    with pytest.raises(ValueError, match="x has batch 2 but the cache was built for batch 1"):
        decode(params, MLA, np.zeros((2, 1, 32)), new_cache(MLA, 1, 4))
    with pytest.raises(TypeError, match="absorbed must be a bool"):
        decode(params, MLA, np.zeros((1, 1, 32)), new_cache(MLA, 1, 4), absorbed="yes")
    with pytest.raises(ValueError, match="absorbed=True needs an MLA config"):
        decode(init_params(MHA), MHA, np.zeros((1, 1, 32)), new_cache(MHA, 1, 4), absorbed=True)
    with pytest.raises(TypeError, match="cache must be a KVCache"):
        decode(params, MLA, np.zeros((1, 1, 32)), {"c_kv": None})
    with pytest.raises(ValueError, match="must be an MLA config"):
        absorb_weights(init_params(MHA), MHA)
    with pytest.raises(ValueError, match="even dim"):
        apply_rope(np.zeros((1, 2, 1, 3)), np.arange(2))
    with pytest.raises(ValueError, match="positions must be 2 integers"):
        apply_rope(np.zeros((1, 2, 1, 4)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="seed must be >= 0"):
        init_params(MLA, seed=-1)
    with pytest.raises(ValueError, match=r"w_uk must have shape \(d_c, 8\)"):
        coupled_rope_scores(np.zeros(8), np.zeros((4, 6)), np.zeros((3, 4)), 2)


def test_wrong_inputs_to_torch_and_jax():
    with pytest.raises(ValueError, match="config.kind must be one of"):
        mla_torch.GroupedQueryAttention(MLA)
    with pytest.raises(ValueError, match="config.kind must be one of"):
        mla_torch.MultiHeadLatentAttention(GQA)
    module = mla_torch.GroupedQueryAttention(GQA)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, tokens, 32\)"):
        module(torch.zeros(1, 2, 8))
    with pytest.raises(TypeError, match="x must be a floating torch.Tensor"):
        module(np.zeros((1, 2, 32)))
    with pytest.raises(ValueError, match=r"params\['wq'\] must have shape"):
        module.load_params({**init_params(GQA), "wq": np.zeros((2, 2))})
    with pytest.raises(TypeError, match="absorbed must be a bool"):
        mla_torch.MultiHeadLatentAttention(MLA)(torch.zeros(1, 2, 32), absorbed=1)
    params = {k: jnp.asarray(v) for k, v in init_params(GQA).items()}
    with pytest.raises(ValueError, match=r"x must have shape \(batch, tokens, 32\)"):
        mla_jax.attention(params, GQA, jnp.zeros((1, 2, 31)))
    with pytest.raises(ValueError, match="absorbed=True needs an MLA config"):
        mla_jax.decode(params, GQA, jnp.zeros((1, 1, 32)), mla_jax.new_cache(GQA, 1, 2), True)
    with pytest.raises(TypeError, match="cache must be a dict made by new_cache"):
        mla_jax.decode(params, GQA, jnp.zeros((1, 1, 32)), None)


# --- Worst cases of the reliability review: each was accepted silently before ------------------


@pytest.mark.parametrize("dtype", [np.int32, np.int64, bool, None])
def test_integer_weights_are_refused(dtype):
    # np.int32 used to truncate 98% of the N(0, 1/fan_in) weights to 0
    with pytest.raises(
        TypeError, match=r"dtype must be a floating-point dtype \(e.g. np.float32\)"
    ):
        init_params(MLA, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.int32, None])
def test_integer_kv_caches_are_refused(dtype):
    # an int32 cache silently truncated every cached latent written into it
    with pytest.raises(TypeError, match="dtype must be a floating-point dtype"):
        new_cache(MLA, batch=1, max_len=4, dtype=dtype)
    with pytest.raises(TypeError, match="dtype must be a floating-point dtype"):
        mla_jax.new_cache(MLA, 1, 4, dtype=dtype)
    with pytest.raises(TypeError, match="dtype must be a floating-point torch dtype"):
        mla_torch.KVCache(MLA, 1, 4, torch.int32, "cpu")
    with pytest.raises(TypeError, match="dtype must be a torch dtype"):
        mla_torch.KVCache(MLA, 1, 4, None, "cpu")


def test_a_cache_given_integer_arrays_is_refused():
    arrays = {"c_kv": np.zeros((1, 4, 12), dtype=np.int32), "k_rope": np.zeros((1, 4, 4))}
    with pytest.raises(TypeError, match=r"arrays\['c_kv'\] must hold floating-point numbers"):
        KVCache(MLA, arrays)


@pytest.mark.parametrize("base", [0, -10000.0, 1.0, 0.5])
def test_rope_base_must_exceed_one_in_every_framework(base):
    # base 0 or negative used to return NaN everywhere (0 ** -x = inf, (-b) ** x = NaN)
    x = np.ones((1, 2, 1, 4))
    pattern = r"base must be > (0|1)"
    with pytest.raises(ValueError, match=pattern):
        apply_rope(x, np.arange(2), base=base)
    with pytest.raises(ValueError, match=pattern):
        mla_torch.apply_rope(torch.from_numpy(x), torch.arange(2), base=base)
    with pytest.raises(ValueError, match=pattern):
        mla_jax.apply_rope(jnp.asarray(x, jnp.float32), jnp.arange(2), base=base)


@pytest.mark.parametrize("base", [float("nan"), float("inf"), "10000", 1j, None])
def test_rope_base_must_be_a_finite_real_number(base):
    x = np.ones((1, 2, 1, 4))
    with pytest.raises((TypeError, ValueError), match="base must be"):
        apply_rope(x, np.arange(2), base=base)
    with pytest.raises((TypeError, ValueError), match="base must be"):
        mla_jax.apply_rope(jnp.asarray(x, jnp.float32), jnp.arange(2), base=base)


def test_rope_positions_must_be_in_range():
    x = np.ones((1, 2, 1, 4))
    with pytest.raises(
        ValueError, match=r"positions must lie in \[0, 16777216\), got a value of -1"
    ):
        apply_rope(x, np.array([-1, 0]))
    with pytest.raises(
        ValueError, match=r"positions must lie in \[0, 16777216\), got a value of 16777216"
    ):
        mla_torch.apply_rope(torch.from_numpy(x), torch.tensor([0, 2**24]))


def test_nan_and_integer_inputs_are_refused_in_every_framework():
    params = init_params(MLA)
    x = np.zeros((1, 2, 32))
    x[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="x must be finite"):
        attention(params, MLA, x)
    with pytest.raises(ValueError, match="x must be finite"):
        mla_torch.MultiHeadLatentAttention(MLA).double()(torch.from_numpy(x))
    with pytest.raises(ValueError, match="x must be finite"):
        mla_jax.attention(params, MLA, jnp.asarray(x, jnp.float32))
    bad = {**params, "w_uk": params["w_uk"].astype(np.int32)}
    with pytest.raises(TypeError, match=r"params\['w_uk'\] must hold floating-point numbers"):
        attention(bad, MLA, np.zeros((1, 2, 32)))
    with pytest.raises(TypeError, match=r"params\['w_uk'\] must hold floating-point numbers"):
        mla_torch.MultiHeadLatentAttention(MLA).load_params(bad)


def test_one_frameworks_arrays_on_another_path_are_refused():
    params = init_params(MLA)
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        attention(params, MLA, torch.zeros(1, 2, 32, dtype=torch.float64))
    with pytest.raises(TypeError, match="x must be a JAX or NumPy array"):
        mla_jax.attention(params, MLA, torch.zeros(1, 2, 32))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        mla_torch.apply_rope(np.zeros((1, 2, 1, 4)), torch.arange(2))
    module = mla_torch.MultiHeadLatentAttention(MLA)  # float32 weights
    with pytest.raises(TypeError, match="x must have the layer's dtype torch.float32"):
        module(torch.zeros(1, 2, 32, dtype=torch.float64))


def test_sizes_a_typo_would_blow_up_are_refused():
    with pytest.raises(ValueError, match=r"max_len must be <= 16777216"):
        new_cache(MLA, batch=1, max_len=10**12)
    with pytest.raises(ValueError, match=r"batch=100000 and max_len=100000 make a cache of"):
        new_cache(MLA, batch=100_000, max_len=100_000)
    with pytest.raises(ValueError, match=r"n_layers must be <= 4096"):
        AttentionConfig(kind="mha", n_layers=10**9, d_model=32, n_heads=4, head_dim=8)
    wide = AttentionConfig(kind="mha", n_layers=1, d_model=65536, n_heads=512, head_dim=128)
    with pytest.raises(ValueError, match=r"config describes a layer of 17,179,869,184 weights"):
        init_params(wide)
    with pytest.raises(ValueError, match=r"config describes a layer of"):
        mla_torch.GroupedQueryAttention(wide)


def test_configs_are_keyword_only_and_presets_read_only():
    with pytest.raises(TypeError):
        AttentionConfig("mha", 1, 32, 4, 8)  # positional construction is gone
    from labs.mla import PRESETS

    with pytest.raises(TypeError):
        PRESETS["mine"] = MHA


def test_jax_cache_with_nan_or_wrong_length_is_refused():
    params = {k: jnp.asarray(v) for k, v in init_params(MLA).items()}
    cache = mla_jax.new_cache(MLA, 1, 4)
    poisoned = {**cache, "c_kv": cache["c_kv"].at[0, 0, 0].set(jnp.nan)}
    with pytest.raises(ValueError, match=r"cache\['c_kv'\] must be finite"):
        mla_jax.decode(params, MLA, jnp.zeros((1, 1, 32)), poisoned)
    with pytest.raises(ValueError, match=r"cache\['length'\] must be >= 0"):
        mla_jax.decode(params, MLA, jnp.zeros((1, 1, 32)), {**cache, "length": jnp.int32(-1)})


def test_torch_cache_in_another_dtype_is_refused():
    module = mla_torch.MultiHeadLatentAttention(MLA)  # float32
    cache = mla_torch.KVCache(MLA, 1, 4, torch.float64, "cpu")
    with pytest.raises(TypeError, match="cache holds torch.float64 on cpu, but x is torch.float32"):
        module(torch.zeros(1, 1, 32), cache)
