"""Where the code runs: device discovery, the LABS_DEVICE override, Colab detection, seeding.

The same notebook runs on a laptop CPU, a Colab GPU and a Colab TPU. Chapters never hard-code a
device: they ask `torch_device()` and `jax_device()`, which follow one choice:

* by default the best device present (a CUDA GPU, else a TPU, else the CPU);
* `LABS_DEVICE=cpu|cuda|tpu` in the environment forces one. Asking for a device that is absent
  raises `DeviceUnavailableError`, which names what was asked and what exists, instead of quietly
  running somewhere else.

PyTorch has no TPU backend here (that needs torch_xla), so on a TPU the torch half of a chapter
runs on the CPU and the JAX half on the TPU.

On a GPU both frameworks share one device. JAX takes 75% of a GPU's memory when its backend
starts, unless XLA_PYTHON_CLIENT_PREALLOCATE says otherwise, which would leave PyTorch a quarter
(under 4 GB of a Colab T4). Importing this module (every chapter's first cell does, before JAX
starts) therefore sets XLA_PYTHON_CLIENT_PREALLOCATE=false where the user has not set it: JAX
then takes memory as it needs it, like PyTorch.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import random
import sys
from typing import Any

import numpy as np

from labs.common.validate import boolean, text

ENV_VAR = "LABS_DEVICE"
KNOWN_DEVICES = ("cpu", "cuda", "tpu")

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # see the module's docstring


class DeviceUnavailableError(ValueError):
    """A device was asked for (argument or LABS_DEVICE) that this machine does not have."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or a broken install
        return False


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules or _installed("google.colab")


def _torch_info() -> dict[str, Any]:
    if not _installed("torch"):
        return {
            "torch_version": None,
            "cuda_available": False,
            "gpu_name": None,
            "cpu_kernels": None,
        }
    import torch

    cuda = bool(torch.cuda.is_available())
    return {
        "torch_version": torch.__version__.split("+")[0],
        "cuda_available": cuda,
        "gpu_name": torch.cuda.get_device_name(0) if cuda else None,
        # the instruction set of its CPU kernels: AVX2 where labs pinned it for reproducibility
        "cpu_kernels": torch.backends.cpu.get_cpu_capability(),
    }


def _jax_info() -> dict[str, Any]:
    if not _installed("jax"):
        return {"jax_version": None, "jax_platforms": {}}
    import jax

    platforms: dict[str, int] = {}
    for device in jax.devices():
        platforms[device.platform] = platforms.get(device.platform, 0) + 1
    return {"jax_version": jax.__version__, "jax_platforms": platforms}


def available_devices() -> list[str]:
    """The devices this machine offers to the course, best first, always ending with "cpu"."""
    torch_info, jax_info = _torch_info(), _jax_info()
    found = []
    if torch_info["cuda_available"] or "gpu" in jax_info["jax_platforms"]:
        found.append("cuda")
    if "tpu" in jax_info["jax_platforms"]:
        found.append("tpu")
    found.append("cpu")
    return found


def selected_device(requested: str | None = None) -> str:
    """The device the chapters use: `requested`, else LABS_DEVICE, else the best one present.

    Raises:
        TypeError: `requested` is not a string.
        ValueError: the name is not one of "cpu", "cuda", "tpu".
        DeviceUnavailableError: the device asked for is not on this machine.
    """
    source = "device"
    if requested is None and os.environ.get(ENV_VAR, "").strip():
        requested, source = os.environ[ENV_VAR], ENV_VAR
    available = available_devices()
    if requested is None:
        return available[0]
    if not isinstance(requested, str):
        raise TypeError(
            f"requested device must be a string such as 'cpu', got {type(requested).__name__}"
        )
    name = requested.strip().lower()
    if name not in KNOWN_DEVICES:
        raise ValueError(
            f"{'requested' if source == 'device' else source}={requested!r} is not a device the "
            "course knows; "
            f"expected one of {', '.join(map(repr, KNOWN_DEVICES))}"
        )
    if name not in available:
        raise DeviceUnavailableError(
            f"{source}={requested!r} was asked for, but this machine has no {name.upper()}: "
            f"the devices present are {', '.join(available)}. "
            f"Pick one of those, or unset {ENV_VAR} to use the best one present."
        )
    return name


def torch_device(requested: str | None = None):
    """The `torch.device` for the selected device ("cuda" or "cpu"; a TPU leaves torch on CPU)."""
    import torch

    return torch.device("cuda" if selected_device(requested) == "cuda" else "cpu")


def jax_device(requested: str | None = None):
    """The JAX device for the selected device.

    If torch sees a GPU but the installed JAX is a CPU build, JAX runs on the CPU: the line that
    `describe()` prints shows it.
    """
    import jax

    platform_for = {"cuda": "gpu", "tpu": "tpu", "cpu": "cpu"}[selected_device(requested)]
    try:
        return jax.devices(platform_for)[0]
    except RuntimeError:
        return host_jax_device()


def host_jax_device():
    """JAX's CPU device, for the cells that measure on the host whatever the accelerator (a
    subnormal bound that holds only on XLA:CPU, arrays PyTorch must read on a TPU runtime).

    JAX starts its CPU backend beside any accelerator unless JAX_PLATFORMS leaves it out; then
    this raises DeviceUnavailableError saying so, instead of JAX's error about another backend.
    """
    import jax

    try:
        return jax.devices("cpu")[0]
    except (RuntimeError, AssertionError) as error:  # JAX_PLATFORMS without "cpu"
        platforms = os.environ.get("JAX_PLATFORMS", "")
        raise DeviceUnavailableError(
            "this cell runs JAX on the host CPU, and JAX's CPU backend is not available "
            f"(JAX_PLATFORMS={platforms!r}): set JAX_PLATFORMS to include cpu, e.g. 'tpu,cpu', "
            f"or unset it, and restart the runtime ({type(error).__name__}: {error})"
        ) from None


def describe(requested: str | None = None, *, verbose: bool = True) -> dict[str, Any]:
    """Report, in one printed line and a returned dict, where this chapter will run.

    Also makes JAX's default device follow the selection, so that `LABS_DEVICE=cpu` on a GPU
    machine keeps JAX arrays on the CPU too.

    Returns a dict with keys: device, torch_version, torch_device, gpu_name, cpu_kernels (the
    instruction set of PyTorch's CPU kernels, see `labs.common.cpu_arithmetic`), jax_version,
    jax_backend, jax_device_count, colab, python.
    """
    verbose = boolean("verbose", verbose)
    device = selected_device(requested)
    torch_info, jax_info = _torch_info(), _jax_info()
    info: dict[str, Any] = {
        "device": device,
        "torch_version": torch_info["torch_version"],
        "torch_device": None,
        "gpu_name": torch_info["gpu_name"] if device == "cuda" else None,
        "cpu_kernels": torch_info["cpu_kernels"],
        "jax_version": jax_info["jax_version"],
        "jax_backend": None,
        "jax_device_count": 0,
        "colab": in_colab(),
        "python": platform.python_version(),
    }
    if info["torch_version"] is not None:
        info["torch_device"] = (
            "cuda" if device == "cuda" and torch_info["cuda_available"] else "cpu"
        )
    if info["jax_version"] is not None:
        import jax

        chosen = jax_device(device)
        jax.config.update("jax_default_device", chosen)
        info["jax_backend"] = chosen.platform
        info["jax_device_count"] = jax_info["jax_platforms"].get(chosen.platform, 0)
    if verbose:
        print(_one_line(info))
    return info


def _one_line(info: dict[str, Any]) -> str:
    if info["torch_version"] is None:
        torch_part = "torch not installed"
    elif info["torch_device"] == "cuda":
        torch_part = f"torch {info['torch_version']} on cuda ({info['gpu_name']})"
    else:
        kernels = info.get("cpu_kernels")
        torch_part = f"torch {info['torch_version']} on cpu" + (
            f" ({kernels} kernels)" if kernels else ""
        )
    if info["jax_version"] is None:
        jax_part = "JAX not installed"
    else:
        count = info["jax_device_count"]
        jax_part = (
            f"JAX {info['jax_version']} on {info['jax_backend']} "
            f"({count} device{'s' if count != 1 else ''})"
        )
    colab = "Colab" if info["colab"] else "not Colab"
    return f"labs | device: {info['device']} | {torch_part} | {jax_part} | {colab}"


def seed_everything(seed: int):
    """Seed Python's `random`, NumPy's global generator and torch (CPU and CUDA).

    Returns a JAX PRNG key made from the same seed (None if JAX is not installed): JAX has no
    global random state, so the key is passed explicitly from there on.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the legacy global generator is what old code uses
    if _installed("torch"):
        import torch

        torch.manual_seed(seed)  # also seeds every CUDA device
    if _installed("jax"):
        import jax

        return jax.random.key(seed)
    return None


def provenance(module: str, argv: list[str] | None = None) -> dict[str, Any]:
    """What a committed results file records about how it was made: the command that rewrites it
    (`python -m <module> <argv>`, argv defaulting to this process's), the UTC date, the library
    versions, the machine's architecture and, when this process has imported torch, the instruction
    set its CPU kernels use (`torch.backends.cpu.get_cpu_capability()`, e.g. "AVX2"): kernels for
    another instruction set round the last bits differently, so a record made with them does not
    repeat bit for bit (chapter 5, "PPO against GRPO, made fair")."""
    module = text("module", module)
    if argv is None:
        args = sys.argv[1:]
    elif isinstance(argv, (list, tuple)):
        args = [text(f"argv[{i}]", arg, nonempty=False) for i, arg in enumerate(argv)]
    else:
        raise TypeError(f"argv must be a list of strings or None, got {type(argv).__name__}")
    record = {
        "command": " ".join(["python", "-m", module, *args]),
        "date": utc_timestamp(),
        "versions": library_versions(),
        "machine": platform.machine(),
    }
    if "torch" in sys.modules:
        record["torch_cpu_capability"] = sys.modules["torch"].backends.cpu.get_cpu_capability()
    return record


def processor_name() -> str:
    """The processor as the operating system reports it: on Linux /proc/cpuinfo's model name with
    its family, model and stepping numbers (a virtual machine may report only "AMD EPYC", which
    covers several generations; the numbers tell them apart), elsewhere `platform.processor()`,
    or "unknown". A committed timing names the machine it was made on with it."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or "unknown"
    numbers = [f"{k} {fields[k]}" for k in ("cpu family", "model", "stepping") if fields.get(k)]
    return f"{name} ({', '.join(numbers)})" if numbers else name


def library_versions() -> dict[str, str]:
    """Python's, NumPy's and torch's versions, and JAX's when this process has imported it."""
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("torch", "jax"):
        if name in sys.modules:
            versions[name] = sys.modules[name].__version__
    return versions


def utc_timestamp() -> str:
    """Now, in UTC, to the second (ISO 8601)."""
    import datetime

    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def read_results(package: str, name: str, path=None) -> dict:
    """A committed results file: `<package>/data/<name>` from the installed package, or the JSON
    file at `path` (a str or pathlib.Path naming an existing .json file) when one is given."""
    import json
    from importlib import resources
    from pathlib import Path

    package, name = text("package", package), text("name", name)
    if path is None:
        try:
            data = resources.files(package).joinpath("data", name)
        except ModuleNotFoundError:
            raise ValueError(f"package must name an installed package, got {package!r}") from None
        if not data.is_file():
            raise ValueError(f"name must be a file in {package}/data, got {name!r}")
        return json.loads(data.read_text())
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or a pathlib.Path, got {type(path).__name__}")
    path = Path(path)
    if path.suffix != ".json" or not path.is_file():
        raise ValueError(f"path must name an existing .json file, got {str(path)!r}")
    return json.loads(path.read_text())
