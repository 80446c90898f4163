"""The Pallas MLA decode kernel (labs.mla.pallas) in interpret mode against the NumPy reference.

The reference is `labs.mla.reference.decode(..., absorbed=True)`, one sequence at a time, so each
sequence has its own cache length; the kernel gets them all in one call (ragged `lengths`, blocks
that do not divide the context, several splits, a paged cache). The kernel computes in float32,
the reference in float64: 1e-4 relative to the output's scale holds with a wide margin (the
observed error is about 1e-7).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("jax")

from labs.mla import AttentionConfig  # noqa: E402
from labs.mla.pallas import mla_decode  # noqa: E402
from labs.mla.reference import KVCache, _mla_latents, decode, init_params  # noqa: E402

CONFIG = AttentionConfig(
    kind="mla", n_layers=1, d_model=32, n_heads=4, head_dim=8, kv_lora_rank=16, rope_head_dim=4
)
SCALE = 1 / np.sqrt(CONFIG.head_dim + CONFIG.rope_head_dim)
TOL = 1e-4  # float32 kernel vs float64 reference, relative to max |output|


def _case(lengths, capacity, seed=0):
    """Per-sequence reference outputs and the kernel's inputs for a batch of ragged caches."""
    rng = np.random.default_rng(seed)
    params = init_params(CONFIG, seed=seed)
    h, d, c = CONFIG.n_heads, CONFIG.head_dim, CONFIG.kv_lora_rank
    w_uk = params["w_uk"].reshape(c, h, d)
    c_kv = np.zeros((len(lengths), capacity, c))
    k_rope = np.zeros((len(lengths), capacity, CONFIG.rope_head_dim))
    q_lat, q_r, want = [], [], []
    for b, length in enumerate(lengths):
        arrays = {
            "c_kv": np.zeros((1, capacity, c)),
            "k_rope": np.zeros((1, capacity, CONFIG.rope_head_dim)),
        }
        arrays["c_kv"][:, : length - 1] = rng.standard_normal((1, length - 1, c))
        arrays["k_rope"][:, : length - 1] = rng.standard_normal((1, length - 1, 4))
        cache = KVCache(CONFIG, arrays, length=length - 1)
        x = rng.standard_normal((1, 1, CONFIG.d_model))
        want.append(decode(params, CONFIG, x, cache, absorbed=True)[0, 0])  # appends x's latents
        _, _, _, qc, qr = _mla_latents(params, CONFIG, x, np.array([length - 1]))
        q_lat.append(np.einsum("hd,chd->hc", qc[0, 0], w_uk))  # W^UK absorbed into the query
        q_r.append(qr[0, 0])
        c_kv[b], k_rope[b] = cache.arrays["c_kv"][0], cache.arrays["k_rope"][0]
    inputs = {
        "q_latent": np.stack(q_lat).astype(np.float32),
        "q_rope": np.stack(q_r).astype(np.float32),
        "c_kv": c_kv.astype(np.float32),
        "k_rope": k_rope.astype(np.float32),
        "lengths": np.array(lengths, np.int32),
    }
    return params, inputs, np.stack(want)


def _layer_output(params, context):
    """W^UV_i on each head's attended latent, then W^O (eq. 19): (B, d_model)."""
    h, d, c = CONFIG.n_heads, CONFIG.head_dim, CONFIG.kv_lora_rank
    o = np.einsum("bhc,chd->bhd", np.asarray(context, np.float64), params["w_uv"].reshape(c, h, d))
    return o.reshape(o.shape[0], -1) @ params["wo"]


def _error(got, want):
    return np.abs(got - want).max() / np.abs(want).max()


@pytest.mark.parametrize(
    ("lengths", "block", "splits"),
    [
        ([13], 8, 1),  # 13 rows: the second block is masked after 5
        ([1, 7, 20, 13], 8, 1),  # ragged, one sequence of a single token
        ([1, 7, 20, 13], 4, 3),  # split-K: some splits of short sequences are empty
        ([21, 3], 16, 2),  # the last split shorter than the others
    ],
)
def test_matches_reference_decode(lengths, block, splits):
    params, inputs, want = _case(lengths, capacity=21)
    context = mla_decode(**inputs, scale=SCALE, block=block, splits=splits, interpret=True)
    assert context.shape == (len(lengths), CONFIG.n_heads, CONFIG.kv_lora_rank)
    assert _error(_layer_output(params, context), want) < TOL


def test_paged_cache_matches_contiguous():
    """The same caches scattered over a shuffled pool of pages give the same context."""
    block, lengths = 4, [9, 3, 16]
    params, inputs, want = _case(lengths, capacity=16, seed=1)
    n = 16 // block
    rng = np.random.default_rng(2)
    order = rng.permutation(len(lengths) * n + 2)  # two pages nobody owns
    pool_c = np.zeros((len(order), block, CONFIG.kv_lora_rank), np.float32)
    pool_r = np.zeros((len(order), block, CONFIG.rope_head_dim), np.float32)
    table = order[: len(lengths) * n].reshape(len(lengths), n).astype(np.int32)
    for b in range(len(lengths)):
        for i in range(n):
            pool_c[table[b, i]] = inputs["c_kv"][b, i * block : (i + 1) * block]
            pool_r[table[b, i]] = inputs["k_rope"][b, i * block : (i + 1) * block]
    paged = {**inputs, "c_kv": pool_c, "k_rope": pool_r}
    context = mla_decode(**paged, scale=SCALE, block=block, splits=2, block_table=table)
    assert _error(_layer_output(params, context), want) < TOL


def test_negative_control_wrong_length_fails():
    """Attending to one row too few must miss the tolerance: the comparison can fail."""
    params, inputs, want = _case([9, 12], capacity=12)
    inputs["lengths"] = inputs["lengths"] - 1
    context = mla_decode(**inputs, scale=SCALE, block=4, interpret=True)
    assert _error(_layer_output(params, context), want) > 100 * TOL


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"lengths": np.array([0, 3], np.int32)}, "lengths"),
        ({"lengths": np.array([3, 13], np.int32)}, "lengths"),
        ({"lengths": np.array([3], np.int32)}, "lengths"),
        ({"scale": -1.0}, "scale"),
        ({"block": 0}, "block"),
        ({"splits": 10**6}, "splits"),
        ({"q_rope": np.zeros((2, 3, 4), np.float32)}, "q_rope"),
        ({"block_table": np.zeros((2, 3), np.int32)}, "block"),  # contiguous cache, page size 12
    ],
)
def test_bad_input(change, match):
    _, inputs, _ = _case([3, 12], capacity=12)
    kwargs = {**inputs, "scale": SCALE, "block": 4, **change}
    with pytest.raises((ValueError, TypeError), match=match):
        mla_decode(**kwargs)


def test_chapter_packages_do_not_import_the_kernels():
    """`import labs.mla, labs.fp8` loads neither the Pallas nor the Triton kernels: they are
    imported on demand (Triton's import decides, once, between compiling and interpreting)."""
    code = (
        "import sys, labs.mla, labs.fp8; "
        "print(sorted(m for m in sys.modules if 'pallas' in m or 'triton' in m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("heads_per_block", [1, 2])
def test_blocks_of_heads_match_reference(heads_per_block):
    """H / Hb programs per (sequence, split), each with its own heads, give the same context."""
    params, inputs, want = _case([5, 17, 11], capacity=17, seed=3)
    context = mla_decode(
        **inputs, scale=SCALE, block=4, splits=2, heads_per_block=heads_per_block, interpret=True
    )
    assert _error(_layer_output(params, context), want) < TOL


@pytest.mark.parametrize(("heads_per_block", "match"), [(3, "heads_per_block"), (0, "heads")])
def test_heads_per_block_must_divide_heads(heads_per_block, match):
    _, inputs, _ = _case([3, 12], capacity=12)
    with pytest.raises(ValueError, match=match):
        mla_decode(**inputs, scale=SCALE, block=4, heads_per_block=heads_per_block)


def _has_gpu() -> bool:
    import jax

    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:  # no GPU backend in this jaxlib
        return False


@pytest.mark.gpu
@pytest.mark.skipif(not _has_gpu(), reason="needs an NVIDIA GPU (Pallas compiles through Triton)")
@pytest.mark.parametrize("heads_per_block", [None, 16])
def test_compiled_on_gpu_matches_reference(heads_per_block):
    """The same source compiled (interpret=False): bf16 cache, V3's widths, ragged lengths."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(4)
    b, h, c, r, s = 3, 32, 512, 64, 300  # 300 rows: not a multiple of the block of 64
    q_lat = rng.standard_normal((b, h, c)).astype(np.float32) / 8
    q_r = rng.standard_normal((b, h, r)).astype(np.float32) / 8
    c_kv = rng.standard_normal((b, s, c)).astype(np.float32)
    k_r = rng.standard_normal((b, s, r)).astype(np.float32)
    lengths = np.array([300, 1, 129], np.int32)
    to_bf16 = lambda x: jnp.asarray(x, jnp.bfloat16)  # noqa: E731
    args = (to_bf16(q_lat), to_bf16(q_r), to_bf16(c_kv), to_bf16(k_r))
    options = dict(scale=0.07, block=64, splits=2, heads_per_block=heads_per_block)
    got = mla_decode(*args, lengths, **options, interpret=False)
    got = np.asarray(jax.device_get(got), np.float64)
    # the control: one token fewer (the same compiled kernel: the lengths are not static)
    short = mla_decode(*args, np.maximum(lengths - 1, 1), **options, interpret=False)
    short = np.asarray(jax.device_get(short), np.float64)
    f = lambda x: np.asarray(to_bf16(x).astype(jnp.float32), np.float64)  # noqa: E731
    for i, n in enumerate(lengths):  # float64 reference on the same bf16-rounded values
        scores = (f(q_lat)[i] @ f(c_kv)[i, :n].T + f(q_r)[i] @ f(k_r)[i, :n].T) * 0.07
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        want = (p / p.sum(axis=1, keepdims=True)) @ f(c_kv)[i, :n]
        # bf16 probabilities in the P.V product: about 3 significant digits (a NumPy model of
        # the kernel's rounding errs by 2e-3 here; one token fewer by 0.08 and 0.11)
        assert np.abs(got[i] - want).max() / np.abs(want).max() < 2e-2
        if n > 1:  # a sequence of one token keeps it in the control
            assert np.abs(short[i] - want).max() / np.abs(want).max() > 4e-2


def test_bf16_inputs_in_blocks_of_heads_match_reference():
    """What the GPU benchmark runs (bf16 inputs, fewer heads per program than H), interpreted."""
    import jax.numpy as jnp

    rng = np.random.default_rng(6)
    b, h, c, r, s = 2, 8, 32, 8, 40  # 40 rows: not a multiple of the block of 16
    q_lat = rng.standard_normal((b, h, c)).astype(np.float32) / 4
    q_r = rng.standard_normal((b, h, r)).astype(np.float32) / 4
    c_kv = rng.standard_normal((b, s, c)).astype(np.float32)
    k_r = rng.standard_normal((b, s, r)).astype(np.float32)
    lengths = np.array([40, 17], np.int32)
    to_bf16 = lambda x: jnp.asarray(x, jnp.bfloat16)  # noqa: E731
    args = (to_bf16(q_lat), to_bf16(q_r), to_bf16(c_kv), to_bf16(k_r), lengths)
    got = mla_decode(*args, scale=0.1, block=16, splits=2, heads_per_block=2, interpret=True)
    got = np.asarray(got, np.float64)
    short = mla_decode(
        *args[:4], lengths - 1, scale=0.1, block=16, splits=2, heads_per_block=2, interpret=True
    )
    f = lambda x: np.asarray(to_bf16(x).astype(jnp.float32), np.float64)  # noqa: E731
    errors, controls = [], []
    for i, n in enumerate(lengths):  # float64 reference on the same bf16-rounded values
        scores = (f(q_lat)[i] @ f(c_kv)[i, :n].T + f(q_r)[i] @ f(k_r)[i, :n].T) * 0.1
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        want = (p / p.sum(axis=1, keepdims=True)) @ f(c_kv)[i, :n]
        errors.append(np.abs(got[i] - want).max() / np.abs(want).max())
        controls.append(np.abs(np.asarray(short, np.float64)[i] - want).max() / np.abs(want).max())
    # bf16 probabilities in the P.V product: about 3 significant digits
    assert max(errors) < 2e-2 and min(controls) > 10 * max(max(errors), 2e-3), (errors, controls)


def test_parity_with_pytorch_fused_attention():
    """NumPy reference, PyTorch and the JAX (Pallas) kernel on the same inputs: PyTorch's fused
    attention sees one "head" whose H query rows share the latent key [c^KV, k^R] and value c^KV,
    with the rows past each sequence's length masked out."""
    torch = pytest.importorskip("torch")
    params, inputs, want = _case([6, 21, 14], capacity=21, seed=5)
    pallas = mla_decode(**inputs, scale=SCALE, block=8, splits=2, interpret=True)
    t = {k: torch.from_numpy(v) for k, v in inputs.items()}
    q = torch.cat([t["q_latent"], t["q_rope"]], dim=-1)[:, None]  # (B, 1, H, C + R)
    k = torch.cat([t["c_kv"], t["k_rope"]], dim=-1)[:, None]  # (B, 1, S, C + R)
    mask = torch.arange(21)[None, :] < t["lengths"][:, None]  # (B, S): True where attended
    out = torch.nn.functional.scaled_dot_product_attention(
        q, k, t["c_kv"][:, None], attn_mask=mask[:, None, None, :], scale=float(SCALE)
    )[:, 0]
    assert _error(_layer_output(params, out.numpy()), want) < TOL  # PyTorch vs NumPy
    np.testing.assert_allclose(np.asarray(pallas), out.numpy(), rtol=0, atol=1e-5)  # vs JAX


# --- Lowering for the devices this machine lacks: the same source as Triton and as Mosaic ---


def _v3_decode_args(dtype, batch=4, pages=16, block=64):
    """Abstract inputs at V3's widths (128 heads, d_c = 512, d_h^R = 64): nothing is allocated."""
    import jax
    import jax.numpy as jnp

    sd, dt = jax.ShapeDtypeStruct, jnp.dtype(dtype)
    return (
        sd((batch, 128, 512), dt),
        sd((batch, 128, 64), dt),
        sd((batch * pages, block, 512), dt),
        sd((batch * pages, block, 64), dt),
        sd((batch,), jnp.int32),
        sd((batch, pages), jnp.int32),
    )


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize(("heads_per_block", "warps"), [(16, 2), (128, 8)])
def test_lowers_to_triton_for_an_nvidia_gpu(dtype, heads_per_block, warps):
    """What the GPU test compiles, lowered here: one Triton kernel on the (H / Hb, B, K) grid."""
    import re

    from labs.common.pallas import lower_for
    from labs.mla.pallas import _mla_decode_paged

    text = lower_for(
        lambda *a: _mla_decode_paged(*a, 0.07, 3, heads_per_block, "gpu", warps),
        _v3_decode_args(dtype),
        platform="cuda",
    )
    assert re.findall(r"custom_call @([\w$.]+)", text) == ["__gpu$xla.gpu.triton"]
    grid = [int(g) for g in re.findall(r"grid_[xyz] = (\d+)", text)]
    assert grid == [128 // heads_per_block, 4, 3]  # the head blocks first: see the kernel
    assert re.findall(r"num_warps = (\d+)", text) == [str(warps)]


@pytest.mark.parametrize("tpu", ["TPU v5 lite", "TPU v6 lite"])
def test_lowers_to_mosaic_for_a_tpu(tpu):
    """The TPU lowering checks what interpret mode does not: (8, 128)-aligned blocks, scalars
    that pick pages in SMEM, 2-D vectors."""
    from labs.common.pallas import lower_for
    from labs.mla.pallas import _mla_decode_paged

    text = lower_for(
        lambda *a: _mla_decode_paged(*a, 0.07, 2, 16, "tpu"),
        _v3_decode_args("bfloat16"),
        platform="tpu",
        tpu_kind=tpu,
    )
    assert "tpu_custom_call" in text and "triton" not in text


@pytest.mark.filterwarnings("ignore:Using ``pl.pallas_call`` for Mosaic GPU:DeprecationWarning")
def test_without_tritons_parameters_jax_picks_its_default_gpu_backend(monkeypatch):
    """The negative control, and why every GPU call passes Triton's parameters. JAX 0.10 lowers a
    bare pallas_call through Mosaic GPU, which stages each block in shared memory. The whole page
    pool (2 MB of bf16 here) cannot fit a Hopper SM's 227 KB, so the lowering fails; the kernel
    was written for Triton, which reads pages from global memory inside the loop. JAX 0.11 and
    later lower a bare call through Triton as well, into the very kernel the parameters give
    (both keep Triton's 4 warps here). Which of the two happens is the installed JAX's choice."""
    import jax

    import labs.mla.pallas as mla_pallas
    from labs.common.pallas import bare_call_gpu_backend, lower_for

    backend = bare_call_gpu_backend()
    outcomes = []  # with Triton's parameters, then without them
    for bare in (False, True):
        jax.clear_caches()  # each is traced afresh here (an earlier test's trace would be reused)
        if bare:
            monkeypatch.setattr(mla_pallas, "call_options", lambda *args: {})
        try:  # one call site: both texts carry the same source locations
            outcomes.append(
                lower_for(
                    lambda *a: mla_pallas._mla_decode_paged(*a, 0.07, 2, 16, "gpu"),
                    _v3_decode_args("bfloat16", pages=8),
                    platform="cuda",
                )
            )
        except ValueError as error:
            outcomes.append(error)
    with_parameters, without = outcomes
    assert isinstance(with_parameters, str) and "__gpu$xla.gpu.triton" in with_parameters
    if backend == "mosaic_gpu":
        assert isinstance(without, ValueError) and "shared memory" in str(without), without
    else:
        assert backend == "triton" and without == with_parameters


@pytest.mark.parametrize(
    ("lengths", "block", "splits", "heads_per_block"),
    [
        ([1, 7, 20, 13], 4, 3, None),  # ragged; some splits of short sequences are empty
        ([21, 3], 8, 2, 2),  # the last split shorter; 21 rows end inside a block
    ],
)
def test_the_tpu_variant_matches_reference_in_the_tpu_interpreter(
    lengths, block, splits, heads_per_block
):
    """The page-streaming TPU variant, run by Pallas' TPU interpreter (DMAs and SMEM emulated)."""
    import jax.numpy as jnp
    from jax.experimental.pallas import tpu as pl_tpu

    from labs.mla.pallas import _as_pages, _mla_decode_tpu

    params, inputs, want = _case(lengths, capacity=21)
    c_pages, kr_pages, table = _as_pages(
        jnp.asarray(inputs["c_kv"]), jnp.asarray(inputs["k_rope"]), block
    )
    order = np.random.default_rng(0).permutation(c_pages.shape[0])  # shuffle the pool
    inverse = np.argsort(order)
    context = _mla_decode_tpu(
        jnp.asarray(inputs["q_latent"]),
        jnp.asarray(inputs["q_rope"]),
        c_pages[order],
        kr_pages[order],
        jnp.asarray(inputs["lengths"]),
        jnp.asarray(inverse[np.asarray(table)], jnp.int32),
        SCALE,
        splits,
        heads_per_block or CONFIG.n_heads,
        interpret=pl_tpu.InterpretParams(),
    )
    assert _error(_layer_output(params, context), want) < TOL
    # the control: one row too few (a sequence of one token keeps it: lengths start at 1)
    short = {**inputs, "lengths": np.maximum(inputs["lengths"] - 1, 1)}
    control = _mla_decode_tpu(
        *(jnp.asarray(short[k]) for k in ("q_latent", "q_rope")), c_pages, kr_pages,
        jnp.asarray(short["lengths"]), table, SCALE, splits, CONFIG.n_heads, interpret=True,
    )  # fmt: skip
    assert _error(_layer_output(params, control), want) > 100 * TOL


def test_a_long_context_lowers_for_a_tpu():
    """V3's cache for 4 sequences of 32K tokens (512 pages each, 2.4 GB in bf16): the TPU variant
    keeps the pool in HBM and copies a page at a time, so it lowers with any context."""
    from labs.common.pallas import lower_for
    from labs.mla.pallas import _mla_decode_paged

    text = lower_for(
        lambda *a: _mla_decode_paged(*a, 0.07, 2, 16, "tpu"),
        _v3_decode_args("bfloat16", batch=4, pages=512),
        platform="tpu",
    )
    assert "tpu_custom_call" in text
