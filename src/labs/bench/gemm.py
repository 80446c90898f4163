"""The FP8 GEMM benchmark: the block-scaled Pallas kernel against BF16 GEMMs and cuBLAS FP8.

Taught in chapter 8, "Measuring against the limit".
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch

from labs.bench import timing
from labs.bench.roofline import _gemm_work, _roofline
from labs.bench.timing import _attempt, _figures, _jax_absent_row, _peaks, _ratios, _rel_error
from labs.fp8.pallas import _block_scaled_matmul, _quantize_operands
from labs.fp8.reference import fp8_matmul

__all__: list[str] = []


def _gemm_case(kind, m, n, k, kernel, peaks, time_it, seed) -> dict:
    """One GEMM size: FP8 kernel on quantised operands, BF16 and cuBLAS FP8 baselines."""
    block = kernel["block"]
    flops, nbytes = _gemm_work(m, n, k, 1, 4, block)  # FP8 in, FP32 out, FP32 scales
    bf16_flops, bf16_bytes = _gemm_work(m, n, k, 2, 2, None)
    fp8_bound = bf16_bound = None
    if peaks is not None and peaks.fp8_tflops is not None:
        fp8_bound = _roofline(flops, nbytes, *_peaks(peaks, "fp8"))
    if peaks is not None and peaks.bf16_tflops is not None:
        bf16_bound = _roofline(bf16_flops, bf16_bytes, *_peaks(peaks, "bf16"))
    with_jax = timing._jax_measures(kind)
    if with_jax:  # JAX draws the operands on the device; PyTorch reads the same memory
        key_a, key_b = jax.random.split(jax.random.key(seed))
        a = jax.random.normal(key_a, (m, k), jnp.float32)
        b = jax.random.normal(key_b, (k, n), jnp.float32) / np.sqrt(k)
        operands = _quantize_operands(a, b, block)
        ta, tb = torch.from_dlpack(a), torch.from_dlpack(b)
    else:  # JAX has no GPU: PyTorch draws them on the GPU, and only PyTorch is timed
        generator = torch.Generator(device=timing._torch_device(kind)).manual_seed(seed)
        ta = torch.randn((m, k), generator=generator, device=generator.device)
        tb = torch.randn((k, n), generator=generator, device=generator.device) / np.sqrt(k)
    target = "interpret" if kind == "cpu" else "gpu"  # the benchmark measures a CUDA GPU
    if m * n * k <= 2**27:  # the NumPy reference, same codes and scales (seconds on a CPU)
        host_a, host_b = (a, b) if with_jax else (ta.cpu(), tb.cpu())
        host_a, host_b = np.asarray(host_a), np.asarray(host_b)
        fp8_want = fp8_matmul(host_a, host_b, "tile", "block", "fp32", block=block)
        reference = "labs.fp8.reference.fp8_matmul (NumPy)"
    elif with_jax:  # the dequantised product in FP32 on the device: the same sum, another order
        fp8_want = _dequantised_product(*operands)
        reference = "dequantised operands, float32 product on the device"
    else:
        from labs.fp8 import triton as fp8_triton  # its quantisation is PyTorch's

        fp8_want = _dequantised_product_torch(*fp8_triton._quantize_operands(ta, tb, block))
        reference = "dequantised operands, float64 product on the device (PyTorch)"
    fp8_want = np.asarray(fp8_want, np.float64)
    if with_jax:  # before quantisation
        exact = np.asarray(jax.device_get(_exact_product(a, b)), np.float64)
    else:
        exact = (ta.double() @ tb.double()).cpu().numpy()
    rows: dict = {}

    def measure(fn, mode, bound, peak_tflops, work, dtype):
        times, out = time_it(fn)
        out = out.float().cpu().numpy() if isinstance(out, torch.Tensor) else jax.device_get(out)
        row = {**_figures(times, *work, peaks, peak_tflops, bound), "mode": mode, "dtype": dtype}
        row["rel_error"] = _rel_error(out, exact)  # against the float32 product of a and b
        if (
            "scales" in dtype and "per-tensor" not in dtype
        ):  # the block-scaled kernel: against the reference of its own recipe
            row["rel_error_vs_fp8_reference"] = _rel_error(out, fp8_want)
        return row

    fp8_peak = None if peaks is None else peaks.fp8_tflops
    bf16_peak = None if peaks is None else peaks.bf16_tflops
    for block_m, warps in kernel["variants"]:  # rows of an output tile, GPU warps
        name = "pallas_fp8" + ("" if warps is None else f"_m{block_m}_w{warps}")
        if not with_jax:
            rows[name] = _jax_absent_row()
            continue
        call = lambda block_m=block_m, warps=warps: _block_scaled_matmul(  # noqa: E731
            *operands, block, block_m, target, warps
        )
        _attempt(
            rows,
            name,
            lambda call=call, block_m=block_m, warps=warps: {
                **measure(
                    call,
                    "interpret (CPU: times the interpreter)"
                    if kind == "cpu"
                    else "compiled (Triton)",
                    fp8_bound,
                    fp8_peak,
                    (flops, nbytes),
                    f"float8_e4m3fn, 1x{block} / {block}x{block} scales",
                ),
                "block_m": block_m,
                "num_warps": warps,
            },
        )
    if kind == "gpu":  # the Triton twin (labs.fp8.triton) on its own quantised operands
        _triton_rows(rows, measure, ta, tb, kernel, fp8_bound, fp8_peak, (flops, nbytes))
    bf_a, bf_b = ta.to(torch.bfloat16), tb.to(torch.bfloat16)
    _attempt(
        rows,
        "bf16_torch",
        lambda: measure(
            lambda: bf_a @ bf_b,
            "eager",
            bf16_bound,
            bf16_peak,
            (bf16_flops, bf16_bytes),
            "bfloat16",
        ),
    )
    if with_jax:
        ja, jb = a.astype(jnp.bfloat16), b.astype(jnp.bfloat16)
        _attempt(
            rows,
            "bf16_jax",
            lambda: measure(
                lambda: _bf16_dot(ja, jb),
                "compiled",
                bf16_bound,
                bf16_peak,
                (bf16_flops, bf16_bytes),
                "bfloat16",
            ),
        )
    else:
        rows["bf16_jax"] = _jax_absent_row()
    _attempt(
        rows,
        "scaled_mm_torch",
        lambda: _scaled_mm_row(ta, tb, measure, fp8_bound, fp8_peak, m, n, k),
    )
    return {
        "m": m,
        "n": n,
        "k": k,
        "block": block,
        "reference": reference,
        "flops": flops,
        "bytes": nbytes,
        "intensity": flops / nbytes,
        "roofline": None if fp8_bound is None else vars(fp8_bound),
        "kernels": rows,
        "ratios": {
            k: v
            for kernel in rows
            if kernel.startswith(("pallas", "triton"))
            for k, v in _ratios(rows, kernel, ("bf16_torch", "bf16_jax", "scaled_mm_torch")).items()
        },
    }


@jax.jit
def _bf16_dot(a, b):
    return jnp.dot(a, b, preferred_element_type=jnp.float32).astype(jnp.bfloat16)


@jax.jit
def _exact_product(a, b):
    """a @ b in FP32 at full precision (no TF32): what every GEMM here approximates."""
    return jnp.dot(a, b, precision=jax.lax.Precision.HIGHEST)


@jax.jit
def _dequantised_product(a_q, a_scales, b_q, b_scales):
    """Each FP8 code times its scale, then one FP32 product at full precision."""
    a = a_q.astype(jnp.float32) * jnp.repeat(a_scales, a_q.shape[1] // a_scales.shape[1], axis=1)
    s_b = jnp.repeat(
        jnp.repeat(b_scales, b_q.shape[0] // b_scales.shape[0], axis=0),
        b_q.shape[1] // b_scales.shape[1],
        axis=1,
    )
    return jnp.dot(a, b_q.astype(jnp.float32) * s_b, precision=jax.lax.Precision.HIGHEST)


def _dequantised_product_torch(a_q, a_scales, b_q, b_scales):
    """`_dequantised_product` in PyTorch, in float64 (no TF32 to rule out): a NumPy array."""
    block = a_q.shape[1] // a_scales.shape[1]
    a = a_q.double() * a_scales.double().repeat_interleave(block, dim=1)
    s_b = b_scales.double().repeat_interleave(block, dim=0).repeat_interleave(block, dim=1)
    return (a @ (b_q.double() * s_b)).cpu().numpy()


def _scaled_mm_row(ta, tb, measure, bound, peak, m, n, k) -> dict:
    """cuBLAS FP8 with one scale per tensor (E4M3, max 448), BF16 out; only where it exists."""
    if not hasattr(torch, "_scaled_mm"):
        raise RuntimeError("torch._scaled_mm is not in this PyTorch")
    s_a, s_b = ta.abs().max().float() / 448, tb.abs().max().float() / 448
    a8 = (ta / s_a).to(torch.float8_e4m3fn)
    b8 = (tb.t().contiguous() / s_b).to(torch.float8_e4m3fn).t()  # column-major, as cuBLAS wants
    work = _gemm_work(m, n, k, 1, 2, None)
    # scales by keyword: PyTorch 2.1 to 2.4 took them so, 2.5 and later take either form

    def fn():
        out = torch._scaled_mm(a8, b8, scale_a=s_a, scale_b=s_b, out_dtype=torch.bfloat16)
        return out[0] if isinstance(out, tuple) else out  # PyTorch < 2.5: (out, amax)

    return measure(fn, "eager", bound, peak, work, "float8_e4m3fn, per-tensor scales")


def _triton_rows(rows, measure, ta, tb, kernel, bound, peak, work) -> None:
    """The Triton GEMM's rows (GPU runs): each variant on operands quantised once."""
    from labs.fp8 import triton as fp8_triton

    block = kernel["block"]
    operands = fp8_triton._quantize_operands(ta, tb, block)
    for block_m, warps in kernel["variants"]:
        call = lambda block_m=block_m, warps=warps: fp8_triton._launch(  # noqa: E731
            *operands, block, block_m, warps
        )
        _attempt(
            rows,
            f"triton_fp8_m{block_m}" + ("" if warps is None else f"_w{warps}"),
            lambda call=call, block_m=block_m, warps=warps: {
                **measure(
                    call,
                    "compiled (Triton, PyTorch)",
                    bound,
                    peak,
                    work,
                    f"float8_e4m3fn, 1x{block} / {block}x{block} scales",
                ),
                "block_m": block_m,
                "num_warps": warps,
            },
        )
