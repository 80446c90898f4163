"""Every matrix product of `labs.mla.jax` asks for full precision.

At JAX's default precision a TPU multiplies float32 matrices in one bfloat16 pass and an Ampere or
newer GPU in TF32, which misses the float32 parity tolerances of chapter 3 by 50 to 500 times.
XLA:CPU ignores the setting (under `jax.default_matmul_precision("bfloat16")` the outputs here do
not change), so a CPU cannot show the error itself; the test reads the traced program instead:
every `dot_general` must carry Precision.HIGHEST for both operands. Without `precision=` the
parameter is None and the test fails.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from labs.mla import AttentionConfig, init_params
from labs.mla import jax as mla_jax
from tests.mla.test_factored_absorption import CONFIGS as ABSORPTION_CONFIGS

CONFIGS = {
    "gqa": AttentionConfig(kind="gqa", n_layers=1, d_model=32, n_heads=4, head_dim=8, n_kv_heads=2),
    "mla": ABSORPTION_CONFIGS["q_compressed"],  # the absorption tests' MLA layer
}


def _dot_precisions(jaxpr) -> list:
    """The `precision` parameter of every dot_general in a jaxpr and its sub-jaxprs."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            found.append(eqn.params["precision"])
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", None)
                if inner is not None:
                    found += _dot_precisions(getattr(inner, "jaxpr", inner))
    return found


def _inputs(config):
    params = init_params(config, seed=1)
    params32 = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 5, 32)), jnp.float32)
    return params32, x


def _assert_highest(closed, at_least=4):  # by default: the projections, scores, values, W^O
    precisions = _dot_precisions(closed.jaxpr)
    assert len(precisions) >= at_least, precisions
    highest = (jax.lax.Precision.HIGHEST, jax.lax.Precision.HIGHEST)
    assert all(p == highest for p in precisions), precisions


@pytest.mark.parametrize("name", CONFIGS)
def test_attention_asks_for_full_precision(name):
    config = CONFIGS[name]
    params, x = _inputs(config)
    _assert_highest(jax.make_jaxpr(mla_jax._attention, static_argnums=(1,))(params, config, x))


@pytest.mark.parametrize("absorbed", [False, "factored", "merged"])
def test_decode_asks_for_full_precision_on_every_path(absorbed):
    config = CONFIGS["mla"] if absorbed else CONFIGS["gqa"]
    params, x = _inputs(config)
    cache = mla_jax.new_cache(config, 2, 8)
    trace = jax.make_jaxpr(mla_jax._decode, static_argnums=(1, 4))
    _assert_highest(trace(params, config, x, cache, absorbed))
    if not absorbed:  # the naive MLA path too
        params, x = _inputs(CONFIGS["mla"])
        cache = mla_jax.new_cache(CONFIGS["mla"], 2, 8)
        _assert_highest(trace(params, CONFIGS["mla"], x, cache, False))


def test_absorb_weights_asks_for_full_precision():
    config = CONFIGS["mla"]
    params, _ = _inputs(config)
    closed = jax.make_jaxpr(mla_jax._absorb_weights, static_argnums=(1,))(params, config)
    _assert_highest(closed, at_least=2)  # W^UQ^T W^UK and W^UV W^O
