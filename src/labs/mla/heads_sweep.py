"""Chapter 3's heads sweep: absorbed MLA's decode speed over MHA's as the heads grow, on a CPU.

Run as `python -m labs.mla.heads_sweep --rounds 30` (under a minute on one core); it writes
`labs/mla/data/heads_sweep_cpu.json` with the command, the library versions, the processor and
the date that made it, which chapter 3 reads (`load_heads_sweep`); `RECORDS` names it and the
other committed records (written with `--out`), which the chapter reads beside it
(`load_heads_sweep_records`). A timing is a fact about one machine: the chapter asserts on every
record what holds in all six (three processors), on the records of each processor what holds only
there (naming the others' values beside them), names each processor, and re-runs
a few rounds live, asserting nothing live: how much faster the 32-row product runs than the 8-row
one is printed (on the course's build the margin has been too small for a live check; without the
x86 pin it was once no faster; between 16 and 32 rows the rate can level off). The speed-up's
growth with the heads is asserted on every record and printed live.

What one round times: the benchmark's layer (`bench_configs`, heads of 64, d_c = 256, d_h^R = 32)
with each head count, MHA and absorbed MLA, one sequence with `context` cached tokens, whole
decode steps (`decode_benchmark`, one thread); at the smallest head count also GQA with 4 KV heads,
the real trade against MLA there. The configurations are interleaved within a round, so that load
from other programs falls on all of them alike; on a CPU the clock is this process's CPU time.

Beside the rounds the record holds the ceilings the roofline needs: this CPU's square-product
FLOP/s and streaming bytes/s (`measure_device_limits`), and the FLOP/s of absorbed MLA's score
product at its own shape, (heads x 288) @ (288 x context) for eight sequences
(`batched_product_flops`).

Since 2026-12-05 a new record's `meta` also holds `environment` (`cpu_environment`): torch's
BLAS and CPU kernel path, the thread counts, the CPU's vector flags and clock. Two committed
records ran the 8-row product at twice the first's rate on a processor of the same name, and
the first three records cannot say why; those fields can.

Taught in chapter 3, "The CPU crossover is in heads".
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from labs.common.ceilings import last_level_cache_bytes
from labs.common.progress import progress
from labs.common.runtime import processor_name, provenance, read_results
from labs.common.validate import boolean, describe_value, integer, one_of, size
from labs.mla.benchmark import (
    batched_product_flops,
    bench_configs,
    decode_benchmark,
    measure_device_limits,
)
from labs.mla.torch import check_device

__all__ = [
    "HEADS",
    "CONTEXT",
    "heads_sweep",
    "RECORDS",
    "load_heads_sweep",
    "load_heads_sweep_records",
    "paired_growth",
    "product_ceilings",
    "cpu_environment",
]

HEADS = (8, 16, 32)
CONTEXT = 4096
_RESULTS = "heads_sweep_cpu.json"
# every committed 30-round record, the chapter's own first: the two after it were made on
# 2026-12-05 on a machine reporting the same processor (an AMD EPYC), whose ceilings measured far
# higher; the fourth on 2026-12-07 on an Intel Xeon, with the code of that day; the last two on
# 2026-12-07 on an AMD EPYC reporting family 23 (the first three report family 25), a minute
# apart, both kept: the first was written to /tmp (its command says so), the second here
RECORDS = (
    _RESULTS,
    "heads_sweep_cpu_b.json",
    "heads_sweep_cpu_c.json",
    "heads_sweep_cpu_d.json",
    "heads_sweep_cpu_e_first.json",
    "heads_sweep_cpu_e.json",
)


# CPU flags that decide which kernels a BLAS or torch picks (the vector widths and the matrix units)
_FLAG_PREFIXES = ("avx", "amx", "fma", "f16c", "sse4", "hypervisor")
# environment variables that change threading or the kernel path of MKL, oneDNN or ATen
_KERNEL_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_DEBUG_CPU_TYPE",
    "MKL_CBWR",
    "ATEN_CPU_CAPABILITY",
    "DNNL_MAX_CPU_ISA",
)


def _cpuinfo_summary(text: str) -> dict:
    """What /proc/cpuinfo's text says about the kernel path and the clock: the vendor, the flags
    that name vector and matrix units (and "hypervisor"), and each processor's "cpu MHz" as the
    lowest, the highest and the count of processors read."""
    vendor, flags, mhz = None, set(), []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "vendor_id" and vendor is None:
            vendor = value.strip()
        elif key == "flags" and not flags:
            flags = {f for f in value.split() if f.startswith(_FLAG_PREFIXES)}
        elif key == "cpu mhz":
            try:
                mhz.append(float(value))
            except ValueError:
                pass
    out: dict = {"vendor": vendor, "flags": sorted(flags)}
    if mhz:
        out["mhz"] = {"min": min(mhz), "max": max(mhz), "processors": len(mhz)}
    return out


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def cpu_environment() -> dict:
    """What decides the rate of a small matrix product on this CPU, for a timing's record.

    Holds: torch's runtime CPU capability (`torch.backends.cpu.get_cpu_capability()`) and the
    lines of `torch.__config__.show()` that name its BLAS, MKL, oneDNN and OpenMP; torch's intra-
    and inter-op thread counts, the processors this process may run on and the threading and
    kernel-path environment variables that are set; from /proc/cpuinfo (where readable) the vendor,
    the vector and matrix flags (AVX-512 or not, AMX) and the clock in MHz, with cpufreq's
    current and maximum clock of processor 0 when the system exposes them, and the size of its
    last-level cache (`last_level_cache_bytes`: whether MHA's cache can be read from it). Fields
    that cannot be read are None. Imports torch."""
    import torch

    config = torch.__config__.show()
    build = [
        line.strip(" -")
        for line in config.splitlines()
        if any(word in line for word in ("Math Kernel", "MKL-DNN", "OpenMP", "CPU capability"))
    ]
    for part in config.replace("\n", ",").split(","):
        for key in ("BLAS_INFO=", "LAPACK_INFO="):
            if key in part and not part.strip().startswith("LAPACK is"):
                build.append(part[part.index(key) :].strip())
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    cpuinfo = _read("/proc/cpuinfo")
    freq = {}
    for name in ("scaling_cur_freq", "cpuinfo_max_freq"):
        raw = _read(f"/sys/devices/system/cpu/cpu0/cpufreq/{name}")
        freq[name + "_mhz"] = int(raw) / 1000 if raw and raw.strip().isdigit() else None
    return {
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_build": build,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "affinity_cpus": affinity,
        "os_cpus": os.cpu_count(),
        "kernel_env": {k: os.environ[k] for k in _KERNEL_ENV if k in os.environ},
        "cpuinfo": _cpuinfo_summary(cpuinfo) if cpuinfo is not None else None,
        "last_level_cache_bytes": last_level_cache_bytes(),
        "cpufreq": freq,
    }


def _check_heads(heads) -> tuple[int, ...]:
    if isinstance(heads, (str, bytes)) or not isinstance(heads, Sequence):
        raise TypeError(f"heads must be a sequence of head counts, got {describe_value(heads)}")
    out = tuple(integer(f"heads[{i}]", h, minimum=4, maximum=256) for i, h in enumerate(heads))
    if len(out) < 2 or any(b <= a for a, b in zip(out, out[1:], strict=False)):
        raise ValueError(f"heads must be at least two increasing head counts, got {list(heads)}")
    if any(h % 4 for h in out):
        raise ValueError(f"heads must be multiples of 4 (GQA's groups of 4), got {list(heads)}")
    return out


def heads_sweep(
    heads: Sequence[int] = HEADS,
    context: int = CONTEXT,
    rounds: int = 5,
    *,
    steps: int = 4,
    repeats: int = 2,
    device="cpu",
    show_progress: bool = True,
) -> dict:
    """Absorbed MLA's decode speed over MHA's for each head count, one value per round.

    Returns {"speedup": {h: [MLA tokens/s over MHA's, one per round]}, "gqa4_over_mla": [GQA
    with 4 KV heads over absorbed MLA at heads[0], one per round]}. Round r uses seed r for every
    configuration, so the values of one round are paired. On a CPU the clock is process time;
    on a GPU the wall clock. `heads`: at least two increasing multiples of 4 (at most 256);
    `context` at most 2**16 tokens; at most 100 rounds, 64 steps and 20 repeats.
    """
    heads = _check_heads(heads)
    context = size("context", context, maximum=2**16, why="beyond the sweep's memory cap")
    rounds = size("rounds", rounds, maximum=100, why="a median of 100 rounds is settled")
    steps = size("steps", steps, maximum=64, why="a few steps per timing suffice")
    repeats = size("repeats", repeats, maximum=20, why="the best of 20 is settled")
    device = check_device(device)
    show_progress = boolean("show_progress", show_progress)
    clock = "cpu" if device.type == "cpu" else "wall"
    timing = {
        "batch": 1,
        "steps": steps,
        "repeats": repeats,
        "device": device,
        "clock": clock,
    }
    base = bench_configs(n_heads=heads[0])
    for kind, absorbed in (("MHA", False), ("MLA", True)):  # untimed: the first call pays set-up
        decode_benchmark(base[kind], 64, batch=1, steps=2, absorbed=absorbed, device=device)
    gqa4 = replace(base["GQA"], n_kv_heads=4)
    speedup = {h: [] for h in heads}
    gqa4_over_mla = []
    rounds_iter = range(rounds)
    if show_progress:
        rounds_iter = progress(rounds_iter, desc="heads sweep")
    for seed in rounds_iter:
        for h in heads:
            layer = bench_configs(n_heads=h)
            mha_tps = decode_benchmark(layer["MHA"], context, absorbed=False, seed=seed, **timing)
            mla_tps = decode_benchmark(layer["MLA"], context, absorbed=True, seed=seed, **timing)
            speedup[h].append(mla_tps[0] / mha_tps[0])
            if h == heads[0]:
                gqa4_tps = decode_benchmark(gqa4, context, seed=seed, **timing)
                gqa4_over_mla.append(gqa4_tps[0] / mla_tps[0])
    return {"speedup": speedup, "gqa4_over_mla": gqa4_over_mla}


def product_ceilings(
    heads: Sequence[int] = HEADS, context: int = CONTEXT, *, latent: int = 288, batch: int = 8
) -> dict:
    """This CPU's ceilings for the sweep, one thread, process time: {"square": FLOP/s of a
    (1024 x 1024)^2 product, "skinny": {h: FLOP/s of (batch, h, latent) @ (batch, latent,
    context)}}, each the best of a few runs (`batched_product_flops`). The skinny products are
    timed in interleaved rounds over the head counts (every other round in reverse), so that a busy
    moment on a shared host touches one round of every shape, not every run of one."""
    heads = _check_heads(heads)
    context = size("context", context, maximum=2**16, why="beyond the sweep's memory cap")
    latent = size("latent", latent, maximum=4096, why="wider than any latent")
    batch = size("batch", batch, maximum=64, why="more sequences than the sweep needs")
    square = batched_product_flops(1024, 1024, 1024, repeats=3, clock="cpu")
    skinny = dict.fromkeys(heads, 0.0)
    for round_ in range(4):
        for h in heads if round_ % 2 == 0 else heads[::-1]:
            rate = batched_product_flops(h, latent, context, batch=batch, repeats=2, clock="cpu")
            skinny[h] = max(skinny[h], rate)
    return {"square": square, "skinny": skinny}


def paired_growth(speedup: Mapping, low: int, high: int) -> float:
    """The median over rounds of speedup[high] / speedup[low], each round against itself: how
    much the speed-up grows from `low` to `high` heads, with the rounds' shared load divided out."""
    if not isinstance(speedup, Mapping):
        raise TypeError(
            f"speedup must be a mapping of heads to rounds, got {describe_value(speedup)}"
        )
    if len(speedup) < 2:
        raise ValueError(
            f"speedup must hold the rounds of at least two head counts, got {len(speedup)}"
        )
    low = one_of("low", low, tuple(speedup))
    high = one_of("high", high, tuple(speedup))
    a, b = np.asarray(speedup[low], float), np.asarray(speedup[high], float)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(
            f"speedup[low] and speedup[high] must be equally long, non-empty lists of rounds, "
            f"got {a.shape} and {b.shape}"
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and a.min() > 0 and b.min() > 0):
        raise ValueError("speedup values must be finite and positive")
    return float(np.median(b / a))


def load_heads_sweep(path=None) -> dict:
    """The committed heads sweep (`labs/mla/data/heads_sweep_cpu.json`, or the JSON at `path`),
    with the head counts as ints: {"meta", "speedup", "gqa4_over_mla", "limits", "square",
    "skinny"}."""
    raw = read_results("labs.mla", _RESULTS, path)
    missing = {"meta", "speedup", "gqa4_over_mla", "limits", "square", "skinny"} - set(raw)
    if missing:
        raise ValueError(f"path must hold a heads sweep; it lacks {sorted(missing)}")
    return {
        **raw,
        "speedup": {int(h): v for h, v in raw["speedup"].items()},
        "skinny": {int(h): v for h, v in raw["skinny"].items()},
    }


def load_heads_sweep_records() -> list[dict]:
    """Every committed heads sweep (`RECORDS`, the chapter's record first), each as
    `load_heads_sweep` gives it. A timing is a fact about one machine at one moment: a finding
    the chapter states about the CPU should hold in all of them."""
    from importlib import resources

    data = resources.files("labs.mla").joinpath("data")
    return [load_heads_sweep(Path(str(data.joinpath(name)))) for name in RECORDS]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.mla.heads_sweep", description=__doc__)
    parser.add_argument("--rounds", type=int, default=30, help="rounds (seeds 0 .. rounds-1)")
    parser.add_argument("--out", default=None, help=f"default: data/{_RESULTS}")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 100:
        parser.error(f"--rounds must be between 1 and 100, got {args.rounds}")
    out = Path(args.out or Path(__file__).parent / "data" / _RESULTS)
    os.environ.setdefault("LABS_PROGRESS", "off")
    limits = measure_device_limits("cpu", cpu_threads=1, clock="cpu")
    sweep = heads_sweep(HEADS, CONTEXT, args.rounds, show_progress=False)
    ceilings = product_ceilings(HEADS, CONTEXT)
    record = {
        "meta": {
            **provenance("labs.mla.heads_sweep", argv),
            "processor": processor_name(),
            "cores": os.cpu_count(),
            "load_average": list(os.getloadavg()),
            "environment": cpu_environment(),
            "settings": {
                "heads": list(HEADS),
                "context": CONTEXT,
                "rounds": args.rounds,
                "steps": 4,
                "repeats": 2,
                "batch": 1,
                "clock": "cpu",
                "threads": 1,
            },
        },  # fmt: skip
        "speedup": {str(h): v for h, v in sweep["speedup"].items()},
        "gqa4_over_mla": sweep["gqa4_over_mla"],
        "limits": list(limits),
        "square": ceilings["square"],
        "skinny": {str(h): v for h, v in ceilings["skinny"].items()},
    }
    for h, values in sweep["speedup"].items():
        print(f"{h} heads: MLA over MHA {min(values):.2f}-{max(values):.2f}, "
              f"median {np.median(values):.2f}")  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
