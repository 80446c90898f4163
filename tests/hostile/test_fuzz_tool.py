"""The audit tool tools/hostile_fuzz.py: its verdicts, and one end-to-end run on the tour's API.

The tool is an audit run by hand (about 6 minutes over the whole package), not a CI check; these
tests keep it working, so that the next audit can start from it.
"""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

from labs.common import validate
from tests.hostile import harness

REPO = Path(__file__).resolve().parents[2]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fuzz = _load("hostile_fuzz")


def _judge(result=None, err=None, param="seed", label="int-overflow-1e30"):
    names = ("seed", "budget")
    return fuzz.judge(
        "labs.some.function", param, label, False, result, err, names, 1.0, {}, harness
    )


def _raised(fn, *args):
    try:
        fn(*args)
    except Exception as err:  # noqa: BLE001 - the test judges whatever came
        return err
    raise AssertionError("expected an error")


def test_a_labs_error_naming_the_parameter_is_clear():
    err = _raised(validate.seed, "seed", 10**30)
    assert _judge(err=err)["verdict"] == "clear"


def test_a_labs_error_naming_another_parameter_is_unclear():
    err = _raised(validate.seed, "other", 10**30)  # names "other", not the call's "budget"
    verdict = _judge(err=err, param="budget")
    assert (verdict["verdict"], verdict["why"]) == ("unclear", "unnamed")


def test_an_error_from_outside_labs_is_deep_and_another_type_is_unclear():
    deep = _raised(np.zeros, -1)  # ValueError raised by numpy, not labs
    assert _judge(err=deep)["why"] == "deep"
    assert _judge(err=RuntimeError("seed"))["why"] == "other-type"


def test_a_nan_result_is_silent_and_nonfinite_but_the_valid_answer_is_not_flagged():
    verdict = _judge(result=math.nan)
    assert (verdict["verdict"], verdict["flavour"]) == ("silent", "nonfinite")
    assert _judge(result=1.0)["flavour"] == "same-as-valid"


def test_the_mutations_change_the_last_element_and_shapes():
    mutated = dict((label, value) for label, value, _ in fuzz.mutations_for(np.ones((2, 3)), False))
    assert np.isinf(mutated["array-inf"][-1, -1]) and np.isfinite(mutated["array-inf"][0, 0])
    assert mutated["shape-last-minus-one"].shape == (2, 2)
    assert mutated["shape-first-minus-one"].shape == (1, 3)


def test_a_run_over_the_tour_finds_no_unclear_error(tmp_path):
    run = [sys.executable, str(REPO / "tools" / "hostile_fuzz.py"), "run", "--out", str(tmp_path)]
    subprocess.run([*run, "--only", "labs.tour"], check=True, timeout=110, cwd=REPO)
    rows = [json.loads(line) for line in (tmp_path / "results_0of1_labs.tour.jsonl").open()]
    verdicts = [row["verdict"] for row in rows]
    assert verdicts.count("clear") > 100, verdicts[:20]
    unclear = [row for row in rows if row["verdict"] not in ("clear", "silent", "silent-harmless")]
    assert not unclear, unclear[:3]
    report = subprocess.run(
        [sys.executable, str(REPO / "tools" / "hostile_fuzz_report.py"), str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "problems: 0" in report.stdout, report.stdout
