"""The MLA decode benchmark: the Pallas kernel against a naive einsum and fused attention.

Taught in chapter 8, "Measuring against the limit". All heads share one latent cache, so the
baselines get it as such: the einsums score every head against it, and PyTorch's
`scaled_dot_product_attention` sees one "head" whose H query rows share the latent key and value.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch

from labs.bench import timing
from labs.bench.roofline import _mla_decode_work, _roofline
from labs.bench.timing import _attempt, _figures, _jax_absent_row, _peaks, _ratios, _rel_error
from labs.mla.pallas import _as_pages, _mla_decode_paged

__all__: list[str] = []

V3_WIDTHS = {"heads": 128, "latent": 512, "rope": 64}


def _kernel_variants(batch, context, heads, kernel) -> list[tuple[int, int, int | None]]:
    """(heads per program, splits, GPU warps) of each kernel variant the benchmark times: the
    context is split until the grid has `min_programs` programs (enough to fill the device)."""
    variants = []
    for hb, warps in kernel["variants"]:  # heads per program (None: all), GPU warps (None: default)
        hb = hb or heads
        programs = batch * (heads // hb)  # before the split
        splits = max(1, min(-(-kernel["min_programs"] // programs), context // kernel["block"]))
        variants.append((hb, splits, warps))
    return variants


def _decode_case(kind, batch, context, kernel, peaks, time_it, seed) -> dict:
    """One decode size: inputs, then every implementation timed and checked."""
    heads, latent, rope = V3_WIDTHS["heads"], V3_WIDTHS["latent"], V3_WIDTHS["rope"]
    dtype = "bfloat16" if kind == "gpu" else "float32"  # a CPU has no fast bf16 arithmetic
    element = 2 if dtype == "bfloat16" else 4
    flops, nbytes = _mla_decode_work(batch, context, heads, latent, rope, element, element, 4)
    # no roofline where the registry has no BF16 peak (a T4): the figures go without shares
    has_peak = peaks is not None and peaks.bf16_tflops is not None
    bound = _roofline(flops, nbytes, *_peaks(peaks, "bf16")) if has_peak else None
    scale = float(1 / np.sqrt(128 + rope))  # V3: 1 / sqrt(d_h + d_h^R)
    shapes = {"q": (batch, heads, latent), "qr": (batch, heads, rope),
              "c": (batch, context, latent), "kr": (batch, context, rope)}  # fmt: skip
    with_jax = timing._jax_measures(kind)
    if with_jax:  # JAX draws the inputs on the device; PyTorch reads the same memory
        key = jax.random.split(jax.random.key(seed), 4)
        jdt = jnp.dtype(dtype)
        q_lat = jax.random.normal(key[0], shapes["q"], jdt) / 8
        q_r = jax.random.normal(key[1], shapes["qr"], jdt) / 8
        c_kv = jax.random.normal(key[2], shapes["c"], jdt)
        k_r = jax.random.normal(key[3], shapes["kr"], jdt)
        lengths = jnp.full((batch,), context, jnp.int32)
        tq = {
            n: torch.from_dlpack(x)
            for n, x in zip(("q", "qr", "c", "kr"), (q_lat, q_r, c_kv, k_r), strict=True)
        }
    else:  # JAX has no GPU: PyTorch draws them on the GPU, and only PyTorch is timed
        generator = torch.Generator(device=timing._torch_device(kind)).manual_seed(seed)
        tdt = getattr(torch, dtype)
        tq = {
            n: torch.randn(shape, generator=generator, dtype=tdt, device=generator.device)
            for n, shape in shapes.items()
        }
        tq["q"], tq["qr"] = tq["q"] / 8, tq["qr"] / 8
        lengths = torch.full((batch,), context, dtype=torch.int32, device=generator.device)
    # fused attention's inputs, built once: the query and key of the latent and RoPE parts
    tq["q_full"] = torch.cat([tq["q"], tq["qr"]], dim=-1)[:, None]  # (B, 1, H, C + R)
    tq["k_full"] = torch.cat([tq["c"], tq["kr"]], dim=-1)[:, None]  # (B, 1, S, C + R)
    rows: dict = {}
    figures = lambda t: _figures(t, flops, nbytes, peaks, peaks and peaks.bf16_tflops, bound)  # noqa: E731

    def naive_jax():
        return _naive_decode_jax(q_lat, q_r, c_kv, k_r, scale)

    if batch * heads * context <= 2**22:  # NumPy in float64 on the same (rounded) inputs
        host = [tq[n].double().cpu().numpy() for n in ("q", "qr", "c", "kr")]
        want, reference = _reference_decode_numpy(*host, scale), "NumPy float64"
    elif with_jax:  # too large for the host in seconds: float32 at full precision on the device
        want = np.asarray(jax.device_get(_reference_decode_jax(q_lat, q_r, c_kv, k_r, scale)))
        reference = "float32 at full precision on the device"
    else:
        want = _reference_decode_torch(tq["q"], tq["qr"], tq["c"], tq["kr"], scale)
        reference = "float64 on the device, one sequence at a time (PyTorch)"

    def measure(fn, mode):
        times, out = time_it(fn)
        out = out.float().cpu().numpy() if isinstance(out, torch.Tensor) else jax.device_get(out)
        return {
            **figures(times),
            "mode": mode,
            "dtype": dtype,
            "rel_error": _rel_error(out, want),
        }

    if with_jax:
        c_pages, kr_pages, table = _as_pages(c_kv, k_r, kernel["block"])
    target = "interpret" if kind == "cpu" else "gpu"  # the benchmark measures a CUDA GPU
    for hb, splits, warps in _kernel_variants(batch, context, heads, kernel):
        name = f"pallas_hb{hb}" + ("" if warps is None else f"_w{warps}")
        if not with_jax:
            rows[name] = _jax_absent_row()
            continue
        call = lambda hb=hb, splits=splits, warps=warps: _mla_decode_paged(  # noqa: E731
            q_lat, q_r, c_pages, kr_pages, lengths, table, scale, splits, hb, target, warps
        )
        mode = "interpret (CPU: times the interpreter)" if kind == "cpu" else "compiled (Triton)"
        _attempt(
            rows,
            name,
            lambda call=call, mode=mode, hb=hb, splits=splits, warps=warps: {
                **measure(call, mode),
                "splits": splits,
                "heads_per_block": hb,
                "num_warps": warps,
                "block": kernel["block"],
            },
        )
    if kind == "gpu":  # the Triton twin (labs.mla.triton), same variants, pages built once
        _triton_rows(rows, measure, tq, lengths, scale, batch, context, heads, kernel)
    if with_jax:
        _attempt(rows, "einsum_jax", lambda: measure(naive_jax, "compiled"))
    else:
        rows["einsum_jax"] = _jax_absent_row()
    _attempt(
        rows,
        "einsum_torch",
        lambda: measure(
            lambda: _naive_decode_torch(tq["q"], tq["qr"], tq["c"], tq["kr"], scale), "eager"
        ),
    )
    _attempt(
        rows,
        "sdpa_torch",
        lambda: measure(
            lambda: _sdpa_decode_torch(tq["q_full"], tq["k_full"], latent, scale), "eager"
        ),
    )
    return {
        "batch": batch,
        "context": context,
        **V3_WIDTHS,
        "dtype": dtype,
        "flops": flops,
        "bytes": nbytes,
        "intensity": flops / nbytes,
        "roofline": None if bound is None else vars(bound),
        "kernels": rows,
        "reference": reference,
        "ratios": {
            k: v
            for kernel in rows
            if kernel.startswith(("pallas", "triton"))
            for k, v in _ratios(rows, kernel, ("einsum_torch", "einsum_jax", "sdpa_torch")).items()
        },
    }


@jax.jit
def _naive_decode_jax(q_lat, q_r, c_kv, k_r, scale):
    """Absorbed decode with einsum: every head's scores, a softmax, the weighted latent."""
    s = jnp.einsum("bhc,bsc->bhs", q_lat, c_kv, preferred_element_type=jnp.float32)
    s = (s + jnp.einsum("bhr,bsr->bhs", q_r, k_r, preferred_element_type=jnp.float32)) * scale
    p = jax.nn.softmax(s, axis=-1).astype(c_kv.dtype)
    return jnp.einsum("bhs,bsc->bhc", p, c_kv, preferred_element_type=jnp.float32)


def _reference_decode_numpy(q_lat, q_r, c_kv, k_r, scale):
    """The same attention in NumPy (float64 in, float64 out): the reference of small sizes."""
    s = (np.einsum("bhc,bsc->bhs", q_lat, c_kv) + np.einsum("bhr,bsr->bhs", q_r, k_r)) * scale
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return np.einsum("bhs,bsc->bhc", p / p.sum(axis=-1, keepdims=True), c_kv)


@jax.jit
def _reference_decode_jax(q_lat, q_r, c_kv, k_r, scale):
    """The same attention in float32 at full precision (no TF32), for sizes too big for NumPy."""
    f32 = lambda x: x.astype(jnp.float32)  # noqa: E731
    hi = jax.lax.Precision.HIGHEST
    s = jnp.einsum("bhc,bsc->bhs", f32(q_lat), f32(c_kv), precision=hi)
    s = (s + jnp.einsum("bhr,bsr->bhs", f32(q_r), f32(k_r), precision=hi)) * scale
    return jnp.einsum("bhs,bsc->bhc", jax.nn.softmax(s, axis=-1), f32(c_kv), precision=hi)


def _reference_decode_torch(q_lat, q_r, c_kv, k_r, scale):
    """The same attention in float64 on the tensors' device, one sequence at a time (a few MB
    each): the reference of large sizes where JAX has no GPU. Returns a NumPy array."""
    out = []
    for b in range(q_lat.shape[0]):
        q, qr, c, kr = (x[b].double() for x in (q_lat, q_r, c_kv, k_r))
        p = torch.softmax((q @ c.T + qr @ kr.T) * scale, dim=-1)
        out.append((p @ c).cpu())
    return torch.stack(out).numpy()


def _naive_decode_torch(q_lat, q_r, c_kv, k_r, scale):
    """The same three einsums in PyTorch."""
    s = torch.einsum("bhc,bsc->bhs", q_lat, c_kv) + torch.einsum("bhr,bsr->bhs", q_r, k_r)
    p = torch.softmax(s.float() * scale, dim=-1).to(c_kv.dtype)
    return torch.einsum("bhs,bsc->bhc", p, c_kv)


def _sdpa_decode_torch(q, k, latent, scale):
    """PyTorch's fused attention: one "head" whose H query rows share the latent key and value
    (the value is the key's first d_c columns, c^KV)."""
    out = torch.nn.functional.scaled_dot_product_attention(q, k, k[..., :latent], scale=scale)
    return out[:, 0]  # (B, H, C)


def _triton_rows(rows, measure, tq, lengths, scale, batch, context, heads, kernel) -> None:
    """The Triton decode kernel's rows (GPU runs): each variant on a page pool built once."""
    from labs.mla import triton as mla_triton

    c_pages, kr_pages, table = mla_triton._as_pages(tq["c"], tq["kr"], kernel["block"])
    t_lengths = lengths if isinstance(lengths, torch.Tensor) else torch.from_dlpack(lengths)
    for hb, splits, warps in _kernel_variants(batch, context, heads, kernel):
        call = lambda hb=hb, splits=splits, warps=warps: mla_triton._launch(  # noqa: E731
            tq["q"], tq["qr"], c_pages, kr_pages, table, t_lengths, scale, splits, hb, warps
        )  # the kernel alone: `mla_decode` would also check the page table on the host
        _attempt(
            rows,
            f"triton_hb{hb}" + ("" if warps is None else f"_w{warps}"),
            lambda call=call, hb=hb, splits=splits, warps=warps: {
                **measure(call, "compiled (Triton, PyTorch)"),
                "splits": splits,
                "heads_per_block": hb,
                "num_warps": warps,
                "block": kernel["block"],
            },
        )
