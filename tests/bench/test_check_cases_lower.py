"""Chapter 8's kernel checks, lowered for a TPU at exactly the shapes the notebook runs.

The notebook runs its decode check with `paged_case`'s inputs and each of
`CHECK_HEADS_PER_PROGRAM`, and its GEMM check on `gemm_case`'s operands with 64-row tiles. On a
TPU runtime `mla_decode` compiles them with Mosaic, which wants a block's last two dimensions to be
multiples of 8 and 128 or whole; Pallas' interpreters, which the other tests use, do not check
that. So these tests lower the notebook's own cases for a TPU here, on the CPU (nothing runs).
The control: 2 heads per program, the split the chapter used before, fails Mosaic's rule.
"""

from __future__ import annotations

import pytest

jax = pytest.importorskip("jax")

import jax.numpy as jnp  # noqa: E402

from labs.bench.cases import CHECK_HEADS_PER_PROGRAM, gemm_case, paged_case  # noqa: E402
from labs.common.pallas import lower_for  # noqa: E402
from labs.fp8.pallas import _block_scaled_matmul, _quantize_operands  # noqa: E402
from labs.mla.pallas import _mla_decode_paged  # noqa: E402

TPUS = ("TPU v5 lite", "TPU v6 lite")  # Colab's TPU runtimes: v5e, v6e
SPLITS, SCALE = 3, 0.1  # the notebook's call: mla_decode(..., scale=0.1, splits=3)


def _decode_shapes():
    """The notebook's decode inputs as shapes, and the number of heads."""
    args, lengths, _ = paged_case(0)
    sd = jax.ShapeDtypeStruct
    shapes = tuple(
        sd(x.shape, x.dtype)
        for x in (args["q_latent"], args["q_rope"], args["c_kv"], args["k_rope"], lengths)
    ) + (sd(args["block_table"].shape, args["block_table"].dtype),)
    return shapes, args["q_latent"].shape[1]


def _lower_decode(heads_per_block, tpu):
    shapes, _ = _decode_shapes()
    splits = min(SPLITS, shapes[-1].shape[1])  # as mla_decode caps it
    return lower_for(
        lambda *a: _mla_decode_paged(*a, SCALE, splits, heads_per_block, "tpu"),
        shapes,
        platform="tpu",
        tpu_kind=tpu,
    )


@pytest.mark.parametrize("tpu", TPUS)
@pytest.mark.parametrize("per_program", CHECK_HEADS_PER_PROGRAM)
def test_the_notebooks_decode_check_lowers_for_a_tpu(per_program, tpu):
    _, heads = _decode_shapes()
    assert "tpu_custom_call" in _lower_decode(per_program or heads, tpu)


def test_the_decode_check_splits_the_heads():
    """The second variant gives each program some of the heads, as the GPU benchmark does."""
    _, heads = _decode_shapes()
    split = [hb for hb in CHECK_HEADS_PER_PROGRAM if hb is not None]
    assert None in CHECK_HEADS_PER_PROGRAM and split and all(1 < heads // hb for hb in split)


def test_two_heads_per_program_fail_mosaics_block_rule():
    """The control: a (1, 2, 64) block of queries is neither a multiple of 8 rows nor whole."""
    with pytest.raises(ValueError, match="divisible by 8 and 128"):
        _lower_decode(2, TPUS[0])


@pytest.mark.parametrize("tpu", TPUS)
def test_the_notebooks_gemm_check_lowers_for_a_tpu(tpu):
    a, b = gemm_case(0)
    operands = _quantize_operands(jnp.asarray(a), jnp.asarray(b), 128)
    shapes = tuple(jax.ShapeDtypeStruct(x.shape, x.dtype) for x in operands)
    text = lower_for(
        lambda *x: _block_scaled_matmul(*x, 128, 64, "tpu"), shapes, platform="tpu", tpu_kind=tpu
    )
    assert "tpu_custom_call" in text
