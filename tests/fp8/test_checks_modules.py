"""The argument checks live in three modules, one per part of chapter 2; `labs.fp8.checks`
re-exports them, so that callers keep one import."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from labs.fp8 import checks, checks_accumulator, checks_codec, checks_training

MODULES = (checks_codec, checks_accumulator, checks_training)
CHAPTER = Path(__file__).resolve().parents[2] / "chapters" / "02_fp8.ipynb"


def _own_public_names(module) -> set[str]:
    """The public functions and constants a module defines itself (not those it imports)."""
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value) or name == "annotations":
            continue
        if callable(value) and getattr(value, "__module__", None) != module.__name__:
            continue  # imported from a sibling or from labs.common
        if not callable(value) and not name.isupper():
            continue
        names.add(name)
    return names


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_checks_reexports_every_public_name_of_each_module(module):
    names = _own_public_names(module)
    assert names, f"{module.__name__} defines no public check"
    missing = sorted(n for n in names if getattr(checks, n, None) is not getattr(module, n))
    assert not missing, f"labs.fp8.checks does not re-export {missing} from {module.__name__}"


def test_the_three_modules_share_no_name():
    owners = [_own_public_names(m) for m in MODULES]
    for i, a in enumerate(owners):
        for b in owners[i + 1 :]:
            assert not a & b, f"defined twice: {sorted(a & b)}"


@pytest.mark.parametrize("module", (checks, *MODULES), ids=lambda m: m.__name__)
def test_each_checks_module_is_short_and_names_sections_of_chapter_2(module):
    source = inspect.getsource(module)
    assert source.count("\n") < 400, f"{module.__name__} is {source.count(chr(10))} lines"
    headings = set()
    for cell in json.loads(CHAPTER.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"])
            headings |= {h.strip() for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    # the quoted section titles: a capital letter, then at least one space
    named = {" ".join(t.split()) for t in re.findall(r'"([A-Z][^"]* [^"]*)"', module.__doc__)}
    assert named, f"{module.__name__}'s docstring names no section of chapter 2"
    unknown = sorted(n for n in named if n not in headings)
    assert not unknown, f"{module.__name__} names sections chapter 2 does not have: {unknown}"
