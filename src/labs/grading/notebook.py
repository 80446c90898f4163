"""Read a submitted notebook without running it: its chapter, its exercise cells, its imports.

The first step of grading (`labs.grading.grade`): the instructor's `make grade` hands every
submitted `*.ipynb` to `_read_notebook`, which refuses a file that is not a notebook
(`_Invalid`, reported as `invalid_submission`); `_chapter_of` finds the chapter (the release's
metadata, else the `labs.<topic>.exercises` import); `_cells` picks the exercise cells (tagged
`exercise`, or starting `# EXERCISE`, plus a cell an answer was moved to) and the imports of
trusted modules they use. Only these run in the sandbox: the chapter's long experiments never do.
Nothing here executes student code; the file is only parsed.

Described in book/instructors.md, "Grading".
"""

from __future__ import annotations

import ast
import json
import threading

from labs.grading.chapters import Chapter, is_exercise_cell

__all__: list[str] = []  # the grader's own machinery, used by labs.grading.grade

# Modules whose imports the exercise cells may need, run before the guards (with a generous time
# limit: torch takes seconds). An import a cell does not use (plotting, widgets) is skipped.
_IMPORTABLE = {
    "numpy", "math", "cmath", "scipy", "labs", "functools", "itertools", "collections",
    "statistics", "fractions", "decimal", "typing", "dataclasses", "operator", "ml_dtypes", "torch",
    "jax",
}  # fmt: skip
_MAX_NOTEBOOK = 200 * 2**20  # a notebook with outputs is a few MiB; this is not a submission


# One parse at a time. `labs.grading.grade` reads notebooks in worker threads, and on Python 3.11
# the AST constructor keeps its recursion counter in the interpreter, not the thread (CPython
# gh-106905): a parse that a garbage collection interrupts while another thread parses fails with
# "SystemError: AST constructor recursion depth mismatch", which once marked a valid submission
# invalid. Reentrant, so that a parse started from a finalizer inside a parse cannot deadlock.
_PARSE_LOCK = threading.RLock()


def _parse(source: str) -> ast.Module:
    """`ast.parse`, one thread at a time (see _PARSE_LOCK)."""
    with _PARSE_LOCK:
        return ast.parse(source)


class _Invalid(Exception):
    """The file is not a gradable notebook."""


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _read_notebook(raw: bytes) -> dict:
    if not raw.strip():
        raise _Invalid("the file is empty")
    try:
        nb = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise _Invalid(f"the file is not valid notebook JSON ({type(err).__name__})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise _Invalid("the file is JSON but not a Jupyter notebook (no list of cells)")
    if not all(isinstance(c, dict) for c in nb["cells"]):
        raise _Invalid("the notebook's cells are not all objects")
    return nb


def _chapter_of(nb: dict, chapters: tuple[Chapter, ...]) -> Chapter:
    meta = nb.get("metadata", {})
    labs_meta = meta.get("labs") if isinstance(meta, dict) else None
    topic = labs_meta.get("topic") if isinstance(labs_meta, dict) else None
    for chapter in chapters:
        if chapter.topic == topic:
            return chapter
    code = "\n".join(_source(c) for c in nb["cells"] if c.get("cell_type") == "code")
    for chapter in chapters:
        if f"labs.{chapter.topic}.exercises" in code:
            return chapter
    raise _Invalid("the notebook belongs to no chapter with exercises")


def _python(source: str) -> str:
    """The cell without IPython magics and shell escapes."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n")
    )


def _defines(source: str) -> set[str]:
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError):
        return set()
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def _imports(source: str) -> list[tuple[str, set[str]]]:
    """The top-level imports of trusted modules, with the names each binds."""
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules = [node.module]
        else:
            continue
        if all(m.split(".")[0] in _IMPORTABLE for m in modules):
            bound = {(a.asname or a.name).split(".")[0] for a in node.names}
            found.append((ast.unparse(node), bound))
    return found


def _used_names(source: str) -> set[str]:
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError):
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _cells(nb: dict, chapter: Chapter) -> tuple:
    """(label, source) of the notebook's trusted imports; those of its exercise cells; and
    {label: exercise} for the marked cells."""
    code = [c for c in nb["cells"] if c.get("cell_type") == "code"]
    imports, cells, marked, defined = [], [], [], set()
    for index, cell in enumerate(code):
        source = _python(_source(cell))
        imports += _imports(source)
        if is_exercise_cell(cell):
            cells.append((f"<code cell {index + 1}>", source))
            marked.append(f"<code cell {index + 1}>")
            defined |= _defines(source)
    wanted = {e.name for e in chapter.exercises} - defined
    for index, cell in enumerate(code):  # an answer moved out of its marked cell
        source = _python(_source(cell))
        if wanted & _defines(source):
            cells.append((f"<code cell {index + 1}>", source))
            wanted -= _defines(source)
    used = set().union(*(_used_names(source) for _, source in cells)) | {"np"}
    needed = [statement for statement, bound in imports if bound & used]
    # The k-th marked cell holds the k-th exercise (when the notebook kept them all).
    owners = {}
    if len(marked) == len(chapter.exercises):
        owners = {label: e.name for label, e in zip(marked, chapter.exercises, strict=True)}
    return ("<imports>", "\n".join(dict.fromkeys(needed))), cells, owners
