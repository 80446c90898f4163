"""labs.common.pallas: which target a kernel call resolves to, and its cross-platform lowering.

The kernels' own lowering tests are in tests/mla/test_pallas.py and tests/fp8/test_pallas.py.
"""

from __future__ import annotations

import pytest

jax = pytest.importorskip("jax")

from labs.common.pallas import (  # noqa: E402
    bare_call_gpu_backend,
    call_options,
    lower_for,
    resolve_target,
)


def test_interpret_on_this_cpu_and_a_clear_error_for_compiling_here():
    if jax.default_backend() != "cpu":
        pytest.skip("checks the CPU's resolution; JAX runs on " + jax.default_backend())
    assert resolve_target(None) == "interpret" and resolve_target(True) == "interpret"
    with pytest.raises(ValueError, match="interpret=False.*GPU or a TPU"):
        resolve_target(False)


@pytest.mark.parametrize("bad", ["yes", 1.0, [True]])
def test_interpret_must_be_a_bool_or_none(bad):
    with pytest.raises(TypeError, match="interpret"):
        resolve_target(bad)


def test_gpu_calls_name_triton_and_tpu_calls_pass_nothing():
    from jax.experimental.pallas import triton as pl_triton

    gpu = call_options("gpu", num_warps=8)["compiler_params"]
    assert isinstance(gpu, pl_triton.CompilerParams) and gpu.num_warps == 8
    assert call_options("interpret") == {"interpret": True} and call_options("tpu") == {}
    with pytest.raises(ValueError, match="target must be one of"):
        call_options("cuda")


def test_the_bare_call_backend_is_the_one_a_bare_call_lowers_through():
    """What `bare_call_gpu_backend` reads off JAX's configuration, checked against a lowering: a
    pallas_call without compiler parameters, for a GPU this machine need not have."""
    import re
    import warnings

    from jax.experimental import pallas as pl

    def add_one(x_ref, o_ref):
        o_ref[...] = x_ref[...] + 1

    def bare(x):
        return pl.pallas_call(add_one, out_shape=jax.ShapeDtypeStruct(x.shape, x.dtype))(x)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # JAX: either back end's deprecation
        text = lower_for(bare, (jax.ShapeDtypeStruct((8, 128), "float32"),), platform="cuda")
    kernels = re.findall(r"custom_call @([\w$.]+)", text)
    names = {"mosaic_gpu_v2": "mosaic_gpu", "__gpu$xla.gpu.triton": "triton"}
    assert [names.get(k, k) for k in kernels] == [bare_call_gpu_backend()]


def test_lower_for_checks_its_platform():
    with pytest.raises(ValueError, match="platform must be 'cuda' or 'tpu', got 'rocm'"):
        lower_for(lambda x: x + 1, (jax.ShapeDtypeStruct((2,), "float32"),), platform="rocm")


@pytest.mark.parametrize(
    ("warps", "error"), [(3, ValueError), (64, ValueError), (0, ValueError), (2.0, TypeError)]
)
def test_num_warps_is_a_small_power_of_two(warps, error):
    with pytest.raises(error, match="num_warps"):
        call_options("gpu", num_warps=warps)
