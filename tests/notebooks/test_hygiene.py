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


VISIBLE_LINES = 40  # tools/fold_cells.py cuts and folds to the same limit
TITLE = "# @title "


def fold_problems(nb) -> list[str]:
    """What a reader would meet that the house rule forbids: a visible code cell over
    VISIBLE_LINES lines; a folded cell without its title (the first line, `# @title ...`, which
    Colab shows as the form's heading), without Colab's form view, or whose toggle on the site
    does not name it; a setup or exercise cell folded (the reader must see and edit those)."""
    problems = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        meta = cell.get("metadata", {})
        tags = meta.get("tags", [])
        lines = source(cell).split("\n")
        if "hide-input" not in tags:
            if len(lines) > VISIBLE_LINES:
                problems.append(f"cell {i}: {len(lines)} visible lines")
            continue
        title = lines[0][len(TITLE) :].strip() if lines[0].startswith(TITLE) else ""
        if not title:
            problems.append(f"cell {i}: folded, but its first line is not `{TITLE}...`")
        if meta.get("cellView") != "form":
            problems.append(f"cell {i}: folded, but Colab would show its code")
        if meta.get("mystnb", {}).get("code_prompt_show") != f"{title} (show the code)":
            problems.append(f"cell {i}: the site's toggle does not name the cell")
        if {"setup", "exercise"} & set(tags):
            problems.append(f"cell {i}: a setup or exercise cell is folded")
    return problems


def test_long_code_is_cut_and_checks_are_folded(notebook):
    """A reader reads at most 40 lines of code at a time; the cells that only check (asserts
    that pin the prose's figures, controls, record bookkeeping) sit folded under a named toggle
    above their output, on the site and in Colab."""
    path, nb = notebook
    assert fold_problems(nb) == [], path.name


def test_fold_rule_catches_what_it_should():
    """The rule's controls: a long visible cell, a folded cell with no title, no form view or an
    unnamed toggle, and a folded exercise are each reported; a well-formed fold is not."""

    def code(lines, **meta):
        return {"cell_type": "code", "metadata": meta, "source": "\n".join(lines)}

    good_meta = {"tags": ["hide-input"], "cellView": "form",
                 "mystnb": {"code_prompt_show": "Checks: x (show the code)"}}  # fmt: skip
    long = [f"x = {i}" for i in range(VISIBLE_LINES + 1)]
    good = code([TITLE + "Checks: x", *long], **good_meta)
    assert fold_problems({"cells": [good, code(long[:VISIBLE_LINES])]}) == []
    assert fold_problems({"cells": [code(long)]}) == ["cell 0: 41 visible lines"]
    untitled = code(long, **{**good_meta, "mystnb": {"code_prompt_show": " (show the code)"}})
    no_form = code([TITLE + "Checks: x"], **{k: v for k, v in good_meta.items() if k != "cellView"})
    unnamed = code([TITLE + "Checks: x"], **{**good_meta, "mystnb": {}})
    exercise = code([TITLE + "Checks: x"], **{**good_meta, "tags": ["hide-input", "exercise"]})
    for bad, words in ((untitled, "first line"), (no_form, "Colab"), (unnamed, "toggle"),
                       (exercise, "exercise")):  # fmt: skip
        found = fold_problems({"cells": [bad]})
        assert len(found) == 1 and words in found[0], found


def test_no_visible_cell_reads_a_name_defined_out_of_sight(notebook):
    """A folded cell may check and print, but a name the reader meets in a visible cell is
    defined in a visible cell (tools/fold_cells.py `hidden_reads`)."""
    from fold_cells import hidden_reads

    path, nb = notebook
    assert hidden_reads(nb) == [], path.name


def test_hidden_reads_catches_a_definition_out_of_sight():
    """The rule's control: a name bound in a folded cell and read in a later visible one is
    reported; bound again visibly in between, or read by a folded cell, it is not; a function's
    own arguments are not reads of the notebook's names."""
    from fold_cells import hidden_reads

    def code(text, folded=False):
        return {"cell_type": "code", "source": text,
                "metadata": {"tags": ["hide-input"]} if folded else {}}  # fmt: skip

    folded_def = code("# @title Checks: x\nx = 1\nassert x", folded=True)
    assert hidden_reads({"cells": [folded_def, code("print(x)")]}) == [(1, "x", 0)]
    assert hidden_reads({"cells": [folded_def, code("x = 2"), code("print(x)")]}) == []
    assert hidden_reads({"cells": [folded_def, code("print(x)", folded=True)]}) == []
    assert hidden_reads({"cells": [folded_def, code("def f(x):\n    return x")]}) == []


def test_cell_ids_are_unique(notebook):
    """nbformat 4.5 needs every cell's id unique in its notebook (a duplicate is renamed on load,
    so a reference by id would find another cell); tools/fold_cells.py split keeps them so."""
    path, nb = notebook
    ids = [cell.get("id") for cell in nb["cells"]]
    assert all(ids) and len(ids) == len(set(ids)), path.name
