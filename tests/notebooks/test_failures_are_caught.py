"""A notebook cell that raises must fail nbval and the book build, with the project's own flags.

Each test builds a throw-away book in a temporary folder: a copy of the project's _config.yml and
one notebook. The control case (no raise) must pass, so a failure is due to the raise alone.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def make_flags() -> list[str]:
    """JB_FLAGS exactly as the Makefile's `make book` uses them."""
    match = re.search(r"^JB_FLAGS\s*:=\s*(.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, "Makefile defines no JB_FLAGS"
    return match.group(1).split()


def write_book(tmp: Path, cell_source: str) -> Path:
    book = tmp / "book"
    (book / "book").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    (book / "book" / "references.bib").write_text((ROOT / "book" / "references.bib").read_text())
    for folder in ("_assets", "_ext"):  # the static files and the extension _config.yml names
        shutil.copytree(ROOT / "book" / folder, book / "book" / folder)
    (book / "intro.md").write_text("# Intro\n")
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: nb\n")
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# A notebook"),
            nbformat.v4.new_code_cell(cell_source),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, book / "nb.ipynb")
    return book


def run(cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("raises", [True, False], ids=["raising", "control"])
def test_nbval_fails_on_a_raising_cell(tmp_path, raises):
    book = write_book(tmp_path, "raise RuntimeError('boom')" if raises else "x = 1 + 1")
    result = run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "nb.ipynb"],
        cwd=book,
    )
    if raises:
        assert result.returncode != 0 and "boom" in result.stdout, result.stdout[-2000:]
    else:
        assert result.returncode == 0, result.stdout[-2000:]


@pytest.mark.parametrize("raises", [True, False], ids=["raising", "control"])
def test_book_build_fails_on_a_raising_cell(tmp_path, raises):
    plot = "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"
    book = write_book(tmp_path, "raise RuntimeError('boom')" if raises else plot)
    result = run([str(BIN / "jupyter-book"), "build", ".", *make_flags()], cwd=book)
    output = result.stdout + result.stderr
    if raises:
        assert result.returncode != 0, output[-3000:]
        assert "boom" in output or "RuntimeError" in output, output[-3000:]
    else:
        assert result.returncode == 0, output[-3000:]
        assert (book / "_build" / "html" / "nb.html").exists()
        # the executed notebook's figure is in the site
        assert list((book / "_build" / "html" / "_images").glob("*.png")), "no figure in the book"


@pytest.mark.parametrize("raises", [True, False], ids=["raising", "control"])
def test_parallel_execution_fails_on_a_raising_cell_and_fills_the_builds_cache(tmp_path, raises):
    """`make book` first runs tools/execute_chapters.py (chapters two at a time into the jupyter
    cache); a raising cell must fail that step, and a clean notebook must be one the build then
    takes from the cache instead of executing it again."""
    plot = "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"
    book = write_book(tmp_path, "raise RuntimeError('boom')" if raises else plot)
    tool = [sys.executable, str(ROOT / "tools" / "execute_chapters.py"), ".", "--jobs", "2"]
    result = run(tool, cwd=book)
    output = result.stdout + result.stderr
    if raises:
        assert result.returncode != 0, output[-3000:]
        assert "boom" in output and "failed: nb.ipynb" in output, output[-3000:]
        assert not (book / "_build" / ".jupyter_cache" / "executed").exists() or not any(
            (book / "_build" / ".jupyter_cache" / "executed").iterdir()
        )
        return
    assert result.returncode == 0 and "nb.ipynb: executed" in output, output[-3000:]
    assert re.search(r"nb\.ipynb: executed in [\d.]+ s; slowest code cells: 1 \([\d.]+ s\)", output)
    again = run(tool, cwd=book)  # a second run finds it cached and executes nothing
    assert again.returncode == 0 and "in the cache already" in again.stdout, again.stdout
    build = run([str(BIN / "jupyter-book"), "build", ".", *make_flags()], cwd=book)
    log = build.stdout + build.stderr
    assert build.returncode == 0, log[-3000:]
    assert "Using cached notebook" in log and "Executing notebook" not in log, log[-3000:]
    assert list((book / "_build" / "html" / "_images").glob("*.png")), "no figure in the book"


def test_a_notebook_that_runs_alone_overlaps_no_other(tmp_path):
    """Notebooks marked `labs.runs_alone` (live timings another process would disturb) run after
    the others, one at a time; the unmarked ones run two at a time. Each notebook records when it
    ran; the two unmarked ones must overlap (the control: the tool does run them together) and the
    marked ones must overlap nothing."""
    book = write_book(tmp_path, "x = 1")
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    names = ["shared_a", "shared_b", "alone_c", "alone_d"]
    (book / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n" + "".join(f"  - file: {n}\n" for n in names)
    )
    template = nbformat.read(book / "nb.ipynb", as_version=4)
    for name in names:
        nb = nbformat.from_dict(template)
        nb.cells[1].source = (
            "import time\nbegin = time.time()\ntime.sleep(3)\n"
            f"open({str(stamps / name)!r}, 'w').write(f'{{begin}} {{time.time()}}')"
        )
        if name.startswith("alone"):
            nb.metadata["labs"] = {"runs_alone": "a test"}
        nbformat.write(nb, book / f"{name}.ipynb")
    (book / "nb.ipynb").unlink()
    tool = [sys.executable, str(ROOT / "tools" / "execute_chapters.py"), ".", "--jobs", "2"]
    result = run(tool, cwd=book)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    span = {n: tuple(map(float, (stamps / n).read_text().split())) for n in names}

    def overlap(x, y):
        return span[x][0] < span[y][1] and span[y][0] < span[x][1]

    assert overlap("shared_a", "shared_b"), span
    for name in ("alone_c", "alone_d"):
        others = [n for n in names if n != name]
        assert not any(overlap(name, other) for other in others), span


def test_the_slowest_cells_are_named_and_their_timing_left_out_of_the_cache():
    """tools/execute_chapters.py prints each chapter's slowest code cells, read from nbclient's
    per-cell timing, and strips that timing so the cache holds what myst-nb's own run would."""
    sys.path.insert(0, str(ROOT / "tools"))
    from execute_chapters import describe_slowest, slowest_cells

    def timed(start: str, end: str):
        cell = nbformat.v4.new_code_cell("pass")
        cell.metadata["execution"] = {
            "iopub.execute_input": f"2026-12-05T10:00:{start}Z",
            "shell.execute_reply": f"2026-12-05T10:00:{end}Z",
        }
        return cell

    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# title"),  # not counted: code cells are numbered
            timed("00.000", "01.500"),
            nbformat.v4.new_code_cell("untimed"),  # never ran (or no timing): left out
            timed("02.000", "09.250"),
            timed("10.000", "10.100"),
            timed("11.000", "14.000"),
        ]
    )
    assert slowest_cells(nb, count=3) == [(3, 7.25), (5, 3.0), (1, 1.5)]
    assert all("execution" not in cell.metadata for cell in nb.cells)
    assert describe_slowest([(3, 7.25), (5, 3.0)]) == "slowest code cells: 3 (7.2 s), 5 (3.0 s)"
