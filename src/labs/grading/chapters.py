"""Which chapters have exercises, and the hidden cases an instructor grades them with.

A chapter is discovered from its `labs.<topic>.exercises` module: every `Exercise` defined there
is gradable, in the order the module defines them. Its notebook is the file in `chapters/` that
imports that module. The hidden cases of topic `<topic>` live in one file, `<hidden>/<topic>.py`
(by default `tests/grading/hidden/`, or an instructor's private folder), which defines

* `HIDDEN`: {exercise name: tuple of `Case`}, at least one hidden case per exercise;
* `POINTS` (optional): {exercise name: points for the whole exercise}, split evenly over its
  public and hidden cases (default: one point per case);
* `FORBIDDEN` (optional): {exercise name: tuple of "module.function" names}, the course's own
  implementations of the same function: an answer that calls one scores 0.

Used by `labs.grading.release`, `labs.grading.bundle`, `labs.grading.notebook` and
`labs.grading.grade`; described in book/instructors.md, "Grading".
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import labs
from labs.common.exercises import Case, Exercise
from labs.common.validate import instance, text

__all__ = [
    "Chapter",
    "default_hidden_dir",
    "discover_chapters",
    "is_exercise_cell",
    "load_hidden",
    "repo_root",
]


def repo_root() -> Path:
    """The course repository that holds this package (src/labs/.. /..)."""
    return Path(labs.__file__).resolve().parents[2]


def default_hidden_dir() -> Path:
    """`tests/grading/hidden/` of the course repository."""
    return repo_root() / "tests" / "grading" / "hidden"


@dataclass(frozen=True, kw_only=True)
class Chapter:
    """A chapter with exercises: its topic (`labs.<topic>`), notebook and exercises in order."""

    topic: str
    notebook: Path
    exercises: tuple[Exercise, ...]

    def __post_init__(self) -> None:
        text("topic", self.topic)
        instance("notebook", self.notebook, Path, "a pathlib.Path")
        instance("exercises", self.exercises, tuple, "a tuple of Exercise objects")
        if not self.exercises or not all(isinstance(e, Exercise) for e in self.exercises):
            raise ValueError(f"exercises of {self.topic!r} must be a non-empty tuple of Exercise")

    @property
    def name(self) -> str:
        """The notebook's stem, as the gradebook names the chapter ("03_mla")."""
        return self.notebook.stem

    def exercise(self, name: str) -> Exercise:
        """The exercise called `name`."""
        for exercise in self.exercises:
            if exercise.name == name:
                return exercise
        raise ValueError(f"name must be an exercise of {self.topic!r}, got {name!r}")


def is_exercise_cell(cell: dict) -> bool:
    """A code cell the student answers in: tagged `exercise`, or starting `# EXERCISE`."""
    if not isinstance(cell, dict) or cell.get("cell_type") != "code":
        return False
    meta = cell.get("metadata")
    tags = meta.get("tags", []) if isinstance(meta, dict) else []
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else str(source)
    return (isinstance(tags, list) and "exercise" in tags) or source.lstrip().startswith(
        "# EXERCISE"
    )


def _notebook_importing(module: str, chapters_dir: Path) -> tuple[Path, str] | None:
    """The notebook whose code imports `module`, with the source of its exercise cells."""
    for path in sorted(chapters_dir.glob("*.ipynb")):
        try:
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError):
            continue
        if any(module in "".join(c.get("source", "")) for c in cells if c["cell_type"] == "code"):
            asked = "\n".join("".join(c["source"]) for c in cells if is_exercise_cell(c))
            return path, asked
    return None


def discover_chapters(chapters_dir: str | Path | None = None) -> tuple[Chapter, ...]:
    """Every `labs.<topic>.exercises` module with exercises, with the notebook that uses it.

    Args:
        chapters_dir: the folder of chapter notebooks (default: the repository's `chapters/`).

    Raises:
        ValueError: a topic has exercises but no notebook imports its exercises module.
    """
    if not isinstance(chapters_dir, (str, Path, type(None))):
        raise TypeError(f"chapters_dir must be a path, got {type(chapters_dir).__name__}")
    folder = Path(chapters_dir) if chapters_dir is not None else repo_root() / "chapters"
    if not folder.is_dir():
        raise ValueError(f"chapters_dir must be a folder of notebooks, got {str(folder)!r}")
    found = []
    for info in pkgutil.iter_modules(labs.__path__):
        if not info.ispkg or info.name.startswith("_"):
            continue
        spec = importlib.util.find_spec(f"labs.{info.name}.exercises")
        if spec is None:
            continue
        module = importlib.import_module(f"labs.{info.name}.exercises")
        exercises = tuple(v for v in vars(module).values() if isinstance(v, Exercise))
        if not exercises:
            continue
        located = _notebook_importing(module.__name__, folder)
        if located is None:
            raise ValueError(
                f"chapters_dir has no notebook importing {module.__name__} ({str(folder)!r})"
            )
        notebook, asked = located
        # Only the exercises the notebook asks for (an Exercise kept for an older edition is not),
        # in the order of its cells: the grader gives the k-th marked cell to the k-th exercise.
        exercises = tuple(
            sorted(
                (e for e in exercises if f"def {e.name}(" in asked),
                key=lambda e: asked.index(f"def {e.name}("),
            )
        )
        if exercises:
            found.append(Chapter(topic=info.name, notebook=notebook, exercises=exercises))
    return tuple(sorted(found, key=lambda c: c.notebook.name))


@dataclass(frozen=True, kw_only=True)
class HiddenBank:
    """One chapter's hidden cases, points and forbidden course functions (see the docstring)."""

    hidden: MappingProxyType
    points: MappingProxyType
    forbidden: MappingProxyType


def load_hidden(chapter: Chapter, hidden_dir: str | Path | None = None) -> HiddenBank:
    """Load and check `<hidden_dir>/<topic>.py` for `chapter`.

    Raises:
        ValueError: the file is missing, or an exercise has no hidden case, or a name in it is
            not an exercise of the chapter.
    """
    instance("chapter", chapter, Chapter)
    if not isinstance(hidden_dir, (str, Path, type(None))):
        raise TypeError(f"hidden_dir must be a path, got {type(hidden_dir).__name__}")
    folder = Path(hidden_dir) if hidden_dir is not None else default_hidden_dir()
    path = folder / f"{chapter.topic}.py"
    if not path.is_file():
        raise ValueError(
            f"hidden_dir has no hidden cases for chapter {chapter.name} (expected {path})"
        )
    spec = importlib.util.spec_from_file_location(f"_labs_hidden_{chapter.topic}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = {e.name for e in chapter.exercises}
    # Every exercise the module defines, those the notebook no longer asks for included: their
    # cases may stay in the file (and are left out), while a name that is none of them is a typo.
    defined = importlib.import_module(f"labs.{chapter.topic}.exercises")
    known = {v.name for v in vars(defined).values() if isinstance(v, Exercise)}
    tables = []
    for label in ("HIDDEN", "POINTS", "FORBIDDEN"):
        table = dict(getattr(module, label, {}))
        unknown = set(table) - known
        if unknown:
            raise ValueError(f"{path}: {label} names no exercise of {chapter.name}: {unknown}")
        tables.append({k: v for k, v in table.items() if k in names})
    hidden, points, forbidden = tables
    for name in sorted(names):
        cases = hidden.get(name, ())
        if not isinstance(cases, tuple) or not cases:
            raise ValueError(f"{path}: exercise {name!r} has no hidden case (HIDDEN[{name!r}])")
        if not all(isinstance(c, Case) for c in cases):
            raise TypeError(f"{path}: HIDDEN[{name!r}] must hold Case objects")
    for name, value in points.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{path}: POINTS[{name!r}] must be a positive number, got {value!r}")
    for name, value in forbidden.items():
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise TypeError(f"{path}: FORBIDDEN[{name!r}] must be a tuple of names")
    return HiddenBank(
        hidden=MappingProxyType(hidden),
        points=MappingProxyType(points),
        forbidden=MappingProxyType(forbidden),
    )
