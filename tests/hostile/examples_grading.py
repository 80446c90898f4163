"""Valid calls for labs.grading (instructor grading), one per public callable (see harness.py)."""

from __future__ import annotations

import atexit
import base64
import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np

from labs.common.exercises import Case
from labs.grading.chapters import discover_chapters, repo_root
from tests.hostile.harness import call

ROOT = repo_root()


def _tour():
    return discover_chapters()[0]


def _tmp() -> str:
    folder = tempfile.mkdtemp(prefix="labs-hostile-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # not left behind in /tmp
    return folder


def _cases() -> str:
    case = Case(args=(np.array([0.0, 1.0]),), expected=float(np.log(1 + np.e)), label="two")
    return base64.b64encode(pickle.dumps((case,))).decode()


def _lse(x):
    return float(np.log(np.sum(np.exp(x))))


def _leaky_text() -> str:
    return "<p>a page with nothing secret</p>"


EXAMPLES = {
    "labs.grading.chapters.repo_root": lambda: call(),
    "labs.grading.chapters.default_hidden_dir": lambda: call(),
    "labs.grading.chapters.discover_chapters": lambda: call(chapters_dir=str(ROOT / "chapters")),
    "labs.grading.chapters.load_hidden": lambda: call(
        chapter=_tour(), hidden_dir=str(ROOT / "tests/grading/hidden")
    ),
    "labs.grading.chapters.Chapter": lambda: call(
        topic="tour", notebook=_tour().notebook, exercises=_tour().exercises
    ),
    "labs.grading.chapters.is_exercise_cell": lambda: call(
        cell={"cell_type": "code", "metadata": {"tags": ["exercise"]}, "source": "def f(): ..."}
    ),
    "labs.grading.bundle.run_case": lambda: call(
        fn=_lse, cases=_cases(), index=0, name="lse", time_limit_s=5.0
    ),
    "labs.grading.bundle.write_test_files": lambda: call(
        chapter=_tour(), folder=_tmp(), hidden=None, time_limit_s=10.0
    ),
    "labs.grading.bundle.build_autograders": lambda: call(
        out=_tmp(), hidden=None, topics=("tour",), time_limit_s=10.0, cell_time_limit_s=300.0
    ),
    "labs.grading.grade.grade": lambda: call(
        submissions=_tmp(),
        out=str(Path(_tmp()) / "results"),
        hidden=None,
        time_limit_s=5.0,
        workers=1,
    ),
    "labs.grading.release.release": lambda: call(out=_tmp(), hidden=None),
    "labs.grading.release.check_release": lambda: call(
        notebook=str(_tour().notebook), chapter=_tour(), hidden=None, solutions=None
    ),
    "labs.grading.release.check_text": lambda: call(
        text=_leaky_text(), forbidden=("a secret line",), where="page.html"
    ),
    "labs.grading.release.secrets": lambda: call(chapter=_tour(), hidden=None, solutions=None),
}

_UNTRUSTED_CELL = (
    "a submitted notebook's cells are untrusted data: whatever is not a code cell (None, an "
    "object, an empty dict) is simply not an exercise cell, and the grader goes on"
)

ACCEPTED = {
    **{
        ("labs.grading.chapters.is_exercise_cell", "cell", m): _UNTRUSTED_CELL
        for m in ("none", "object", "dict-empty")
    },
    ("labs.grading.bundle.run_case", "fn", "none"): (
        "otter passes None for a function the notebook does not define: the case fails with "
        "that reason (CaseFailed), as a grade, not as a bad call"
    ),
}
