"""Properties over random small configurations, framework independence and jit-ability."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.mla import AttentionConfig, attention, init_params
from labs.mla import jax as mla_jax
from labs.mla import torch as mla_torch


@st.composite
def configs(draw):
    kind = draw(st.sampled_from(["mha", "gqa", "mqa", "mla"]))
    n_kv = draw(st.sampled_from([1, 2]))
    n_heads = n_kv * draw(st.sampled_from([1, 2, 3]))
    head_dim = draw(st.sampled_from([2, 4, 6]))
    d_model = draw(st.sampled_from([8, 12]))
    if kind == "mla":
        return AttentionConfig(
            kind="mla",
            n_layers=1,
            d_model=d_model,
            n_heads=n_heads,
            head_dim=head_dim,
            kv_lora_rank=draw(st.integers(1, 10)),
            q_lora_rank=draw(st.sampled_from([None, 3, 7])),
            rope_head_dim=draw(st.sampled_from([2, 4])),
        )
    if kind == "gqa":
        return AttentionConfig(
            kind="gqa",
            n_layers=1,
            d_model=d_model,
            n_heads=n_heads,
            head_dim=head_dim,
            n_kv_heads=n_kv,
        )
    return AttentionConfig(
        kind=kind, n_layers=1, d_model=d_model, n_heads=n_heads, head_dim=head_dim
    )


@settings(max_examples=25, deadline=None)
@given(configs(), st.integers(1, 6), st.integers(0, 2**16))
def test_torch_cached_decoding_matches_the_reference_on_random_configs(config, tokens, seed):
    params = init_params(config, seed=seed)
    x = np.random.default_rng(seed).standard_normal((2, tokens, config.d_model))
    want = attention(params, config, x)
    module = mla_torch.attention_module(config).double().load_params(params)
    kwargs = [{"absorbed": False}, {"absorbed": True}] if config.kind == "mla" else [{}]
    for kw in kwargs:
        cache = module.new_cache(2, tokens)
        with torch.no_grad():
            out = torch.cat(
                [module(torch.from_numpy(x[:, t : t + 1]), cache, **kw) for t in range(tokens)], 1
            )
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-9, atol=1e-11)  # float64 both


def test_absorbed_weights_follow_weight_updates():
    config = AttentionConfig(
        kind="mla", n_layers=1, d_model=16, n_heads=2, head_dim=4, kv_lora_rank=6, rope_head_dim=2
    )
    module = mla_torch.MultiHeadLatentAttention(config).double()
    x = torch.randn(1, 3, 16, dtype=torch.float64)
    with torch.no_grad():
        module(x, module.new_cache(1, 3), absorbed=True)  # folds and keeps the weights
        module.w_uk.mul_(2.0)  # an in-place update must invalidate the folded copy
        absorbed = module(x, module.new_cache(1, 3), absorbed=True)
        naive = module(x, module.new_cache(1, 3), absorbed=False)
    torch.testing.assert_close(absorbed, naive, rtol=1e-10, atol=1e-12)


def test_gradients_flow_through_the_absorbed_path():
    config = AttentionConfig(
        kind="mla", n_layers=1, d_model=16, n_heads=2, head_dim=4, kv_lora_rank=6, rope_head_dim=2
    )
    module = mla_torch.MultiHeadLatentAttention(config)
    module(torch.randn(1, 3, 16), module.new_cache(1, 3), absorbed=True).sum().backward()
    assert module.w_uk.grad is not None and module.w_uk.grad.abs().sum() > 0


def test_jax_attention_jits_and_differentiates():
    config = AttentionConfig(
        kind="mla",
        n_layers=1,
        d_model=16,
        n_heads=2,
        head_dim=4,
        kv_lora_rank=6,
        q_lora_rank=5,
        rope_head_dim=2,
    )
    params = {k: jnp.asarray(v, jnp.float32) for k, v in init_params(config).items()}
    x = jnp.asarray(np.random.default_rng(0).standard_normal((1, 5, 16)), jnp.float32)

    @jax.jit
    def loss(p, x):
        return jnp.sum(mla_jax.attention(p, config, x) ** 2)

    grads = jax.grad(loss)(params, x)
    assert set(grads) == set(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grads))
    assert float(jnp.abs(grads["w_uk"]).sum()) > 0


def test_framework_free_package_imports_neither_torch_nor_jax():
    code = (
        "import sys, labs.mla, labs.mla.reference, labs.mla.exercises, labs.mla.widgets; "
        "bad = [m for m in ('torch', 'jax', 'ipywidgets') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
