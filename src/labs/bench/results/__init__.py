"""The committed benchmark results (JSON written by `python -m labs.bench`) and their reader."""

from __future__ import annotations

import json
from pathlib import Path

from labs.common.validate import instance, text

__all__ = ["RESULTS_DIR", "format_results", "load_results"]

RESULTS_DIR = Path(__file__).resolve().parent


def load_results(name: str = "cpu") -> dict:
    """The committed results `name` (a file `<name>.json` of this folder, e.g. "cpu", "h200").

    Raises:
        ValueError: no such file (the message lists the ones there are).
    """
    name = text("name", name)
    known = sorted(p.stem for p in RESULTS_DIR.glob("*.json"))
    if name not in known:
        raise ValueError(f"name must be one of the committed results {known}, got {name!r}")
    return json.loads((RESULTS_DIR / f"{name}.json").read_text())


def format_results(results: dict) -> str:
    """The figures of `results` (from `run_benchmarks` or `load_results`) as a Markdown table:
    one row per kernel and size, its time, TB/s, TFLOP/s, share of the roofline and error."""
    results = instance("results", results, dict, "the dict of run_benchmarks or load_results")
    if not {"device", "mla_decode", "fp8_gemm"} <= set(results):
        raise ValueError(f"results must hold device, mla_decode, fp8_gemm, got {sorted(results)}")
    return _format_results(results)


def _format_results(results: dict) -> str:
    """One Markdown row per (size, kernel); a failed kernel or size shows its error."""
    lines = [
        "| work | size | kernel | mode | ms | TB/s | TFLOP/s | % of roofline | rel. error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for section, label in (("mla_decode", "MLA decode"), ("fp8_gemm", "FP8 GEMM")):
        for case in results[section]:
            if "error" in case:
                lines.append(f"| {label} | {case.get('shape')} | all | | {case['error']} |||||")
                continue
            shape = (
                f"B={case['batch']}, S={case['context']}"
                if section == "mla_decode"
                else f"{case['m']}x{case['n']}x{case['k']}"
            )
            for kernel, row in case["kernels"].items():
                if "error" in row:
                    lines.append(f"| {label} | {shape} | {kernel} | error: {row['error']} |||||")
                    continue
                share = row.get("pct_roofline")
                lines.append(
                    f"| {label} | {shape} | {kernel} | {row['mode']} | {row['seconds'] * 1e3:.3f} "
                    f"| {row['tb_per_s']:.4f} | {row['tflop_per_s']:.3f} "
                    f"| {'n/a' if share is None else f'{share:.1f}'} | {row['rel_error']:.1e} |"
                )
    return "\n".join(lines)
