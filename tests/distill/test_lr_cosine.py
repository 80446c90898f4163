"""The committed run of R1's filtering with R1's cosine schedule (`labs.distill.lr_cosine`): it
trains on the dense record's traces (the same FLOPs and samples), and its summary is what its raw
per-seed curves give, recomputed here with plain loops rather than the package's readers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labs.distill.dense import DEFAULT_RESULTS as DENSE_RESULTS
from labs.distill.dense import DENSE
from labs.distill.lr_cosine import DEFAULT_RESULTS, RULES, SCHEDULE, SEEDS
from labs.distill.teacher import load_teacher


@pytest.fixture(scope="module")
def record():
    return json.loads(DEFAULT_RESULTS.read_text())


def _settled_index(share, line, window):
    """The first evaluation j (>= window - 1) from which the mean of evaluations j - window + 1
    to j is above `line` at j and at every later evaluation; None if the last mean is not."""
    means = [sum(share[j - window + 1 : j + 1]) / window for j in range(window - 1, len(share))]
    first = None
    for j, m in zip(range(window - 1, len(share)), means, strict=True):
        if m > line:
            first = j if first is None else first
        else:
            first = None
    return first


def test_the_record_is_the_dense_run_with_r1s_schedule(record):
    meta = record["meta"]
    assert {k: meta[k] for k in DENSE} == DENSE and meta["lr_cosine_floor"] == 0.1
    assert SCHEDULE == {"lr_cosine_floor": 0.1} and meta["rules"] == RULES
    assert meta["beta2"] == 0.999 and meta["torch_threads"] == 1
    assert meta["runs"][0]["command"] == "python -m labs.distill.lr_cosine 0 12 --workers 2"
    assert list(record["seeds"]) == [str(s) for s in SEEDS] == [str(s) for s in range(12)]
    dense = json.loads(DENSE_RESULTS.read_text())["seeds"]
    for seed, rec in record["seeds"].items():
        same = dense[seed]
        # the rule's check of the hook: the same traces (FLOPs, samples, traces kept) at all 151
        # evaluations, and the same cold student at the first. It holds in seeds 0 to 10. Seed 11
        # parts in stretch 26 (steps 401 to 416), where the teacher's traces kept differ by one:
        # the dense record was made on an AMD EPYC, this run on an Intel Xeon; the traces do not
        # depend on the rate, so the schedule is not the cause (the module's docstring)
        agree = 151 if seed != "11" else 26
        assert rec["flops"][:agree] == same["flops"][:agree], seed
        assert rec["intervals"]["kept"][: agree - 1] == same["intervals"]["kept"][: agree - 1]
        assert rec["samples"] == same["samples"], seed  # prompts drawn: not judged by the teacher
        assert np.allclose(rec["flops"], same["flops"], rtol=1e-4), seed  # a trace or two apart
        assert len(rec["accuracy"]) == 151 and rec["accuracy"][0] == same["accuracy"][0], seed
        assert [m.count("1") / 80 for m in rec["marks"]] == rec["accuracy"]
        # ... and another run after it: the curves part
        assert rec["accuracy"] != same["accuracy"], seed
    assert record["seeds"]["11"]["intervals"]["kept"][25] != dense["11"]["intervals"]["kept"][25]


def test_the_summary_is_what_the_raw_curves_give(record):
    _, teacher = load_teacher()
    summary = record["summary"]
    line, window = RULES["line"], RULES["window"]
    settled, index = [], []
    for rec in record["seeds"].values():
        share = [a / teacher["held_out_greedy_accuracy"] for a in rec["accuracy"]]
        j = _settled_index(share, line, window)
        index.append(j)
        settled.append(np.inf if j is None else rec["flops"][j] / teacher["train_flops"])
    assert np.allclose(summary["per_seed_settled"], settled, rtol=1e-12)
    if None in index:
        assert summary["every_seed_settled"] == np.inf
    else:  # where the last seed settles, the dearest seed's compute there
        last = max(index)
        every = max(rec["flops"][last] for rec in record["seeds"].values()) / teacher["train_flops"]
        assert summary["every_seed_settled"] == pytest.approx(every, rel=1e-12)
    for i, rec in enumerate(record["seeds"].values()):
        top = rec["intervals"]["max_loss"]
        ratios = [top[j] / float(np.median(top[j - 10 : j])) for j in range(10, len(top))]
        k = 10 + int(np.argmax(ratios))
        assert summary["largest_spike"][i] == pytest.approx(max(ratios), abs=0.006)
        assert summary["largest_spike_step"][i] == rec["intervals"]["max_loss_step"][k]
        after = [a for e, a in enumerate(rec["accuracy"]) if e * 16 > RULES["late_after_step"]]
        late = [a / teacher["held_out_greedy_accuracy"] <= line for a in after]
        assert summary["late_falls"][i] == sum(late)
