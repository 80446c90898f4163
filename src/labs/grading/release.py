"""The student release: every chapter's notebook, checked to hold no solution and no hidden case.

A released notebook is the chapter as it is in `chapters/`, with outputs cleared and the metadata
`labs: {topic, chapter, exercises}` that tells the grader which chapter a submission is. Before it
is written, `check_release` refuses it if

* an exercise cell's function does anything but `raise NotImplementedError` (a solution left in);
* any line of a reference solution (`tests/grading/solutions/<topic>.py`, 20 characters or more)
  appears anywhere in it, or any hidden case's label does.

`check_text` runs the same scan on any text, such as the built HTML of the book.

Described in book/instructors.md, "Grading".
"""

from __future__ import annotations

import ast
import html
import json
import re
from pathlib import Path

from labs.grading.chapters import (
    Chapter,
    discover_chapters,
    is_exercise_cell,
    load_hidden,
    repo_root,
)
from labs.grading.notebook import _parse  # one parse at a time (CPython gh-106905)

__all__ = ["check_release", "check_text", "release", "secrets"]

_MIN_LINE = 20  # shorter solution lines ("return x") could appear in any text


def _solution_lines(topic: str, solutions: Path) -> set[str]:
    path = solutions / f"{topic}.py"
    if not path.is_file():
        return set()
    tree = _parse(path.read_text(encoding="utf-8"))
    lines = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for stmt in node.body:
                for line in ast.unparse(stmt).split("\n"):
                    line = line.strip()
                    if len(line) >= _MIN_LINE and not line.startswith(
                        ("raise NotImplementedError",)
                    ):
                        lines.add(line)
            source = ast.get_source_segment(path.read_text(encoding="utf-8"), node) or ""
            for line in source.split("\n")[1:]:
                line = line.split("#")[0].strip()
                if len(line) >= _MIN_LINE:
                    lines.add(line)
    return lines


def secrets(chapter: Chapter, hidden=None, solutions=None) -> tuple[str, ...]:
    """The strings a student release must not contain: solution lines and hidden-case labels."""
    if not isinstance(chapter, Chapter):
        raise TypeError(f"chapter must be a Chapter, got {type(chapter).__name__}")
    if not isinstance(hidden, (str, Path, type(None))):
        raise TypeError(f"hidden must be a path, got {type(hidden).__name__}")
    if not isinstance(solutions, (str, Path, type(None))):
        raise TypeError(f"solutions must be a path, got {type(solutions).__name__}")
    folder = Path(solutions) if solutions is not None else repo_root() / "tests/grading/solutions"
    found = _solution_lines(chapter.topic, folder)
    bank = load_hidden(chapter, hidden)
    for cases in bank.hidden.values():
        found |= {c.label for c in cases}
    found.add("labs.grading.bundle import run_case")  # a test file pasted in
    return tuple(sorted(found))


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def check_text(text: str, forbidden: tuple[str, ...], where: str = "the text") -> None:
    """Raise ValueError if `text` (HTML tags and escapes undone) contains one of `forbidden`."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    if not isinstance(forbidden, tuple) or not all(isinstance(f, str) for f in forbidden):
        raise TypeError("forbidden must be a tuple of strings")
    if not isinstance(where, str):
        raise TypeError(f"where must be a string, got {type(where).__name__}")
    plain = _normal(html.unescape(re.sub(r"<[^>]+>", "", text)))
    raw = _normal(text)
    for secret in forbidden:
        needle = _normal(secret)
        if needle in plain or needle in raw:
            raise ValueError(f"text: {where} contains a solution or hidden case: {secret!r}")


def _stub_problem(source: str) -> str | None:
    try:
        tree = _parse(source)
    except SyntaxError:
        return "the exercise cell does not parse"
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            body = [
                s
                for s in node.body
                if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
            ]
            if not (
                len(body) == 1
                and isinstance(body[0], ast.Raise)
                and "NotImplementedError" in ast.unparse(body[0])
            ):
                return f"{node.name} is not a stub (its body must be `raise NotImplementedError`)"
        elif not isinstance(node, (ast.Import, ast.ImportFrom)):
            return "the exercise cell holds code besides the stub"
    return None


def check_release(notebook, chapter: Chapter, hidden=None, solutions=None) -> None:
    """Raise ValueError if the notebook holds a solution or a hidden case (see the docstring)."""
    if not isinstance(notebook, (str, Path)):
        raise TypeError(f"notebook must be a path, got {type(notebook).__name__}")
    if not isinstance(chapter, Chapter):
        raise TypeError(f"chapter must be a Chapter, got {type(chapter).__name__}")
    path = Path(notebook)
    if not path.is_file():
        raise ValueError(f"notebook must name an existing .ipynb file, got {str(notebook)!r}")
    text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
        cells = document["cells"]
    except (ValueError, KeyError, TypeError, RecursionError):  # not JSON, or without "cells"
        cells = None
    if not isinstance(cells, list):
        raise ValueError(
            f"notebook must be a Jupyter notebook (JSON with a list of cells), got {path.name!r}"
        )
    for cell in cells:
        if is_exercise_cell(cell):
            problem = _stub_problem("".join(cell["source"]))
            if problem:
                raise ValueError(f"notebook: {Path(notebook).name}: {problem}")
    # The file's JSON escapes quotes, backslashes and line breaks, so a solution line holding any
    # of them matches only the decoded notebook: every string in it (cell sources, outputs, and
    # the metadata where widget states live), as a notebook viewer or an HTML export shows them.
    forbidden = secrets(chapter, hidden, solutions)
    check_text(text, forbidden, where=Path(notebook).name)
    check_text(_decoded_text(document), forbidden, where=Path(notebook).name)


def _decoded_text(document) -> str:
    """Every key and string of a parsed JSON document, decoded, one after another; a list of
    strings (a cell's source, an output's lines) is joined as the notebook's lines are. Walked
    with a stack, so a deeply nested document cannot exhaust the recursion limit."""
    parts, stack = [], [document]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            parts.append("".join(value))
        elif isinstance(value, list):
            stack.extend(reversed(value))
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                stack.extend((item, key))
    return "\n".join(parts)


def release(out, hidden=None) -> tuple[Path, ...]:
    """Write the student notebook of every chapter with exercises into `out`; return the paths.

    Args:
        out: the output folder (created).
        hidden: the folder of hidden-case files (default `tests/grading/hidden/`), whose labels
            the check looks for.
    """
    if not isinstance(out, (str, Path)):
        raise TypeError(f"out must be a path, got {type(out).__name__}")
    if not isinstance(hidden, (str, Path, type(None))):
        raise TypeError(f"hidden must be a path, got {type(hidden).__name__}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for chapter in discover_chapters():
        nb = json.loads(chapter.notebook.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
        nb["metadata"]["labs"] = {
            "topic": chapter.topic,
            "chapter": chapter.name,
            "exercises": [e.name for e in chapter.exercises],
        }
        target = out / chapter.notebook.name
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        try:
            check_release(target, chapter, hidden)
        except ValueError:
            target.unlink()
            raise
        written.append(target)
    return tuple(written)
