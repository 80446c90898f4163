"""DeepSeek-V3's FP8 block-scaled GEMM (§3.3) as one readable Pallas kernel.

The kernel multiplies FP8 (E4M3) operands quantised as V3 quantises them: the activation `a`
(M, K) with one scale per 1 x block tile, the weight `b` (K, N) with one scale per block x block
block. Each program of the grid computes one (block_m, block) tile of the output. It walks the
contraction axis one K-block at a time; for every K-block it takes the FP8 x FP8 product with an
FP32 result (the tensor cores' job on a GPU) and adds it to an FP32 accumulator *after*
multiplying it by the two scales of that K-block (a's tile scales, one per row, times b's block
scale) - the "promotion" of V3 §3.3, where the partial sum leaves the tensor cores every
N_C = 128 elements of K:

    C[m, n] = sum_k  s^a[m, k] * s^b[k, n] * sum_{i in K-block k} q^a[m, i] q^b[i, n]

The same source runs everywhere: compiled by Pallas on an NVIDIA GPU (Triton) or a TPU (Mosaic),
and with `interpret=True` on a CPU, which is how the tests check it against
`labs.fp8.reference.fp8_matmul` (`interpret=None` picks interpret mode when JAX's backend is
the CPU); the tests also lower it for both devices. For a TPU's (8, 128) tiling the weight's
block scales reach the kernel repeated along each block's 128 columns, and a row's tile scale
for K-block k is picked from its strip with a mask rather than a one-column slice.
The kernel is written for reading, not tuned: block shapes are fixed by the recipe
(the N tile is one weight block wide) and there is no software pipelining beyond what the
compiler does.

Shapes: M, N, K the GEMM axes, Kb = K / block the K-blocks, Mt the rows of one output tile.
Taught in chapter 8, "An FP8 block-scaled GEMM kernel" (the format itself in chapter 2).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jaxtyping import Float

from labs.common import validate
from labs.common.pallas import call_options, resolve_target
from labs.fp8 import checks
from labs.fp8.jax_kernels import _quantize

__all__ = ["block_scaled_matmul", "quantize_operands"]

Array = jax.Array
MAX_BLOCK_M = 256  # rows of one output tile: a GPU's registers hold a (block_m, block) FP32 tile


def quantize_operands(a, b, block: int = 128):
    """V3's quantisation of a GEMM's operands for `block_scaled_matmul` (E4M3).

    Args:
        a: finite float array (M, K), the activation: one scale per 1 x block tile.
        b: finite float array (K, N), the weight: one scale per block x block block.
        block: the group length, 128 in V3; it must divide K and N.

    Returns:
        (a_q, a_scales, b_q, b_scales): a_q (M, K) and b_q (K, N) in float8_e4m3fn, float32
        a_scales (M, K / block) and b_scales (K / block, N / block).
    """
    a, b, _, block = checks.check_fp8_matmul(
        a, b, "tile", "block", "fp32", block, "E4M3", framework="jax"
    )
    return _quantize_operands(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32), block)


@partial(jax.jit, static_argnames="block")
def _quantize_operands(a: Float[Array, "M K"], b: Float[Array, "K N"], block: int):
    """1 x block tiles of a, block x block blocks of b (through b.T, so groups run along K)."""
    a_q, a_scales = _quantize(a, "E4M3", "tile", block)  # (M, K), (M, Kb)
    b_q_t, b_scales_t = _quantize(b.T, "E4M3", "block", block)  # (N, K), (N/block, Kb)
    return a_q, a_scales, b_q_t.T, b_scales_t.T


def _fp8_gemm_kernel(a_ref, a_scale_ref, b_ref, b_scale_ref, out_ref, *, block: int):
    """One (Mt, block) output tile: FP8 products per K-block, scaled, summed in FP32."""
    # a_ref (Mt, K) FP8, a_scale_ref (Mt, Kb), b_ref (K, block) FP8, b_scale_ref (Kb, block):
    # b's block scale repeated along the block's columns, a whole row of lanes for a TPU
    a_scales = a_scale_ref[...]
    column = jax.lax.broadcasted_iota(jnp.int32, a_scales.shape, 1)

    def add_k_block(k, acc):
        a = a_ref[:, pl.ds(k * block, block)]  # (Mt, block) FP8
        b = b_ref[pl.ds(k * block, block), :]  # (block, block) FP8
        partial_sum = jnp.dot(a, b, preferred_element_type=jnp.float32)  # tensor cores, FP32 out
        a_scale = jnp.where(column == k, a_scales, 0.0).sum(axis=1, keepdims=True)  # (Mt, 1)
        scale = a_scale * b_scale_ref[pl.ds(k, 1), :]  # (Mt, 1) * (1, block)
        return acc + partial_sum * scale  # promotion: scaled, then added in FP32

    k_blocks = a_ref.shape[1] // block
    acc = jnp.zeros(out_ref.shape, jnp.float32)
    out_ref[...] = jax.lax.fori_loop(0, k_blocks, add_k_block, acc)


@partial(jax.jit, static_argnames=("block", "block_m", "target", "num_warps"))
def _block_scaled_matmul(
    a_q: Array,
    a_scales: Array,
    b_q: Array,
    b_scales: Array,
    block: int,
    block_m: int,
    target: str,
    num_warps: int | None = None,
) -> Float[Array, "M N"]:
    """The Pallas call: a grid of (M / Mt, N / block) output tiles, rows padded to Mt.
    `target` is "interpret", "gpu" (Triton) or "tpu" (Mosaic); `num_warps` is a hint for
    Triton only (None: its default)."""
    (m, k), n = a_q.shape, b_q.shape[1]
    rows = -(-m // block_m) * block_m  # zero rows: codes 0, so they add nothing
    a_q = jnp.pad(a_q, ((0, rows - m), (0, 0)))
    a_scales = jnp.pad(a_scales, ((0, rows - m), (0, 0)), constant_values=1.0)
    b_scales = jnp.repeat(b_scales, block, axis=1)  # (Kb, N): one scale per column of a block
    out = pl.pallas_call(
        partial(_fp8_gemm_kernel, block=block),
        out_shape=jax.ShapeDtypeStruct((rows, n), jnp.float32),
        grid=(rows // block_m, n // block),
        in_specs=[
            pl.BlockSpec((block_m, k), lambda i, j: (i, 0)),  # a strip of a's rows
            pl.BlockSpec((block_m, k // block), lambda i, j: (i, 0)),  # their tile scales
            pl.BlockSpec((k, block), lambda i, j: (0, j)),  # one weight column of blocks
            pl.BlockSpec((k // block, block), lambda i, j: (0, j)),  # their block scales
        ],
        out_specs=pl.BlockSpec((block_m, block), lambda i, j: (i, j)),
        **call_options(target, num_warps),
    )(a_q, a_scales, b_q, b_scales)
    return out[:m]


def block_scaled_matmul(a, b, block: int = 128, block_m: int = 64, interpret=None) -> jax.Array:
    """a (M, K) @ b (K, N) as V3's FP8 GEMM: quantise (E4M3, 1 x block / block x block), then
    the Pallas kernel with FP32 accumulation and the scales applied per K-block.

    It agrees with `labs.fp8.reference.fp8_matmul(a, b, "tile", "block", "fp32", block=block)`
    up to float32 rounding (the reference folds the scales into the values before summing; the
    kernel applies them to each K-block's partial sum, as V3 does).

    Args:
        a: finite float array (M, K). b: finite float array (K, N); block divides K and N.
        block: the scaling group and the kernel's K and N tile, 128 in V3 (at most 2**16).
        block_m: rows of one output tile, 1 ... 256 (a GPU holds a block_m x block FP32 tile in
            registers); M need not be a multiple of it.
        interpret: True runs Pallas' interpreter (CPU), False compiles for the GPU or TPU, None
            chooses from JAX's default backend.

    Returns:
        float32 array (M, N).
    """
    a, b, _, block = checks.check_fp8_matmul(
        a, b, "tile", "block", "fp32", block, "E4M3", framework="jax"
    )
    block_m = validate.size("block_m", block_m, maximum=MAX_BLOCK_M, why="registers per tile")
    target = resolve_target(interpret)
    operands = _quantize_operands(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32), block)
    return _block_scaled_matmul(*operands, block, block_m, target)
