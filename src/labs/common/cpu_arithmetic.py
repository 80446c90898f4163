"""Reproducible CPU arithmetic: PyTorch's CPU kernels pinned to AVX2 on x86-64 Linux.

Several chapters retrain a committed run and check that the rerun reproduces it (chapter 1's
tiny language models, chapter 5's GRPO seeds). PyTorch picks its vectorised CPU kernels by the
processor's instruction set, and an AVX-512 kernel sums in another order than an AVX2 one: on an
AVX-512 processor (December 2026) the runs committed from an AVX2 processor drifted from their
records by up to a few percent after a few hundred steps, and seven tests and two chapters
failed. With `ATEN_CPU_CAPABILITY=avx2` every one of those reruns matched its record bit for bit.
MKL's ISA ceiling (`MKL_ENABLE_INSTRUCTIONS=AVX2`) and oneDNN's do the same for the GEMMs and
convolutions that those libraries run. Not MKL's conditional numerical reproducibility
(`MKL_CBWR=AVX2`, this pin until 2026-12-06): it runs a reproducible code path of its own, not the
AVX2 path the records were made on, and under it a PPO rerun of chapter 5 left its record within
its first ten steps (`tests/grpo/test_ppo_rerun.py`); under the ceiling it repeats it bit for bit.

The pin makes the arithmetic the records' on AMD processors only. MKL picks its kernels by vendor
too: on an Intel Xeon (AVX-512, family 6, 2026-12-06) every pinned rerun of the AMD EPYC records
that the unit tests hold to their digits failed (one by 0.3%), and no MKL setting tried (ceilings
from AVX2 down to SSE2, MKL_CBWR's branches) repeated that one; the checks ask
`record_arithmetic` with the record's own processor, and hold a rerun elsewhere to its committed
seeds' spread.

`labs` sets these variables when it is imported, as defaults (a value already set wins), and only
where they can take effect: on x86-64 Linux with AVX2, before PyTorch is imported. Set
`LABS_CPU_ISA=native` to keep the processor's own kernels (faster on AVX-512, not reproducible
against the committed records). JAX's CPU compiler is not covered: chapter 2 compares its JAX
reruns by a rule that allows for another processor (`labs.fp8.jax_twin.reproduction`).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import MutableMapping
from pathlib import Path

__all__ = ["OPT_OUT", "PIN", "avx2_available", "pin_cpu_arithmetic", "record_arithmetic"]

PIN = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
OPT_OUT = "LABS_CPU_ISA"


def avx2_available(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """True on x86-64 Linux whose processor lists the avx2 flag (forcing AVX2 kernels on a
    processor without it would stop the process with an illegal instruction)."""
    if not isinstance(cpuinfo, (str, Path)):
        raise TypeError(f"cpuinfo must be a path (str or Path), got {type(cpuinfo).__name__}")
    if sys.platform != "linux" or platform.machine().lower() not in {"x86_64", "amd64"}:
        return False
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    return any(
        line.startswith("flags") and "avx2" in line.split(":", 1)[-1].split()
        for line in text.splitlines()
    )


def pin_cpu_arithmetic(environ: MutableMapping[str, str] | None = None) -> dict:
    """Set `PIN`'s variables as defaults in `environ` (default `os.environ`) where they can work.

    Returns:
        dict(pinned, reason): pinned maps each variable this call set to its value (empty if
        none); reason says why nothing was set, or "" when something was.
    """
    env = os.environ if environ is None else environ
    if not isinstance(env, MutableMapping):
        raise TypeError(f"environ must be a mutable mapping such as os.environ, got {type(env)}")
    if env.get(OPT_OUT, "").strip().lower() == "native":
        return {"pinned": {}, "reason": f"{OPT_OUT}=native"}
    if "torch" in sys.modules:
        return {"pinned": {}, "reason": "torch was imported before labs"}
    if not avx2_available():
        return {"pinned": {}, "reason": "not x86-64 Linux with AVX2"}
    pinned = {name: value for name, value in PIN.items() if name not in env}
    env.update(pinned)
    return {"pinned": pinned, "reason": "" if pinned else "already set"}


def record_arithmetic(made_on: str | None = None) -> bool:
    """True where this process computes as the committed records were made: PyTorch's AVX2 CPU
    kernels, and MKL on its AVX2 path (capped by `MKL_ENABLE_INSTRUCTIONS=AVX2`, as the pin
    sets, or on a processor with nothing beyond AVX2; not in MKL's reproducibility mode, whose
    `MKL_CBWR` path is its own). A live rerun may then be asserted to its record's digits.

    Args:
        made_on: a record's processor (its `meta["processor"]`, as `runtime.processor_name`
            writes it); if given, this processor must be of the same vendor (the first word):
            MKL also picks its kernels by vendor. None skips that check.
    """
    if made_on is not None and not isinstance(made_on, str):
        raise TypeError(f"made_on must be a processor name (str) or None, got {type(made_on)}")
    if made_on is not None and not made_on.split():
        raise ValueError("made_on must name a processor, got an empty string")
    import torch

    from labs.common.runtime import processor_name

    if torch.backends.cpu.get_cpu_capability() != "AVX2" or os.environ.get("MKL_CBWR"):
        return False
    if os.environ.get("MKL_ENABLE_INSTRUCTIONS") != "AVX2":
        try:
            beyond = "avx512f" in Path("/proc/cpuinfo").read_text(errors="replace").split()
        except OSError:
            return False
        if beyond:  # MKL would take its AVX-512 path
            return False
    return made_on is None or processor_name().split()[0] == made_on.split()[0]
