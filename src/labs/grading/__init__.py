"""Instructor grading: release the chapters, build autograder bundles, grade submissions.

The command line is `python -m labs.grading {release,autograder,grade}` (also `make release`,
`make autograder`, `make grade`). Hidden cases live in `tests/grading/hidden/<topic>.py`, or in
an instructor's private folder (`--hidden DIR`). The grading engine is otter-grader: each
exercise is an otter test file with one test case per public or hidden case (partial credit).

Described in book/instructors.md, "Grading".
"""

from labs.grading.bundle import build_autograders
from labs.grading.chapters import Chapter, discover_chapters, load_hidden
from labs.grading.grade import COLUMNS, STATUSES, grade
from labs.grading.release import check_release, release

__all__ = [
    "COLUMNS",
    "STATUSES",
    "Chapter",
    "build_autograders",
    "check_release",
    "discover_chapters",
    "grade",
    "load_hidden",
    "release",
]
