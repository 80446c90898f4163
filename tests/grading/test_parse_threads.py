"""The grader parses notebooks in worker threads: concurrent parses must not corrupt each other.

On Python 3.11 the AST constructor keeps its recursion counter in the interpreter, not in the
thread (CPython gh-106905). When a parse is interrupted (a garbage collection runs a finalizer
that lets another thread in) and the other thread parses too, the first one ends with
"SystemError: AST constructor recursion depth mismatch". A clean `make test` once marked a
valid submission `invalid_submission` this way. The grader parses under one lock
(`labs.grading.notebook._parse`); this test makes the interruption frequent.

The negative control runs the same load on bare `ast.parse` and must see the error at least
once (on an interpreter that keeps the counter per thread it cannot, and the control skips);
the same load through the grader's parse must see none.
"""

from __future__ import annotations

import ast
import sys
import threading
import time

from labs.grading.notebook import _defines

SOURCE = "\n".join(
    f"def f{i}(x):\n    return [(a, b) for a in range(x) for b in ({{'k': x}} if x else [x])]"
    for i in range(20)
)
EXPECTED = {f"f{i}" for i in range(20)}


class _Cycle:
    """Cyclic garbage whose finalizer gives up the GIL while another thread may be parsing."""

    def __init__(self):
        self.me = self

    def __del__(self):
        time.sleep(0.0002)


def _hammer(parse, threads=4, rounds=400) -> tuple[int, int]:
    """(SystemErrors seen, wrong results) over threads x rounds concurrent parses."""
    errors, wrong = [], []

    def work():
        for _ in range(rounds):
            for _ in range(3):
                _Cycle()
            try:
                names = parse(SOURCE)
            except SystemError as err:
                errors.append(err)
                continue
            if names != EXPECTED:
                wrong.append(names)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return len(errors), len(wrong)


def _bare(source: str) -> set[str]:
    return {n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}


def test_bare_ast_parse_breaks_under_this_load():
    """The control: without the lock the load does break parsing (Python 3.11)."""
    import pytest

    if sys.version_info >= (3, 12):
        pytest.skip("Python 3.12+ keeps the AST recursion counter per thread: nothing to show")
    seen = 0
    for _ in range(4):  # about 2 s a try; the error usually shows in the first
        seen += _hammer(_bare)[0]
        if seen:
            break
    assert seen >= 1, "the load interrupted no bare parse: the test below would prove nothing"


def test_the_graders_parse_survives_the_same_load():
    errors, wrong = _hammer(_defines)
    assert (errors, wrong) == (0, 0), f"{errors} SystemErrors and {wrong} wrong results"
