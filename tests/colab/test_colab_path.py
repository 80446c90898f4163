"""The Colab path: the package as a wheel, installed (not editable) into a fresh environment with
only the dependencies it declares, each at the newest release the index serves, and chapters
executed there with nbclient from a directory outside the repository.

Colab installs the package from the repository with pip and keeps its own preinstalled torch;
here torch is pinned (`LABS_COLAB_TORCH`, default the CPU build's pin) standing in for Colab's.
tools/colab_env.py sets the environment up; under `make test` it runs beside the creation of
.venv (tools/make_test.sh).
Anything that breaks (an undeclared dependency, package data missing from the wheel, a removed JAX
API, a path that exists only in the repository) is fixed in the package, not here.

Which chapters run: `LABS_COLAB_CHAPTERS` (space-separated stems, or `all`); by default the tour
and chapter 3. Every chapter under chapters/ is collected; the ones not asked for are deselected
by name in `make test-colab`, never skipped silently. Logs and versions: _build/colab/.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.colab

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import colab_env as colab_setup  # noqa: E402

OUT = colab_setup.OUT
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def _run(cmd, *, cwd=None, env=None, log=None, timeout=1200):
    try:
        return colab_setup.run(cmd, cwd=cwd, env=env, log=log, timeout=timeout)
    except colab_setup.SetupError as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def colab_env(tmp_path_factory):
    """(python of the fresh venv, its environment, a work directory outside the repository).

    The venv is set up by tools/colab_env.py: here, or, under `make test`, beforehand in the
    background while the site test ran (its folder in LABS_COLAB_VENV)."""
    given = os.environ.get("LABS_COLAB_VENV")
    if given:
        folder = Path(given)
        if not (folder / colab_setup.READY).is_file():
            log = colab_setup.OUT / "install.log"
            tail = log.read_text()[-3000:] if log.is_file() else "(no log)"
            pytest.fail(
                f"the Colab path's set-up in {folder} (tools/colab_env.py, run by make test) did "
                f"not finish; the end of {log}:\n{tail}",
                pytrace=False,
            )
    else:
        folder = tmp_path_factory.mktemp("colab")
        try:
            colab_setup.build(folder)
        except colab_setup.SetupError as err:
            pytest.fail(str(err), pytrace=False)
    py = colab_setup.python_of(folder)
    env = colab_setup.clean_env(py.parents[1])
    work = tmp_path_factory.mktemp("work")  # outside the repository: no relative path may reach it
    where = _run([py, "-c", "import labs; print(labs.__file__)"], cwd=work, env=env).strip()
    assert Path(where).is_relative_to(py.parents[1]), f"labs imported from {where}, not the venv"
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


# The harness (not the chapter) waits for the kernel in slices, as `make book` does: see
# tools/sliced_client.py for the silent cell-timeout stall this avoids.
RUNNER = """
import sys, nbformat
from nbclient import NotebookClient
sys.path.insert(0, sys.argv[5])
from sliced_client import SlicedKernelManager
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=int(sys.argv[2]), kernel_name="python3", allow_errors=False,
               kernel_manager_class=SlicedKernelManager,
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
        [py, runner, notebook, CELL_TIMEOUT_S, work, executed, ROOT / "tools"],
        cwd=work,
        env=env,
        log=OUT / f"{chapter}.log",
        timeout=CELL_TIMEOUT_S * 4,
    )
    assert executed.is_file()
