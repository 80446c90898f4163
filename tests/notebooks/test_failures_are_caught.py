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
    assert re.search(
        r"nb\.ipynb: executed in [\d.]+ s; slowest code cells: 1 \([\d.]+ s\); in cells [\d.]+ s; "
        r"before the first cell [\d.]+ s; after the last cell [\d.]+ s",
        output,
    ), output[-3000:]
    again = run(tool, cwd=book)  # a second run finds it cached and executes nothing
    assert again.returncode == 0 and "in the cache already" in again.stdout, again.stdout
    build = run([str(BIN / "jupyter-book"), "build", ".", *make_flags()], cwd=book)
    log = build.stdout + build.stderr
    assert build.returncode == 0, log[-3000:]
    assert "Using cached notebook" in log and "Executing notebook" not in log, log[-3000:]
    assert list((book / "_build" / "html" / "_images").glob("*.png")), "no figure in the book"


def test_a_cell_that_runs_alone_overlaps_no_other(tmp_path):
    """In a notebook marked `labs.runs_alone` (live timings another process would disturb) each
    code cell runs with every other notebook's code stopped, unless the cell is marked
    `labs.shares_machine`; every cell of an unmarked notebook shares the machine. Each cell spins
    for a few seconds, writing down the time every few milliseconds: a cell that was paused has a
    gap in its stamps, and no other cell may have a stamp inside a cell that runs alone. Controls:
    the two unmarked notebooks' stamps interleave (the tool does run two at a time), so do the two
    sharing cells of the marked notebooks, and the long sharing cell shows the gap of its pause."""
    book = write_book(tmp_path, "x = 1")
    stamps = tmp_path / "stamps"
    stamps.mkdir()

    def spins(name: str, seconds: float, after: str = "", mark: str = "") -> str:
        """A cell that notes the time every few ms for `seconds`, and (`after`) until `after`'s
        marker file has existed for a second; first it writes its own marker `mark`."""
        marker = f"(stamps_dir / {after!r})"
        wait = (
            f"({marker}.exists() and time.time() - {marker}.stat().st_mtime > 1)"
            if after
            else "True"
        )
        return (
            f"import time, pathlib\nstamps_dir = pathlib.Path({str(stamps)!r})\n"
            + (f"(stamps_dir / {mark!r}).touch()\n" if mark else "")
            + f"stamps, end, give_up = [], time.time() + {seconds}, time.time() + 120\n"
            f"while (time.time() < end or not {wait}) and time.time() < give_up:\n"
            "    stamps.append(time.time())\n    time.sleep(0.004)\n"
            "stamps.append(time.time())\n"
            f"(stamps_dir / {name!r}).write_text(' '.join(map(repr, stamps)))"
        )

    names = ["shared_a", "shared_b", "alone_c", "alone_d"]
    # c's sharing cell lasts until 1 s after d's has begun; d's until 1 s after c's alone cell has
    # begun, which it sees only once resumed: so d's sharing cell spans c's alone cell.
    sharing = {
        "alone_c": spins("alone_c_shares", 1, after="d_began"),
        "alone_d": spins("alone_d_shares", 1, after="c_began", mark="d_began"),
    }
    (book / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n" + "".join(f"  - file: {n}\n" for n in names)
    )
    template = nbformat.read(book / "nb.ipynb", as_version=4)
    for name in names:
        nb = nbformat.from_dict(template)
        nb.cells[1].source = spins(name, 3, mark="c_began" if name == "alone_c" else "")
        if name.startswith("alone"):
            nb.metadata["labs"] = {"runs_alone": "a test"}
            cell = nbformat.v4.new_code_cell(sharing[name])
            cell.metadata["labs"] = {"shares_machine": "times nothing"}
            nb.cells.insert(1, cell)
        nbformat.write(nb, book / f"{name}.ipynb")
    (book / "nb.ipynb").unlink()
    tool = [sys.executable, str(ROOT / "tools" / "execute_chapters.py"), ".", "--jobs", "2"]
    result = run(tool, cwd=book)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    cells = names + ["alone_c_shares", "alone_d_shares"]
    at = {n: [float(t) for t in (stamps / n).read_text().split()] for n in cells}

    def inside(x, y) -> int:
        """How many of x's stamps fall strictly inside y's first and last stamp."""
        return sum(at[y][0] < t < at[y][-1] for t in at[x])

    assert inside("shared_a", "shared_b") > 20 and inside("shared_b", "shared_a") > 20
    assert inside("alone_c_shares", "alone_d_shares") > 20
    for name in ("alone_c", "alone_d"):
        for other in cells:
            if other != name:
                assert inside(other, name) == 0, (name, other, inside(other, name))
    # d's sharing cell spans c's alone cell in wall time, with a gap of at least its length.
    d_shares, c_alone = at["alone_d_shares"], at["alone_c"]
    assert d_shares[0] < c_alone[0] and c_alone[-1] < d_shares[-1], (d_shares[::100], c_alone[0])
    gaps = [b - a for a, b in zip(d_shares, d_shares[1:], strict=False)]
    assert max(gaps) >= c_alone[-1] - c_alone[0], max(gaps)
    assert re.search(r"alone_c\.ipynb: executed .*paused the other notebooks for [1-9]", output)


def test_where_a_notebooks_time_went_is_named_and_left_out_of_the_cache():
    """tools/execute_chapters.py prints each chapter's slowest code cells and where the rest of its
    time went (a chapter once took 218 s with no cell over 11 s), read from nbclient's per-cell
    timing, and strips that timing so the cache holds what myst-nb's own run would."""
    from datetime import datetime

    sys.path.insert(0, str(ROOT / "tools"))
    from execute_chapters import cell_timing, describe_timing

    def at(clock: str) -> str:
        return f"2026-12-05T10:{clock}Z"

    def timed(start: str, end: str):
        cell = nbformat.v4.new_code_cell("pass")
        cell.metadata["execution"] = {
            "iopub.execute_input": at(start),
            "shell.execute_reply": at(end),
        }
        return cell

    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# title"),  # not counted: code cells are numbered
            timed("00:02.000", "00:03.500"),
            nbformat.v4.new_code_cell("untimed"),  # never ran (or no timing): left out
            timed("00:04.000", "00:11.250"),
            timed("03:11.250", "03:11.350"),  # three minutes of waiting before it
            timed("03:12.000", "03:15.000"),
        ]
    )
    started = datetime.fromisoformat(at("00:00.000"))
    ended = datetime.fromisoformat(at("03:20.000"))
    timing = cell_timing(nb, started, ended, count=3)
    assert timing["slowest"] == [(3, 7.25), (5, 3.0), (1, 1.5)]
    assert abs(timing["in_cells"] - 11.85) < 1e-9
    assert timing["longest_wait"] == (4, 180.0)
    assert (timing["before_first"], timing["after_last"]) == (2.0, 5.0)
    assert all("execution" not in cell.metadata for cell in nb.cells)
    line = describe_timing(timing)
    assert line == (
        "slowest code cells: 3 (7.2 s), 5 (3.0 s), 1 (1.5 s); in cells 11.8 s; before the first "
        "cell 2.0 s; longest wait between cells 180.0 s (before cell 4); after the last cell 5.0 s"
    )
    # with nbclient's own send stamp, the wait splits into the client's part and the kernel's
    sent = timed("03:11.250", "03:11.350")
    sent.metadata["execution"]["client.send"] = at("03:10.000")  # 178.75 s after the reply
    split = cell_timing(nbformat.v4.new_notebook(cells=[timed("00:00.000", "00:11.250"), sent]))
    assert split["longest_wait"] == (2, 180.0) and split["sent_after"] == 178.75
    assert (
        "longest wait between cells 180.0 s (before cell 2; nbclient sent it 178.8 s after the "
        "reply)" in describe_timing(split)
    )
    # without the run's own start and end, only what the cells say
    bare = cell_timing(nbformat.v4.new_notebook(cells=[timed("00:00.000", "00:01.000")]))
    assert bare["before_first"] is None and bare["longest_wait"] is None
    assert describe_timing(bare) == "slowest code cells: 1 (1.0 s); in cells 1.0 s"
