"""The Triton MLA decode kernel (labs.mla.triton) against the NumPy reference and its Pallas twin.

On this CPU Triton runs the kernel in its interpreter (labs.common.triton_setup); the cases are
those of tests/mla/test_pallas.py (ragged lengths, blocks that do not divide the context,
split-K with empty splits, a shuffled page pool, blocks of heads), with the same tolerance:
float32 kernel against the float64 reference, relative to the output's scale.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from labs.common import triton_setup  # noqa: E402

try:  # through the course's loader, which picks the interpreter before Triton is imported
    triton_setup.load()
except ImportError:
    pytest.skip("Triton is not installed (it is Linux-only)", allow_module_level=True)

from labs.mla import triton as mla_triton  # noqa: E402
from tests.mla.test_pallas import SCALE, TOL, _case, _error, _layer_output  # noqa: E402


def _decode(inputs, **kwargs):
    tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in inputs.items()}
    return mla_triton.mla_decode(**tensors, scale=SCALE, **kwargs).numpy()


@pytest.mark.parametrize(
    ("lengths", "block", "splits", "heads_per_block"),
    [
        ([13], 8, 1, None),  # the second block is masked after 5 rows
        ([1, 7, 20, 13], 4, 3, None),  # ragged; some splits of short sequences are empty
        ([21, 3], 16, 2, 2),  # the last split shorter than the others; two heads per program
        ([5, 17, 11], 4, 2, 1),  # one head per program
    ],
)
def test_matches_reference_decode(lengths, block, splits, heads_per_block):
    params, inputs, want = _case(lengths, capacity=21)
    context = _decode(inputs, block=block, splits=splits, heads_per_block=heads_per_block)
    assert context.shape == (len(lengths), 4, 16) and context.dtype == np.float32
    assert _error(_layer_output(params, context), want) < TOL


def test_paged_cache_and_parity_with_the_pallas_kernel():
    """A shuffled pool of pages (two owned by nobody): the same context as the contiguous cache,
    and the same numbers as the Pallas kernel to float32 rounding."""
    from labs.mla.pallas import mla_decode as pallas_decode

    block, lengths = 4, [9, 3, 16]
    params, inputs, want = _case(lengths, capacity=16, seed=1)
    n = 16 // block
    order = np.random.default_rng(2).permutation(len(lengths) * n + 2)
    pool_c = np.zeros((len(order), block, 16), np.float32)
    pool_r = np.zeros((len(order), block, 4), np.float32)
    table = order[: len(lengths) * n].reshape(len(lengths), n).astype(np.int32)
    for b in range(len(lengths)):
        for i in range(n):
            pool_c[table[b, i]] = inputs["c_kv"][b, i * block : (i + 1) * block]
            pool_r[table[b, i]] = inputs["k_rope"][b, i * block : (i + 1) * block]
    paged = {**inputs, "c_kv": pool_c, "k_rope": pool_r, "block_table": table}
    context = _decode(paged, block=block, splits=2)
    assert _error(_layer_output(params, context), want) < TOL
    pallas = np.asarray(pallas_decode(**paged, scale=SCALE, block=block, splits=2, interpret=True))
    np.testing.assert_allclose(context, pallas, rtol=0, atol=1e-5)


def test_both_grid_orders_give_the_reference_answer():
    """The launch order is a scheduling choice: the sequence-first grid, kept for the GPU timing
    of tools/gpu_check.sh, must read the same heads and sequences as the default, head first.
    Ragged lengths and two heads per program, so a swapped index would change the answer."""
    from labs.mla.triton import _as_pages, _launch

    params, inputs, want = _case([21, 3, 9], capacity=21)
    t = {k: torch.from_numpy(np.asarray(v)) for k, v in inputs.items()}
    c_pages, kr_pages, table = _as_pages(t["c_kv"], t["k_rope"], 4)
    args = (t["q_latent"], t["q_rope"], c_pages, kr_pages, table, t["lengths"], SCALE, 2, 2, None)
    heads_first = _launch(*args).numpy()
    sequence_first = _launch(*args, head_block_first=False).numpy()
    assert _error(_layer_output(params, heads_first), want) < TOL
    assert _error(_layer_output(params, sequence_first), want) < TOL


def test_negative_control_wrong_length_fails():
    """Attending to one row too few must miss the tolerance: the comparison can fail."""
    params, inputs, want = _case([9, 12], capacity=12)
    inputs["lengths"] = inputs["lengths"] - 1
    assert _error(_layer_output(params, _decode(inputs, block=4)), want) > 100 * TOL


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"lengths": torch.tensor([0, 3], dtype=torch.int32)}, ValueError, "lengths"),
        ({"block": 6}, ValueError, "block must be a power of two"),
        ({"heads_per_block": 3}, ValueError, "heads_per_block"),
        ({"num_warps": 3}, ValueError, "num_warps"),
        ({"q_latent": np.zeros((2, 4, 16))}, TypeError, "q_latent"),  # NumPy, not a tensor
        ({"scale": float("nan")}, ValueError, "scale"),
    ],
)
def test_bad_input(change, error, match):
    _, inputs, _ = _case([3, 12], capacity=12)
    tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in inputs.items()}
    kwargs = {**tensors, "scale": SCALE, "block": 4, **change}
    with pytest.raises(error, match=match):
        mla_triton.mla_decode(**kwargs)


def test_a_power_of_two_latent_is_required():
    _, inputs, _ = _case([3, 12], capacity=12)
    tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in inputs.items()}
    tensors["q_latent"], tensors["c_kv"] = tensors["q_latent"][..., :12], tensors["c_kv"][..., :12]
    with pytest.raises(ValueError, match="d_c must be a power of two"):
        mla_triton.mla_decode(**tensors, scale=SCALE, block=4)


def test_without_triton_the_call_says_what_is_missing(monkeypatch):
    from labs.common import triton_setup

    def missing():
        raise ImportError("the course's Triton kernels need Triton (pip install triton: Linux only")

    monkeypatch.setattr(triton_setup, "load", missing)
    _, inputs, _ = _case([3, 12], capacity=12)
    tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in inputs.items()}
    with pytest.raises(ImportError, match="need Triton"):
        mla_triton.mla_decode(**tensors, scale=SCALE, block=4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU (Triton compiles)")
@pytest.mark.parametrize("heads_per_block", [16, 32])
def test_compiled_on_gpu_matches_reference(heads_per_block):
    """Compiled: bf16 cache at V3's widths, ragged lengths, 300 rows (not a multiple of 64)."""
    rng = np.random.default_rng(4)
    b, h, c, r, s = 3, 32, 512, 64, 300
    host = {
        "q_latent": rng.standard_normal((b, h, c)) / 8,
        "q_rope": rng.standard_normal((b, h, r)) / 8,
        "c_kv": rng.standard_normal((b, s, c)),
        "k_rope": rng.standard_normal((b, s, r)),
    }
    gpu = {k: torch.tensor(v, dtype=torch.bfloat16, device="cuda") for k, v in host.items()}
    lengths = torch.tensor([300, 1, 129], dtype=torch.int32, device="cuda")
    options = dict(scale=0.07, block=64, splits=2, heads_per_block=heads_per_block)
    got = mla_triton.mla_decode(**gpu, lengths=lengths, **options).double().cpu().numpy()
    # the control: one token fewer (a sequence of one token keeps it)
    short = mla_triton.mla_decode(**gpu, lengths=(lengths - 1).clamp(min=1), **options)
    short = short.double().cpu().numpy()
    f = {k: v.double().cpu().numpy() for k, v in gpu.items()}  # the bf16-rounded values
    for i, n in enumerate([300, 1, 129]):
        scores = (
            f["q_latent"][i] @ f["c_kv"][i, :n].T + f["q_rope"][i] @ f["k_rope"][i, :n].T
        ) * 0.07
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        want = (p / p.sum(axis=1, keepdims=True)) @ f["c_kv"][i, :n]
        # bf16 probabilities (a NumPy model of their rounding errs by 2e-3 here; one token
        # fewer by 0.08 and 0.11)
        assert np.abs(got[i] - want).max() / np.abs(want).max() < 2e-2
        if n > 1:
            assert np.abs(short[i] - want).max() / np.abs(want).max() > 4e-2
