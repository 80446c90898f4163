"""Set up the Colab path's environment: the package as a wheel in a fresh venv, newest dependencies.

    python tools/colab_env.py FOLDER

Builds the wheel from the files a release holds, checks the package data the chapters read is in
it, creates FOLDER/venv, installs torch at `LABS_COLAB_TORCH` (default the CPU build's pin,
standing in for Colab's preinstalled torch), then the wheel with its declared dependencies at the
newest versions the index serves and what runs a notebook (with uv, from the sources pip is
configured with: tools/uv_pip.py), runs `pip check`, and writes the versions to
_build/colab/versions.txt. Last, it writes FOLDER/ready: the Colab-path test (tests/colab) uses
the environment only if that file exists.

The test calls `build` itself when it runs alone (`make test-colab`). `make test`
(tools/make_test.sh) runs this script in the background beside the creation of .venv, and the
Colab path's chapters at its end, with the machine to themselves, since they assert live timings.
The log of every command: _build/colab/install.log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import uv_pip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "colab"
TORCH_PIN = os.environ.get("LABS_COLAB_TORCH", "torch==2.13.0")
PACKAGE_DATA = ("labs/common/facts.json",)  # files the chapters read at run time
READY = "ready"
# The fresh venv with torch, JAX and the rest: 1.7 GB measured (2026-12-05, torch 2.13.0 CPU,
# jax 0.10.2), plus pip's unpacking. With less free, pip stops half way with "No space left on
# device", and the site test that runs beside it sees its browser's pages crash: CI once failed 19
# site tests and the Colab chapters that way. So the set-up refuses to start, and says why.
NEEDS_FREE_BYTES = 2_000_000_000


class SetupError(RuntimeError):
    """A step of the set-up failed; the message holds the command and the end of its output."""


def run(cmd, *, cwd=None, env=None, log=None, timeout=1200) -> str:
    """Run `cmd`, append it and its output to `log`; SetupError if it exits non-zero."""
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if log is not None:
        with open(log, "a") as f:
            f.write(f"$ {' '.join(map(str, cmd))}\n{done.stdout}\n{done.stderr}\n")
    if done.returncode != 0:
        raise SetupError(f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def clean_env(venv: Path) -> dict:
    """The environment of a fresh Colab-like process: no PYTHONPATH into the repository."""
    # PYTHONDONTWRITEBYTECODE out too: a module the set-up did not compile is written on first use.
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.pop("MPLBACKEND", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["LABS_PROGRESS"] = "off"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


def python_of(folder: Path) -> Path:
    return Path(folder) / "venv" / "bin" / "python"


def check_free_space(folder: Path, needed: int = NEEDS_FREE_BYTES) -> int:
    """The bytes free where FOLDER lies; SetupError, naming both figures, if under `needed`."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise SetupError(
            f"{folder} has {free / 1e9:.2f} GB free; the Colab path's venv needs about "
            f"{needed / 1e9:.1f} GB (torch, JAX and the rest: 1.7 GB measured, plus pip's "
            "unpacking). "
            "Free some space (old clones, venvs, _build folders) or set TMPDIR to a larger disk."
        )
    return free


def build(folder: Path) -> Path:
    """Set up FOLDER/venv as the module docstring says; returns its python."""
    folder = Path(folder)
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "install.log"
    log.write_text("")
    try:
        check_free_space(folder)
    except SetupError as err:  # the log is what the Colab test shows when the set-up failed
        log.write_text(f"{err}\n")
        raise
    (folder / READY).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # The wheel from the files a release holds (not from the working tree's build/ leftovers).
        src = Path(tmp) / "src_tree"
        shutil.copytree(
            ROOT / "src", src / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
        )
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy(ROOT / name, src / name)
        dist = folder / "dist"
        shutil.rmtree(dist, ignore_errors=True)
        run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, src], log=log)
    (wheel,) = dist.glob("labs-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [n for n in PACKAGE_DATA if n not in names]
    if missing:
        raise SetupError(f"package data missing from the wheel: {missing}")

    venv = folder / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", venv], log=log)
    py = python_of(folder)
    env = clean_env(venv)
    # uv, from the sources pip is configured with (tools/uv_pip.py): pip took about 110 s here.
    # Neither compiles all 10,500 modules (60 CPU-s on a slow 2-core machine): the chapters import
    # about 2,500, compiled by warm_bytecode.py (about 12 CPU-s); the rest on first import.
    config = run([py, "-m", "pip", "config", "list"], env=env)
    pip_run = lambda cmd: run(cmd, env=env, log=log)  # noqa: E731
    run(uv_pip.command(py, [TORCH_PIN], config, pip_run), env=env, log=log)
    # The wheel's declared dependencies at the newest versions the index serves (none of them is
    # installed yet but torch's own), plus what runs a notebook; pip checks the result.
    run(uv_pip.command(py, [wheel, "ipykernel", "nbclient"], config), env=env, log=log)
    run([py, "-m", "pip", "check"], env=env, log=log)
    run([py, ROOT / "tools" / "warm_bytecode.py", ROOT / "chapters"], cwd=folder, env=env, log=log)
    (OUT / "versions.txt").write_text(run([py, "-m", "pip", "freeze"], env=env))
    (folder / READY).write_text(str(py) + "\n")
    return py


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    folder = Path(args[0])
    folder.mkdir(parents=True, exist_ok=True)
    try:
        py = build(folder)
    except (SetupError, subprocess.TimeoutExpired) as err:
        print(f"the Colab path's set-up failed: {err}", file=sys.stderr)
        return 1
    print(f"Colab path: {py} ready (versions in {OUT / 'versions.txt'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
