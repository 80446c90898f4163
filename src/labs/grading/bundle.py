"""Autograder bundles: one otter-grader zip per chapter, from the public and the hidden cases.

Each exercise becomes one otter exception-based test file (`tests/<exercise>.py`) with one
`@test_case` per case, public cases first, hidden ones marked `hidden=True`. Otter scores each
case separately, so an answer earns the points of the cases it passes (partial credit). The cases
themselves (inputs and expected values) are embedded in the test file as a pickle, and every test
case calls `run_case`, which compares with `labs.common.exercises.compare`, the same comparison
as the instant checks, and names a mistake the case knows (`Case.mistakes`) as they do. The zip
is made by `otter generate`, so it also loads into Gradescope, where otter runs the whole
notebook in Gradescope's container; `labs.grading.grade` runs the same test files on one
machine, with the student's code in a sandboxed process.

Described in book/instructors.md, "Grading".
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import pickle
import shutil
import tempfile
from pathlib import Path

from labs.common.exercises import Case, compare_case, diagnose
from labs.common.validate import callable_arg, integer, text
from labs.grading.chapters import Chapter, HiddenBank, discover_chapters, load_hidden
from labs.grading.renamed import _note as renamed_note

__all__ = ["build_autograders", "run_case", "write_test_files"]

# Requirements of the Gradescope image: the course package, as the chapters' setup cell installs it.
PACKAGE = "labs @ git+https://github.com/deepseek-efficiency-course/course@main"


class CaseFailed(AssertionError):
    """A case's answer did not match: the message says how (shown in the feedback)."""


def run_case(fn, cases: str, index: int, name: str) -> None:
    """Run case `index` of the base64 pickle `cases` on the student's `fn` (a test case body).

    Raises:
        CaseFailed: `fn` is missing or its answer does not match, with the reason.
    """
    text("cases", cases)
    index = integer("index", index, minimum=0)
    text("name", name)
    if fn is None:  # otter passes None for a name the notebook does not define
        raise CaseFailed(f"the notebook defines no function {name!r}{renamed_note(name)}")
    callable_arg("fn", fn)
    try:
        table = pickle.loads(base64.b64decode(cases, validate=True))
    except Exception as err:  # noqa: BLE001 - anything but a pickled tuple of cases
        raise ValueError(f"cases must be a base64 pickle of Case objects ({err})") from None
    if not isinstance(table, tuple) or not all(isinstance(c, Case) for c in table):
        raise ValueError("cases must be a base64 pickle of a tuple of Case objects")
    if index >= len(table):
        raise ValueError(f"index must be < {len(table)} (the number of cases), got {index}")
    case = table[index]
    got = fn(*case.args, **case.kwargs)
    problem = compare_case(got, case)
    if problem:
        why = diagnose(got, case)  # a named mistake, or a telltale relation; None if neither
        # One line: the gradebook's message is the last line of the failure.
        why = f". What is wrong: {' '.join(why.split())}" if why else ""
        raise CaseFailed(f"({case.label}) {problem}{why}")


def _points(exercise_name: str, n_cases: int, bank: HiddenBank) -> float:
    total = bank.points.get(exercise_name)
    return 1.0 if total is None else float(total) / n_cases


_HEADER = '''"""{title}: {n_public} public and {n_hidden} hidden cases (written by labs.grading)."""

from otter.test_files import test_case

from labs.grading.bundle import run_case

OK_FORMAT = False

name = {name!r}
points = None
CASES = {blob!r}
'''

_CASE = """

@test_case(name={case_name!r}, points={points!r}, hidden={hidden!r})
def case_{index}({name}):
    run_case({name}, CASES, {index}, {name!r})
"""


def _test_file(chapter: Chapter, exercise_name: str, bank: HiddenBank) -> str:
    public = chapter.exercise(exercise_name).fresh_cases()
    hidden = bank.hidden[exercise_name]
    cases: tuple[Case, ...] = (*public, *hidden)
    blob = base64.b64encode(pickle.dumps(cases)).decode("ascii")
    points = _points(exercise_name, len(cases), bank)
    title = f"{chapter.name}, exercise {exercise_name}"
    source = _HEADER.format(
        title=title, n_public=len(public), n_hidden=len(hidden), name=exercise_name, blob=blob
    )
    for index in range(len(cases)):
        kind = "public" if index < len(public) else "hidden"
        number = index + 1 if kind == "public" else index - len(public) + 1
        source += _CASE.format(
            case_name=f"{exercise_name} {kind} {number}",
            points=points,
            hidden=kind == "hidden",
            index=index,
            name=exercise_name,
        )
    return source


def write_test_files(chapter: Chapter, folder: str | Path, hidden: str | Path | None = None):
    """Write one otter test file per exercise of `chapter` into `folder`; return their paths."""
    if not isinstance(chapter, Chapter):
        raise TypeError(f"chapter must be a Chapter, got {type(chapter).__name__}")
    if not isinstance(folder, (str, Path)):
        raise TypeError(f"folder must be a path, got {type(folder).__name__}")
    bank = load_hidden(chapter, hidden)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for exercise in chapter.exercises:
        path = folder / f"{exercise.name}.py"
        path.write_text(_test_file(chapter, exercise.name, bank), encoding="utf-8")
        paths.append(path)
    return tuple(paths)


def build_autograders(
    out: str | Path, hidden: str | Path | None = None, topics: tuple[str, ...] | None = None
) -> tuple[Path, ...]:
    """Write `OUT/<chapter>-autograder.zip` for every chapter with exercises; return the paths.

    Args:
        out: the output folder (created).
        hidden: the folder of hidden-case files (default `tests/grading/hidden/`).
        topics: only these chapters (`labs.<topic>`), default all.
    """
    if not isinstance(out, (str, Path)):
        raise TypeError(f"out must be a path, got {type(out).__name__}")
    if not isinstance(hidden, (str, Path, type(None))):
        raise TypeError(f"hidden must be a path, got {type(hidden).__name__}")
    chapters = discover_chapters()
    if topics is not None:
        known = {c.topic for c in chapters}
        if not isinstance(topics, tuple) or not all(t in known for t in topics):
            raise ValueError(f"topics must be a tuple of {sorted(known)}, got {topics!r}")
        chapters = tuple(c for c in chapters if c.topic in topics)
    from otter.generate import main as otter_generate

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    zips = []
    for chapter in chapters:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            write_test_files(chapter, work / "tests", hidden)
            (work / "requirements.txt").write_text(PACKAGE + "\n", encoding="utf-8")
            config = {"lang": "python", "show_stdout": False, "show_hidden": False}
            (work / "otter_config.json").write_text(json.dumps(config), encoding="utf-8")
            target = out / f"{chapter.name}-autograder.zip"
            with contextlib.redirect_stdout(io.StringIO()):
                otter_generate(
                    tests_dir=str(work / "tests"),
                    output_path=str(work / "autograder.zip"),
                    config=str(work / "otter_config.json"),
                    requirements=str(work / "requirements.txt"),
                    no_environment=True,
                    python_version="3.11",
                )
            shutil.copyfile(work / "autograder.zip", target)
            zips.append(target)
    return tuple(zips)
