"""The package's layering, read from the source: chapters side by side over `labs.common`.

DESIGN.md: a chapter package imports `labs.common` and nothing from another chapter, except where
a chapter is built on another's code by design. The exceptions are listed here, each with its
reason, so that a new arrow between chapters fails this test until someone writes it down.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "labs"
CHAPTERS = ("tour", "scaling", "fp8", "mla", "moe", "grpo", "distill", "economics")
TOOLING = ("bench", "grading")
# Arrows between packages that are there by design, each with its reason.
ALLOWED = {
    # Chapter 6 distils chapter 5's policy: the teacher, the sampler and GRPO's loop are chapter
    # 5's own code (labs.distill's module docstring says so).
    ("distill", "grpo"),
    # Chapter 8 times chapter 3's and chapter 2's Pallas kernels (labs.bench's docstring).
    ("bench", "mla"),
    ("bench", "fp8"),
}
FRAMEWORKS = ("torch", "jax", "triton")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            # `from labs import mla` imports the package labs.mla
            if node.module == "labs":
                names.update(f"labs.{alias.name}" for alias in node.names)
    return names


def package_arrows(package: str) -> dict[str, set[str]]:
    """{other labs package: files of `package` that import it}."""
    arrows: dict[str, set[str]] = {}
    for path in sorted((SRC / package).rglob("*.py")):
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] == "labs" and len(parts) > 1 and parts[1] not in (package, "common"):
                arrows.setdefault(parts[1], set()).add(str(path.relative_to(SRC)))
    return arrows


def test_every_package_is_classified():
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    expected = {"common", *CHAPTERS, *TOOLING}
    assert packages == expected, f"classify the new package in CHAPTERS or TOOLING: {packages}"


@pytest.mark.parametrize("package", CHAPTERS + TOOLING)
def test_packages_import_only_common_and_the_listed_exceptions(package):
    arrows = package_arrows(package)
    unexpected = {other: f for other, f in arrows.items() if (package, other) not in ALLOWED}
    assert not unexpected, f"labs.{package} imports another chapter: {unexpected}"


def test_every_listed_exception_is_still_used():
    """An exception nobody uses any more would quietly allow a future arrow."""
    for package, other in ALLOWED:
        assert other in package_arrows(package), f"({package!r}, {other!r}) is no longer imported"


def test_common_imports_no_chapter():
    arrows = package_arrows("common")
    assert not arrows, f"labs.common imports chapter packages: {arrows}"


def test_chapter_faces_load_no_framework():
    """`import labs.<topic>` pulls in neither torch, JAX nor Triton (DESIGN.md: a reader with one
    framework installed can run that half), checked in a fresh interpreter."""
    code = (
        "import sys\n"
        f"for topic in {CHAPTERS!r}: __import__('labs.' + topic)\n"
        f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"importing the chapter faces loaded {out.stdout.strip()}"


def test_importing_labs_and_the_exercises_loads_no_matplotlib_until_a_figure_is_drawn():
    """`import labs` runs in every grader sandbox (one per submission) and every child process;
    pyplot cost about 0.6 s of each. `labs.common.plotting` imports it in the functions that
    draw: no chapter's exercises module pulls it in; the control: `new_figure()` does, and its
    figure has the course's colour cycle."""
    code = (
        "import sys\n"
        "import labs, labs.common\n"
        f"for topic in {CHAPTERS!r}: __import__(f'labs.{{topic}}.exercises')\n"
        "before = 'matplotlib.pyplot' in sys.modules\n"
        "import matplotlib\n"
        "matplotlib.use('Agg')\n"
        "fig, ax = labs.common.new_figure()\n"
        "colour = ax.plot([0, 1])[0].get_color()\n"
        "print(before, 'matplotlib.pyplot' in sys.modules, colour == labs.common.PALETTE[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"], out.stdout
