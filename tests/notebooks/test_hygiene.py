"""Every chapter notebook: stripped outputs, the setup cell, a Colab badge matching _config.yml,
a python3 kernel; and the table of contents lists exactly the pages that exist."""

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from notebook_cells import BADGE_IMAGE, colab_url, install_target, repository  # noqa: E402

NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "chapters/ holds no notebook"


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


@pytest.fixture(params=NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def notebook(request):
    return request.param, json.loads(request.param.read_text())


def test_name_is_numbered_topic(notebook):
    path, _ = notebook
    stem = path.stem
    assert stem[:2].isdigit() and stem[2] == "_" and stem[3:].isidentifier(), stem


def test_outputs_are_stripped(notebook):
    path, nb = notebook
    for i, cell in enumerate(code_cells(nb)):
        assert cell.get("outputs") == [], f"{path.name}: code cell {i} has outputs committed"
        assert cell.get("execution_count") is None, f"{path.name}: code cell {i} has a count"


def test_kernel_is_python3(notebook):
    path, nb = notebook
    assert nb["metadata"]["kernelspec"]["name"] == "python3", path.name


def test_colab_badge_matches_config(notebook):
    path, nb = notebook
    first = source(nb["cells"][0])
    assert nb["cells"][0]["cell_type"] == "markdown" and first.startswith("# "), "title first"
    assert colab_url(path.name) in first, f"{path.name}: badge must link to {colab_url(path.name)}"


def test_setup_cell(notebook):
    path, nb = notebook
    setup = source(code_cells(nb)[0])
    assert '"google.colab" in sys.modules' in setup, f"{path.name}: setup must detect Colab"
    assert install_target() in setup, f"{path.name}: setup must install {install_target()}"
    assert "describe()" in setup and "seed_everything(" in setup
    assert "setup" in code_cells(nb)[0].get("metadata", {}).get("tags", []), path.name


def test_exercise_cells_are_tagged(notebook):
    """A cell the student answers in starts `# EXERCISE` and carries the `exercise` tag, both
    (grading accepts either; tools such as JupyterLab's cell tags and otter read the tag)."""
    path, nb = notebook
    for i, cell in enumerate(code_cells(nb)):
        marked = source(cell).lstrip().startswith("# EXERCISE")
        tagged = "exercise" in cell.get("metadata", {}).get("tags", [])
        assert marked == tagged, f"{path.name}, code cell {i}: marked {marked}, tagged {tagged}"


def test_config_repository_is_github():
    url, branch = repository()
    assert url.startswith("https://github.com/") and url.count("/") == 4 and branch


def test_toc_lists_exactly_the_existing_pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    for f in files:
        assert (ROOT / f"{f}.md").exists() or (ROOT / f"{f}.ipynb").exists(), f"{f} is missing"
    chapters = {f"chapters/{p.stem}" for p in NOTEBOOKS}
    assert chapters <= set(files), f"notebooks not in _toc.yml: {chapters - set(files)}"


def test_notebooks_load_no_image_from_another_host(notebook):
    """The site works offline: a badge or figure is a file of the repository, never a URL."""
    path, nb = notebook
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = source(cell)
        assert not re.search(r"!\[[^\]]*\]\(\s*https?://", text), f"{path.name}: cell {i}"
        assert not re.search(r"<img[^>]+src=[\"']https?://", text), f"{path.name}: cell {i}"


def test_badge_is_the_local_image(notebook):
    path, nb = notebook
    assert f"]({BADGE_IMAGE})" in source(nb["cells"][0]), f"{path.name}: badge image"
    assert (ROOT / "chapters" / BADGE_IMAGE).resolve().is_file()


def test_colab_installs_a_fixed_revision():
    """Readers install the revision the book was built from: a tag or commit, not a branch."""
    _, ref = repository()
    assert ref not in {"main", "master", "HEAD", "develop"}, f"repository.branch is {ref!r}"
