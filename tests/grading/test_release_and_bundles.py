"""The student release and the HTML hold no reference solution and no hidden case; the autograder
bundles hold every case (test_hangs.py runs one under otter's own runner)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from labs.grading import build_autograders, check_release, discover_chapters, release
from labs.grading.__main__ import main as cli
from labs.grading.chapters import is_exercise_cell, load_hidden
from labs.grading.release import check_text, secrets
from tests.grading.synthetic import correct, solution_source, submission

CHAPTERS = discover_chapters()


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> tuple[Path, ...]:
    return release(tmp_path_factory.mktemp("release"))


def html_of(path: Path) -> str:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(path))
    return body


def test_release_has_every_chapter_with_metadata_and_stubs(released):
    assert [p.name for p in released] == [c.notebook.name for c in CHAPTERS]
    for path, chapter in zip(released, CHAPTERS, strict=True):
        nb = json.loads(path.read_text())
        assert nb["metadata"]["labs"]["topic"] == chapter.topic
        stubs = [c for c in nb["cells"] if is_exercise_cell(c)]
        assert len(stubs) == len(chapter.exercises)
        assert all("raise NotImplementedError" in "".join(c["source"]) for c in stubs)


def test_release_and_its_html_contain_no_solution_and_no_hidden_case(released):
    """Every released notebook, as a file and as its decoded cells, holds no secret; one rendered
    as HTML too (nbconvert takes 3 to 9 s a chapter on a slow processor, and renders only what the
    decoded cells hold; the built book's HTML is scanned whole by the site test)."""
    for path, chapter in zip(released, CHAPTERS, strict=True):
        forbidden = secrets(chapter)
        assert len(forbidden) > len(chapter.exercises)  # solution lines and hidden labels
        text = path.read_text()
        cells = json.loads(text)["cells"]
        decoded = "\n".join("".join(c["source"]) for c in cells)
        for secret in forbidden:
            assert secret not in text and secret not in decoded
    check_text(html_of(released[0]), secrets(CHAPTERS[0]), released[0].name)


def test_the_release_check_reads_the_cells_not_only_the_files_json(tmp_path):
    """Negative control of the decoded scan: a solution line holding a double quote, pasted into a
    markdown cell, is in the file only as JSON-escaped text (\\"), which the scan of the file
    misses; the scan of the decoded cells finds it."""
    chapter = next(c for c in CHAPTERS if c.topic == "fp8")
    quoted = [s for s in secrets(chapter) if '"' in s]
    assert quoted, "no solution line of chapter 2 holds a double quote"
    nb = json.loads(submission(chapter, {}))
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": quoted[0]})
    path = tmp_path / chapter.notebook.name
    path.write_text(json.dumps(nb))
    check_text(path.read_text(), secrets(chapter), path.name)  # the file's text alone: missed
    with pytest.raises(ValueError, match="solution or hidden case"):
        check_release(path, chapter)


@pytest.mark.parametrize("where", ["widget_state", "widget_output"])
def test_the_decoded_scan_reads_widget_state_too(tmp_path, where):
    """A notebook saved with its widgets keeps their state as JSON objects: in the notebook's
    metadata, and in an output's widget data. A quoted solution line there is escaped in the file
    and was skipped by a decoded scan of sources and text outputs only; the scan of every string
    finds it. Control: the same notebook with a harmless value there passes."""
    chapter = next(c for c in CHAPTERS if c.topic == "fp8")
    quoted = next(s for s in secrets(chapter) if '"' in s)

    def saved_with(value: str) -> Path:
        nb = json.loads(submission(chapter, {}))
        state = {"model_name": "TextareaModel", "state": {"value": value}}
        if where == "widget_state":
            mime = "application/vnd.jupyter.widget-state+json"
            nb["metadata"]["widgets"] = {mime: {"state": {"a1": state}, "version_major": 2}}
        else:
            output = {
                "output_type": "display_data",
                "metadata": {},
                "data": {"application/vnd.jupyter.widget-view+json": {"model": state}},
            }
            nb["cells"].append(
                {"cell_type": "code", "metadata": {}, "source": "w", "outputs": [output],
                 "execution_count": 1}
            )  # fmt: skip
        path = tmp_path / f"{where}.ipynb"
        path.write_text(json.dumps(nb))
        return path

    check_release(saved_with("x = 1"), chapter)  # the control passes
    path = saved_with(quoted)
    check_text(path.read_text(), secrets(chapter), path.name)  # escaped in the file: missed
    with pytest.raises(ValueError, match="solution or hidden case"):
        check_release(path, chapter)


def test_the_release_check_names_a_notebook_nested_past_the_recursion_limit(tmp_path):
    """JSON nested deeper than Python's recursion limit raised RecursionError from inside the json
    module; now the notebook is named as unreadable. Control: nested 200 deep, it is read and
    passes."""
    chapter = CHAPTERS[0]
    nb = json.loads(submission(chapter, {}))
    nb["metadata"]["deep"] = "NESTED"
    for depth, readable in ((200, True), (100_000, False)):  # past any C recursion limit too
        path = tmp_path / f"deep{depth}.ipynb"
        path.write_text(json.dumps(nb).replace('"NESTED"', "[" * depth + "]" * depth))
        if readable:
            check_release(path, chapter)
        else:
            with pytest.raises(ValueError, match="notebook must be a Jupyter notebook"):
                check_release(path, chapter)


@pytest.mark.parametrize("chapter", CHAPTERS[:2] + CHAPTERS[-1:], ids=lambda c: c.topic)
def test_the_release_check_catches_a_solution_left_in(tmp_path, chapter):
    """Negative control: a notebook with the solution in its cell fails, as notebook and HTML."""
    path = tmp_path / chapter.notebook.name
    path.write_text(correct(chapter))
    with pytest.raises(ValueError, match="not a stub"):
        check_release(path, chapter)
    with pytest.raises(ValueError, match="solution or hidden case"):
        check_text(html_of(path), secrets(chapter), path.name)
    # The solution pasted into a markdown cell, with the stub left alone.
    nb = json.loads(submission(chapter, {}))
    name = chapter.exercises[0].name
    nb["cells"].append(
        {"cell_type": "markdown", "metadata": {}, "source": solution_source(chapter, name)}
    )
    path.write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="solution or hidden case"):
        check_release(path, chapter)


def test_the_release_check_catches_a_hidden_case(tmp_path):
    chapter = CHAPTERS[0]
    label = load_hidden(chapter).hidden[chapter.exercises[0].name][0].label
    nb = json.loads(submission(chapter, {}))
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": f"Try: {label}"})
    path = tmp_path / "leak.ipynb"
    path.write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="solution or hidden case"):
        check_release(path, chapter)


def test_the_release_check_names_a_notebook_it_cannot_read(tmp_path):
    """Found by the hostile-input audit of December 2026: a mistyped path or a file that is not
    a notebook raised FileNotFoundError, IsADirectoryError, JSONDecodeError or KeyError('cells')."""
    chapter = CHAPTERS[0]
    (tmp_path / "notes.ipynb").write_text("not JSON")
    (tmp_path / "empty.ipynb").write_text("{}")
    for bad in (tmp_path / "missing.ipynb", tmp_path, tmp_path / "notes.ipynb"):
        with pytest.raises(ValueError, match="notebook must"):
            check_release(bad, chapter)
    with pytest.raises(ValueError, match=r"notebook must be a Jupyter notebook .*'empty.ipynb'"):
        check_release(tmp_path / "empty.ipynb", chapter)


def test_check_html_command_scans_a_built_book(tmp_path, capsys):
    (tmp_path / "page.html").write_text(html_of(CHAPTERS[0].notebook))
    assert cli(["check-html", str(tmp_path)]) == 0
    assert "1 pages hold no solution" in capsys.readouterr().out
    (tmp_path / "leak.html").write_text(f"<p>{secrets(CHAPTERS[0])[0]}</p>")
    with pytest.raises(ValueError, match="leak.html"):
        cli(["check-html", str(tmp_path)])


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> tuple[Path, ...]:
    return build_autograders(tmp_path_factory.mktemp("bundles"))


def test_a_bundle_per_chapter_with_public_and_hidden_cases(bundles):
    assert [b.name for b in bundles] == [f"{c.name}-autograder.zip" for c in CHAPTERS]
    for path, chapter in zip(bundles, CHAPTERS, strict=True):
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            assert {"run_autograder", "setup.sh", "otter_config.json"} <= names
            # The per-cell limit's plugin, at the documented default of 300 s.
            config = json.loads(z.read("otter_config.json"))
            assert config["plugins"] == [
                {"labs.grading.otter_plugin.CellTimeLimit": {"seconds": 300}}
            ]
            bank = load_hidden(chapter)
            for exercise in chapter.exercises:
                source = z.read(f"tests/{exercise.name}.py").decode()
                assert source.count("hidden=True") == len(bank.hidden[exercise.name])
                assert source.count("hidden=False") == len(exercise.cases)
                assert "TIME_LIMIT_S = 10.0" in source or exercise.time_limit_s > 10


BUILT = sorted(Path(__file__).resolve().parents[2].glob("_build/**/html/chapters/*.html"))


@pytest.mark.site  # make test runs it after make book (make test-site); it needs the built pages
def test_the_built_book_holds_no_solution_and_no_hidden_case():
    if not BUILT and not os.environ.get("LABS_REQUIRE_BOOK"):
        pytest.skip("no built book here (make test-site runs this after make book)")
    assert BUILT, "no built book here: run make book first"
    forbidden = tuple(sorted({s for c in CHAPTERS for s in secrets(c)}))
    for page in BUILT:
        check_text(page.read_text(encoding="utf-8", errors="replace"), forbidden, page.name)


def _pickled(cases) -> str:
    import base64
    import pickle

    return base64.b64encode(pickle.dumps(tuple(cases))).decode()


def test_run_case_names_a_known_mistake_as_the_instant_check_does():
    from labs.grading.bundle import CaseFailed, run_case
    from labs.mla.exercises import CACHE_BYTES_PER_TOKEN

    cases = _pickled(CACHE_BYTES_PER_TOKEN.cases)  # case 0: MHA, 768 bytes; 384 is elements
    with pytest.raises(CaseFailed, match="What is wrong: your count is half the bytes"):
        run_case(lambda *a, **k: 384, cases, 0, "cache_bytes_per_token")
    with pytest.raises(CaseFailed) as control:  # a wrong answer no mistake explains
        run_case(lambda *a, **k: 771, cases, 0, "cache_bytes_per_token")
    assert "What is wrong" not in str(control.value)
    assert "\n" not in str(control.value)


def test_a_renamed_exercise_is_named_with_its_old_name():
    from labs.grading.bundle import CaseFailed, run_case
    from labs.grading.renamed import RENAMED

    current = {e.name for c in CHAPTERS for e in c.exercises}
    for old, (number, new) in RENAMED.items():
        assert new in current and old not in current, (old, new)
        chapter = next(c for c in CHAPTERS if new in {e.name for e in c.exercises})
        assert chapter.name.startswith(f"0{number.split('.')[0]}_")
    with pytest.raises(CaseFailed, match=r"exercise 2\.1 was decode_e4m3 .* now decode_float"):
        run_case(None, _pickled(()), 0, "decode_float")
    with pytest.raises(CaseFailed) as control:  # never renamed
        run_case(None, _pickled(()), 0, "repeat_kv")
    assert str(control.value) == "the notebook defines no function 'repeat_kv'"
