"""Chapter 6's GRPO tuning search: equal budgets, the run of one setting, and the committed record
against what the script would write."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.distill import grpo_step_flops
from labs.distill.rl_tuning import (
    CONFIRM_SEEDS,
    DEFAULT_RESULTS,
    SEARCH,
    SEARCH_SEEDS,
    budget_flops,
    run_setting,
    setting_plan,
)
from labs.distill.sweep import DEFAULT_RESULTS as SWEEP_RESULTS
from labs.distill.sweep import SETTINGS, cold_student


@pytest.fixture(scope="module")
def task():
    return AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)


@pytest.fixture(scope="module")
def student(task):
    return cold_student(task, 0, warm_up_steps=1)


def test_the_budget_is_the_sweeps_long_grpo_arm(task, student):
    sweep = json.loads(SWEEP_RESULTS.read_text())
    assert budget_flops(task, student) == sweep["seeds"]["0"]["grpo_long"]["flops"][-1]


def test_every_setting_spends_the_budget_exactly(task, student):
    budget = budget_flops(task, student)
    names = [setting["name"] for setting in SEARCH]
    assert len(set(names)) == len(names)  # the record keys settings by name
    for setting in SEARCH:
        plan = setting_plan(task, student, setting)
        k = plan["knobs"]
        per_step = grpo_step_flops(
            sum(p.numel() for p in student.parameters()),
            k["prompts_per_step"] * k["group_size"],
            task.prompt_length + task.max_answer_tokens - 1,
            k["updates_per_batch"],
        )
        assert plan["steps"] * per_step == pytest.approx(budget, rel=1e-12)
        assert plan["flops"] == pytest.approx(budget, rel=1e-12)
        assert plan["steps"] % plan["rounds"] == 0
        assert 10 <= plan["steps"] // plan["rounds"] <= 40  # about 25 steps a round


def test_a_setting_leaves_out_knobs_at_the_sweeps_values(task, student):
    plan = setting_plan(task, student, {"name": "base"})
    g = SETTINGS["grpo"]
    assert plan["knobs"]["lr"] == g["lr"] and plan["knobs"]["group_size"] == g["group_size"]
    assert (plan["steps"], plan["rounds"]) == (
        SETTINGS["long"]["grpo_chunks"] * g["steps"],
        SETTINGS["long"]["grpo_chunks"],
    )
    doubled = setting_plan(task, student, {"name": "x", "group_size": 16})
    assert doubled["steps"] * 2 == plan["steps"]  # twice the completions a step, half the steps


def test_setting_plan_refuses_what_it_cannot_run(task, student):
    with pytest.raises(ValueError, match="whole number"):
        setting_plan(task, student, {"name": "x", "prompts_per_step": 7})
    with pytest.raises(ValueError, match="setting may hold only"):
        setting_plan(task, student, {"name": "x", "learning_rate": 1e-3})
    with pytest.raises(ValueError, match="name"):
        setting_plan(task, student, {"lr": 1e-3})
    with pytest.raises(TypeError, match="setting"):
        setting_plan(task, student, [("name", "x")])
    with pytest.raises(ValueError, match="lr"):
        setting_plan(task, student, {"name": "x", "lr": -1.0})


def test_run_setting_runs_a_prefix_and_records_its_gain(task):
    torch.set_num_threads(1)
    setting = {"name": "quick", "group_size": 32, "prompts_per_step": 8, "lr": 5e-3}
    out = run_setting(task, setting, 0, warm_up_steps=1, steps=4)  # one short round
    student = cold_student(task, 0, warm_up_steps=1)
    plan = setting_plan(task, student, setting)
    assert out["flops"] == pytest.approx([0.0, plan["flops"] * 4 / plan["steps"]])
    assert out["gain"] == out["final"] - out["start"] == out["accuracy"][-1] - out["accuracy"][0]
    assert 0 <= out["groups"]["with_correct"] <= 1 and 0 <= out["train"] <= 1
    again = run_setting(task, setting, 0, warm_up_steps=1, steps=4)
    assert again["accuracy"] == out["accuracy"]  # seeded
    for steps in (30, 301):  # not whole rounds of 25; more than the setting's 300
        with pytest.raises(ValueError, match="steps"):
            run_setting(task, setting, 0, warm_up_steps=1, steps=steps)


def test_the_committed_record_matches_the_script(task, student):
    record = json.loads(DEFAULT_RESULTS.read_text())
    meta = record["meta"]
    assert meta["command"].startswith("python -m labs.distill.rl_tuning")
    assert meta["date"] and meta["versions"]["torch"] and meta["processor"]
    assert meta["search_seeds"] == list(SEARCH_SEEDS)
    assert meta["confirm_seeds"] == list(CONFIRM_SEEDS)
    assert meta["budget_flops"] == budget_flops(task, student)
    # every setting the script tries is in the record, in order, with the plan it would run
    assert [entry["name"] for entry in record["settings"]] == [s["name"] for s in SEARCH]
    for entry, setting in zip(record["settings"], SEARCH, strict=True):
        plan = setting_plan(task, student, setting)
        assert {k: entry[k] for k in plan} == plan
        assert set(map(int, entry["runs"])) >= set(SEARCH_SEEDS)
        for run in entry["runs"].values():
            assert run["flops"][-1] == pytest.approx(plan["flops"])
            assert run["gain"] == pytest.approx(run["accuracy"][-1] - run["accuracy"][0])
        gains = [entry["runs"][str(s)]["gain"] for s in SEARCH_SEEDS]
        assert entry["search"]["mean_gain"] == pytest.approx(np.mean(gains))
    # the best is the largest mean gain on the search seeds, confirmed on all four
    best = max(record["settings"], key=lambda e: e["search"]["mean_gain"])
    assert record["best"]["name"] == best["name"]
    assert set(map(int, best["runs"])) == set(CONFIRM_SEEDS)
    gains = np.array([best["runs"][str(s)]["gain"] for s in CONFIRM_SEEDS])
    assert record["best"]["mean_gain"] == pytest.approx(gains.mean())
    assert record["best"]["se"] == pytest.approx(gains.std(ddof=1) / np.sqrt(len(gains)))
    # the cold start is the same in every setting of a seed, and the sweep's
    sweep = json.loads(SWEEP_RESULTS.read_text())
    # the first setting is chapter 5's recipe: the sweep's long GRPO arm again, point for point
    assert SEARCH[0] == {"name": "chapter 5"}
    for seed in map(str, SEARCH_SEEDS):
        run, arm = record["settings"][0]["runs"][seed], sweep["seeds"][seed]["grpo_long"]
        assert (run["flops"], run["accuracy"]) == (arm["flops"], arm["accuracy"])
    for seed, arms in sweep["seeds"].items():
        starts = {e["runs"][seed]["start"] for e in record["settings"] if seed in e["runs"]}
        assert starts == {arms["grpo_long"]["accuracy"][0]}
