"""The DeepSeekMoE forward pass: NumPy/torch/JAX parity with the same weights."""

from __future__ import annotations

import numpy as np
import pytest

from labs.moe import MoEConfig, init_params, moe_forward

CONFIGS = [
    MoEConfig(d_model=8, d_expert=6, n_routed=8, n_shared=1, k=2),
    MoEConfig(d_model=12, d_expert=4, n_routed=6, n_shared=2, k=3),
    MoEConfig(d_model=8, d_expert=4, n_routed=4, n_shared=0, k=1),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_forward_parity(config):
    import jax.numpy as jnp
    import torch

    from labs.moe import jax as moe_jax
    from labs.moe import torch as moe_torch

    params = init_params(config, seed=1)
    x = np.random.default_rng(2).standard_normal((2, 5, config.d_model))
    bias = 0.1 * np.random.default_rng(3).standard_normal(config.n_routed)
    expected = moe_forward(params, config, x, bias)
    module = moe_torch.DeepSeekMoE(config).double().load_params(params)
    module.bias.copy_(torch.from_numpy(bias))
    got_torch = module(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got_torch, expected, rtol=1e-10, atol=1e-12)  # both float64
    jparams = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    got_jax = moe_jax.moe_forward(jparams, config, jnp.asarray(x, jnp.float32), jnp.asarray(bias))
    np.testing.assert_allclose(np.asarray(got_jax), expected, rtol=2e-4, atol=2e-5)  # float32


def test_routed_experts_matter_and_shared_expert_is_always_on():
    config = CONFIGS[0]
    params = init_params(config, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 8))
    zeroed = dict(params, w2=np.zeros_like(params["w2"]))
    shared_only = moe_forward(zeroed, config, x)
    assert not np.allclose(shared_only, 0)  # the shared expert alone still answers
    assert not np.allclose(moe_forward(params, config, x), shared_only)


def test_torch_gradients_reach_router_and_experts():
    import torch

    from labs.moe import torch as moe_torch

    module = moe_torch.DeepSeekMoE(CONFIGS[0])
    module(torch.randn(16, 8)).pow(2).sum().backward()
    assert module.router.grad.abs().sum() > 0  # through the gates
    assert module.w1.grad.abs().sum() > 0
    assert module.bias.requires_grad is False
