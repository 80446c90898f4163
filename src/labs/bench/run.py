"""`python -m labs.bench`: time the two Pallas kernels and their baselines on the device present.

Taught in chapter 8, "Measuring against the limit". For each problem size the runner times

* MLA absorbed decode: the Pallas kernel (`labs.mla.pallas`), a naive einsum in PyTorch and in
  JAX (scores for every head, softmax, weighted latent: three passes over memory), and PyTorch's
  `scaled_dot_product_attention` with the heads folded into the query length (all heads share
  one latent "key" and "value", as FlashMLA does);
* FP8 block-scaled GEMM: the Pallas kernel (`labs.fp8.pallas`) on operands already quantised,
  a BF16 GEMM in PyTorch and in JAX, and `torch._scaled_mm` (cuBLAS FP8, per-tensor scales)
  where the device has it;

and reports, for each, the time, the achieved TB/s and TFLOP/s, the share of the device's peaks
(from the facts registry, `labs.bench.roofline.device_peaks`) and of the roofline bound, its
error against a reference, and its speed against the baselines measured in the same run.

A kernel that fails (an out-of-memory, a compiler that refuses a shape, an operation the device
lacks) is recorded as an error in the results; the other kernels still run. On a CPU, Pallas
runs in interpret mode: its time measures the interpreter, not the kernel, and says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

import jax
import torch

from labs.bench.checks import check_sizes
from labs.bench.decode import _decode_case
from labs.bench.gemm import _gemm_case
from labs.bench.roofline import _device_peaks
from labs.bench.timing import _device, _timer
from labs.common.runtime import host_jax_device, library_versions, utc_timestamp
from labs.common.validate import read_only, size, text

__all__ = ["SIZES", "TARGETS", "run_benchmarks", "write_results"]

# Problem sizes. "gpu": V3's attention widths at the issue's batches and contexts, and the
# 8192^3 GEMM; "cpu": the same widths at a batch and context a CPU times in seconds.
SIZES = {
    "gpu": {
        "decode": [(b, s) for b in (32, 128) for s in (4096, 32768)],
        # (heads per program, warps) and (rows per tile, warps): the Triton twins of these
        # variants compile for sm_90 without spilling registers (labs.bench.aot, checked in
        # tests/bench/test_aot.py); 4 warps for 16 heads, or 64 heads, spill
        "decode_kernel": {"block": 64, "variants": ((16, 8), (32, 8)), "min_programs": 264},
        "gemm": [(8192, 8192, 8192)],
        "gemm_kernel": {"block": 128, "variants": ((64, 8), (64, 16))},
    },
    "tiny": {  # the tests' size: seconds on a CPU
        "decode": [(1, 256)],
        "decode_kernel": {"block": 64, "variants": ((None, None),), "min_programs": 2},
        "gemm": [(128, 128, 128)],
        "gemm_kernel": {"block": 128, "variants": ((64, None),)},
    },
    "cpu": {
        "decode": [(2, 1024)],
        "decode_kernel": {"block": 128, "variants": ((None, None),), "min_programs": 8},
        "gemm": [(256, 256, 256)],
        "gemm_kernel": {"block": 128, "variants": ((64, None),)},
    },
    # a GPU other than Hopper (a T4, an L4, an A100), where the "gpu" variants' shared memory
    # does not fit: the CPU's batch, context and GEMM, and a decode program small enough to
    # launch there. The CPU's all-128-heads program cannot launch on any GPU (its shared memory
    # passes even Hopper's); 8 heads on 4 warps over pages of 16 rows compile for sm_75 within a
    # T4's 64 KB of shared memory, and for sm_80 and sm_89, without spilling
    # (tests/bench/test_aot.py). Without FP8 units the FP8 GEMM kernels cannot compile: their
    # rows say so.
    "gpu_small": {
        "decode": [(2, 1024)],
        "decode_kernel": {"block": 16, "variants": ((8, 4),), "min_programs": 64},
        "gemm": [(256, 256, 256)],
        "gemm_kernel": {"block": 128, "variants": ((64, None),)},
    },
}
MAX_REPEATS = 100
# The course's targets for the kernels on an H100 or H200, judged by `_verdicts` on GPU runs:
# the decode kernel's share of the roofline (%) and its speed over the naive einsum (PyTorch),
# the FP8 GEMM's speed over the BF16 GEMM (PyTorch) at 8192^3 and its error bound against the
# FP8 reference of the same recipe (relative to max |C|; Hopper's FP8 accumulation keeps ~14 bits).
TARGETS = read_only(
    {
        "decode_pct_roofline": 60.0,
        "decode_vs_einsum": 4.0,
        "gemm_vs_bf16": 1.5,
        "gemm_rel_error": 2e-3,
    }
)


def run_benchmarks(sizes: str | None = None, repeats: int = 5, seed: int = 0) -> dict:
    """Time both kernels and their baselines on the device present; the results as a dict.

    Args:
        sizes: "gpu" (V3's attention widths at batch 32 and 128, context 4K and 32K; the
            8192^3 GEMM), "cpu" (the same widths at batch 2 and context 1,024; a 256^3 GEMM),
            "gpu_small" (the CPU's sizes with a decode program that fits a T4: GPUs other
            than Hopper), "tiny" (batch 1, context 256, a 128^3 GEMM: the tests), or None:
            `_default_sizes` ("gpu" on a Hopper GPU, "gpu_small" on another CUDA GPU, else
            "cpu"). Where torch sees no CUDA device the run
            measures the host CPU, and JAX runs there too, even on a TPU runtime.
        repeats: timed runs per kernel, 1 to 100 (the median is kept).
        seed: seeds the random inputs.

    Returns:
        A JSON-ready dict: the device, its peaks, the date, the versions, and per size the
        work (FLOPs, bytes), the roofline bound and each kernel's figures or its error.
    """
    kind, name = _device()
    sizes = check_sizes(sizes if sizes is not None else _default_sizes(kind))
    repeats = size("repeats", repeats, maximum=MAX_REPEATS, why="the median of a few runs")
    seed = size("seed", seed, minimum=0, maximum=2**31 - 1, why="a JAX key seed")
    return _run_benchmarks(kind, name, sizes, repeats, seed)


def _default_sizes(kind: str) -> str:
    """The sizes a run takes when none are given: V3's ("gpu") on a Hopper GPU, whose shared
    memory their decode variants need; "gpu_small" on another CUDA GPU (a T4, an L4, an A100);
    "cpu" on a CPU."""
    if kind != "gpu":
        return "cpu"
    return "gpu" if torch.cuda.get_device_capability() >= (9, 0) else "gpu_small"


def _run_benchmarks(kind, name, sizes, repeats, seed, checkpoint=None) -> dict:
    """Every size of `SIZES[sizes]`, one after the other; `checkpoint(results)` after each, so
    that a run cut short by a time limit still leaves what it measured: each checkpoint holds the
    verdicts of the sizes done so far, and `complete` turns True after the last size."""
    peaks = _device_peaks(name)
    config, time_it = SIZES[sizes], _timer(kind, repeats)
    threads = torch.get_num_threads()
    results = _header(kind, name, peaks, sizes, repeats, seed, threads)
    # the GEMM first: one size, so a run cut short by a time limit keeps both kernels' figures
    cases = [("fp8_gemm", _gemm_case, mnk, config["gemm_kernel"]) for mnk in config["gemm"]]
    cases += [
        ("mla_decode", _decode_case, (b, s), config["decode_kernel"]) for b, s in config["decode"]
    ]
    if kind == "cpu":  # one thread: on a shared machine more threads time the scheduler
        torch.set_num_threads(1)
    try:
        with _host_jax(kind):
            _run_cases(results, cases, kind, peaks, time_it, seed, checkpoint)
    finally:
        torch.set_num_threads(threads)
    results["targets"] = _verdicts(results) if kind == "gpu" else "not measured: no GPU"
    results["complete"] = True
    return results


def _host_jax(kind: str):
    """Where JAX runs in a CPU run: on the host CPU, whatever JAX's default device. On a TPU
    runtime JAX's default is the TPU, whose arrays PyTorch cannot read (`torch.from_dlpack`
    takes CPU and GPU arrays only) and whose float32 products round through bfloat16."""
    if kind != "cpu":
        return contextlib.nullcontext()
    return jax.default_device(host_jax_device())


def _run_cases(results, cases, kind, peaks, time_it, seed, checkpoint) -> None:
    """Each case in turn, its figures or its error appended to `results`."""
    for section, case, shape, kernel in cases:
        try:
            results[section].append(case(kind, *shape, kernel, peaks, time_it, seed))
        except Exception as error:  # noqa: BLE001 - an input too big, a device lost: go on
            results[section].append({"shape": list(shape), "error": repr(error)[:500]})
        results["targets"] = _verdicts(results) if kind == "gpu" else "not measured: no GPU"
        if checkpoint is not None:
            checkpoint(results)


def _verdicts(results: dict) -> dict:
    """Per size, whether the best variant of each kernel met `TARGETS` (GPU runs only)."""
    verdicts = {}
    for case in results["mla_decode"]:
        rows = {k: r for k, r in case.get("kernels", {}).items() if k.startswith("pallas")}
        ran = [r for r in rows.values() if "seconds" in r]
        key = f"decode B={case.get('batch')} S={case.get('context')}"
        if not ran or "seconds" not in case["kernels"].get("einsum_torch", {}):
            verdicts[key] = "no figure"
            continue
        best = min(ran, key=lambda r: r["seconds"])
        speedup = case["kernels"]["einsum_torch"]["seconds"] / best["seconds"]
        share = best.get("pct_roofline", 0.0)
        met = share >= TARGETS["decode_pct_roofline"] and speedup >= TARGETS["decode_vs_einsum"]
        verdicts[key] = f"{'met' if met else 'missed'}: {share:.0f}% of roofline, {speedup:.1f}x"
    for case in results["fp8_gemm"]:
        rows = {k: r for k, r in case.get("kernels", {}).items() if k.startswith("pallas")}
        ran = [r for r in rows.values() if "seconds" in r]
        key = f"fp8 gemm {case.get('m')}x{case.get('n')}x{case.get('k')}"
        if not ran or "seconds" not in case["kernels"].get("bf16_torch", {}):
            verdicts[key] = "no figure"
            continue
        best = min(ran, key=lambda r: r["seconds"])
        speedup = case["kernels"]["bf16_torch"]["seconds"] / best["seconds"]
        error = best["rel_error_vs_fp8_reference"]
        met = speedup >= TARGETS["gemm_vs_bf16"] and error <= TARGETS["gemm_rel_error"]
        verdicts[key] = f"{'met' if met else 'missed'}: {speedup:.2f}x BF16, error {error:.1e}"
    return verdicts


def _header(kind, name, peaks, sizes, repeats, seed, threads) -> dict:
    """What the results were measured on and with, before any figure."""
    return {
        "device": {
            "kind": kind,
            "name": name,
            "peaks": None if peaks is None else vars(peaks),
            "jax_backend": "cpu" if kind == "cpu" else jax.default_backend(),  # see _host_jax
        },
        "date": utc_timestamp(),
        "versions": {
            **library_versions(),
            **({"triton": sys.modules["triton"].__version__} if "triton" in sys.modules else {}),
            **({"cuda": torch.version.cuda} if kind == "gpu" else {}),
        },
        "torch_threads": 1 if kind == "cpu" else threads,
        "sizes": sizes,
        "repeats": repeats,
        "seed": seed,
        "note": (
            "CPU figures: Pallas runs in interpret mode, so its time measures the "
            "interpreter; the GPU targets are not measured here"
        )
        if kind == "cpu"
        else "",
        "mla_decode": [],
        "fp8_gemm": [],
        "targets": {},
        "complete": False,  # True once every size has run (a time limit may cut a run short)
    }


def write_results(results: dict, path: str | Path, command: str = "") -> Path:
    """Write `results` (from `run_benchmarks`) as indented JSON at `path`, with the command
    that made them; returns the path."""
    if not isinstance(results, dict) or "device" not in results:
        raise TypeError(
            f"results must be the dict run_benchmarks returns, got {type(results).__name__}"
        )
    path = Path(text("path", str(path) if isinstance(path, Path) else path))
    command = text("command", command, nonempty=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    # written whole, then renamed: a run killed mid-write leaves the last complete checkpoint
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"command": command, **results}, indent=1) + "\n")
    os.replace(partial, path)
    return path


def main(argv: list[str] | None = None) -> int:
    """The command line: `python -m labs.bench --out results.json [--sizes cpu|gpu_small|gpu]`."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m labs.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", required=True, help="where to write the JSON results")
    parser.add_argument(
        "--sizes",
        choices=list(SIZES),
        default=None,
        help="problem sizes (default: gpu on Hopper, gpu_small on another CUDA GPU, else cpu)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    command = "python -m labs.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    kind, name = _device()
    sizes = check_sizes(args.sizes if args.sizes is not None else _default_sizes(kind))
    repeats = size("repeats", args.repeats, maximum=MAX_REPEATS, why="the median of a few runs")
    start, total = time.perf_counter(), len(SIZES[sizes]["gemm"]) + len(SIZES[sizes]["decode"])

    def checkpoint(results):  # the log says how far a run cut short by a time limit got
        write_results(results, args.out, command=command)
        done = len(results["fp8_gemm"]) + len(results["mla_decode"])
        print(f"{time.perf_counter() - start:6.0f} s: {done} of {total} sizes saved in {args.out}")

    results = _run_benchmarks(kind, name, sizes, repeats, 0, checkpoint=checkpoint)
    path = write_results(results, args.out, command=command)
    for section in ("mla_decode", "fp8_gemm"):
        for case in results[section]:
            if "error" in case:
                print(f"{section:10s} {case['shape']} {case['error']}")
                continue
            for kernel, row in case["kernels"].items():
                share = row.get("pct_roofline", float("nan"))
                figure = row.get("error") or (
                    f"{row['seconds'] * 1e3:9.3f} ms {row['tb_per_s']:7.3f} TB/s "
                    f"{row['tflop_per_s']:8.2f} TFLOP/s {share:5.1f}% of roofline "
                    f"err {row['rel_error']:.1e}"
                )
                print(f"{section:10s} {kernel:16s} {figure}")
            print(f"{section:10s} ratios {json.dumps(case['ratios'])}")
    print(f"targets: {json.dumps(results['targets'])}")
    print(f"wrote {path} ({results['device']['name']})")
    return 0
