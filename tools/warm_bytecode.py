"""Write the bytecode of the modules the course imports, once, before anything else imports them.

    python tools/warm_bytecode.py PATH...      (folders or files: .py and .ipynb)

Imports every module that an `import` or `from ... import` line of PATH names (in a notebook, in
its code cells), with the interpreter's bytecode writing on whatever PYTHONDONTWRITEBYTECODE says,
so that each module those imports reach is compiled here, once, and read from its .pyc after.
The names are read from the syntax tree, so a docstring or string line that starts with
"import" names nothing; a notebook cell that is not plain Python (an IPython magic) is read line
by line instead. A module that fails to import is skipped (named, not fatal: a tool's own module,
a GPU-only import); names under `tests` are skipped, the modules they import are not.

Why: pip compiles every module it installs (`make env`'s .venv: 14,000 files, 72 CPU-s on the
slow 2-core EPYC CI runs on; the Colab path's venv: 10,500 files, 60 CPU-s), and the course's
chapters and tests import about 4,000 of them. Where PYTHONDONTWRITEBYTECODE is set (as on this
project's machines) nothing else writes bytecode, and every process would compile what it imports
afresh; the Makefile unexports it, so what this misses is written on its first import.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import json
import re
import sys
import time
from pathlib import Path

# Import lines, read where a notebook cell does not parse as Python.
IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import\b|import\s+([\w.]+(?:\s*,\s*[\w.]+)*))", re.M)
SKIP = ("tests", "__future__")
# Imported by the tools that run notebooks, not by an import statement of the course's own files
# (the Colab test runs nbclient from a string).
ALSO = ("ipykernel.kernelapp", "matplotlib_inline.backend_inline", "nbclient")


def sources_of(path: Path) -> list[str]:
    """A .py file's text, or each code cell's of a notebook."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        return ["".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code"]
    return [path.read_text(encoding="utf-8")]


def imported_names(source: str) -> set[str]:
    """The absolute module names `source`'s import statements name, at any depth."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a cell with IPython's magics or shell lines: its import lines
        names = set()
        for match in IMPORT.finditer(source):
            if match.group(1):
                names.add(match.group(1))
            else:
                names.update(n.strip() for n in match.group(2).split(","))
        return names
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def module_names(paths) -> list[str]:
    """The modules the .py and .ipynb files under `paths` import, sorted, without `SKIP`'s."""
    files = []
    for path in map(Path, paths):
        if not path.exists():
            raise ValueError(f"path: expected an existing file or folder, got {str(path)!r}")
        if path.is_dir():
            files += [*path.rglob("*.py"), *path.rglob("*.ipynb")]
        else:
            files.append(path)
    names = set(ALSO)
    for file in files:
        if ".ipynb_checkpoints" in file.parts or "__pycache__" in file.parts:
            continue
        for source in sources_of(file):
            names |= imported_names(source)
    return sorted(n for n in names if n.split(".")[0] not in SKIP and not n.startswith("."))


def warm(names) -> tuple[int, list[str]]:
    """Import `names` with bytecode writing on: (how many imported, those that failed)."""
    sys.dont_write_bytecode = False
    done, failed = 0, []
    quiet = io.StringIO()
    for name in names:
        try:
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - any module that will not import is skipped
            failed.append(name)
        else:
            done += 1
    return done, failed


def main(argv=None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    start = time.perf_counter()
    names = module_names(paths)
    done, failed = warm(names)
    print(
        f"bytecode: {done} of {len(names)} named modules imported ({len(sys.modules)} in all) in "
        f"{time.perf_counter() - start:.0f} s; not importable here: {', '.join(failed) or 'none'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
