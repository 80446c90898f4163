"""labs.bench: the two Pallas kernels measured against the device's limits (chapter 8).

Tooling, like `labs.grading`: it imports the chapter packages whose kernels it times.

* `labs.bench.roofline` (framework-free): the FLOPs and bytes of an absorbed MLA decode step and of
  a (block-scaled) GEMM, the bytes of the einsum baseline, the roofline bound, and the peaks of a
  device from the facts registry.
* `labs.bench.splitk` (framework-free): what splitting the context costs, the merge's bytes
  beside the cache's, the step time as the splits fill the SMs, and the softmax's exponentials.
* `labs.bench.run` (PyTorch and JAX): `python -m labs.bench --out results.json` times the MLA
  decode and FP8 GEMM kernels of `labs.mla.pallas` and `labs.fp8.pallas` against their baselines
  and writes the figures, the device and the versions as JSON.
* `labs.bench.results`: the committed JSON files, read by `load_results`, shown by
  `format_results`.
* `labs.bench.widgets` (ipywidgets, imported lazily): the roofline explorer, a device, a kernel
  and its sizes against the device's roof; `decode_roofline` and `gemm_roofline` compute what it
  shows. Imported on its own, as every chapter's widgets are.
* `labs.bench.exercises`: the instant checks of chapter 8's exercises (merging split-K partials,
  choosing BF16 or FP8 for a GEMM with `labs.fp8.cost`).

Taught in chapter 8, "Making the hardware sing".
"""

from labs.bench.results import RESULTS_DIR, format_results, load_results
from labs.bench.roofline import (
    DevicePeaks,
    Roofline,
    device_peaks,
    einsum_decode_bytes,
    gemm_work,
    mla_decode_work,
    roofline,
)

__all__ = [
    "RESULTS_DIR",
    "DevicePeaks",
    "Roofline",
    "device_peaks",
    "einsum_decode_bytes",
    "format_results",
    "gemm_work",
    "load_results",
    "mla_decode_work",
    "roofline",
]
