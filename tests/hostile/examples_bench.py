"""Valid calls for labs.bench (the kernels' benchmark), one per public callable (see harness.py)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np

from labs.bench import load_results
from labs.bench.widgets import decode_roofline
from tests.hostile.harness import call


def _combine_splits(acc, m, l):  # noqa: E741 - a correct answer, so the check has work to do
    w = np.exp(m - m.max(axis=0))
    return (w[..., None] * acc).sum(axis=0) / (w * l).sum(axis=0)[:, None]


def _choose_precision(m, k, n, peaks, weight_in_fp8):  # a wrong answer: the check reports it
    return "fp8"


def _cache_bound(batch, context, heads, latent, rope, bytes_per_token, peaks):  # always wrong
    return "memory"


def _results() -> dict:
    return {"device": {"kind": "cpu", "name": "x86_64", "peaks": None}, "mla_decode": []}


def _path() -> str:
    folder = tempfile.mkdtemp(prefix="labs-hostile-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # not left behind in /tmp
    return str(Path(folder) / "results.json")


EXAMPLES = {
    "labs.bench.aot.compile_for_gpu": lambda: call(
        kernel="fp8_gemm", variants=[{"block_m": 64, "num_warps": 8}], arch=90
    ),
    "labs.bench.roofline.DevicePeaks": lambda: call(
        name="H200 SXM", memory_gbs=4800.0, bf16_tflops=989.5, fp8_tflops=1979.0
    ),
    "labs.bench.roofline.Roofline": lambda: call(
        seconds=1e-4, bound="memory", intensity=230.0, ridge=295.0
    ),
    "labs.bench.roofline.device_peaks": lambda: call(device_name="NVIDIA H200"),
    "labs.bench.roofline.mla_decode_work": lambda: call(
        batch=4,
        context=128,
        heads=8,
        latent=16,
        rope=4,
        cache_bytes=2.0,
        query_bytes=2.0,
        out_bytes=4.0,
    ),
    "labs.bench.roofline.einsum_decode_bytes": lambda: call(
        heads=8, latent=16, rope=4, cache_bytes=2, baseline="ideal"
    ),
    "labs.bench.roofline.gemm_work": lambda: call(
        m=256, n=128, k=256, in_bytes=1.0, out_bytes=2.0, block=128
    ),
    "labs.bench.roofline.roofline": lambda: call(
        flops=1e9, nbytes=1e7, peak_tflops=989.5, memory_gbs=4800.0
    ),
    "labs.bench.results.load_results": lambda: call(name="cpu"),
    "labs.bench.splitk.split_merge_bytes": lambda: call(
        batch=2,
        context=64,
        splits=4,
        heads=8,
        latent=16,
        rope=4,
        cache_bytes=2.0,
        partial_bytes=4.0,
    ),
    "labs.bench.splitk.split_decode_seconds": lambda: call(
        batch=2,
        context=64,
        splits=4,
        sms=132,
        peak_tflops=989.5,
        memory_gbs=3350.0,
        heads_per_program=4,
        heads=8,
        latent=16,
        rope=4,
    ),
    "labs.bench.splitk.best_splits": lambda: call(
        batch=2,
        context=64,
        sms=132,
        peak_tflops=989.5,
        memory_gbs=3350.0,
        heads_per_program=16,
        max_splits=16,
    ),
    "labs.bench.splitk.softmax_exps": lambda: call(batch=2, context=64, heads=8, splits=4),
    "labs.bench.splitk.cache_read_waves": lambda: call(
        batch=4, head_blocks=2, splits=3, programs_per_wave=8, head_block_first=False
    ),
    # A check takes whatever the student wrote: tests/common/test_exercises_hostile.py attacks it.
    "labs.bench.exercises.check_combine_splits": lambda: call(fn=_combine_splits, fixed=("fn",)),
    "labs.bench.exercises.check_choose_precision": lambda: call(
        fn=_choose_precision, fixed=("fn",)
    ),
    "labs.bench.exercises.check_cache_bound": lambda: call(fn=_cache_bound, fixed=("fn",)),
    "labs.bench.results.format_results": lambda: call(results=load_results("cpu")),
    "labs.bench.run.run_benchmarks": lambda: call(sizes="tiny", repeats=1, seed=0),
    "labs.bench.widgets.decode_roofline": lambda: call(
        device="H200 SXM", batch=4, context=128, query_tokens=2, cache="fp8"
    ),
    "labs.bench.widgets.gemm_roofline": lambda: call(
        device="H100 SXM", m=16, n=256, k=256, precision="fp8"
    ),
    "labs.bench.widgets.plot_roofline": lambda: call(
        point=decode_roofline("H100 SXM", 4, 128), ax=None
    ),
    "labs.bench.widgets.roofline_explorer": lambda: call(
        device="H200 SXM",
        kernel="gemm",
        batch=8,
        context=4096,
        query_tokens=2,
        cache="fp8",
        m=256,
        n=4096,
        k=4096,
        precision="bf16",
    ),
    "labs.bench.run.write_results": lambda: call(
        results=_results(), path=_path(), command="python -m labs.bench --out results.json"
    ),
}

ACCEPTED: dict = {
    ("labs.bench.run.run_benchmarks", "sizes", "none"): "None picks the sizes from the device",
}
