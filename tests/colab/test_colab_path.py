"""The Colab path: the package as a wheel, installed (not editable) into a fresh environment with
only the dependencies it declares, each at the newest release the index serves, and chapters
executed there with nbclient from a directory outside the repository.

Colab installs the package from the repository with pip and keeps its own preinstalled torch;
here torch is pinned to `TORCH_PIN` (the CPU build) standing in for Colab's. Anything that breaks
(an undeclared dependency, package data missing from the wheel, a removed JAX API, a path that
exists only in the repository) is fixed in the package, not here.

Which chapters run: `LABS_COLAB_CHAPTERS` (space-separated stems, or `all`); by default the tour
and chapter 3. Every chapter under chapters/ is collected; the ones not asked for are deselected
by name in `make test-colab`, never skipped silently. Logs and versions: _build/colab/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.colab

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "_build" / "colab"
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb"))
TORCH_PIN = os.environ.get("LABS_COLAB_TORCH", "torch==2.13.0")
CELL_TIMEOUT_S = 300
PACKAGE_DATA = ("labs/common/facts.json",)  # files the chapters read at run time


def _run(cmd, *, cwd=None, env=None, log=None, timeout=1200):
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if log is not None:
        with open(log, "a") as f:
            f.write(f"$ {' '.join(map(str, cmd))}\n{done.stdout}\n{done.stderr}\n")
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _clean_env(venv: Path) -> dict:
    """The environment of a fresh Colab-like process: no PYTHONPATH into the repository."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.pop("MPLBACKEND", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["LABS_PROGRESS"] = "off"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


@pytest.fixture(scope="session")
def colab_env(tmp_path_factory):
    """(python of the fresh venv, its environment, a work directory outside the repository)."""
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "install.log"
    log.write_text("")
    tmp = tmp_path_factory.mktemp("colab")
    # Build the wheel from the files a release holds (not from the working tree's build/ leftovers).
    src = tmp / "src_tree"
    shutil.copytree(
        ROOT / "src", src / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, src], log=log)
    (wheel,) = dist.glob("labs-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [n for n in PACKAGE_DATA if n not in names]
    assert not missing, f"package data missing from the wheel: {missing}"

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", venv], log=log)
    py = venv / "bin" / "python"
    env = _clean_env(venv)
    pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, TORCH_PIN], env=env, log=log)
    # The wheel's declared dependencies at their newest versions, plus what runs a notebook.
    _run([*pip, "--upgrade-strategy", "eager", wheel, "ipykernel", "nbclient"], env=env, log=log)
    _run([py, "-m", "pip", "check"], env=env, log=log)
    freeze = _run([py, "-m", "pip", "freeze"], env=env)
    (OUT / "versions.txt").write_text(freeze)

    work = tmp / "work"  # outside the repository: no relative path may reach it
    work.mkdir()
    where = _run([py, "-c", "import labs; print(labs.__file__)"], cwd=work, env=env).strip()
    assert Path(where).is_relative_to(venv), f"labs imported from {where}, not the fresh venv"
    return py, env, work


def test_every_declared_dependency_is_installed(colab_env):
    """The fresh environment holds each declared dependency (the versions: _build/colab/)."""
    import re

    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    frozen = {
        re.split(r"[=@ ]", line)[0].strip().lower().replace("_", "-")
        for line in (OUT / "versions.txt").read_text().splitlines()
    }
    for requirement in declared:
        name = re.split(r"[<>=!~;\[ ]", requirement)[0].lower().replace("_", "-")
        assert name in frozen, f"{name} (declared) is not installed"
    assert "labs" in frozen


RUNNER = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=int(sys.argv[2]), kernel_name="python3", allow_errors=False,
               resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(nb, sys.argv[4])
"""


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_from_the_wheel(colab_env, chapter):
    py, env, work = colab_env
    notebook = work / f"{chapter}.ipynb"
    shutil.copy(ROOT / "chapters" / f"{chapter}.ipynb", notebook)
    nb = json.loads(notebook.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    executed = OUT / f"{chapter}.executed.ipynb"
    runner = work / "run_notebook.py"
    runner.write_text(RUNNER)
    _run(
        [py, runner, notebook, CELL_TIMEOUT_S, work, executed],
        cwd=work,
        env=env,
        log=OUT / f"{chapter}.log",
        timeout=CELL_TIMEOUT_S * 4,
    )
    assert executed.is_file()
