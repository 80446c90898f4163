"""Every public function rejects bad input with an error naming the parameter."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from labs.mla import (
    DEEPSEEK_67B,
    DEEPSEEK_V2,
    AttentionConfig,
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
