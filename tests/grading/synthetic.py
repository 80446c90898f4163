"""Synthetic submissions: the student release with its exercise cells replaced by given code.

`submission(chapter, answers)` returns notebook JSON (str) for `chapter` where each exercise
named in `answers` has its cell replaced by that source; the others keep the stub. The correct
answers are the reference solutions in `tests/grading/solutions/<topic>.py`.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
from pathlib import Path

from labs.grading.chapters import Chapter, is_exercise_cell

SOLUTIONS = Path(__file__).parent / "solutions"


def solution_source(chapter: Chapter, name: str) -> str:
    """The reference solution of exercise `name`, with the module's imports before it."""
    module = importlib.import_module(f"tests.grading.solutions.{chapter.topic}")
    tree = ast.parse(inspect.getsource(module))
    imports = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    return "\n".join(imports) + "\n\n\n" + inspect.getsource(getattr(module, name))


def release_notebook(chapter: Chapter) -> dict:
    nb = json.loads(chapter.notebook.read_text(encoding="utf-8"))
    nb["metadata"]["labs"] = {"topic": chapter.topic, "chapter": chapter.name}
    return nb


def submission(chapter: Chapter, answers: dict[str, str], *, tags: bool = True) -> str:
    """Notebook JSON with the exercise cells of `answers` replaced (see the module docstring)."""
    nb = release_notebook(chapter)
    for cell in nb["cells"]:
        if not is_exercise_cell(cell):
            continue
        source = "".join(cell["source"])
        for name, answer in answers.items():
            if f"def {name}(" in source:
                header = source.split("\n")[0]
                cell["source"] = header + "\n" + answer
                if not tags:
                    cell["metadata"] = {}
    return json.dumps(nb)


def correct(chapter: Chapter) -> str:
    return submission(
        chapter, {e.name: solution_source(chapter, e.name) for e in chapter.exercises}
    )


# An answer that loops forever, catching every exception (the time limit's exception too).
LOOPS = (
    "def repeat_kv(k, n_heads):\n    while True:\n        try:\n            pass\n"
    "        except BaseException:\n            pass\n"
)
# A top-level cell that never returns: it sleeps in a loop that catches every exception.
HANGING_CELL = (
    "import time\n\nwhile True:\n    try:\n        time.sleep(1)\n"
    "    except BaseException:\n        pass\n"
)


def with_hanging_cell(notebook: str) -> str:
    """The submission's exercise cells only (a short run), with HANGING_CELL after the first."""
    nb = json.loads(notebook)
    cells = [c for c in nb["cells"] if is_exercise_cell(c)]
    extra = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
    cells.insert(1, {**extra, "source": HANGING_CELL})
    nb["cells"] = cells
    return json.dumps(nb)
