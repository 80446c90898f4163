"""Expert parallelism on 8 simulated JAX devices, and a gloo data-parallel step in torch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

SRC = str(Path(__file__).resolve().parents[2] / "src")

SCRIPT = textwrap.dedent(
    """
    import jax
    import numpy as np
    jax.config.update("jax_enable_x64", True)
    from labs.moe import MoEConfig, init_params, moe_forward
    from labs.moe import jax as moe_jax

    assert jax.device_count() == 8, jax.devices()
    config = MoEConfig(d_model=8, d_expert=6, n_routed=16, n_shared=1, k=3)
    params = init_params(config, seed=4)
    x = np.random.default_rng(5).standard_normal((32, 8))
    bias = 0.2 * np.random.default_rng(6).standard_normal(16)
    expected = moe_forward(params, config, x, bias)
    mesh = jax.make_mesh((8,), ("ep",))
    got = moe_jax.expert_parallel_moe(params, x, mesh, config, bias)
    assert len(got.sharding.device_set) == 8
    single = moe_jax.moe_forward(params, config, x, bias)
    print("ERR", float(np.abs(np.asarray(got) - expected).max()),
          float(np.abs(np.asarray(got) - np.asarray(single)).max()))
    try:
        moe_jax.expert_parallel_moe(params, x[:30], mesh, config)
    except ValueError as err:
        print("REFUSED", "mesh" in str(err))
    """
)


def test_expert_parallel_on_8_devices_equals_single_device():
    env = dict(
        os.environ,
        XLA_FLAGS="--xla_force_host_platform_device_count=8",  # before JAX starts: a new process
        JAX_PLATFORMS="cpu",
        PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("ERR"))
    to_reference, to_single = map(float, line.split()[1:])
    assert to_reference < 1e-12  # float64: the same sums in another order
    assert to_single < 1e-12
    assert "REFUSED True" in done.stdout


def test_gloo_data_parallel_gradients_equal_single_process():
    from labs.moe._distributed import data_parallel_gradients, single_process_gradients

    parallel = data_parallel_gradients(world_size=2, tokens=16, seed=0)
    single = single_process_gradients(tokens=16, seed=0)
    assert set(parallel) == set(single)
    for name in single:
        assert np.abs(single[name]).max() > 0
        np.testing.assert_allclose(parallel[name], single[name], rtol=1e-10, atol=1e-14)
    # The negative control: one rank's slice alone is not the full batch's gradient.
    half = single_process_gradients(tokens=8, seed=0)
    assert not np.allclose(half["w1"], single["w1"])
