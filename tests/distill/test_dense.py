"""Chapter 6's dense record of R1's recipe (labs.distill.dense): the watched run is the sweep's
run, the marks agree with the accuracy, bad input is refused, and the committed record repeats the
sweep's curves at the sweep's evaluations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.distill.dense import DEFAULT_RESULTS, DENSE, marks, run_dense
from labs.distill.more_seeds import DEFAULT_RESULTS as MORE_RESULTS
from labs.distill.sweep import DEFAULT_RESULTS as SWEEP_RESULTS
from labs.distill.sweep import SETTINGS, run_seed
from labs.distill.teacher import load_teacher
from labs.grpo.training import new_policy

TINY = {"d_model": 8, "n_layers": 1, "n_heads": 2}


@pytest.fixture(scope="module")
def task():
    return AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)


def test_marks_read_the_shipped_teacher_and_a_malformed_policy(task):
    teacher, meta = load_teacher()
    got = marks(teacher, task)
    assert len(got) == len(task.held_out) and set(got) <= set("10-")
    # the share of right answers is the one the checkpoint's record keeps
    assert got.count("1") / len(got) == meta["held_out_greedy_accuracy"]
    mute = new_policy(task, seed=3, **TINY)
    with torch.no_grad():
        mute.head.bias[task.tokenizer.eos_id] = -1e4  # it never closes an answer
    assert marks(mute, task) == "-" * len(task.held_out)
    assert marks(teacher, task, task.held_out[:5]) == got[:5]


def test_the_watched_run_is_the_sweeps_run(task):
    torch.set_num_threads(1)
    teacher, _ = load_teacher()
    dense = run_dense(task, teacher, 2, steps=4, eval_every=1, warm_up_steps=1)
    sweep = run_seed(task, teacher, 2, arms=("correct",), long_steps=4, long_eval_every=2,
                     warm_up_steps=1)  # fmt: skip
    sweep = sweep["correct"]
    # every second dense evaluation is one of the coarse run's: the FLOPs count the traces kept,
    # so they agree only if the watched run kept the same traces
    assert dense["flops"][::2] == sweep["flops"] and dense["accuracy"][::2] == sweep["accuracy"]
    assert len(dense["marks"]) == len(dense["accuracy"]) == 5
    assert [m.count("1") / len(task.held_out) for m in dense["marks"]] == dense["accuracy"]
    stretches = dense["intervals"]
    assert all(len(v) == 4 for v in stretches.values())
    assert all(0 < k <= 64 for k in stretches["kept"])  # at most one step of 64 prompts
    assert all(a <= b for a, b in zip(stretches["mean_loss"], stretches["max_loss"], strict=True))
    assert stretches["max_loss_step"] == [1, 2, 3, 4]  # one step a stretch
    assert stretches["max_update_step"] == [1, 2, 3, 4]
    # Adam's first step is lr * g / (|g| + eps) in each weight: +-lr where the gradient is not
    # zero, whatever beta2 is. So its length is lr * sqrt(weights with a gradient), at most
    # lr * sqrt(all weights); a step that forgot the learning rate or the normalisation fails.
    n = sum(p.numel() for p in new_policy(task, seed=0, **SETTINGS["student"]).parameters())
    lr = SETTINGS["distill"]["lr"]
    assert 0.5 * lr * n**0.5 < stretches["max_update_norm"][0] <= 1.0001 * lr * n**0.5
    # beta2 reaches the optimiser: with no second-moment memory (0) the second step differs
    short = run_dense(task, teacher, 2, steps=2, eval_every=1, warm_up_steps=1, beta2=0.0)
    first, second = short["intervals"]["max_update_norm"]
    assert first == stretches["max_update_norm"][0]
    assert abs(second / stretches["max_update_norm"][1] - 1) > 0.05
    # the rate drop reaches the optimiser: dropped after step 1, the first step is the default
    # run's, and the second is about a tenth of its length (Adam's step is linear in the rate)
    dropped = run_dense(task, teacher, 2, steps=2, eval_every=1, warm_up_steps=1,
                        lr_drop_after=1, lr_drop_factor=0.1)  # fmt: skip
    first, second = dropped["intervals"]["max_update_norm"]
    assert first == stretches["max_update_norm"][0]
    assert 0.09 < second / stretches["max_update_norm"][1] < 0.11
    # the cosine reaches the optimiser: over three steps the rates are 1, 0.55 and 0.1 of the
    # sweep's (the floor at the last step), on the same traces (the same FLOPs)
    plain = run_dense(task, teacher, 2, steps=3, eval_every=1, warm_up_steps=1)
    cosine = run_dense(task, teacher, 2, steps=3, eval_every=1, warm_up_steps=1,
                       lr_cosine_floor=0.1)  # fmt: skip
    assert cosine["flops"] == plain["flops"] and cosine["samples"] == plain["samples"]
    moved = np.array(cosine["intervals"]["max_update_norm"])
    assert moved[0] == plain["intervals"]["max_update_norm"][0]
    assert np.allclose(moved[1:] / plain["intervals"]["max_update_norm"][1:], [0.55, 0.1],
                       atol=0.01)  # fmt: skip


def test_run_dense_and_marks_refuse_bad_input(task):
    teacher = new_policy(task, seed=1, **TINY)
    with pytest.raises(ValueError, match="seed"):
        run_dense(task, teacher, -1, steps=2, eval_every=1)
    with pytest.raises(ValueError, match="steps"):
        run_dense(task, teacher, 0, steps=0)
    with pytest.raises(ValueError, match="eval_every"):
        run_dense(task, teacher, 0, steps=2, eval_every=3)
    with pytest.raises(TypeError, match="teacher"):
        run_dense(task, "teacher", 0, steps=2, eval_every=1)
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="beta2"):
            run_dense(task, teacher, 0, steps=2, eval_every=1, beta2=bad)
    with pytest.raises(TypeError, match="beta2"):
        run_dense(task, teacher, 0, steps=2, eval_every=1, beta2="0.99")
    for bad in (-1, 3):
        with pytest.raises(ValueError, match="lr_drop_after"):
            run_dense(task, teacher, 0, steps=2, eval_every=1, lr_drop_after=bad)
    with pytest.raises(TypeError, match="lr_drop_after"):
        run_dense(task, teacher, 0, steps=2, eval_every=1, lr_drop_after=1.0)
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="lr_drop_factor"):
            run_dense(task, teacher, 0, steps=2, eval_every=1, lr_drop_after=1, lr_drop_factor=bad)
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="lr_cosine_floor"):
            run_dense(task, teacher, 0, steps=2, eval_every=1, lr_cosine_floor=bad)
    with pytest.raises(TypeError, match="lr_cosine_floor"):
        run_dense(task, teacher, 0, steps=2, eval_every=1, lr_cosine_floor="0.1")
    with pytest.raises(ValueError, match="lr_cosine_floor and lr_drop_after"):
        run_dense(task, teacher, 0, steps=2, eval_every=1, lr_drop_after=1, lr_cosine_floor=0.1)
    with pytest.raises(TypeError, match="policy"):
        marks("policy", task)
    with pytest.raises(TypeError, match="problems"):
        marks(teacher, task, object())


def test_the_committed_record_repeats_the_sweeps_curves():
    dense = json.loads(DEFAULT_RESULTS.read_text())
    assert {k: dense["meta"][k] for k in DENSE} == DENSE
    assert list(dense["seeds"]) == [str(s) for s in range(12)]
    sweep = json.loads(SWEEP_RESULTS.read_text())["seeds"]
    more = json.loads(MORE_RESULTS.read_text())["seeds"]
    for seed, rec in dense["seeds"].items():
        old = (sweep.get(seed) or more[seed])["correct"]
        assert len(rec["accuracy"]) == 151 and len(rec["marks"]) == 151
        # every fifth of the 151 evaluations is one of the sweep's 31, made by another process
        assert rec["accuracy"][::5] == old["accuracy"], seed
        assert np.allclose(rec["flops"][::5], old["flops"], rtol=1e-12), seed
        assert [m.count("1") / 80 for m in rec["marks"]] == rec["accuracy"]


def test_the_committed_beta2_record_holds_its_control_and_both_arms():
    from labs.distill.adam_memory import BETA2, RULES, SEEDS
    from labs.distill.adam_memory import DEFAULT_RESULTS as ADAM_RESULTS

    adam = json.loads(ADAM_RESULTS.read_text())
    assert {k: adam["meta"][k] for k in DENSE} == DENSE
    assert adam["meta"]["seeds"] == list(SEEDS) and adam["meta"]["rules"] == RULES
    assert adam["meta"]["runs"][0]["command"] == "python -m labs.distill.adam_memory"
    assert list(adam["beta2"]) == list(BETA2) == ["0.999", "0.99"]
    dense = json.loads(DEFAULT_RESULTS.read_text())["seeds"]
    for seed in map(str, SEEDS):
        control, short = adam["beta2"]["0.999"][seed], adam["beta2"]["0.99"][seed]
        # the control is the dense record's run, made again by another process
        assert control["accuracy"] == dense[seed]["accuracy"], seed
        assert all(control["intervals"][k] == v for k, v in dense[seed]["intervals"].items())
        # the other arm is another run: it starts from the same student, then parts
        assert short["accuracy"][0] == control["accuracy"][0]
        assert short["intervals"]["max_loss"] != control["intervals"]["max_loss"], seed
        assert all(len(v) == 150 for v in short["intervals"].values())


def test_the_committed_rate_drop_record_repeats_the_control_up_to_the_drop():
    from labs.distill.adam_memory import DEFAULT_RESULTS as ADAM_RESULTS
    from labs.distill.lr_decay import DEFAULT_RESULTS as DROP_RESULTS
    from labs.distill.lr_decay import DROP, RULES, SEEDS

    drop = json.loads(DROP_RESULTS.read_text())
    assert {k: drop["meta"][k] for k in DENSE} == DENSE
    assert drop["meta"]["seeds"] == list(SEEDS) and drop["meta"]["rules"] == RULES
    assert {k: drop["meta"][k] for k in DROP} == DROP == {"lr_drop_after": 1200,
                                                          "lr_drop_factor": 0.1}  # fmt: skip
    assert drop["meta"]["runs"][0]["command"] == "python -m labs.distill.lr_decay"
    control = json.loads(ADAM_RESULTS.read_text())["beta2"]["0.999"]
    cut = DROP["lr_drop_after"] // DENSE["eval_every"]  # 75 stretches before the drop
    for seed in map(str, SEEDS):
        run, same = drop["seeds"][seed], control[seed]
        # another process, the same run up to the drop (76 evaluations, 75 stretches) ...
        assert run["accuracy"][: cut + 1] == same["accuracy"][: cut + 1], seed
        assert all(run["intervals"][k][:cut] == v[:cut] for k, v in same["intervals"].items())
        # ... and another run after it: the first stretch after the drop already differs
        assert run["intervals"]["max_update_norm"][cut] < same["intervals"]["max_update_norm"][cut]
        assert all(len(v) == 150 for v in run["intervals"].values())
