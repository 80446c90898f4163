"""Every public callable of labs, called with generated hostile input (see harness.py).

The examples (one valid call per callable) live in examples_<topic>.py beside this file.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

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
