"""Zero tokens, zero new tokens in decode, batch 0 and NaN input: a clear error naming the
parameter in NumPy, PyTorch and JAX alike (the issue's list of inputs that used to fail deep inside
NumPy or torch, or pass silently in torch)."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from labs.mla import AttentionConfig, attention, decode, init_params, new_cache
from labs.mla import jax as mla_jax
from labs.mla import torch as mla_torch

CONFIGS = {
    "mla": AttentionConfig(
        kind="mla", n_layers=1, d_model=8, n_heads=2, head_dim=4, kv_lora_rank=6, rope_head_dim=2
    ),
    "gqa": AttentionConfig(kind="gqa", n_layers=1, d_model=8, n_heads=2, head_dim=4, n_kv_heads=1),
}
SHAPES = {"zero tokens": (1, 0, 8), "batch 0": (0, 2, 8)}


def _nan(shape=(1, 2, 8)):
    x = np.zeros(shape)
    x[0, -1, 0] = np.nan
    return x


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("what", SHAPES)
def test_empty_input_is_refused_in_every_framework(name, what):
    config = CONFIGS[name]
    x = np.zeros(SHAPES[what])
    params = init_params(config)
    with pytest.raises(ValueError, match="x must not be empty"):
        attention(params, config, x)
    with pytest.raises(ValueError, match="x must not be empty"):
        decode(params, config, x, new_cache(config, 1, 4))
    module = mla_torch.attention_module(config).double().load_params(params)
    with pytest.raises(ValueError, match="x must not be empty"):
        module(torch.from_numpy(x))
    with pytest.raises(ValueError, match="x must not be empty"):
        module(torch.from_numpy(x), module.new_cache(1, 4))
    jparams = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    xj = jnp.asarray(x, jnp.float32)
    with pytest.raises(ValueError, match="x must not be empty"):
        mla_jax.attention(jparams, config, xj)
    with pytest.raises(ValueError, match="x must not be empty"):
        mla_jax.decode(jparams, config, xj, mla_jax.new_cache(config, 1, 4))


@pytest.mark.parametrize("name", CONFIGS)
def test_a_cache_for_batch_0_is_refused_in_every_framework(name):
    config = CONFIGS[name]
    with pytest.raises(ValueError, match="batch must be >= 1, got 0"):
        new_cache(config, 0, 4)
    with pytest.raises(ValueError, match="batch must be >= 1, got 0"):
        mla_torch.attention_module(config).new_cache(0, 4)
    with pytest.raises(ValueError, match="batch must be >= 1, got 0"):
        mla_jax.new_cache(config, 0, 4)


# Absorption is an MLA path: GQA runs only the plain one.
PATHS = [("mla", False), ("mla", True), ("mla", "merged"), ("gqa", False)]


@pytest.mark.parametrize(("name", "absorbed"), PATHS)
def test_nan_input_is_refused_in_every_framework(name, absorbed):
    config = CONFIGS[name]
    params = init_params(config)
    x = _nan()
    with pytest.raises(ValueError, match="x must be finite"):
        decode(params, config, x, new_cache(config, 1, 4), absorbed=absorbed)
    module = mla_torch.attention_module(config).double().load_params(params)
    kwargs = {"absorbed": absorbed} if config.kind == "mla" else {}
    with pytest.raises(ValueError, match="x must be finite"):
        module(torch.from_numpy(x), module.new_cache(1, 4), **kwargs)
    jparams = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    with pytest.raises(ValueError, match="x must be finite"):
        mla_jax.decode(
            jparams, config, jnp.asarray(x, jnp.float32), mla_jax.new_cache(config, 1, 4), absorbed
        )
