"""A hanging answer costs its own exercise only, on both grading paths.

The fake chapter 3 submission (`with_hanging_cell` in synthetic.py): exercises 3.1 and 3.3 are
the reference solutions, 3.2 (`repeat_kv`) loops forever inside the function, catching every
exception, and one extra top-level cell never returns (it sleeps in a loop that catches every
exception too). Here otter's own runner (the Gradescope path: `otter run`, without Docker) grades
it with a bundle whose limits are 1 s per case and 2 s per cell; 3.1 and 3.3 get all their points
and 3.2 none, with a message naming the function and the limit. The same notebook is
`mla_infinite_loop` in test_grading.py's gradebook, graded by the local grader (4 s per case):
3.1 and 3.3 passed, 3.2 `timeout`.

Negative control, run by hand on 2026-12-05 (too slow for the suite): the same bundle with the
plugin removed from its otter_config.json did not finish `otter run` within 90 s; with it, the run
took about 25 s on the shared 2 cores, mostly starting the kernel.
"""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from labs.common.exercises import Case
from labs.grading import build_autograders, discover_chapters
from labs.grading.bundle import CaseFailed, run_case
from labs.grading.chapters import load_hidden
from labs.grading.otter_plugin import CellTimeLimit
from tests.grading.synthetic import LOOPS, solution_source, submission, with_hanging_cell

MLA = next(c for c in discover_chapters() if c.topic == "mla")
CASE_LIMIT_S, CELL_LIMIT_S = 1.0, 2.0
OTTER_RUN_S = 150  # a kernel that never starts on a loaded machine: tried once more


def hanging_submission() -> str:
    answers = {e.name: solution_source(MLA, e.name) for e in MLA.exercises}
    answers["repeat_kv"] = LOOPS
    return with_hanging_cell(submission(MLA, answers))


def full_points(name: str) -> float:
    bank = load_hidden(MLA)
    return float(bank.points.get(name, len(MLA.exercise(name).cases) + len(bank.hidden[name])))


def test_otter_run_grades_the_other_exercises_of_a_hanging_submission(tmp_path):
    """The bundle is a real otter autograder, and a hang costs one exercise, not the notebook."""
    (bundle,) = build_autograders(
        tmp_path / "zip", topics=("mla",), time_limit_s=CASE_LIMIT_S, cell_time_limit_s=CELL_LIMIT_S
    )
    notebook = tmp_path / "hangs.ipynb"
    notebook.write_text(hanging_submission(), encoding="utf-8")
    digest = hashlib.sha256(notebook.read_bytes()).hexdigest()
    otter = Path(sys.executable).with_name("otter")
    for attempt in range(2):
        out = tmp_path / f"run{attempt}"
        out.mkdir()
        try:
            done = subprocess.run(
                [str(otter), "run", "-a", str(bundle), "-o", str(out), str(notebook)],
                capture_output=True,
                text=True,
                timeout=OTTER_RUN_S,
            )
            break
        except subprocess.TimeoutExpired:
            if attempt:
                raise
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    tests = [t for t in results["tests"] if t["name"] != "Public Tests"]  # otter's summary
    scores = {t["name"]: t.get("score") for t in tests}
    assert scores == {
        "cache_bytes_per_token": full_points("cache_bytes_per_token"),
        "repeat_kv": 0.0,
        "decode_bound": full_points("decode_bound"),
    }, scores
    (repeat,) = [t for t in tests if t["name"] == "repeat_kv"]
    assert f"repeat_kv ran for more than {CASE_LIMIT_S:g} s" in repeat["output"]
    assert "not run: an earlier case of repeat_kv" in repeat["output"]  # one case costs the limit
    assert hashlib.sha256(notebook.read_bytes()).hexdigest() == digest  # otter graded a copy


def _cases() -> str:
    case = Case(args=(np.array([0.0, 1.0]),), expected=float(np.log(1 + np.e)), label="two")
    return base64.b64encode(pickle.dumps((case, case))).decode()


def _right(x):
    return float(np.log(np.sum(np.exp(x))))


def _loops(x):
    while True:
        try:
            pass
        except BaseException:  # noqa: BLE001, S110 - the point: it swallows the time limit
            pass


def _exits(x):
    sys.exit(0)


def test_run_case_stops_a_loop_and_an_exit_in_its_own_process():
    """In otter's kernel the student's function runs in the grading process itself: after the
    stop, the process's own SIGALRM handler and timer (an outer limit) are as they were."""
    start = time.perf_counter()
    outer = signal.signal(signal.SIGALRM, lambda *a: None)
    signal.setitimer(signal.ITIMER_REAL, 60.0)
    try:
        with pytest.raises(CaseFailed, match=r"_loops ran for more than 0\.3 s .* was stopped"):
            run_case(_loops, _cases(), 0, "_loops", 0.3)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        handler = signal.getsignal(signal.SIGALRM)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        restored = signal.signal(signal.SIGALRM, outer)
    assert restored is handler and handler is not outer  # our lambda came back
    assert 50.0 < left < 60.0  # the outer timer runs on, less the time the case took
    with pytest.raises(CaseFailed, match="not run: an earlier case of _loops"):
        run_case(_loops, _cases(), 1, "_loops", 0.3)
    assert time.perf_counter() - start < 5  # the second case did not wait for the limit
    assert sys.gettrace() is None or "coverage" in type(sys.gettrace()).__module__
    with pytest.raises(CaseFailed, match=r"sys\.exit\(\)"):  # not SystemExit: otter goes on
        run_case(_exits, _cases(), 0, "_exits", 0.3)
    with pytest.raises(CaseFailed, match=r"sys\.exit\(\)"):  # without a limit too
        run_case(_exits, _cases(), 0, "_exits")
    run_case(_right, _cases(), 0, "_right", 0.3)  # the control: a right answer passes


@pytest.mark.parametrize("bad", [0.0, -1.0, 3601.0, float("nan"), "10"])
def test_time_limits_refuse_bad_values(bad, tmp_path):
    kind = TypeError if isinstance(bad, str) else ValueError
    with pytest.raises(kind, match="time_limit_s"):
        run_case(_right, _cases(), 0, "_right", bad)
    with pytest.raises(kind, match="cell_time_limit_s"):
        build_autograders(tmp_path, topics=("tour",), cell_time_limit_s=bad)
    with pytest.raises(ValueError, match="seconds must be a positive number"):
        CellTimeLimit(None, {}, {"seconds": bad}).before_execution(nbformat.v4.new_notebook())
