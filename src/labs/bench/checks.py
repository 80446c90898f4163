"""The argument checks of `labs.bench`, written once for its roofline model and its runner."""

from __future__ import annotations

from labs.common.validate import one_of, real_number, size, text

__all__: list[str] = []  # internal: the public entry points live in roofline.py and run.py

BOUNDS = ("memory", "compute")

MAX_BATCH = 2**16  # sequences in one decode step: more is a typo, not a serving batch
MAX_CONTEXT = 2**24  # cached tokens per sequence, as labs.mla caps positions
MAX_WIDTH = 2**16  # heads, latent or RoPE width, a GEMM axis: a typo beyond this
MAX_BYTES = 16  # bytes of one element (float64 is 8; a typo beyond this)
SIZES = ("tiny", "cpu", "gpu_small", "gpu")


def check_decode_shape(batch, context, heads, latent, rope):
    """Sizes of one absorbed MLA decode step, each capped."""
    return (
        size("batch", batch, maximum=MAX_BATCH, why="a serving batch, not a typo"),
        size("context", context, maximum=MAX_CONTEXT, why="positions beyond 2**24"),
        size("heads", heads, maximum=MAX_WIDTH, why="query heads"),
        size("latent", latent, maximum=MAX_WIDTH, why="the latent width d_c"),
        size("rope", rope, maximum=MAX_WIDTH, minimum=0, why="the RoPE width d_h^R"),
    )


def check_gemm_shape(m, n, k):
    """The axes of one GEMM, each capped."""
    return tuple(
        size(name, v, maximum=MAX_WIDTH, why="a GEMM axis")
        for name, v in zip("mnk", (m, n, k), strict=True)
    )


def check_element_bytes(**named):
    """Bytes per element, each a positive number of at most 16."""
    return tuple(real_number(k, v, positive=True, maximum=MAX_BYTES) for k, v in named.items())


def check_roofline(flops, nbytes, peak_tflops, memory_gbs):
    """Work (FLOPs and bytes, both positive: every kernel reads something) and a device's two
    peaks (positive)."""
    flops = real_number("flops", flops, positive=True)
    nbytes = real_number("nbytes", nbytes, positive=True)
    return (
        flops,
        nbytes,
        real_number("peak_tflops", peak_tflops, positive=True),
        real_number("memory_gbs", memory_gbs, positive=True),
    )


def check_device_name(device_name):
    """A device name as a framework reports it (may be empty: no match)."""
    return text("device_name", device_name, nonempty=False)


def check_sizes(sizes):
    """Which set of problem sizes to run: "tiny" (tests), "cpu" and "gpu_small" (small), "gpu"
    (V3's)."""
    return one_of("sizes", sizes, SIZES)


def check_device_peaks(peaks) -> None:
    """The fields of a DevicePeaks: a name, a positive bandwidth, positive peaks or None."""
    text("name", peaks.name)
    real_number("memory_gbs", peaks.memory_gbs, positive=True)
    for name in ("bf16_tflops", "fp8_tflops"):
        if getattr(peaks, name) is not None:
            real_number(name, getattr(peaks, name), positive=True)


def check_roofline_fields(bound) -> None:
    """The fields of a Roofline: positive time, intensity and ridge, a known bound."""
    real_number("seconds", bound.seconds, positive=True)
    one_of("bound", bound.bound, BOUNDS)
    real_number("intensity", bound.intensity, positive=True)
    real_number("ridge", bound.ridge, positive=True)
