"""NumPy / PyTorch / JAX parity for every attention kind, with the same weights and inputs;
naive and absorbed MLA decoding agree; token-by-token decoding with the cache equals the
full-sequence forward at every position."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from labs.mla import AttentionConfig, attention, decode, init_params, new_cache
from labs.mla import jax as mla_jax
from labs.mla import torch as mla_torch

D_MODEL = 32
CONFIGS = {
    "mha": AttentionConfig(kind="mha", n_layers=1, d_model=D_MODEL, n_heads=4, head_dim=8),
    "gqa": AttentionConfig(
        kind="gqa", n_layers=1, d_model=D_MODEL, n_heads=4, head_dim=8, n_kv_heads=2
    ),
    "mqa": AttentionConfig(kind="mqa", n_layers=1, d_model=D_MODEL, n_heads=4, head_dim=8),
    "mla": AttentionConfig(
        kind="mla",
        n_layers=1,
        d_model=D_MODEL,
        n_heads=4,
        head_dim=8,
        kv_lora_rank=12,
        q_lora_rank=10,
        rope_head_dim=4,
    ),
    "mla_no_q_compression": AttentionConfig(
        kind="mla",
        n_layers=1,
        d_model=D_MODEL,
        n_heads=4,
        head_dim=8,
        kv_lora_rank=12,
        rope_head_dim=4,
    ),
}

# The reference runs in float64. float64 torch does the same arithmetic in another order:
# agreement to ~1e-12. JAX runs in float32 (x64 disabled by default): the outputs are O(1) and
# pass through ~4 matmuls of width <= 32, so errors of a few 1e-6 are rounding, 1e-4 is a bug.
TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-4, atol=2e-5)}


def inputs(config, batch=2, tokens=7, seed=0):
    rng = np.random.default_rng(seed)
    return init_params(config, seed=seed + 1), rng.standard_normal((batch, tokens, D_MODEL))


def torch_module(config, params, dtype=torch.float64):
    return mla_torch.attention_module(config).to(dtype).load_params(params)


@pytest.mark.parametrize("name", CONFIGS)
def test_full_sequence_parity(name):
    config = CONFIGS[name]
    params, x = inputs(config)
    want = attention(params, config, x)
    with torch.no_grad():
        got_torch = torch_module(config, params)(torch.from_numpy(x)).numpy()
    params32 = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in params.items()}
    got_jax = np.asarray(mla_jax.attention(params32, config, jnp.asarray(x, dtype=jnp.float32)))
    np.testing.assert_allclose(got_torch, want, **TOL["float64"])
    np.testing.assert_allclose(got_jax, want, **TOL["float32"])


def absorbed_options(config):
    return (False, True) if config.kind == "mla" else (False,)


@pytest.mark.parametrize("name", CONFIGS)
def test_decoding_token_by_token_equals_full_forward_numpy(name):
    config = CONFIGS[name]
    params, x = inputs(config)
    want = attention(params, config, x)
    for absorbed in absorbed_options(config):
        cache = new_cache(config, batch=2, max_len=10)
        for t in range(x.shape[1]):
            out = decode(params, config, x[:, t : t + 1], cache, absorbed=absorbed)
            np.testing.assert_allclose(out[:, 0], want[:, t], **TOL["float64"])
        assert cache.length == x.shape[1]


@pytest.mark.parametrize("name", CONFIGS)
def test_decoding_token_by_token_equals_full_forward_torch(name):
    config = CONFIGS[name]
    params, x = inputs(config)
    want = attention(params, config, x)
    module = torch_module(config, params)
    xt = torch.from_numpy(x)
    for absorbed in absorbed_options(config):
        cache = module.new_cache(batch=2, max_len=10)
        # a prompt of 3 tokens in one call, then one token at a time
        kwargs = {"absorbed": absorbed} if config.kind == "mla" else {}
        with torch.no_grad():
            outs = [module(xt[:, :3], cache, **kwargs)]
            outs += [module(xt[:, t : t + 1], cache, **kwargs) for t in range(3, x.shape[1])]
        np.testing.assert_allclose(torch.cat(outs, 1).numpy(), want, **TOL["float64"])
        assert cache.length == x.shape[1]


@pytest.mark.parametrize("name", CONFIGS)
def test_decoding_token_by_token_equals_full_forward_jax(name):
    config = CONFIGS[name]
    params, x = inputs(config)
    want = attention(params, config, x)
    params32 = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in params.items()}
    x32 = jnp.asarray(x, dtype=jnp.float32)
    for absorbed in absorbed_options(config):
        cache = mla_jax.new_cache(config, batch=2, max_len=10)
        for t in range(x.shape[1]):
            out, cache = mla_jax.decode(params32, config, x32[:, t : t + 1], cache, absorbed)
            np.testing.assert_allclose(np.asarray(out[:, 0]), want[:, t], **TOL["float32"])
        assert int(cache["length"]) == x.shape[1]


def test_naive_and_absorbed_agree_after_a_long_prompt_torch_float32():
    # float32, the dtype a reader would use: the two paths multiply in another order, so they
    # agree to float32 rounding (~1e-6 relative on O(1) outputs), not bit for bit.
    config = CONFIGS["mla"]
    params, x = inputs(config, batch=3, tokens=40, seed=5)
    module = torch_module(config, params, torch.float32)
    xt = torch.from_numpy(x).float()
    with torch.no_grad():
        a, b = module.new_cache(3, 41), module.new_cache(3, 41)
        naive = module(xt, a, absorbed=False)
        absorbed = module(xt, b, absorbed=True)
    np.testing.assert_allclose(naive.numpy(), absorbed.numpy(), rtol=1e-4, atol=1e-5)
    assert torch.equal(a.tensors["c_kv"], b.tensors["c_kv"])  # the same cache either way


def test_decode_attends_to_the_past_not_only_the_current_token():
    # A check that cannot pass by accident: changing an early token changes a later output.
    config = CONFIGS["mla"]
    params, x = inputs(config)
    y = x.copy()
    y[:, 0] += 1.0
    out_x, out_y = attention(params, config, x), attention(params, config, y)
    assert not np.allclose(out_x[:, -1], out_y[:, -1])
    # ... and a later token never changes an earlier output (causality).
    z = x.copy()
    z[:, -1] += 1.0
    np.testing.assert_allclose(attention(params, config, z)[:, :-1], out_x[:, :-1], rtol=1e-12)


def rope_complex(x, positions, base=10000.0):
    """RoPE written independently, as complex multiplication: pair (i, i + d/2) is the complex
    number x_i + 1j x_{i+d/2}, multiplied by exp(1j * position * base**(-2i/d))."""
    half = x.shape[-1] // 2
    z = x[..., :half] + 1j * x[..., half:]
    theta = positions[:, None] * base ** (-2 * np.arange(half) / x.shape[-1])
    z = z * np.exp(1j * theta)[:, None, :]
    return np.concatenate([z.real, z.imag], axis=-1)


@pytest.mark.parametrize("name", ["mha", "gqa", "mqa"])
def test_reference_matches_torch_sdpa(name):
    # An implementation the course did not write: PyTorch's scaled_dot_product_attention, with
    # its own causal mask and its own grouping of query heads (enable_gqa).
    config = CONFIGS[name]
    params, x = inputs(config)
    b, t, _ = x.shape
    pos = np.arange(t)
    q = rope_complex((x @ params["wq"]).reshape(b, t, config.n_heads, -1), pos)
    k = rope_complex((x @ params["wk"]).reshape(b, t, config.n_kv_heads, -1), pos)
    v = (x @ params["wv"]).reshape(b, t, config.n_kv_heads, -1)
    q, k, v = (torch.from_numpy(a).transpose(1, 2) for a in (q, k, v))
    o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    want = o.transpose(1, 2).reshape(b, t, -1).numpy() @ params["wo"]
    np.testing.assert_allclose(attention(params, config, x), want, **TOL["float64"])


def test_mla_reference_matches_torch_sdpa_on_concatenated_heads():
    # MLA is ordinary attention on q = [q^C; q^R], k = [k^C; k^R] (eqs. 16-17): build those
    # directly from the weights and let SDPA do the rest.
    config = CONFIGS["mla"]
    params, x = inputs(config)
    b, t, _ = x.shape
    h, d, r = config.n_heads, config.head_dim, config.rope_head_dim
    pos = np.arange(t)
    c_kv, c_q = x @ params["w_dkv"], x @ params["w_dq"]
    k_r = rope_complex((x @ params["w_kr"]).reshape(b, t, 1, r), pos)
    q = np.concatenate(
        [
            (c_q @ params["w_uq"]).reshape(b, t, h, d),
            rope_complex((c_q @ params["w_qr"]).reshape(b, t, h, r), pos),
        ],
        axis=-1,
    )
    k = np.concatenate([(c_kv @ params["w_uk"]).reshape(b, t, h, d), np.repeat(k_r, h, 2)], -1)
    v = (c_kv @ params["w_uv"]).reshape(b, t, h, d)
    q, k, v = (torch.from_numpy(a).transpose(1, 2) for a in (q, k, v))
    o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    want = o.transpose(1, 2).reshape(b, t, -1).numpy() @ params["wo"]
    np.testing.assert_allclose(attention(params, config, x), want, **TOL["float64"])
