"""Grade a folder of submitted notebooks with the hidden cases: a gradebook and feedback files.

For each `*.ipynb` under the submissions folder (one per student, named by its path without
`.ipynb`), the grader

1. reads the file (never writes it: the folder is byte-for-byte unchanged), finds the chapter
   (the release's metadata, else the `labs.<topic>.exercises` import) and the exercise cells
   (tagged `exercise`, or starting `# EXERCISE`), plus the notebook's imports of NumPy, SciPy,
   `math` and `labs`: the chapter's long experiments never run;
2. starts a fresh sandboxed process (`labs.grading._sandbox`) in a scratch folder, which runs
   those cells and then calls the student's functions on the inputs of each case. Expected values
   stay in this process: otter-grader runs each exercise's test file here, against a stand-in
   function that forwards the call, so nothing the student's code does (replacing `check_*`,
   `labs` functions, NumPy, the cases) can reach the comparison;
3. scores every case (otter's per-case points: partial credit) and writes one gradebook row per
   exercise. `status` is one of STATUSES:

   passed          every case matches;
   failed          some case does not match (or the answer calls the course's own function);
   not_attempted   the function still raises NotImplementedError, or is missing;
   error           the code ends the process, or does what the sandbox forbids (reads the hidden
                   cases, writes outside its scratch folder, starts a process...), or a cell fails
                   so that the function is not defined;
   timeout         a case (or the cells) ran past the time limit;
   invalid_submission  the file is empty, not JSON, not a notebook, or of no known chapter; or
                   the grader itself failed on it three times (the message names the exception).

The notebook is read by `labs.grading.notebook` and its cells run in the process of
`labs.grading.session`; this module scores the cases and writes the gradebook and the
feedback files of the instructor's `make grade` (`python -m labs.grading grade`).

Described in book/instructors.md, "Grading".
"""

from __future__ import annotations

import csv
import math
import shutil
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass
from pathlib import Path

from labs.common.exercises import DEFAULT_TIME_LIMIT_S
from labs.common.progress import progress
from labs.common.validate import integer, real_number
from labs.grading.bundle import write_test_files
from labs.grading.chapters import Chapter, default_hidden_dir, discover_chapters, load_hidden
from labs.grading.notebook import (
    _MAX_NOTEBOOK,
    _cells,
    _chapter_of,
    _defines,
    _Invalid,
    _read_notebook,
)
from labs.grading.renamed import _note as renamed_note
from labs.grading.session import StudentAnswer as StudentAnswer  # its answers' stand-in
from labs.grading.session import _Session

__all__ = ["COLUMNS", "STATUSES", "grade"]

STATUSES = ("passed", "failed", "not_attempted", "error", "timeout", "invalid_submission")
COLUMNS = ("student", "chapter", "exercise", "points", "max_points", "status", "message")


@dataclass(frozen=True)
class GradeRow:
    """One gradebook row (see COLUMNS and STATUSES)."""

    student: str
    chapter: str
    exercise: str
    points: float
    max_points: float
    status: str
    message: str


# --- Grading one notebook --------------------------------------------------------------------


def _message(otter_message: str) -> str:
    last = otter_message.strip().split("\n")[-1]
    name, sep, rest = last.partition(": ")
    return rest if sep and name.isidentifier() else last


def _exercise_rows(student, chapter, test_files, session, loaded) -> tuple[list, list]:
    from otter.test_files import ExceptionTestFile

    rows, feedback = [], []
    for exercise in chapter.exercises:
        test = ExceptionTestFile.from_file(str(test_files[exercise.name]))
        possible = float(test.possible)
        row = dict(
            student=student, chapter=chapter.name, exercise=exercise.name, max_points=possible
        )
        if "failure" in loaded:
            rows.append(
                GradeRow(**row, points=0.0, status=loaded["failure"], message=loaded["why"])
            )
            feedback.append(
                f"- {exercise.name}: {loaded['failure']}, 0/{possible:g}: {loaded['why']}"
            )
            continue
        sources = dict(session.setup["cells"])
        owners = session.setup["owners"]
        cells_of = [
            label
            for label, src in sources.items()
            if exercise.name in _defines(src) or owners.get(label) == exercise.name
        ]
        excluded = [session.excluded[c] for c in cells_of if c in session.excluded]
        violations = loaded.get("cell_violations", {})
        violated = [violations[c][0] for c in cells_of if c in violations]
        if exercise.name not in loaded.get("defined", []) and not cells_of and violations:
            violated = [next(iter(violations.values()))[0]]
        status = None
        if violated:
            status, why = "error", f"a cell did what the grader forbids: {violated[0]}"
        elif excluded:
            status, why = excluded[0]
        elif exercise.name not in loaded.get("defined", []):
            if loaded.get("errors"):
                status, why = "error", f"the function is not defined: {loaded['errors'][-1]}"
            else:
                status, why = "not_attempted", f"the notebook defines no function {exercise.name!r}"
                defined = set().union(*(_defines(src) for src in sources.values()))
                why += renamed_note(exercise.name, defined, exercise.signature)
        if status is not None:
            rows.append(GradeRow(**row, points=0.0, status=status, message=why))
            feedback.append(f"- {exercise.name}: {status}, 0/{possible:g}: {why}")
            continue
        session.log, session.stopped = [], False
        # An exercise that declares a longer limit than the default (a planning task) gets
        # proportionally more than `time_limit_s`.
        session.case_limit_s = session.time_limit_s * max(
            1.0, exercise.time_limit_s / DEFAULT_TIME_LIMIT_S
        )
        test.run({exercise.name: session.function(exercise.name)})
        kinds = [entry["kind"] for entry in session.log]
        results = test.test_case_results
        first_fail = next((r for r in results if not r.passed), None)
        points = float(test.score)
        if "violation" in kinds:
            status, points = "error", 0.0
            why = next(e["why"] for e in session.log if e["kind"] == "violation")
        elif "course" in kinds:
            status, points = "failed", 0.0
            why = next(e["why"] for e in session.log if e["kind"] == "course")
        elif "timeout" in kinds:
            status = "timeout"
            why = f"{first_fail.test_case.name}: {_message(first_fail.message)}"
        elif "error" in kinds:
            status = "error"
            why = f"{first_fail.test_case.name}: {_message(first_fail.message)}"
        elif first_fail is None:
            status, why = "passed", ""
        elif (
            session.log
            and session.log[0].get("not_implemented")
            and not any(r.passed for r in results)
        ):
            status, why = "not_attempted", "the function still raises NotImplementedError"
        else:
            status = "failed"
            why = f"{first_fail.test_case.name}: {_message(first_fail.message)}"
        if session.stopped:
            session.close()  # the next exercise starts a fresh process
        rows.append(GradeRow(**row, points=points, status=status, message=why))
        feedback.append(f"- {exercise.name}: {status}, {points:g}/{possible:g}")
        for result in results:
            mark = "passed" if result.passed else "failed"
            detail = (
                ""
                if result.passed or result.test_case.hidden
                else (": " + _message(result.message))
            )
            feedback.append(f"    {result.test_case.name}: {mark}{detail}")
    return rows, feedback


def _grade_notebook(
    path: str | Path,
    *,
    student: str,
    chapters: tuple[Chapter, ...],
    plans: dict,
    protected: tuple[str, ...] = (),
    time_limit_s: float = 10.0,
) -> tuple[list[GradeRow], str]:
    """Grade one submitted notebook: its gradebook rows and the student's feedback text.

    Args:
        path: the notebook (only read).
        student: the name the gradebook gives the student.
        chapters: the chapters with exercises (`discover_chapters()`).
        plans: {chapter name: {"tests": {exercise name: otter test file path},
            "forbidden": {exercise name: course functions it may not call}}}.
        protected: folders the student's code may neither read nor list.
        time_limit_s: the limit for each case, and (doubled, plus 10 s for imports) for the cells.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a path, got {type(path).__name__}")
    if not isinstance(student, str) or not student:
        raise TypeError(f"student must be a non-empty string, got {student!r}")
    if not isinstance(chapters, tuple) or not all(isinstance(c, Chapter) for c in chapters):
        raise TypeError("chapters must be a tuple of Chapter (from discover_chapters())")
    if not isinstance(plans, dict) or not all(c.name in plans for c in chapters):
        raise TypeError("plans must be a dict with an entry for every chapter")
    if not isinstance(protected, tuple) or not all(isinstance(p, str) for p in protected):
        raise TypeError("protected must be a tuple of folder paths (str)")
    time_limit_s = real_number("time_limit_s", time_limit_s, positive=True)
    if time_limit_s > 3600:
        raise ValueError(f"time_limit_s must be <= 3600, got {time_limit_s}")
    header = f"# Feedback for {student}\n"
    try:
        if Path(path).stat().st_size > _MAX_NOTEBOOK:
            raise _Invalid(f"the file is larger than {_MAX_NOTEBOOK // 2**20} MiB")
        raw = Path(path).read_bytes()
        nb = _read_notebook(raw)
        chapter = _chapter_of(nb, chapters)
    except (_Invalid, OSError, RecursionError) as err:
        why = (
            str(err)
            if isinstance(err, _Invalid)
            else "the file is not a notebook the grader can read"
            if isinstance(err, RecursionError)
            else f"the file cannot be read ({err})"
        )
        row = GradeRow(student, "", "", 0.0, 0.0, "invalid_submission", why)
        return [row], header + f"\nThe submission could not be graded: {why}\n"
    scratch = Path(tempfile.mkdtemp(prefix="labs-grade-"))
    session = None
    try:
        (scratch / "submission.ipynb").write_bytes(raw)  # the student's scratch copy
        imports, cells, owners = _cells(nb, chapter)
        setup = {
            "imports": imports,
            "cells": cells,
            "names": [e.name for e in chapter.exercises],
            "forbidden": dict(plans[chapter.name]["forbidden"]),
            "scratch": str(scratch),
            "protected": list(protected),
            "owners": owners,
        }
        session = _Session(setup, scratch, time_limit_s, 60.0)
        loaded = session.start()
        tests = plans[chapter.name]["tests"]
        rows, lines = _exercise_rows(student, chapter, tests, session, loaded)
    finally:
        if session is not None:
            session.close()  # also when grading raised: no student process outlives its grading
        shutil.rmtree(scratch, ignore_errors=True)
    total = sum(r.points for r in rows)
    possible = sum(r.max_points for r in rows)
    text = header + f"\nChapter {chapter.name}: {total:g} of {possible:g} points.\n\n"
    text += "\n".join(lines) + "\n\nHidden cases are listed as passed or failed only.\n"
    return rows, text


# --- Grading a folder ------------------------------------------------------------------------

_ATTEMPTS = 3  # a submission the grader itself fails on is graded again, after a pause
_RETRY_WAIT_S = 2.0


def _import_before_threads() -> None:
    """Import what grading a notebook imports lazily, once, before the worker threads start.

    Two threads that import the same package for the first time at the same moment can see it
    half initialised (an ImportError or AttributeError from inside it). Otter's test files pull in
    pandas, nbconvert and IPython; ml_dtypes decodes an answer in bfloat16 or float8.
    """
    import ml_dtypes  # noqa: F401
    from otter.test_files import ExceptionTestFile  # noqa: F401


def _student_names(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).with_suffix("").as_posix() for p in paths]


def grade(
    submissions: str | Path,
    out: str | Path,
    *,
    hidden: str | Path | None = None,
    time_limit_s: float = 10.0,
    workers: int = 2,
) -> Path:
    """Grade every `*.ipynb` under `submissions`; write `out/gradebook.csv` and `out/feedback/`.

    Args:
        submissions: the folder of submitted notebooks (read only, never changed).
        out: the results folder (created; must not be inside `submissions`).
        hidden: the folder of hidden-case files (default `tests/grading/hidden/`).
        time_limit_s: the time limit of each case, in seconds (at most 3600).
        workers: submissions graded at the same time, each in its own process (1 to 64).

    Returns:
        The path of the gradebook.
    """
    if not isinstance(submissions, (str, Path)):
        raise TypeError(f"submissions must be a path, got {type(submissions).__name__}")
    if not isinstance(out, (str, Path)):
        raise TypeError(f"out must be a path, got {type(out).__name__}")
    if not isinstance(hidden, (str, Path, type(None))):
        raise TypeError(f"hidden must be a path, got {type(hidden).__name__}")
    time_limit_s = real_number("time_limit_s", time_limit_s, positive=True)
    if time_limit_s > 3600:
        raise ValueError(f"time_limit_s must be <= 3600, got {time_limit_s}")
    workers = integer("workers", workers, minimum=1, maximum=64)
    root = Path(submissions).resolve()
    if not root.is_dir():
        raise ValueError(f"submissions must be an existing folder, got {str(submissions)!r}")
    out = Path(out).resolve()
    if out == root or root in out.parents:
        raise ValueError(f"out must not be inside submissions ({out})")
    hidden_dir = Path(hidden).resolve() if hidden is not None else default_hidden_dir()
    chapters = discover_chapters()
    paths = sorted(p for p in root.rglob("*.ipynb") if p.is_file())
    names = _student_names(paths, root)
    with tempfile.TemporaryDirectory(prefix="labs-tests-") as tmp:
        plans = {}
        for chapter in chapters:
            written = write_test_files(chapter, Path(tmp) / chapter.name, hidden_dir, time_limit_s)
            plans[chapter.name] = {
                "tests": {p.stem: p for p in written},
                "forbidden": load_hidden(chapter, hidden_dir).forbidden,
            }
        protected = (str(hidden_dir), str(root), str(out), str(tmp))
        out.mkdir(parents=True, exist_ok=True)
        feedback_dir = out / "feedback"
        feedback_dir.mkdir(exist_ok=True)

        _import_before_threads()

        def one(item):
            path, student = item
            failure: Exception | None = None
            for attempt in range(_ATTEMPTS):  # a transient failure of the grader is tried again
                if attempt:
                    time.sleep(_RETRY_WAIT_S * attempt)
                try:
                    return _grade_notebook(
                        path,
                        student=student,
                        chapters=chapters,
                        plans=plans,
                        protected=protected,
                        time_limit_s=time_limit_s,
                    )
                except Exception as err:  # noqa: BLE001 - one odd file must not stop the others
                    failure = err
            frame = traceback.extract_tb(failure.__traceback__)[-1]  # where it was raised
            where = f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
            why = (
                f"the grader could not process this file "
                f"({type(failure).__name__} at {where}: {failure})"
            )
            row = GradeRow(student, "", "", 0.0, 0.0, "invalid_submission", why[:300])
            return [row], f"# Feedback for {student}\n\n{why}\n"

        results = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            jobs = pool.map(one, zip(paths, names, strict=True))
            for result in progress(jobs, total=len(paths), desc="grading"):
                results.append(result)
    gradebook = out / "gradebook.csv"
    with gradebook.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for rows, _ in results:
            for row in rows:
                values = list(astuple(row))
                values[3], values[4] = _number(row.points), _number(row.max_points)
                writer.writerow(values)
    for name, (_, text) in zip(names, results, strict=True):
        target = feedback_dir / (name.replace("/", "__") + ".md")
        target.write_text(text, encoding="utf-8")
    return gradebook


def _number(x: float) -> str:
    return f"{round(x, 6):g}" if math.isfinite(x) else "0"
