"""labs.common.pallas: which target a kernel call resolves to, and its cross-platform lowering.

The kernels' own lowering tests are in tests/mla/test_pallas.py and tests/fp8/test_pallas.py.
"""

from __future__ import annotations

import pytest

jax = pytest.importorskip("jax")

from labs.common.pallas import call_options, lower_for, resolve_target  # noqa: E402


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


def test_lower_for_checks_its_platform():
    with pytest.raises(ValueError, match="platform must be 'cuda' or 'tpu', got 'rocm'"):
        lower_for(lambda x: x + 1, (jax.ShapeDtypeStruct((2,), "float32"),), platform="rocm")


@pytest.mark.parametrize(
    ("warps", "error"), [(3, ValueError), (64, ValueError), (0, ValueError), (2.0, TypeError)]
)
def test_num_warps_is_a_small_power_of_two(warps, error):
    with pytest.raises(error, match="num_warps"):
        call_options("gpu", num_warps=warps)
