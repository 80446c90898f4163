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

On Gradescope the student's function runs in otter's own kernel, so `run_case` bounds each call
itself: past the test file's `TIME_LIMIT_S` a SIGALRM stops it (even code that catches every
exception), the case fails with a message naming the function and the limit, and the exercise's
remaining cases are not run; `sys.exit()` in the answer fails its case instead of ending otter's
grading. A top-level cell that never returns is stopped by `labs.grading.otter_plugin`, which
the bundle's `otter_config.json` loads. The limit is `labs.common.exercise_limit.time_limit`,
the one the instant checks use. The local grader's stand-in functions are bounded by
their sandboxed process (`labs.grading.session`), so `run_case` does not arm the alarm for them.

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

from labs.common.exercise_limit import OutOfTime, can_limit_time, time_limit
from labs.common.exercises import DEFAULT_TIME_LIMIT_S, Case, compare_case, diagnose
from labs.common.validate import callable_arg, integer, real_number, text
from labs.grading.chapters import Chapter, HiddenBank, discover_chapters, load_hidden
from labs.grading.renamed import _note as renamed_note

__all__ = ["build_autograders", "run_case", "write_test_files"]

# Requirements of the Gradescope image: the course package, as the chapters' setup cell installs it.
PACKAGE = "labs @ git+https://github.com/deepseek-efficiency-course/course@main"


class CaseFailed(AssertionError):
    """A case's answer did not match: the message says how (shown in the feedback)."""


# --- A time limit per case, for otter's own kernel (Gradescope, `otter run`) -----------------

MAX_TIME_LIMIT_S = 3600.0
_TIMED_OUT: dict[str, float] = {}  # function name -> the limit one of its cases ran past


def _call(fn, args: tuple, kwargs: dict, name: str, seconds: float | None):
    """The student's answer; CaseFailed for a time-out or an exit, other exceptions as raised."""
    if name in _TIMED_OUT:
        raise CaseFailed(
            f"not run: an earlier case of {name} ran for more than {_TIMED_OUT[name]:g} s"
        )
    bounded_elsewhere = getattr(fn, "labs_sandboxed", False)  # the local grader's stand-in
    if seconds is None or bounded_elsewhere or not can_limit_time():
        try:
            return fn(*args, **kwargs)
        except BaseException as err:  # SystemExit would end otter's grading of every exercise
            if isinstance(err, Exception):
                raise  # an ordinary exception fails the case as raised
            state, value = "raised", err
    else:
        try:
            with time_limit(seconds, what=name):
                state, value = "returned", fn(*args, **kwargs)
        except OutOfTime:
            state, value = "timeout", None
        except BaseException as err:  # noqa: BLE001 - everything the student's code may raise
            state, value = "raised", err
    if state == "timeout":
        _TIMED_OUT[name] = seconds
        raise CaseFailed(
            f"{name} ran for more than {seconds:g} s (the time limit per case) and was stopped"
        )
    if state == "raised":
        if isinstance(value, Exception):
            raise value
        what = (
            "called sys.exit() (or exit()); return a value instead"
            if isinstance(value, SystemExit)
            else f"raised {type(value).__name__}"
        )
        raise CaseFailed(f"{name} {what}")
    return value


def run_case(fn, cases: str, index: int, name: str, time_limit_s: float | None = None) -> None:
    """Run case `index` of the base64 pickle `cases` on the student's `fn` (a test case body).

    Args:
        time_limit_s: seconds the call may take (None: no limit). Enforced with SIGALRM where
            this runs in the main thread of a POSIX process (otter's kernel); after a case runs
            past it, the function's remaining cases fail without running.

    Raises:
        CaseFailed: `fn` is missing, ran past the limit, exited, or its answer does not match.
    """
    text("cases", cases)
    index = integer("index", index, minimum=0)
    text("name", name)
    if time_limit_s is not None:
        time_limit_s = real_number("time_limit_s", time_limit_s, positive=True)
        if time_limit_s > MAX_TIME_LIMIT_S:
            raise ValueError(f"time_limit_s must be <= {MAX_TIME_LIMIT_S:g}, got {time_limit_s}")
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
    got = _call(fn, case.args, case.kwargs, name, time_limit_s)
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
TIME_LIMIT_S = {limit!r}  # per case, in otter's kernel
CASES = {blob!r}
'''

_CASE = """

@test_case(name={case_name!r}, points={points!r}, hidden={hidden!r})
def case_{index}({name}):
    run_case({name}, CASES, {index}, {name!r}, TIME_LIMIT_S)
"""


def _case_limit(exercise, time_limit_s: float) -> float:
    """An exercise that declares a longer limit than the default (a planning task) gets
    proportionally more than `time_limit_s`, as in the local grader."""
    return time_limit_s * max(1.0, exercise.time_limit_s / DEFAULT_TIME_LIMIT_S)


def _test_file(chapter: Chapter, exercise_name: str, bank: HiddenBank, time_limit_s: float) -> str:
    public = chapter.exercise(exercise_name).fresh_cases()
    hidden = bank.hidden[exercise_name]
    cases: tuple[Case, ...] = (*public, *hidden)
    blob = base64.b64encode(pickle.dumps(cases)).decode("ascii")
    points = _points(exercise_name, len(cases), bank)
    title = f"{chapter.name}, exercise {exercise_name}"
    source = _HEADER.format(
        title=title,
        n_public=len(public),
        n_hidden=len(hidden),
        name=exercise_name,
        blob=blob,
        limit=_case_limit(chapter.exercise(exercise_name), time_limit_s),
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


def _limit(param: str, value) -> float:
    value = real_number(param, value, positive=True)
    if value > MAX_TIME_LIMIT_S:
        raise ValueError(f"{param} must be <= {MAX_TIME_LIMIT_S:g}, got {value}")
    return value


def write_test_files(
    chapter: Chapter,
    folder: str | Path,
    hidden: str | Path | None = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
):
    """Write one otter test file per exercise of `chapter` into `folder`; return their paths.

    `time_limit_s` is each case's limit in otter's kernel (more for an exercise that declares a
    longer limit than the default, in proportion).
    """
    if not isinstance(chapter, Chapter):
        raise TypeError(f"chapter must be a Chapter, got {type(chapter).__name__}")
    if not isinstance(folder, (str, Path)):
        raise TypeError(f"folder must be a path, got {type(folder).__name__}")
    time_limit_s = _limit("time_limit_s", time_limit_s)
    bank = load_hidden(chapter, hidden)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for exercise in chapter.exercises:
        path = folder / f"{exercise.name}.py"
        source = _test_file(chapter, exercise.name, bank, time_limit_s)
        path.write_text(source, encoding="utf-8")
        paths.append(path)
    return tuple(paths)


# Otter's plugin that stops a top-level cell running past its limit (see otter_plugin.py).
CELL_PLUGIN = "labs.grading.otter_plugin.CellTimeLimit"
DEFAULT_CELL_TIME_LIMIT_S = 300.0


def build_autograders(
    out: str | Path,
    hidden: str | Path | None = None,
    topics: tuple[str, ...] | None = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    cell_time_limit_s: float = DEFAULT_CELL_TIME_LIMIT_S,
) -> tuple[Path, ...]:
    """Write `OUT/<chapter>-autograder.zip` for every chapter with exercises; return the paths.

    Args:
        out: the output folder (created).
        hidden: the folder of hidden-case files (default `tests/grading/hidden/`).
        topics: only these chapters (`labs.<topic>`), default all.
        time_limit_s: each case's limit in otter's kernel, in seconds (at most 3600).
        cell_time_limit_s: each top-level cell's limit, in seconds (at most 3600).
    """
    if not isinstance(out, (str, Path)):
        raise TypeError(f"out must be a path, got {type(out).__name__}")
    if not isinstance(hidden, (str, Path, type(None))):
        raise TypeError(f"hidden must be a path, got {type(hidden).__name__}")
    time_limit_s = _limit("time_limit_s", time_limit_s)
    cell_time_limit_s = _limit("cell_time_limit_s", cell_time_limit_s)
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
            write_test_files(chapter, work / "tests", hidden, time_limit_s)
            (work / "requirements.txt").write_text(PACKAGE + "\n", encoding="utf-8")
            config = {
                "lang": "python",
                "show_stdout": False,
                "show_hidden": False,
                "plugins": [{CELL_PLUGIN: {"seconds": cell_time_limit_s}}],
            }
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
