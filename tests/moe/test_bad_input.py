"""Bad input raises a clear error naming the parameter."""

from __future__ import annotations

import numpy as np
import pytest

from labs.moe import (
    MoEConfig,
    aux_balance_loss,
    init_params,
    load_imbalance,
    moe_forward,
    node_limited_route,
    route,
    update_bias,
)

S = np.random.default_rng(0).standard_normal((4, 8))


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: route(S, 9), ValueError, "k=9"),
        (lambda: route(S, 0), ValueError, "k"),
        (lambda: route(S[0], 2), ValueError, "scores"),
        (lambda: route(S[None], 2), ValueError, "scores"),
        (lambda: route(np.where(S > 1, np.nan, S), 2), ValueError, "scores"),
        (lambda: route(np.where(S > 1, np.inf, S), 2), ValueError, "scores"),
        (lambda: route(S, 2, np.zeros(7)), ValueError, "bias"),
        (lambda: update_bias(np.zeros(8), np.ones(8), -0.1), ValueError, "gamma"),
        (lambda: update_bias(np.zeros(8), np.ones(7), 0.1), ValueError, "expert_load"),
        (lambda: node_limited_route(S, 2, 3, 1), ValueError, "experts_per_node"),
        (lambda: node_limited_route(S, 2, 4, 3), ValueError, "max_nodes"),
        (lambda: node_limited_route(S, 5, 4, 1), ValueError, "k=5"),
        (lambda: load_imbalance(np.array([1, -1])), ValueError, "expert_load"),
        (lambda: load_imbalance(np.zeros(3)), ValueError, "expert_load"),
        (lambda: MoEConfig(d_model=8, d_expert=4, n_routed=4, k=5), ValueError, "k=5"),
        (lambda: route(S.astype(np.int64), 2), TypeError, "scores"),
        # the router's scores (logits) where its probabilities belong: a wrong loss, not an error,
        # before the audit of December 2026 (-5.0 for negative scores)
        (lambda: aux_balance_loss(S, route(S, 2)[0]), ValueError, r"probs must hold .*\[0, 1\]"),
        (lambda: aux_balance_loss(np.full((4, 8), 0.5), route(S, 2)[0]), ValueError, "probs"),
    ],
)
def test_refused_with_the_parameter_named(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_wrong_shaped_tokens_and_params():
    config = MoEConfig(d_model=8, d_expert=4, n_routed=4, k=2)
    params = init_params(config)
    with pytest.raises(ValueError, match="x must have shape"):
        moe_forward(params, config, np.zeros((3, 7)))
    with pytest.raises(ValueError, match="params"):
        moe_forward(dict(params, w1=params["w1"][:, :, :3]), config, np.zeros((3, 8)))


def test_torch_and_jax_paths_refuse_the_other_frameworks_arrays():
    import jax.numpy as jnp
    import torch

    from labs.moe import jax as moe_jax
    from labs.moe import torch as moe_torch

    with pytest.raises(TypeError, match="scores"):
        moe_torch.route(S, 2)
    with pytest.raises(TypeError, match="scores"):
        moe_jax.route(torch.from_numpy(S), 2)
    with pytest.raises(ValueError, match="k=9"):
        moe_jax.route(jnp.asarray(S), 9)
    with pytest.raises(TypeError, match="scores"):
        moe_torch.node_limited_route(S, 2, 4, 1)
    with pytest.raises(TypeError, match="scores"):
        moe_jax.node_limited_route(torch.from_numpy(S), 2, 4, 1)
    layer = moe_torch.DeepSeekMoE(MoEConfig(d_model=8, d_expert=4, n_routed=4, k=2))
    with pytest.raises(TypeError, match="dtype"):
        layer(torch.zeros(2, 8, dtype=torch.float64))


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_node_limited_route_refuses_bad_nodes_in_torch_and_jax(framework):
    """The checks of the NumPy entry point, through the torch and JAX ones (S: 8 experts)."""
    if framework == "torch":
        import torch

        from labs.moe.torch import node_limited_route as limited

        scores = torch.from_numpy(S)
    else:
        import jax.numpy as jnp

        from labs.moe.jax import node_limited_route as limited

        scores = jnp.asarray(S)
    with pytest.raises(ValueError, match="experts_per_node=3 must divide"):
        limited(scores, 2, 3, 1)
    with pytest.raises(ValueError, match="max_nodes"):
        limited(scores, 2, 4, 3)
    with pytest.raises(ValueError, match="k=5 experts cannot fit"):
        limited(scores, 5, 4, 1)
    with pytest.raises(ValueError, match=r"bias must have shape \(8,\)"):
        limited(scores, 2, 4, 1, scores[0, :3])


def test_expert_parallel_refuses_a_mesh_that_does_not_divide():
    import jax

    from labs.moe import jax as moe_jax

    config = MoEConfig(d_model=8, d_expert=4, n_routed=4, k=2)
    with pytest.raises(TypeError, match="mesh"):
        moe_jax.expert_parallel_moe(init_params(config), np.zeros((4, 8)), "mesh", config)
    mesh = jax.make_mesh((1,), ("ep",))
    with pytest.raises(ValueError, match="x must have 2"):
        moe_jax.expert_parallel_moe(init_params(config), np.zeros((1, 4, 8)), mesh, config)
