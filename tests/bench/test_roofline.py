"""labs.bench.roofline: FLOPs and bytes worked by hand, the bound, the registry's devices."""

from __future__ import annotations

import pytest

from labs.bench import device_peaks, gemm_work, mla_decode_work, roofline


def test_decode_work_by_hand():
    # B=2, S=3, H=4, d_c=8, d_h^R=2: FLOPs 2*2*4*3*(8+2) + 2*2*4*3*8 = 480 + 384;
    # bytes: cache 2*3*10*2 = 120, queries 2*4*10*2 = 160, output 2*4*8*4 = 256
    assert mla_decode_work(2, 3, heads=4, latent=8, rope=2) == (864, 536.0)
    # a one-byte cache halves only the cache term
    assert mla_decode_work(2, 3, heads=4, latent=8, rope=2, cache_bytes=1)[1] == 476.0


def test_gemm_work_by_hand():
    # (4, 8) x (8, 6): 2*4*6*8 = 384 FLOPs; (32 + 48) one-byte inputs, 24 two-byte outputs
    assert gemm_work(4, 6, 8) == (384, 128.0)
    # block 4: a has 4 rows x 2 K-blocks of scales, b 2 x ceil(6 / 4) = 4: 12 FP32 scales
    assert gemm_work(4, 6, 8, block=4) == (384, 176.0)


def test_roofline_picks_the_slower_limit():
    # 100 FLOPs, 10 bytes on 1 TFLOP/s and 1 GB/s: 1e-10 s of compute, 1e-8 s of memory
    slow_memory = roofline(100, 10, peak_tflops=1, memory_gbs=1)
    assert slow_memory.bound == "memory" and slow_memory.seconds == pytest.approx(1e-8)
    assert slow_memory.intensity == 10 and slow_memory.ridge == pytest.approx(1000)
    # 1e6 FLOPs for the same bytes: 1e-6 s of compute, above the ridge
    slow_compute = roofline(1e6, 10, peak_tflops=1, memory_gbs=1)
    assert slow_compute.bound == "compute" and slow_compute.seconds == pytest.approx(1e-6)


def test_v3_decode_is_memory_bound_on_h100_and_compute_bound_on_h200():
    """Intensity about 2 H (2 d_c + d_h^R) / ((d_c + d_h^R) 2) = 241.8 FLOPs per byte: under the
    H100's ridge (989.5 / 3.35 = 295.4), over the H200's (989.5 / 4.8 = 206.1), for every
    batch 32-128 and context 4K-32K of the issue."""
    h100, h200 = device_peaks("NVIDIA H100 80GB HBM3"), device_peaks("NVIDIA H200")
    for batch in (32, 64, 128):
        for context in (4096, 8192, 32768):
            flops, nbytes = mla_decode_work(batch, context)
            assert 220 < flops / nbytes < 241.8  # the queries and FP32 outputs add bytes
            assert roofline(flops, nbytes, h100.bf16_tflops, h100.memory_gbs).bound == "memory"
            assert roofline(flops, nbytes, h200.bf16_tflops, h200.memory_gbs).bound == "compute"


@pytest.mark.parametrize(
    ("name", "registry", "memory"),
    [
        ("NVIDIA H200", "H200 SXM", 4800.0),
        ("NVIDIA H100 80GB HBM3", "H100 SXM", 3350.0),
        ("NVIDIA H800", "H800 SXM", 3350.0),
        ("Tesla T4", "T4", 320.0),
        ("NVIDIA A100-SXM4-80GB", "A100 SXM", 2039.0),
        ("NVIDIA A100-SXM4-40GB", "A100 SXM 40GB", 1555.0),  # Colab's A100: HBM2, not HBM2e
    ],
)
def test_device_peaks_from_the_registry(name, registry, memory):
    peaks = device_peaks(name)
    assert peaks.name == registry and peaks.memory_gbs == memory


def test_unknown_devices_have_no_peaks():
    assert device_peaks("NVIDIA H100 PCIe") is None  # another clock and memory than the SXM
    assert device_peaks("NVIDIA A100-PCIE-40GB") is None
    # the 40 GB A100 has the 80 GB part's compute peak, not its bandwidth
    a100_40, a100_80 = device_peaks("NVIDIA A100-SXM4-40GB"), device_peaks("NVIDIA A100-SXM4-80GB")
    assert a100_40.bf16_tflops == a100_80.bf16_tflops and a100_40.memory_gbs < a100_80.memory_gbs
    # the NVL boards: same chips, lower clocks and power than the SXM parts' datasheet peaks
    assert device_peaks("NVIDIA H100 NVL") is None and device_peaks("NVIDIA H200 NVL") is None
    assert device_peaks("x86_64") is None
    assert device_peaks("Tesla T4").bf16_tflops is None  # the T4 has no BF16 units


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mla_decode_work(0, 10), "batch"),
        (lambda: mla_decode_work(2, 2**30), "context"),
        (lambda: mla_decode_work(2, 10, cache_bytes=0), "cache_bytes"),
        (lambda: gemm_work(4, 4, 4, block=8), "block"),
        (lambda: gemm_work(4, 2.0, 4), "n"),
        (lambda: roofline(1, 0, 1, 1), "nbytes"),
        (lambda: roofline(1, 1, float("nan"), 1), "peak_tflops"),
        (lambda: device_peaks(7), "device_name"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_exercise_8_1_query_tokens_to_compute_bound():
    """Chapter 8's prediction 8.1, checked here rather than in the cell, where it would show.
    s_q query tokens on h heads count as h * s_q heads with one token. By hand, at long contexts:
    64 heads give 2 * 64 * 1088 / 1152 = 120.9 FLOPs per byte, under the H100's ridge 295.4 with
    2 tokens (241.8), past it with 3; 32 heads give 60.4, under the H200's 206.1 with 3 tokens
    (181.3), past it with 4. The queries and outputs take a little off each."""
    peaks = {name: device_peaks(f"NVIDIA {name}") for name in ("H100", "H200")}

    def bound(device, heads):
        p = peaks[device]
        return roofline(*mla_decode_work(64, 16384, heads=heads), p.bf16_tflops, p.memory_gbs)

    assert [bound("H100", 64 * s).bound for s in (1, 2, 3)] == ["memory", "memory", "compute"]
    assert [bound("H200", 32 * s).bound for s in (1, 3, 4)] == ["memory", "memory", "compute"]
    # The equivalence the cell relies on, from (R2) and (R3) written out for s_q tokens:
    b, s, h, c, r, s_q = 64, 16384, 32, 512, 64, 3
    flops = s_q * (2 * b * h * s * (c + r) + 2 * b * h * s * c)
    nbytes = b * s * (c + r) * 2 + s_q * (b * h * (c + r) * 2 + b * h * c * 4)
    assert mla_decode_work(b, s, heads=h * s_q) == (flops, nbytes)
    # Without tensor parallelism the H200 needs no second token: the control the split changes.
    assert bound("H200", 128).bound == "compute" and bound("H100", 128).bound == "memory"


def _traced_bytes(fn, *args, length):
    """Bytes each PyTorch call of `fn` reads and writes in tensors with an axis of `length`
    (the cache and the scores), views left out: the code's own steps, traced."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    def tensors(tree):
        return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]

    class Count(TorchDispatchMode):
        moved = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            ins, outs = tensors((args, kwargs)), tensors(out)
            storages = {t.untyped_storage().data_ptr() for t in ins}
            if all(t.untyped_storage().data_ptr() in storages for t in outs):
                return out  # a view, or a cast to the dtype it had: no bytes move
            Count.moved += sum(
                t.numel() * t.element_size() for t in ins + outs if length in t.shape
            )
            return out

    with Count():
        fn(*args)
    return Count.moved


@pytest.mark.parametrize("dtype_name, cache_bytes", [("bfloat16", 2), ("float32", 4)])
def test_einsum_decode_bytes_counts_the_benchmark_baseline_call_by_call(dtype_name, cache_bytes):
    """The eager count equals what `_naive_decode_torch` moves, traced op by op: two einsums, a
    sum, casts, a scale, a softmax and the weighted sum (in BF16, 40 bytes per head and token)."""
    import torch

    from labs.bench.decode import _naive_decode_torch
    from labs.bench.roofline import einsum_decode_bytes

    b, h, s, c, r = 2, 3, 37, 16, 8  # 37: no other axis has that length
    dtype = getattr(torch, dtype_name)
    args = [
        torch.randn(*shape, dtype=dtype) for shape in ((b, h, c), (b, h, r), (b, s, c), (b, s, r))
    ]
    traced = _traced_bytes(_naive_decode_torch, *args, 0.1, length=s)
    assert traced == b * s * einsum_decode_bytes(h, c, r, cache_bytes, "eager")
    # the ideal three-pass einsum is no trace of this code: it moves fewer bytes
    assert traced > b * s * einsum_decode_bytes(h, c, r, cache_bytes, "ideal")


def test_einsum_decode_bytes_by_hand():
    # V3, BF16: 1152 + 1024 bytes of cache, then per head 2 + 2 (the two scores), 6 (their sum),
    # 6 (.float()), 8 (* scale), 8 (softmax), 6 (to BF16), 2 (read by the weighted sum) = 40
    from labs.bench.roofline import einsum_decode_bytes

    assert einsum_decode_bytes() == 1152 + 1024 + 128 * 40 == 7296
    # the ideal einsum: FP32 scores written and read, BF16 probabilities written and read
    assert einsum_decode_bytes(baseline="ideal") == 1152 + 1024 + 128 * 12 == 3712
    # float32 (this CPU's count): the casts move nothing, 10 passes of 4 bytes remain
    assert einsum_decode_bytes(cache_bytes=4) == 2304 + 2048 + 128 * 40
    with pytest.raises(ValueError, match="baseline"):
        einsum_decode_bytes(baseline="fused")
    with pytest.raises(ValueError, match="cache_bytes"):
        einsum_decode_bytes(cache_bytes=1)
