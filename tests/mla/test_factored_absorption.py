"""Absorption with the factors kept (W^UK on each head's query, W^UV after attention), as
DeepSeek's inference code does it: equal to naive decoding to float64 precision in NumPy, PyTorch
and JAX, and equal to the merged form it replaces."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from labs.mla import AttentionConfig, decode, init_params, new_cache
from labs.mla import jax as mla_jax
from labs.mla import torch as mla_torch

CONFIGS = {
    "q_compressed": AttentionConfig(
        kind="mla",
        n_layers=1,
        d_model=32,
        n_heads=4,
        head_dim=8,
        kv_lora_rank=12,
        q_lora_rank=10,
        rope_head_dim=4,
    ),
    "no_q_compression": AttentionConfig(
        kind="mla", n_layers=1, d_model=24, n_heads=3, head_dim=6, kv_lora_rank=20, rope_head_dim=2
    ),
}
FORMS = (False, True, "factored", "merged")
# float64 everywhere: the paths multiply the same numbers in another order, so they agree to a
# few ulps of O(1) outputs after ~5 matrix products of width <= 32; 1e-6 would be a bug.
TOL = dict(rtol=1e-11, atol=1e-12)


def _prompt_then_decode(step, config, x, form):
    """Prefill 5 tokens at once, then decode the rest one at a time; the outputs side by side."""
    outs = [step(x[:, :5], form)]
    outs += [step(x[:, t : t + 1], form) for t in range(5, x.shape[1])]
    return np.concatenate([np.asarray(o) for o in outs], axis=1)


@pytest.mark.parametrize("name", CONFIGS)
def test_factored_absorption_equals_naive_in_every_framework(name):
    config = CONFIGS[name]
    params = init_params(config, seed=3)
    x = np.random.default_rng(4).standard_normal((2, 9, config.d_model))
    results = {}
    for form in FORMS:
        cache = new_cache(config, 2, 9)
        results["numpy", form] = _prompt_then_decode(
            lambda xs, f, c=cache: decode(params, config, xs, c, absorbed=f), config, x, form
        )
        module = mla_torch.attention_module(config).double().load_params(params)
        tcache = module.new_cache(2, 9)
        with torch.no_grad():
            results["torch", form] = _prompt_then_decode(
                lambda xs, f, c=tcache, m=module: m(torch.from_numpy(xs), c, absorbed=f).numpy(),
                config,
                x,
                form,
            )
        with jax.enable_x64(True):
            jparams = {k: jnp.asarray(v) for k, v in params.items()}
            state = {"cache": mla_jax.new_cache(config, 2, 9, dtype=jnp.float64)}

            def jax_step(xs, f, state=state, jparams=jparams):
                out, state["cache"] = mla_jax.decode(
                    jparams, config, jnp.asarray(xs), state["cache"], f
                )
                assert out.dtype == jnp.float64  # the comparison below is a float64 one
                return np.asarray(out)

            results["jax", form] = _prompt_then_decode(jax_step, config, x, form)
    want = results["numpy", False]
    assert np.abs(want).max() > 0.1  # outputs of order one: the tolerance means something
    for key, got in results.items():
        np.testing.assert_allclose(got, want, **TOL, err_msg=str(key))


def test_factored_path_reads_w_uv_and_w_uk():
    # A negative control: corrupt one head's W^UV and the factored output must move (were it
    # ignoring the factor, or reading the merged matrices cached from before, it would not).
    config = CONFIGS["q_compressed"]
    params = init_params(config, seed=3)
    x = np.random.default_rng(4).standard_normal((1, 4, config.d_model))
    base = decode(params, config, x, new_cache(config, 1, 4), absorbed="factored")
    for name in ("w_uv", "w_uk"):
        bad = {**params, name: params[name].copy()}
        bad[name][:, :8] *= 1.5  # head 0 only
        moved = decode(bad, config, x, new_cache(config, 1, 4), absorbed="factored")
        assert np.abs(moved - base).max() > 1e-3, name


@pytest.mark.parametrize("form", ["fold", "", 1, None, np.bool_(True)])
def test_absorbed_must_name_a_form(form):
    config = CONFIGS["q_compressed"]
    x = np.zeros((1, 1, config.d_model))
    with pytest.raises(TypeError, match="absorbed must be a bool, 'factored' or 'merged'"):
        decode(init_params(config), config, x, new_cache(config, 1, 2), absorbed=form)


def test_an_absorbed_form_needs_mla_in_every_framework():
    mha = AttentionConfig(kind="mha", n_layers=1, d_model=8, n_heads=2, head_dim=4)
    x = np.zeros((1, 1, 8))
    with pytest.raises(ValueError, match="absorbed='merged' needs an MLA config"):
        decode(init_params(mha), mha, x, new_cache(mha, 1, 2), absorbed="merged")
    params = {k: jnp.asarray(v) for k, v in init_params(mha).items()}
    with pytest.raises(ValueError, match="absorbed='factored' needs an MLA config"):
        mla_jax.decode(params, mha, jnp.zeros((1, 1, 8)), mla_jax.new_cache(mha, 1, 2), "factored")
