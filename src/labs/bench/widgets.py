"""Chapter 8 explorer: one kernel's point on a device's roofline.

`decode_roofline` and `gemm_roofline` are the plain functions behind the widget (tested, usable
without ipywidgets): the work of one call, from `mla_decode_work` or `gemm_work`, set against a
device's peaks, from `device_peaks`, by `roofline` (eq. R1). `plot_roofline` draws the point on
the device's roof; `roofline_explorer` wraps them in sliders (ipywidgets is imported only when it
is called). Taught in chapter 8, "Explore: the roofline".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes

from labs.bench.roofline import (
    DevicePeaks,
    device_peaks,
    gemm_work,
    mla_decode_work,
    roofline,
)
from labs.common.explorer import explorer
from labs.common.facts import fact
from labs.common.plotting import PALETTE, new_figure
from labs.common.validate import describe_value, one_of, real_number, size

__all__ = [
    "DEVICES",
    "decode_roofline",
    "gemm_roofline",
    "plot_roofline",
    "roofline_explorer",
]

# The registry's devices with a dense BF16 peak (the T4 has none: see `device_peaks`).
DEVICES = ("H100 SXM", "H800 SXM", "H200 SXM", "A100 SXM", "L4")
PRECISIONS = ("bf16", "fp8")  # the cache's (decode) or the operands' (GEMM)
KERNELS = ("mla_decode", "gemm")
MAX_QUERY_TOKENS = 64  # tokens decoded at once per sequence (MTP, speculative drafts)

# The explorer's sliders: decode contexts and GEMM axes move in powers of two.
CONTEXTS = tuple(2**i for i in range(6, 18))  # 64 to 131,072 cached tokens
GEMM_ROWS = tuple(2**i for i in range(4, 15))  # M (tokens): 16 to 16,384
GEMM_SIDES = tuple(2**i for i in range(7, 15))  # K and N: 128 (one FP8 block) to 16,384
MAX_SLIDER_BATCH = 256
KEYS = (
    "device", "kernel", "flops", "bytes", "peak_tflops", "memory_gbs",
    "intensity", "ridge", "bound", "seconds", "attainable_tflops",
)  # fmt: skip


def _peaks(device: str) -> DevicePeaks:
    """The registry's peaks of one of `DEVICES`."""
    return device_peaks(one_of("device", device, DEVICES))


def _point(device: str, kernel: str, flops, nbytes, peak_tflops: float, memory_gbs: float):
    """What the explorer shows of `flops` FLOPs and `nbytes` bytes on one device (eq. R1)."""
    bound = roofline(flops, nbytes, peak_tflops, memory_gbs)
    return {
        "device": device,
        "kernel": kernel,
        "flops": float(flops),
        "bytes": float(nbytes),
        "peak_tflops": float(peak_tflops),
        "memory_gbs": float(memory_gbs),
        "intensity": bound.intensity,
        "ridge": bound.ridge,
        "bound": bound.bound,
        "seconds": bound.seconds,
        "attainable_tflops": flops / bound.seconds / 1e12,  # the rate that meets the bound
    }


def decode_roofline(
    device: str, batch: int, context: int, query_tokens: int = 1, cache: str = "bf16"
) -> dict:
    """One absorbed MLA decode step with V3's attention widths on `device`, on its roofline.

    Args:
        device: one of `DEVICES` (registry names: "H100 SXM", "H200 SXM", ...).
        batch, context: sequences and cached tokens of each (see `mla_decode_work`).
        query_tokens: tokens each sequence decodes at once (1; 2 with multi-token prediction or a
            speculative draft), at most 64. Every one of V3's 128 heads scores the cache once per
            token, so the step is `mla_decode_work` with heads x query_tokens query heads.
        cache: "bf16" (2 bytes per element) or "fp8" (FlashMLA's layout: E4M3 latent, FP32 scales,
            BF16 RoPE part, 656 bytes a token). The arithmetic is BF16 either way.

    Returns:
        A dict: device, kernel (a label), flops, bytes, peak_tflops and memory_gbs (the device's
        BF16 peak and bandwidth), intensity and ridge (FLOPs per byte), bound ("memory" or
        "compute"), seconds (the roofline's lower bound, eq. R1) and attainable_tflops (the rate
        that meets it).
    """
    peaks = _peaks(device)
    query_tokens = size("query_tokens", query_tokens, maximum=MAX_QUERY_TOKENS,
                        why="tokens decoded at once per sequence")  # fmt: skip
    cache = one_of("cache", cache, PRECISIONS)
    v3 = fact("deepseekv3_attention").value
    heads, latent, rope = v3["n_heads"], v3["kv_lora_rank"], v3["rope_head_dim"]
    if cache == "bf16":
        cache_bytes = 2.0
    else:  # mla_decode_work takes bytes per element: spread the token's bytes over its elements
        cache_bytes = fact("flashmla_fp8_cache_layout").value["bytes_per_token"] / (latent + rope)
    flops, nbytes = mla_decode_work(
        batch, context, heads * query_tokens, latent, rope, cache_bytes=cache_bytes
    )
    label = (
        f"V3 MLA decode ({heads} heads x {query_tokens} query token{'s' * (query_tokens > 1)}), "
        f"batch {batch}, context {context:,}, {cache.upper()} cache"
    )
    return _point(device, label, flops, nbytes, peaks.bf16_tflops, peaks.memory_gbs)


def gemm_roofline(device: str, m: int, n: int, k: int, precision: str = "bf16") -> dict:
    """One (m, k) x (k, n) GEMM with a BF16 output on `device`, on its roofline.

    `precision` "bf16": BF16 operands against the BF16 peak. "fp8": E4M3 operands with V3's
    block scales (one FP32 scale per 1 x 128 tile of the activation and per 128 x 128 block of the
    weight, so k >= 128) against the FP8 peak; a device without FP8 units (the A100) is refused.
    Returns the dict of `decode_roofline`.
    """
    peaks = _peaks(device)
    precision = one_of("precision", precision, PRECISIONS)
    if precision == "bf16":
        flops, nbytes = gemm_work(m, n, k, in_bytes=2, out_bytes=2)
        peak = peaks.bf16_tflops
    else:
        if peaks.fp8_tflops is None:
            raise ValueError(f"precision 'fp8' needs FP8 tensor cores; the {device} has none")
        block = fact("v3_fp8_block").value[0]
        k = size("k", k, minimum=block, maximum=2**16, why="a GEMM axis")  # one block at least
        flops, nbytes = gemm_work(m, n, k, in_bytes=1, out_bytes=2, block=block)
        peak = peaks.fp8_tflops
    label = f"{precision.upper()} GEMM ({m:,} x {k:,}) x ({k:,} x {n:,})"
    return _point(device, label, flops, nbytes, peak, peaks.memory_gbs)


def _check_point(point) -> Mapping:
    """A dict as `decode_roofline` or `gemm_roofline` return it."""
    if not isinstance(point, Mapping):
        raise TypeError(
            f"point must be a dict from decode_roofline or gemm_roofline, "
            f"got {describe_value(point)}"
        )
    missing = [key for key in KEYS if key not in point]
    if missing:
        raise ValueError(
            f"point must be a dict from decode_roofline or gemm_roofline; it lacks {missing}"
        )
    for key in ("intensity", "ridge", "peak_tflops", "memory_gbs", "attainable_tflops"):
        real_number(f"point[{key!r}]", point[key], positive=True)
    one_of("point['bound']", point["bound"], ("memory", "compute"))
    return point


def _roof(peak_tflops: float, memory_gbs: float, intensities: np.ndarray) -> np.ndarray:
    """Attainable TFLOP/s at each intensity: work of that intensity timed by `roofline`."""
    nbytes = 1e9  # any amount: the rate depends on the intensity only
    return np.array(
        [i * nbytes / roofline(i * nbytes, nbytes, peak_tflops, memory_gbs).seconds / 1e12
         for i in intensities]
    )  # fmt: skip


def plot_roofline(point: dict, ax=None):
    """Log-log: the device's roof (attainable TFLOP/s against FLOPs per byte), its ridge, and
    `point` (a dict from `decode_roofline` or `gemm_roofline`) on it. Returns the axes."""
    point = _check_point(point)
    if ax is None:
        _, ax = new_figure(width=6.5, height=4.0)
    elif not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {describe_value(ax)}")
    # A fixed span (1 to 20,000 FLOPs per byte) unless the point lies outside: a slider's move
    # then moves the point, not the axes.
    low = min(1.0, point["intensity"] / 3, point["ridge"] / 3)
    high = max(2e4, point["intensity"] * 3, point["ridge"] * 3)
    x = np.geomspace(low, high, 200)
    ax.plot(x, _roof(point["peak_tflops"], point["memory_gbs"], x), color=PALETTE[0],
            label=f"{point['device']} roof")  # fmt: skip
    ax.axvline(point["ridge"], color=PALETTE[0], lw=0.8, ls=":",
               label=f"ridge {point['ridge']:.0f} FLOPs/byte")  # fmt: skip
    colour = PALETTE[1] if point["bound"] == "memory" else PALETTE[2]
    label = f"this kernel: {point['intensity']:.1f} FLOPs/byte, {point['bound']}-bound"
    ax.plot([point["intensity"]], [point["attainable_tflops"]], "o", color=colour, ms=8,
            label=label)  # fmt: skip
    ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOPs per byte)",
           ylabel="attainable TFLOP/s", title=point["kernel"])  # fmt: skip
    ax.title.set_fontsize(9)
    ax.legend(loc="lower right", fontsize=8)
    return ax


def _report(point: Mapping, others: Mapping[str, Mapping]) -> str:
    """The explorer's text: the point, its bound, and the bound of the same work elsewhere."""
    lines = [
        f"{point['kernel']}, on the {point['device']}",
        f"  work: {point['flops']:.3g} FLOPs, {point['bytes']:.3g} bytes: "
        f"intensity {point['intensity']:.1f} FLOPs/byte",
        f"  ridge: {point['ridge']:.1f} FLOPs/byte ({point['peak_tflops']:,.1f} TFLOP/s over "
        f"{point['memory_gbs']:,.0f} GB/s)",
        f"  {point['bound']}-bound: at least {point['seconds'] * 1e6:,.2f} us, "
        f"{point['attainable_tflops']:,.1f} TFLOP/s at best",
        "  the same work elsewhere: "
        + ", ".join(f"{name} {other}" for name, other in others.items()),
    ]
    return "\n".join(lines)


def roofline_explorer(
    device: str = "H100 SXM",
    kernel: str = "mla_decode",
    batch: int = 64,
    context: int = 16384,
    query_tokens: int = 1,
    cache: str = "bf16",
    m: int = 4096,
    n: int = 4096,
    k: int = 4096,
    precision: str = "bf16",
):
    """Pick a device, a kernel (V3's absorbed MLA decode or a GEMM) and its sizes; read its
    intensity against the device's ridge, the bound and the time, and see the point on the roof.

    The arguments are the starting values: batch 1 to 256, query_tokens 1 to 4, context a power
    of two from 64 to 131,072, m from 16 and n, k from 128 to 16,384 (powers of two): a slider
    would clip a value outside its range without a word. A choice the device cannot run (FP8 on
    the A100) prints why instead of a plot.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    device = one_of("device", device, DEVICES)
    kernel = one_of("kernel", kernel, KERNELS)
    batch = size("batch", batch, maximum=MAX_SLIDER_BATCH, why="the slider's range")
    context = one_of("context", context, CONTEXTS)
    query_tokens = size("query_tokens", query_tokens, maximum=4, why="the slider's range")
    cache = one_of("cache", cache, PRECISIONS)
    m = one_of("m", m, GEMM_ROWS)
    n = one_of("n", n, GEMM_SIDES)
    k = one_of("k", k, GEMM_SIDES)
    precision = one_of("precision", precision, PRECISIONS)

    style = {"description_width": "110px"}
    decode_controls = {
        "batch": widgets.IntSlider(value=batch, min=1, max=MAX_SLIDER_BATCH,
                                   description="batch", style=style),
        "context": widgets.SelectionSlider(options=CONTEXTS, value=context,
                                           description="context", style=style),
        "query_tokens": widgets.IntSlider(value=query_tokens, min=1, max=4,
                                          description="query tokens", style=style),
        "cache": widgets.Dropdown(options=PRECISIONS, value=cache, description="cache",
                                  style=style),
    }  # fmt: skip
    gemm_controls = {
        "m": widgets.SelectionSlider(options=GEMM_ROWS, value=m, description="GEMM M (tokens)",
                                     style=style),
        "n": widgets.SelectionSlider(options=GEMM_SIDES, value=n, description="GEMM N",
                                     style=style),
        "k": widgets.SelectionSlider(options=GEMM_SIDES, value=k, description="GEMM K",
                                     style=style),
        "precision": widgets.Dropdown(options=PRECISIONS, value=precision,
                                      description="GEMM precision", style=style),
    }  # fmt: skip
    kernel_control = widgets.Dropdown(
        options=[("MLA decode (V3)", "mla_decode"), ("GEMM", "gemm")],
        value=kernel,
        description="kernel",
        style=style,
    )

    def enable(chosen: str) -> None:  # grey out the other kernel's controls
        for control in decode_controls.values():
            control.disabled = chosen != "mla_decode"
        for control in gemm_controls.values():
            control.disabled = chosen != "gemm"

    enable(kernel)
    kernel_control.observe(lambda change: enable(change["new"]), names="value")

    def draw(device, kernel, batch, context, query_tokens, cache, m, n, k, precision) -> None:
        def work(name: str) -> dict:
            if kernel == "mla_decode":
                return decode_roofline(name, batch, context, query_tokens, cache)
            return gemm_roofline(name, m, n, k, precision)

        try:
            point = work(device)
        except ValueError as err:  # FP8 on a device without FP8 units
            print(err)
            return
        others = {}
        for name in DEVICES:
            try:
                others[name] = work(name)["bound"]
            except ValueError:
                others[name] = "no FP8 units"
        print(_report(point, others))
        plot_roofline(point)
        plt.show()

    controls = {
        "device": widgets.Dropdown(options=DEVICES, value=device, description="device",
                                   style=style),
        "kernel": kernel_control,
        **decode_controls,
        **gemm_controls,
    }  # fmt: skip
    return explorer(draw, controls)
