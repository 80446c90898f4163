"""MLA absorbed decoding as a Triton kernel, for PyTorch readers: the Pallas kernel's twin.

`labs.mla.pallas` writes the kernel in JAX; this module writes the same algorithm in Triton, the
language PyTorch's own GPU kernels are generated in, over torch tensors. One program handles a
block of Hb heads of one sequence and one chunk (split) of its context: it streams the chunk's
pages of the latent cache with an online softmax (running max m, running sum l, unnormalised
context acc, rescaled by exp(m_old - m_new) when the max grows), and leaves (acc, m, l) for the
splits to be merged (`_combine`, in PyTorch). Equation numbers are DeepSeek-V2's (§2.1.2):

    s_{i,j} = (q^lat_i . c^KV_j + q^R_i . k^R_j) * scale                                   (18)

Where the Pallas kernel is handed blocks (BlockSpecs), a Triton program computes its own
addresses: `base + row * width + column`, loaded with `tl.load` and written with `tl.store`.

On a machine with a CUDA GPU the kernel is compiled by Triton; elsewhere it runs in Triton's
interpreter (NumPy underneath; `labs.common.triton_setup` chooses when Triton is imported),
which is how the tests check it against the NumPy reference on a CPU. The interpreter computes
in float32; bfloat16 inputs are converted to float32 first (its bfloat16 loads are not
reliable). Triton is a Linux package: where it is missing, calling `mla_decode` says so.

Axes: B batch, H heads, Hb heads of one program, C latent d_c, R RoPE dim d_h^R, P pages,
N pages per sequence, K splits, L rows of one page. Taught in chapter 8.
"""

from __future__ import annotations

import functools

import torch
from jaxtyping import Float
from torch import Tensor

from labs.common import triton_setup, validate
from labs.mla.checks import check_decode_output, check_pallas_decode

try:
    _, tl, _ = triton_setup.load()  # interpreted where torch sees no CUDA GPU
except ImportError:  # macOS, Windows, or an install without Triton: mla_decode says so
    tl = None

__all__ = ["mla_decode"]


def _mla_decode_kernel(
    q_ptr,  # (B, H, C) queries in the latent space
    qr_ptr,  # (B, H, R) their RoPE parts
    c_ptr,  # (P, L, C) the pool of c^KV pages
    kr_ptr,  # (P, L, R) the pool of k^R pages
    table_ptr,  # (B, N) page ids
    lengths_ptr,  # (B,) tokens per sequence
    acc_ptr,  # (B, H, K, C) out: unnormalised context per split
    m_ptr,  # (B, H, K) out: running max per split
    l_ptr,  # (B, H, K) out: running sum per split
    scale,
    pages_per_seq,
    per_split,
    HEADS: tl.constexpr,  # noqa: N803 (Triton spells compile-time constants in capitals)
    HB: tl.constexpr,  # noqa: N803
    C: tl.constexpr,  # noqa: N803
    R: tl.constexpr,  # noqa: N803
    L: tl.constexpr,  # noqa: N803
    HEAD_FIRST: tl.constexpr = True,  # noqa: N803 (the grid's order: head blocks on axis 0)
):
    """One (block of heads, sequence, split): online softmax over its pages of the cache."""
    if HEAD_FIRST:  # the launch order `_launch` uses
        head_block, b = tl.program_id(0), tl.program_id(1)
    else:  # the sequence first: kept for the GPU experiment that times both orders
        b, head_block = tl.program_id(0), tl.program_id(1)
    split = tl.program_id(2)
    length = tl.load(lengths_ptr + b)
    heads = head_block * HB + tl.arange(0, HB)  # this program's heads
    col, rcol, row = tl.arange(0, C), tl.arange(0, R), tl.arange(0, L)
    query = b * HEADS + heads  # row of each head's query in (B * H, .)
    q = tl.load(q_ptr + query[:, None] * C + col[None, :])  # (Hb, C)
    q_r = tl.load(qr_ptr + query[:, None] * R + rcol[None, :])  # (Hb, R)
    first = split * per_split
    last = tl.minimum(first + per_split, (length + L - 1) // L)  # skip blocks past the end

    # the running max before any score: finite, so exp(max - max) cannot make a NaN
    m = tl.full((HB,), -1e30, tl.float32)
    l = tl.zeros((HB,), tl.float32)  # noqa: E741 (the paper's l)
    acc = tl.zeros((HB, C), tl.float32)
    for i in range(first, last):
        page = tl.load(table_ptr + b * pages_per_seq + i).to(tl.int64)  # large pools need 64 bits
        rows = page * L + row  # this page's rows in the pool
        c = tl.load(c_ptr + rows[:, None] * C + col[None, :])  # (L, C), shared by all heads
        k_r = tl.load(kr_ptr + rows[:, None] * R + rcol[None, :])  # (L, R)
        s = tl.dot(q, tl.trans(c)) + tl.dot(q_r, tl.trans(k_r))  # q^lat . c^KV + q^R . k^R
        valid = (i * L + row)[None, :] < length  # the last page may run past the end
        s = tl.where(valid, s * scale, -1e30)  # (18)
        m_new = tl.maximum(m, tl.max(s, axis=1))
        p = tl.where(valid, tl.exp(s - m_new[:, None]), 0.0)  # (Hb, L)
        alpha = tl.exp(m - m_new)  # rescales what was summed under the old max
        l = alpha * l + tl.sum(p, axis=1)  # noqa: E741
        acc = alpha[:, None] * acc + tl.dot(p.to(c.dtype), c)
        m = m_new

    out = (b * HEADS + heads) * tl.num_programs(2) + split  # row of (B, H, K)
    tl.store(acc_ptr + out[:, None] * C + col[None, :], acc)
    tl.store(m_ptr + out, m)
    tl.store(l_ptr + out, l)


def _combine(
    acc: Float[Tensor, "B H K C"], m: Float[Tensor, "B H K"], l: Float[Tensor, "B H K"]
) -> Float[Tensor, "B H C"]:
    """Merge the splits: rescale each to the global max, then normalise once. The splits of one
    (sequence, head) lie side by side, so the weighted sum is one batched product, (1, K) by
    (K, C) per (sequence, head), which reads the partials once and writes only the output, as eq.
    M1 counts; `(w[..., None] * acc).sum(...)` would also write and re-read a temporary as large
    as the partials."""
    w = torch.exp(m - m.amax(dim=2, keepdim=True))  # an empty split (m = -1e30) weighs 0
    return torch.matmul(w.unsqueeze(2), acc).squeeze(2) / (w * l).sum(dim=2, keepdim=True)


@functools.cache
def _kernel():
    """The kernel, jitted on first use (compiled or interpreted, as `triton_setup` chose)."""
    return triton_setup.jit(_mla_decode_kernel)


def _as_pages(c_kv: Tensor, k_rope: Tensor, block: int) -> tuple[Tensor, Tensor, Tensor]:
    """A contiguous cache as a pool of pages of `block` rows, with the table that reads it back."""
    batch, rows = c_kv.shape[:2]
    n = -(-rows // block)  # pages per sequence; the last one padded with zeros (masked)
    pad = (0, 0, 0, n * block - rows)
    c_pages = torch.nn.functional.pad(c_kv, pad).reshape(batch * n, block, c_kv.shape[-1])
    kr_pages = torch.nn.functional.pad(k_rope, pad).reshape(batch * n, block, k_rope.shape[-1])
    table = torch.arange(batch * n, dtype=torch.int32, device=c_kv.device).reshape(batch, n)
    return c_pages, kr_pages, table


def mla_decode(
    q_latent: torch.Tensor,
    q_rope: torch.Tensor,
    c_kv: torch.Tensor,
    k_rope: torch.Tensor,
    lengths: torch.Tensor,
    scale: float,
    block: int = 64,
    splits: int = 1,
    block_table: torch.Tensor | None = None,
    heads_per_block: int | None = None,
    num_warps: int | None = None,
) -> torch.Tensor:
    """Absorbed MLA attention of one query token per sequence over its latent cache (eq. 18).

    The arguments are those of `labs.mla.pallas.mla_decode`, as torch tensors on one device.

    Args:
        q_latent: (B, H, d_c) queries in the latent space, q^C_i W^UK_i^T (float).
        q_rope: (B, H, d_h^R) the rotated RoPE part q^R_i of each query.
        c_kv, k_rope: the cache. Contiguous (no `block_table`): (B, S, d_c) and (B, S, d_h^R).
            Paged: a pool (P, block, d_c) and (P, block, d_h^R) of pages of `block` rows.
        lengths: (B,) int, tokens of each sequence's cache to attend to, 1 ... capacity.
        scale: the softmax scale, 1 / sqrt(d_h + d_h^R) in MLA.
        block: cache rows per block (the page size for a paged cache), at most 1024.
        splits: chunks the context is split into (split-K), at most 256.
        block_table: None, or (B, N) int page ids in [0, P).
        heads_per_block: None (all heads in one program) or a divisor Hb of H.
        num_warps: Triton's hint for a compiled kernel (a power of two, 1 ... 32; None: 4).

    Returns:
        (B, H, d_c) float32 on the inputs' device: each head's softmax-weighted latent.

    Triton wants power-of-two block shapes: d_c, d_h^R, `block` and Hb must be powers of two
    (V3's 512, 64, 64 and 16 are).
    """
    q_latent, q_rope, c_kv, k_rope, lengths, scale, block, splits, block_table = (
        check_pallas_decode(
            q_latent,
            q_rope,
            c_kv,
            k_rope,
            lengths,
            scale,
            block,
            splits,
            block_table,
            framework="torch",
        )
    )
    heads, latent, rope = q_latent.shape[1], q_latent.shape[2], q_rope.shape[-1]
    if heads_per_block is None:
        heads_per_block = heads
    heads_per_block = validate.size("heads_per_block", heads_per_block, maximum=heads)
    validate.divisible("heads", heads, heads_per_block, "heads_per_block")
    for name, value in (
        ("d_c", latent),
        ("d_h^R", rope),
        ("block", block),
        ("heads_per_block", heads_per_block),
    ):
        validate.power_of_two(name, value, maximum=2**16, why="Triton's block shapes")
    validate.same_device(
        ("q_latent", q_latent),
        ("q_rope", q_rope),
        ("c_kv", c_kv),
        ("k_rope", k_rope),
        ("lengths", lengths),
        ("block_table", block_table),
    )
    triton_setup.require_device(q_latent.device)
    _, _, interpreted = triton_setup.load()
    if num_warps is not None:
        num_warps = validate.power_of_two("num_warps", num_warps, maximum=32)
    if not interpreted:  # a compiled tl.dot contracts over at least 16 elements
        for name, value in (("d_c", latent), ("d_h^R", rope), ("block", block)):
            if value < 16:
                raise ValueError(f"{name} must be >= 16 for Triton's compiled dot, got {value}")
    if block_table is None:
        c_kv, k_rope, block_table = _as_pages(c_kv, k_rope, block)
    out = _launch(
        q_latent, q_rope, c_kv, k_rope, block_table, lengths, scale, splits, heads_per_block,
        num_warps,
    )  # fmt: skip
    return check_decode_output(out, q_latent, q_rope, c_kv, k_rope, scale)


def _launch(
    q_latent, q_rope, c_pages, kr_pages, block_table, lengths, scale, splits, hb, num_warps,
    head_block_first=True,
):  # fmt: skip
    """The kernel on a paged cache whose arguments were checked (no check here, nothing copied to
    the host: what the benchmark times), then `_combine`. `head_block_first=False` launches the
    grid sequence first, the order chapter 8 models as costlier (tools/gpu_check.sh times both)."""
    (batch, heads, latent), rope, block = q_latent.shape, q_rope.shape[-1], c_pages.shape[1]
    device = q_latent.device
    _, _, interpreted = triton_setup.load()
    if interpreted:  # the interpreter's arithmetic is float32
        q_latent, q_rope, c_pages, kr_pages = (
            t.float() for t in (q_latent, q_rope, c_pages, kr_pages)
        )
    splits = min(splits, block_table.shape[1])  # no split without a block to read
    per_split = -(-block_table.shape[1] // splits)
    acc = torch.empty(batch, heads, splits, latent, dtype=torch.float32, device=device)
    m = torch.empty(batch, heads, splits, dtype=torch.float32, device=device)
    l = torch.empty_like(m)  # noqa: E741
    options = {} if interpreted or num_warps is None else {"num_warps": num_warps}
    # the head blocks first, the axis a GPU runs fastest: one sequence's programs start in one
    # wave and read its pages together, through L2 (labs.bench.splitk.cache_read_waves)
    grid = (heads // hb, batch, splits) if head_block_first else (batch, heads // hb, splits)
    _kernel()[grid](
        q_latent.contiguous(),
        q_rope.contiguous(),
        c_pages.contiguous(),
        kr_pages.contiguous(),
        block_table.to(torch.int32).contiguous(),
        lengths.to(torch.int32).contiguous(),
        acc,
        m,
        l,
        float(scale),
        block_table.shape[1],
        per_split,
        HEADS=heads,
        HB=hb,
        C=latent,
        R=rope,
        L=block,
        HEAD_FIRST=head_block_first,
        **options,
    )
    return _combine(acc, m, l)
