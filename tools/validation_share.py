"""How much of each kernel file is argument checking (the house-style issue's measure).

    python tools/validation_share.py            # a table, and the total
    python tools/validation_share.py --max 10   # exit 1 if any kernel file is over 10 %

Kernel files: every module of a chapter package (src/labs/<topic>/*.py) except `__init__.py`
(re-exports), `checks.py` (the chapter's boundary checks, written once for all frameworks),
`exercises.py` (and the `exercises_*.py` it re-exports from) and `widgets.py`. `labs.common` and
`labs.grading` (the instructor's tooling, which checks files and submissions for a living) are not
chapters and hold no kernels.

A line counts as validation when it belongs to
* a `raise` statement, or an `if` whose body only raises (test and body);
* a call to a checker: a function of `labs.common.validate` (its validate*.py modules), or one
  named `check_*`/`_check*` (the whole statement that makes the call);
* an `assert` statement.
The denominator is the file's non-blank lines that are not comments (docstrings included).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"__init__.py", "checks.py", "exercises.py", "widgets.py"}
NOT_CHAPTERS = {"common", "grading"}
sys.path.insert(0, str(ROOT / "src"))


def _is_exercises(name: str) -> bool:
    """A chapter's exercises split over modules beside `exercises.py` (`exercises_pilot.py`)."""
    return name.startswith("exercises_")


def _validators() -> set[str]:
    """The functions of `labs.common.validate` and of the modules it re-exports them from."""
    names: set[str] = set()
    for path in sorted((ROOT / "src/labs/common").glob("validate*.py")):
        tree = ast.parse(path.read_text())
        names |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    return names


def _called_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Name):
            return f.id
        if isinstance(f, ast.Attribute):
            return f.attr
    return None


def _is_check_call(node: ast.AST, validators: set[str]) -> bool:
    value = getattr(node, "value", None)
    if isinstance(node, (ast.Expr, ast.Assign, ast.AnnAssign)) and value is not None:
        calls = [value] if not isinstance(value, ast.Tuple) else list(value.elts)
        names = [_called_name(c) for c in calls]
        return bool(names) and all(
            n is not None and (n in validators or n.startswith(("check_", "_check"))) for n in names
        )
    return False


def validation_lines(source: str, validators: set[str]) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        span = None
        if isinstance(node, (ast.Raise, ast.Assert)):
            span = (node.lineno, node.end_lineno)
        elif isinstance(node, ast.If) and node.body and not node.orelse:
            if all(isinstance(s, ast.Raise) for s in node.body):
                span = (node.lineno, node.end_lineno)
        elif _is_check_call(node, validators):
            span = (node.lineno, node.end_lineno)
        if span:
            lines.update(range(span[0], span[1] + 1))
    return lines


def code_lines(source: str) -> set[int]:
    return {
        i
        for i, line in enumerate(source.splitlines(), start=1)
        if line.strip() and not line.strip().startswith("#")
    }


def measure() -> list[tuple[str, int, int]]:
    validators = _validators()
    rows = []
    for path in sorted((ROOT / "src/labs").glob("*/*.py")):
        if path.parent.name in NOT_CHAPTERS or path.name in SKIP or _is_exercises(path.name):
            continue
        source = path.read_text()
        total = code_lines(source)
        checks = validation_lines(source, validators) & total
        rows.append((str(path.relative_to(ROOT)), len(checks), len(total)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=float, default=None, help="fail above this percentage")
    args = parser.parse_args()
    rows = measure()
    worst = 0.0
    for name, checks, total in rows:
        share = 100 * checks / max(total, 1)
        worst = max(worst, share)
        print(f"{share:5.1f}%  {checks:4d}/{total:<4d}  {name}")
    checks = sum(r[1] for r in rows)
    total = sum(r[2] for r in rows)
    print(f"{100 * checks / total:5.1f}%  {checks:4d}/{total:<4d}  all kernel files")
    if args.max is not None and worst > args.max:
        print(f"some kernel file is over {args.max}%", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
