"""Every public callable of labs, called with generated hostile input (see harness.py).

The examples (one valid call per callable) live in examples_<topic>.py beside this file.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from pathlib import Path

import numpy as np
import pytest

from tests.hostile import harness

CALLABLES = harness.public_callables()
EXAMPLES: dict = {}
ACCEPTED: dict = {}
for _info in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _info.name.startswith("examples_"):
        _module = importlib.import_module(f"tests.hostile.{_info.name}")
        overlap = set(EXAMPLES) & set(_module.EXAMPLES)
        assert not overlap, f"examples given twice: {sorted(overlap)}"
        EXAMPLES.update(_module.EXAMPLES)
        ACCEPTED.update(getattr(_module, "ACCEPTED", {}))


def test_every_public_callable_has_a_valid_example():
    missing = sorted(set(CALLABLES) - set(EXAMPLES))
    assert not missing, (
        "public callables with no example in tests/hostile/examples_<topic>.py "
        f"(add a valid call so the walker can attack it): {missing}"
    )


def test_every_example_names_something_that_exists():
    unknown = []
    for key, factory in EXAMPLES.items():
        if key in CALLABLES:
            continue
        if factory().target is None:  # a method key must bring its bound callable
            unknown.append(key)
    assert not unknown, f"examples for names that are not public callables: {unknown}"


def test_every_accepted_exception_has_a_reason():
    for (key, parameter, mutation), reason in ACCEPTED.items():
        assert key in EXAMPLES, f"ACCEPTED names {key}, which has no example"
        assert isinstance(reason, str) and len(reason) > 10, (
            f"say why {key}:{parameter} accepts {mutation}"
        )


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_hostile_input_is_refused_clearly(key):
    example = EXAMPLES[key]()
    fn = harness.resolve(key, example, CALLABLES)
    outcomes = harness.hostile_outcomes(key, example, fn, ACCEPTED)
    bad = [o for o in outcomes if o.verdict != "clear"]
    assert not bad, f"{len(bad)} of {len(outcomes)} hostile calls handled badly:\n" + "\n".join(
        map(str, bad)
    )


@pytest.mark.filterwarnings("ignore:Casting complex values")  # the complex-array mutation
def test_tolerated_mutations_refuse_a_deep_failure_and_accept_a_return(tmp_path, monkeypatch):
    """The negative control of the tolerated mutations: a function that lets NumPy or a dict fail
    is caught; one that accepts the value passes; an output folder lands in a scratch directory."""
    monkeypatch.chdir(tmp_path)

    def norm(x):  # a 1-D function: NumPy's "not aligned" error on a 2-D input
        return float(np.dot(x, x))

    def total(x):  # any rank is fine
        return float(np.sum(x))

    def option(name):  # a mistyped option: KeyError from the dict
        return {"a": 1}[name]

    def make(folder):  # an output folder: created where the call runs
        Path(folder).mkdir()
        return folder

    def verdicts(fn, **kwargs):
        example = harness.call(fn, **kwargs)
        outcomes = harness.hostile_outcomes("f", example, fn, {})
        return {o.mutation: o.verdict for o in outcomes}

    assert verdicts(norm, x=np.ones(3))["extra-leading-dim"] != "clear"
    assert verdicts(total, x=np.ones(3))["extra-leading-dim"] == "clear"
    assert verdicts(option, name="a")["unknown-text"] == "deep error"
    assert verdicts(make, folder="out")["unknown-text"] == "clear"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the valid call's folder only


def test_huge_values_refuse_a_silent_overflow_and_accept_a_finite_result():
    """The negative control of the huge mutations: a float32 softmax that overflows to NaN, a
    formula that overflows float64 and one that dies in `math.exp` are caught; a result that stays
    finite, a clear refusal, and an inf the valid call returns too (by definition) pass."""
    from labs.common.validate import finite_result

    def naive(x):  # exp(1e30) = inf in float32, inf / inf = NaN
        with np.errstate(all="ignore"):
            e = np.exp(x)
            return e / e.sum()

    def guarded(x):
        return finite_result("the softmax", naive(x), inputs={"x": x})

    def days(flops):  # 1e300 FLOPs is a valid (absurd) budget: the answer stays finite
        return flops / 1e15 / 86_400

    def flops(n):  # 6 N D with D = 1e10: 1e300 overflows float64
        return 6.0 * n * 1e10

    def growth(rate):  # OverflowError from inside math
        return math.exp(rate)

    def never(price):  # (break-even, cost): the break-even is inf in the valid call already
        return math.inf, 2.0 * price

    def verdicts(fn, **kwargs):
        example = harness.call(fn, **kwargs)
        outcomes = harness.hostile_outcomes("f", example, fn, {})
        return {o.mutation: o.verdict for o in outcomes if "huge" in o.mutation}

    x = np.array([0.5, -1.0, 2.0], np.float32)
    assert verdicts(naive, x=x) == {"array-huge": "silent non-finite"}
    assert verdicts(guarded, x=x) == {"array-huge": "clear"}
    assert verdicts(days, flops=1e24) == {"huge": "clear"}
    assert verdicts(flops, n=1e9) == {"huge": "silent non-finite"}
    assert verdicts(growth, rate=0.1) == {"huge": "deep error"}
    assert verdicts(never, price=3.0) == {"huge": "clear"}
    half = harness.huge_mutations(np.ones(2, np.float16))
    assert [(label, float(np.abs(v).max())) for label, v in half] == [("array-huge", 65504.0)]
