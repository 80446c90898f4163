"""Chapter 4's router controls in NumPy, PyTorch and JAX: the same weights give the same experts
and the same layer output, and a scoring bug of the kind a port makes is caught.

The torch classes (`labs.moe.torch._BestOfCentroidsMoE`, `_LowRankRouterMoE`,
`_DeepLowRankRouterMoE`) train the committed ablation; `labs.moe.reference._scores` and
`labs.moe.jax._scores` score the experts from the weights the classes hold, by the same names.
d_model equals n_routed here, so that a factor used transposed still has a valid shape: the bug
that a shape check cannot catch, and that the negative control below makes on purpose.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labs.moe import MoEConfig
from labs.moe import reference as ref
from labs.moe import torch as moe_torch

CONFIG = MoEConfig(d_model=8, d_expert=4, n_routed=8, n_shared=1, k=2)
E = CONFIG.n_routed

VARIANTS = {  # name: the torch layer, small enough that one jit of each takes well under a second
    "best of 3": lambda: moe_torch._BestOfCentroidsMoE(CONFIG, per_expert=3),
    "rank 3": lambda: moe_torch._LowRankRouterMoE(CONFIG, rank=3),
    "rank 3, 3 factors": lambda: moe_torch._DeepLowRankRouterMoE(CONFIG, rank=3, hidden=5),
}
# Torch against NumPy, both float64: the same operations, summed in another order.
F64 = dict(rtol=1e-10, atol=1e-12)
# JAX in float32 (its default) against float64: float32 rounds at 6e-8 relative, and the error
# grows through the router, the sigmoid gates and three matrix products of each SwiGLU; the plain
# layer's parity test (test_forward.py) holds at the same tolerances.
F32 = dict(rtol=2e-4, atol=2e-5)


def _layer(name: str, seed: int = 0):
    """A torch layer of variant `name` in float64, its weights as NumPy arrays by parameter name,
    and a random balancing bias loaded into it."""
    torch.manual_seed(seed)
    module = VARIANTS[name]().double()
    bias = 0.1 * np.random.default_rng(seed + 1).standard_normal(E)
    module.bias.copy_(torch.from_numpy(bias))
    params = {pname: p.detach().numpy().copy() for pname, p in module.named_parameters()}
    return module, params, bias


def _tokens(seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((3, 4, CONFIG.d_model))


def _numpy(params, x, bias):
    """(output, chosen experts) of the NumPy reference."""
    flat = x.reshape(-1, x.shape[-1])
    idx, _ = ref._route(ref._scores(params, flat, E), CONFIG.k, bias)
    return ref._moe_forward(params, CONFIG.k, x, bias), idx


@pytest.mark.parametrize("name", list(VARIANTS))
def test_numpy_torch_and_jax_choose_the_same_experts_and_agree(name):
    import jax.numpy as jnp

    from labs.moe import jax as moe_jax

    module, params, bias = _layer(name)
    assert {"router", "router_in", "router_mid", "router_out"} & set(params)
    x = _tokens()
    expected, idx = _numpy(params, x, bias)

    # The routing has a margin: the k-th and (k+1)-th biased affinities differ by far more than
    # float32 rounding, so the three frameworks choosing alike is not luck of the draw.
    flat = x.reshape(-1, CONFIG.d_model)
    choice = -np.sort(-(ref._sigmoid(ref._scores(params, flat, E)) + bias), axis=-1)
    assert (choice[:, CONFIG.k - 1] - choice[:, CONFIG.k]).min() > 1e-4

    got_torch = module(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_array_equal(module.last_indices.numpy(), idx)
    np.testing.assert_allclose(got_torch, expected, **F64)

    jparams = {key: jnp.asarray(value, jnp.float32) for key, value in params.items()}
    jx, jbias = jnp.asarray(x, jnp.float32), jnp.asarray(bias, jnp.float32)
    jidx, _ = moe_jax._route(moe_jax._scores(jparams, jx.reshape(-1, CONFIG.d_model), E), 2, jbias)
    np.testing.assert_array_equal(np.asarray(jidx), idx)
    got_jax = moe_jax._moe_forward(jparams, CONFIG.k, jx, jbias)
    np.testing.assert_allclose(np.asarray(got_jax), expected, **F32)


def _mean_of_centroids(params, flat, n_experts):
    """The bug: expert i's logit the mean of its centroids' dot products, not the largest."""
    return (flat @ params["router"]).reshape(flat.shape[0], n_experts, -1).mean(-1)


def _transposed_factors(params, flat, n_experts):
    """The bug: the factors used transposed and in reverse order (shapes fit when D = E)."""
    h = flat @ params["router_out"].T
    if "router_mid" in params:
        h = h @ params["router_mid"].T
    return h @ params["router_in"].T


@pytest.mark.parametrize(
    ("name", "bug"),
    [
        ("best of 3", _mean_of_centroids),
        ("rank 3", _transposed_factors),
        ("rank 3, 3 factors", _transposed_factors),
    ],
)
def test_the_parity_check_catches_a_scoring_bug(name, bug, monkeypatch):
    """The negative control: the reference with the bug swapped in misses the torch layer by far
    more than even the float32 tolerance, and chooses other experts for many tokens. Over weight
    seeds 0-3 the bugs missed by 11,642 to 118,741 times the tolerance and moved the experts of
    50% to 100% of the tokens; the correct reference stays within 1.2e-11 of it."""
    module, params, bias = _layer(name)
    x = _tokens()
    got_torch = module(torch.from_numpy(x)).detach().numpy()
    right, idx = _numpy(params, x, bias)
    monkeypatch.setattr(ref, "_scores", bug)
    wrong, wrong_idx = _numpy(params, x, bias)
    tolerance = F32["atol"] + F32["rtol"] * np.abs(got_torch)
    assert (np.abs(wrong - got_torch) / tolerance).max() > 1000
    assert (np.abs(right - got_torch) / tolerance).max() < 1e-3
    assert (wrong_idx != idx).any(axis=-1).mean() > 0.25  # a quarter of the tokens, or more


@pytest.mark.parametrize("router", moe_torch.ROUTERS)
def test_every_router_of_the_ablation_scores_alike_in_numpy_and_torch(router):
    """All eight routers `_moe_layer` builds for the committed ablation (their own ranks, c = 4,
    hidden width 24), scored by the reference from the layer's weights: no jit, float64."""
    torch.manual_seed(3)
    module = moe_torch._moe_layer(CONFIG, router).double()
    params = {pname: p.detach().numpy() for pname, p in module.named_parameters()}
    flat = _tokens(4).reshape(-1, CONFIG.d_model)
    expected = module._scores(torch.from_numpy(flat)).detach().numpy()
    np.testing.assert_allclose(ref._scores(params, flat, E), expected, **F64)


def test_best_of_equal_centroids_is_the_plain_router():
    """Expert i's c centroids are router columns i c .. i c + c - 1 (the torch layout): copies of
    a plain router's column i in those places score exactly as the plain router. A reshape that
    read the columns as c blocks of E would mix the experts up and fail."""
    rng = np.random.default_rng(5)
    plain = rng.standard_normal((CONFIG.d_model, E))
    flat = rng.standard_normal((6, CONFIG.d_model))
    wide = np.repeat(plain, 3, axis=1)  # (D, 3 E): column i repeated three times in a row
    np.testing.assert_array_equal(ref._scores({"router": wide}, flat, E), flat @ plain)
    blocks = np.tile(plain, 3)  # the other layout: three blocks of E columns
    assert not np.allclose(ref._scores({"router": blocks}, flat, E), flat @ plain)
