"""Split and fold a chapter's code cells, keeping its code exactly as it was.

A chapter's long cells mix what a reader should read (the experiment, the plot) with what only
checks it (the asserts that pin the prose's figures, the controls). This tool cuts a cell into
consecutive cells and folds the ones a reader need not read: on the site their code sits under a
toggle above their output (myst-nb's `hide-input` tag, with the cell's title as the toggle's
label); in Colab they show as a titled form (`# @title` and `cellView: form`).

    python tools/fold_cells.py list chapters/05_grpo.ipynb  # code cells, long ones marked
    python tools/fold_cells.py split chapters/05_grpo.ipynb 31 12 40  # cut before lines 12, 40
    python tools/fold_cells.py fold chapters/05_grpo.ipynb 32 "Checks: the figures in the prose"
    python tools/fold_cells.py unfold chapters/05_grpo.ipynb 32
    python tools/fold_cells.py check chapters/05_grpo.ipynb [--base REV]

Indices count all cells from 0; line numbers count the cell's source lines from 1. `check` says
whether the chapter's code, folded titles aside, is the same as at REV (default HEAD), whether a
cut leaves a bare expression at a new cell's end (IPython would print its value), and whether a
visible code cell is longer than the limit `tests/notebooks/test_hygiene.py` sets, and whether a
visible cell reads a name last bound in a folded cell (its definition would be out of sight).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

TITLE = "# @title "
VISIBLE_LINES = 40  # tests/notebooks/test_hygiene.py holds the same limit


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def save(path: Path, nb: dict) -> None:
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def lines_of(cell: dict) -> list[str]:
    """The cell's source as lines, each without its newline."""
    text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return text.split("\n")


def as_source(lines: list[str]) -> list[str]:
    """Lines back to the notebook's form: each ends in a newline but the last."""
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    while lines and not lines[0].strip():
        lines = lines[1:]
    return [line + "\n" for line in lines[:-1]] + lines[-1:]


def is_folded(cell: dict) -> bool:
    return "hide-input" in cell.get("metadata", {}).get("tags", [])


def title_of(cell: dict) -> str | None:
    first = lines_of(cell)[0]
    return first[len(TITLE) :].strip() if first.startswith(TITLE) else None


def prompts(title: str) -> dict:
    """The site's toggle labels for a folded cell of this title."""
    return {"code_prompt_show": f"{title} (show the code)", "code_prompt_hide": "Hide the code"}


def new_code_cell(lines: list[str], metadata: dict) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": json.loads(json.dumps(metadata)),
        "outputs": [],
        "source": as_source(lines),
    }


def split(path: Path, index: int, cuts: list[int]) -> None:
    nb = load(path)
    cell = nb["cells"][index]
    if cell["cell_type"] != "code":
        raise SystemExit(f"cell {index} is not a code cell")
    lines = lines_of(cell)
    cuts = sorted(set(cuts))
    if not cuts or cuts[0] <= 1 or cuts[-1] > len(lines):
        raise SystemExit(f"cuts must lie in 2..{len(lines)}, got {cuts}")
    bounds = [0, *(c - 1 for c in cuts), len(lines)]
    parts = [lines[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    for line_no, part in zip([1, *cuts], parts, strict=True):
        try:
            ast.parse("\n".join(part))
        except SyntaxError as error:
            raise SystemExit(
                f"the part from line {line_no} does not parse alone ({error.msg}): cut only "
                "between top-level statements"
            ) from None
    metadata = {k: v for k, v in cell.get("metadata", {}).items()}
    cells = [new_code_cell(part, metadata) for part in parts if any(x.strip() for x in part)]
    if "id" in cell:  # the first part keeps the cell's id (a reference to it stays good)
        taken = {c.get("id") for c in nb["cells"]}
        for k, part in enumerate(cells):
            part["id"] = cell["id"] if k == 0 else f"{cell['id'][:56]}-{k + 1}"
            while k and part["id"] in taken:  # ids are unique within a notebook
                part["id"] += "b"
            taken.add(part["id"])
    nb["cells"][index : index + 1] = cells
    save(path, nb)
    print(f"cell {index} -> cells {index}..{index + len(cells) - 1}")


def fold(path: Path, index: int, title: str) -> None:
    if not title or "\n" in title or "{" in title or "}" in title:
        raise SystemExit("title: one line, no braces")
    nb = load(path)
    cell = nb["cells"][index]
    tags = cell.get("metadata", {}).get("tags", [])
    if cell["cell_type"] != "code" or {"setup", "exercise"} & set(tags):
        raise SystemExit(f"cell {index}: only an ordinary code cell can be folded")
    lines = lines_of(cell)
    if lines[0].startswith(TITLE):
        lines = lines[1:]
    cell["source"] = as_source([TITLE + title, *lines])
    meta = cell.setdefault("metadata", {})
    meta["tags"] = [*[t for t in tags if t != "hide-input"], "hide-input"]
    meta["cellView"] = "form"
    meta["mystnb"] = prompts(title)
    save(path, nb)


def unfold(path: Path, index: int) -> None:
    nb = load(path)
    cell = nb["cells"][index]
    lines = lines_of(cell)
    if lines[0].startswith(TITLE):
        cell["source"] = as_source(lines[1:])
    meta = cell.get("metadata", {})
    meta["tags"] = [t for t in meta.get("tags", []) if t != "hide-input"]
    if not meta["tags"]:
        del meta["tags"]
    meta.pop("cellView", None)
    meta.pop("mystnb", None)
    save(path, nb)


def code_text(nb: dict) -> str:
    """Every code cell's statements, titles dropped, blank lines dropped, in order."""
    out = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            out += [x for x in lines_of(cell) if x.strip() and not x.startswith(TITLE)]
    return "\n".join(out)


def ends_in_expression(cell: dict) -> bool:
    """Whether IPython would print the value of the cell's last statement."""
    try:
        tree = ast.parse("\n".join(lines_of(cell)))
    except SyntaxError:
        return False
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return False
    value = tree.body[-1].value
    is_print = (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in ("print", "display")
    )
    return not is_print and not lines_of(cell)[-1].rstrip().endswith(";")


def _names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(names the code reads, names it binds: assignments, defs, imports, arguments)."""
    loads, stores = set(), set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else stores).add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stores.add(n.name)
        elif isinstance(n, ast.arg):
            stores.add(n.arg)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            stores.update((a.asname or a.name).split(".")[0] for a in n.names)
    return loads, stores


def hidden_reads(nb: dict) -> list[tuple[int, str, int]]:
    """(visible cell, name, folded cell): a visible cell reads a name that it does not bind
    itself and whose latest binding sits in a folded cell, so a reader meets a name whose
    definition is out of sight."""
    latest: dict[str, tuple[int, bool]] = {}
    out = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse("\n".join(lines_of(cell)))
        except SyntaxError:
            continue
        loads, stores = _names(tree)
        folded = is_folded(cell)
        if not folded:
            out += [(i, name, latest[name][0]) for name in sorted(loads - stores)
                    if name in latest and latest[name][1]]  # fmt: skip
        latest.update(dict.fromkeys(stores, (i, folded)))
    return out


def check(path: Path, base: str) -> int:
    nb = load(path)
    problems = []
    old_text = subprocess.run(
        ["git", "show", f"{base}:{path.as_posix()}"], capture_output=True, text=True, check=True
    ).stdout
    old = json.loads(old_text)
    if code_text(old) != code_text(nb):
        problems.append(f"the code differs from {base} (titles and blank lines aside)")
    old_ends = {tuple(lines_of(c)[-1:]) for c in old["cells"] if c["cell_type"] == "code"}
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        n = len(lines_of(cell))
        if not is_folded(cell) and n > VISIBLE_LINES:
            problems.append(f"cell {i}: {n} visible lines (at most {VISIBLE_LINES})")
        if is_folded(cell) and not title_of(cell):
            problems.append(f"cell {i}: folded without a title line")
        if ends_in_expression(cell) and tuple(lines_of(cell)[-1:]) not in old_ends:
            print(
                f"{path.name}: cell {i} now ends in an expression: IPython prints its value "
                "unless it is None (run the chapter and look)"
            )
    for i, name, source in hidden_reads(nb):
        problems.append(f"cell {i}: reads {name}, last bound in folded cell {source}")
    for p in problems:
        print(f"{path.name}: {p}")
    print(f"{path.name}: {'ok' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


def listing(path: Path) -> None:
    nb = load(path)
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        lines = lines_of(cell)
        mark = "folded" if is_folded(cell) else ("LONG" if len(lines) > VISIBLE_LINES else "")
        print(f"{i:4d} {len(lines):4d} {mark:6s} {lines[0][:80]}")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    command, path = argv[0], Path(argv[1])
    if command == "list":
        listing(path)
    elif command == "split":
        split(path, int(argv[2]), [int(x) for x in argv[3:]])
    elif command == "fold":
        fold(path, int(argv[2]), " ".join(argv[3:]))
    elif command == "unfold":
        unfold(path, int(argv[2]))
    elif command == "check":
        base = argv[argv.index("--base") + 1] if "--base" in argv else "HEAD"
        return check(path, base)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
