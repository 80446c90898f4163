"""MLA absorbed decoding as one readable Pallas kernel: flash-decoding over the latent cache.

At decode time each sequence brings one query token; with the weights absorbed (DeepSeek-V2
§2.1.2, `labs.mla.reference._mla_absorbed`) every head scores the *shared* latent cache directly:

    s_{i,j} = (q^lat_i . c^KV_j + q^R_i . k^R_j) * scale,   q^lat_i = W^UK_i^T q^C_i        (18)
    ctx_i   = sum_j softmax_j(s_{i,j}) c^KV_j              (then W^UV_i and W^O, outside)

so the cache is read once for all heads: decoding is a stream over c^KV and k^R. The kernel
streams it block by block with an online softmax (a running max m, a running sum l and an
unnormalised context acc per head, rescaled by exp(m_old - m_new) when the max grows), never
holding the scores of the whole context. A long context is split into `splits` chunks that run
as separate programs (split-K, "flash-decoding"), each leaving its (acc, m, l); `_combine` merges
them with the same rescaling. Sequences of different lengths share the call (`lengths`), and the
last block of a sequence is masked where it runs past its length. A program holds all H heads by
default (the cache is read once per sequence and split); `heads_per_block` gives each program Hb
of them instead, an accumulator small enough for a GPU's registers, at the price of reading the
cache H / Hb times (from the L2 cache, if those programs run together: the grid puts the block of
heads on its first axis, so that they start side by side).

The cache is paged: a pool of pages of `block` rows and a `block_table` (B, pages per sequence)
of page ids, as vLLM and FlashMLA store it. A contiguous cache (B, S, .) is the special case where
sequence b owns pages b * n ... b * n + n - 1; `mla_decode` builds that table when none is given.

The same source runs with `interpret=True` on a CPU (the tests compare it with the NumPy
reference decode) and compiles through Triton on an NVIDIA GPU (`labs.common.pallas` picks the
target; `interpret=None` chooses from JAX's backend). Each of its programs is handed the whole
page pool and reads pages from global memory inside its loop, as Triton does. A TPU copies every
block it is handed into VMEM, so on a TPU `mla_decode` runs a second variant of the same
arithmetic, `_mla_decode_tpu_kernel`: its grid walks the pages one step at a time, the page table
sits in SMEM ("scalar prefetch"), and Pallas' pipeline copies each page from HBM while the
previous one is computed, so any context fits. The CPU tests run that variant in Pallas' TPU
interpreter and lower both for their devices. Written to be read, not tuned.

Axes: B batch, H heads, Hb heads of one program, C latent d_c, R RoPE dim d_h^R, S cache rows,
P pages, N pages per sequence, K splits, L rows of one block (page). Taught in chapter 8,
"An MLA decode kernel" (the MLA itself in chapter 3).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jaxtyping import Float, Int

from labs.common import validate
from labs.common.pallas import call_options, resolve_target
from labs.mla.checks import check_decode_output, check_pallas_decode

__all__ = ["mla_decode"]

Array = jax.Array
NEG = -1e30  # the running max before any score: finite, so exp(NEG - NEG) cannot make a NaN


def _online_softmax_block(q_lat, q_r, c, k_r, start, length, m, l, acc, *, scale):  # noqa: E741
    """One block of the online softmax, the arithmetic both decode kernels share.

    q_lat (Hb, C), q_r (Hb, R): a block of heads' queries; c (L, C), k_r (L, R): one page, whose
    first row is row `start` of a sequence of `length` tokens; m, l (Hb, 1) and acc (Hb, C): the
    running max, sum and unnormalised context, returned updated. 2-D throughout, as a TPU wants.
    """
    s = jnp.dot(q_lat, c.T, preferred_element_type=jnp.float32)  # q^lat . c^KV
    s = (s + jnp.dot(q_r, k_r.T, preferred_element_type=jnp.float32)) * scale  # (18)
    valid = start + jax.lax.broadcasted_iota(jnp.int32, s.shape, 1) < length  # past the end
    m_new = jnp.maximum(m, jnp.where(valid, s, NEG).max(axis=1, keepdims=True))
    p = jnp.where(valid, jnp.exp(s - m_new), 0.0)  # (Hb, L)
    alpha = jnp.exp(m - m_new)  # rescales what was summed under the old max
    l_new = alpha * l + p.sum(axis=1, keepdims=True)
    acc_new = alpha * acc + jnp.dot(p.astype(c.dtype), c, preferred_element_type=jnp.float32)
    return m_new, l_new, acc_new


def _mla_decode_kernel(
    table_ref, lengths_ref, q_ref, qr_ref, c_ref, kr_ref, acc_ref, m_ref, l_ref, *, scale, per_split
):
    """One (sequence, split): online softmax over its blocks of the paged latent cache."""
    b, split = pl.program_id(1), pl.program_id(2)  # axis 0 picks the block of heads (q_ref)
    length = lengths_ref[b]
    block = c_ref.shape[1]
    q_lat, q_r = q_ref[0], qr_ref[0]  # (Hb, C), (Hb, R): a block of this sequence's heads
    heads, latent = q_lat.shape
    first = split * per_split
    last = jnp.minimum(first + per_split, (length + block - 1) // block)  # skip empty blocks

    def attend_block(i, carry):
        page = table_ref[b, i]  # one page of the pool, shared by all heads
        return _online_softmax_block(
            q_lat, q_r, c_ref[page], kr_ref[page], i * block, length, *carry, scale=scale
        )

    init = (
        jnp.full((heads, 1), NEG, jnp.float32),
        jnp.zeros((heads, 1), jnp.float32),
        jnp.zeros((heads, latent), jnp.float32),
    )
    m, l, acc = jax.lax.fori_loop(first, jnp.maximum(first, last), attend_block, init)
    acc_ref[0, 0], m_ref[0, 0], l_ref[0, 0] = acc, m, l


def _combine(
    acc: Float[Array, "B K H C"], m: Float[Array, "B K H 1"], l: Float[Array, "B K H 1"]
) -> Float[Array, "B H C"]:
    """Merge the splits: rescale each to the global max, then normalise once."""
    w = jnp.exp(m - m.max(axis=1, keepdims=True))  # an empty split (m = NEG) weighs 0
    return (w * acc).sum(axis=1) / (w * l).sum(axis=1)


@partial(jax.jit, static_argnames=("scale", "splits", "heads_per_block", "target", "num_warps"))
def _mla_decode_paged(
    q_lat: Float[Array, "B H C"],
    q_r: Float[Array, "B H R"],
    c_pages: Float[Array, "P L C"],
    kr_pages: Float[Array, "P L R"],
    lengths: Int[Array, " B"],
    table: Int[Array, "B N"],
    scale: float,
    splits: int,
    heads_per_block: int,
    target: str,
    num_warps: int | None = None,
) -> Float[Array, "B H C"]:
    """The Pallas call: an (H / Hb, B, K) grid of (heads, sequence, split) programs, then
    `_combine`. The block of heads is the first axis, which a GPU runs fastest: the programs that
    read one sequence's pages start side by side, in one wave, so L2 can serve their re-reads
    (`labs.bench.splitk.cache_read_waves`). `target` is "interpret", "gpu" (Triton) or "tpu",
    which runs the page-streaming variant `_mla_decode_tpu` instead; `num_warps` is a hint for
    Triton only (None: its default)."""
    if target == "tpu":  # the page-streaming variant: the pool stays in HBM
        args = (q_lat, q_r, c_pages, kr_pages, lengths, table)
        return _mla_decode_tpu(*args, scale, splits, heads_per_block)
    (batch, heads, latent), rope, hb = q_lat.shape, q_r.shape[-1], heads_per_block
    per_split = -(-table.shape[1] // splits)  # blocks per split, the last split may be short
    whole = lambda shape: pl.BlockSpec(shape, lambda h, b, k: (0,) * len(shape))  # noqa: E731
    acc, m, l = pl.pallas_call(
        partial(_mla_decode_kernel, scale=scale, per_split=per_split),
        out_shape=(
            jax.ShapeDtypeStruct((batch, splits, heads, latent), jnp.float32),
            jax.ShapeDtypeStruct((batch, splits, heads, 1), jnp.float32),
            jax.ShapeDtypeStruct((batch, splits, heads, 1), jnp.float32),
        ),
        grid=(heads // hb, batch, splits),  # the head blocks of one sequence side by side
        in_specs=[
            whole(table.shape),  # page ids
            whole(lengths.shape),
            pl.BlockSpec((1, hb, latent), lambda h, b, k: (b, h, 0)),  # a block of its queries
            pl.BlockSpec((1, hb, rope), lambda h, b, k: (b, h, 0)),
            whole(c_pages.shape),  # the page pool: pages are picked inside by the table
            whole(kr_pages.shape),
        ],
        out_specs=(
            pl.BlockSpec((1, 1, hb, latent), lambda h, b, k: (b, k, h, 0)),
            pl.BlockSpec((1, 1, hb, 1), lambda h, b, k: (b, k, h, 0)),
            pl.BlockSpec((1, 1, hb, 1), lambda h, b, k: (b, k, h, 0)),
        ),
        **call_options(target, num_warps),
    )(table, lengths, q_lat, q_r, c_pages, kr_pages)
    return _combine(acc, m, l)


def _mla_decode_tpu_kernel(
    table_ref, lengths_ref, q_ref, qr_ref, c_ref, kr_ref, acc_ref, m_ref, l_ref,
    acc_s, m_s, l_s, *, scale, per_split
):  # fmt: skip
    """One page of one (sequence, heads, split): the TPU variant, one grid step per page.

    Pallas' pipeline copies the page that the table names (`_page`) from HBM into VMEM while the
    previous one is computed; the running (m, l, acc) live in VMEM scratch across the steps.
    """
    b, split, i = pl.program_id(0), pl.program_id(2), pl.program_id(3)
    block, length = c_ref.shape[1], lengths_ref[b]
    j = split * per_split + i  # this step's block of the sequence

    @pl.when(i == 0)
    def _start():
        m_s[...] = jnp.full(m_s.shape, NEG, jnp.float32)
        l_s[...] = jnp.zeros(l_s.shape, jnp.float32)
        acc_s[...] = jnp.zeros(acc_s.shape, jnp.float32)

    @pl.when(j * block < length)  # blocks past the end: their (repeated) page is skipped
    def _attend():
        m_s[...], l_s[...], acc_s[...] = _online_softmax_block(
            q_ref[0], qr_ref[0], c_ref[0], kr_ref[0], j * block, length,
            m_s[...], l_s[...], acc_s[...], scale=scale,
        )  # fmt: skip

    @pl.when(i == per_split - 1)
    def _finish():
        acc_ref[0, 0], m_ref[0, 0], l_ref[0, 0] = acc_s[...], m_s[...], l_s[...]


@partial(jax.jit, static_argnames=("scale", "splits", "heads_per_block", "interpret"))
def _mla_decode_tpu(
    q_lat: Float[Array, "B H C"],
    q_r: Float[Array, "B H R"],
    c_pages: Float[Array, "P L C"],
    kr_pages: Float[Array, "P L R"],
    lengths: Int[Array, " B"],
    table: Int[Array, "B N"],
    scale: float,
    splits: int,
    heads_per_block: int,
    interpret=False,
) -> Float[Array, "B H C"]:
    """The TPU variant: a (B, H / Hb, K, N / K) grid whose last axis walks a split's pages.

    The page table and the lengths are prefetched into SMEM ("scalar prefetch"), and each page's
    BlockSpec looks its page up there, so the pool stays in HBM and only one page (two, double-
    buffered) occupies VMEM: any context fits. `interpret` is False on a TPU; the tests pass
    `jax.experimental.pallas.tpu.InterpretParams()` to run it on a CPU.
    """
    from jax.experimental.pallas import tpu as pl_tpu

    (batch, heads, latent), rope, hb = q_lat.shape, q_r.shape[-1], heads_per_block
    pages, block = table.shape[1], c_pages.shape[1]
    per_split = -(-pages // splits)

    def _page(b, h, k, i, table, lengths):
        """The page of step i of split k, clamped to the sequence's last: no copy past the end."""
        last = jnp.maximum((lengths[b] + block - 1) // block - 1, 0)
        return table[b, jnp.minimum(k * per_split + i, last)], 0, 0

    grid_spec = pl_tpu.PrefetchScalarGridSpec(
        num_scalar_prefetch=2,  # the table and the lengths, in SMEM
        grid=(batch, heads // hb, splits, per_split),
        in_specs=[
            pl.BlockSpec((1, hb, latent), lambda b, h, k, i, *_: (b, h, 0)),
            pl.BlockSpec((1, hb, rope), lambda b, h, k, i, *_: (b, h, 0)),
            pl.BlockSpec((1, block, latent), _page),
            pl.BlockSpec((1, block, rope), _page),
        ],
        out_specs=[
            pl.BlockSpec((1, 1, hb, latent), lambda b, h, k, i, *_: (b, k, h, 0)),
            pl.BlockSpec((1, 1, hb, 1), lambda b, h, k, i, *_: (b, k, h, 0)),
            pl.BlockSpec((1, 1, hb, 1), lambda b, h, k, i, *_: (b, k, h, 0)),
        ],
        scratch_shapes=[
            pl_tpu.VMEM((hb, latent), jnp.float32),
            pl_tpu.VMEM((hb, 1), jnp.float32),
            pl_tpu.VMEM((hb, 1), jnp.float32),
        ],
    )
    acc, m, l = pl.pallas_call(
        partial(_mla_decode_tpu_kernel, scale=scale, per_split=per_split),
        grid_spec=grid_spec,
        out_shape=[
            jax.ShapeDtypeStruct((batch, splits, heads, latent), jnp.float32),
            jax.ShapeDtypeStruct((batch, splits, heads, 1), jnp.float32),
            jax.ShapeDtypeStruct((batch, splits, heads, 1), jnp.float32),
        ],
        interpret=interpret,
    )(table, lengths, q_lat, q_r, c_pages, kr_pages)
    return _combine(acc, m, l)


@partial(jax.jit, static_argnames=("block",))
def _as_pages(c_kv: Float[Array, "B S C"], k_rope: Float[Array, "B S R"], block: int):
    """A contiguous cache as a pool of pages of `block` rows, with the table that reads it back."""
    batch, rows = c_kv.shape[:2]
    n = -(-rows // block)  # pages per sequence; the last one padded with zeros (masked)
    pad = ((0, 0), (0, n * block - rows), (0, 0))
    c_pages = jnp.pad(c_kv, pad).reshape(batch * n, block, c_kv.shape[-1])
    kr_pages = jnp.pad(k_rope, pad).reshape(batch * n, block, k_rope.shape[-1])
    return c_pages, kr_pages, jnp.arange(batch * n, dtype=jnp.int32).reshape(batch, n)


def mla_decode(
    q_latent,
    q_rope,
    c_kv,
    k_rope,
    lengths,
    scale: float,
    block: int = 64,
    splits: int = 1,
    block_table=None,
    heads_per_block: int | None = None,
    interpret=None,
) -> jax.Array:
    """Absorbed MLA attention of one query token per sequence over its latent cache (eq. 18).

    Args:
        q_latent: (B, H, d_c) queries in the latent space, q^C_i W^UK_i^T (float).
        q_rope: (B, H, d_h^R) the rotated RoPE part q^R_i of each query.
        c_kv, k_rope: the cache. Contiguous (no `block_table`): (B, S, d_c) and (B, S, d_h^R).
            Paged: a pool (P, block, d_c) and (P, block, d_h^R) of pages of `block` rows.
        lengths: (B,) int, tokens of each sequence's cache to attend to, 1 ... capacity.
        scale: the softmax scale, 1 / sqrt(d_h + d_h^R) in MLA.
        block: cache rows per block (the page size for a paged cache), at most 1024.
        splits: chunks the context is split into (split-K), at most 256.
        block_table: None, or (B, N) int page ids in [0, P): sequence b's rows are
            pages block_table[b, 0], block_table[b, 1], ... in order.
        heads_per_block: None (all heads in one program, the cache read once per sequence and
            split), or a divisor Hb of H: H / Hb programs per (sequence, split), each holding
            an (Hb, d_c) accumulator; on a GPU a smaller Hb fits the registers, at the price of
            reading the cache H / Hb times (from L2 when they run together: see above).
        interpret: True runs Pallas' interpreter (CPU), False compiles (GPU, TPU), None chooses
            from JAX's default backend.

    Returns:
        (B, H, d_c) float32: each head's softmax-weighted latent, to be mapped by W^UV_i, W^O.
    """
    q_latent, q_rope, c_kv, k_rope, lengths, scale, block, splits, block_table = (
        check_pallas_decode(
            q_latent, q_rope, c_kv, k_rope, lengths, scale, block, splits, block_table
        )
    )
    target = resolve_target(interpret)
    heads = q_latent.shape[1]
    if heads_per_block is None:
        heads_per_block = heads
    heads_per_block = validate.size("heads_per_block", heads_per_block, maximum=heads)
    validate.divisible("heads", heads, heads_per_block, "heads_per_block")
    if block_table is None:
        c_kv, k_rope, block_table = _as_pages(jnp.asarray(c_kv), jnp.asarray(k_rope), block)
    splits = min(splits, block_table.shape[1])  # no split without a block to read
    out = _mla_decode_paged(
        jnp.asarray(q_latent),
        jnp.asarray(q_rope),
        jnp.asarray(c_kv),
        jnp.asarray(k_rope),
        jnp.asarray(lengths, jnp.int32),
        jnp.asarray(block_table, jnp.int32),
        scale,
        splits,
        heads_per_block,
        target,
    )
    return check_decode_output(out, q_latent, q_rope, c_kv, k_rope, scale)
