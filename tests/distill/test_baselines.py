"""Chapter 6 baselines of distillation: the answer key, the filtered and greedy traces, GRPO's
groups, and the count of a teacher's mistakes its student repeats."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.distill import inherited_errors, warm_up_flops
from labs.distill import torch as distill_torch
from labs.distill.sequence import _teacher_traces
from labs.distill.sweep import ARMS, cold_student, run_seed
from labs.grpo.training import new_policy

TINY = {"d_model": 8, "n_layers": 1, "n_heads": 2}


@pytest.fixture(scope="module")
def task():
    return AdditionTask()


def _params(model):
    return sum(p.numel() for p in model.parameters())


def test_the_answer_key_teaches_and_counts_only_the_student(task):
    torch.set_num_threads(1)
    start = cold_student(task, seed=0)
    before = distill_torch.greedy_accuracy(start, task, task.train)
    student, curve = distill_torch.supervise_on_answers(
        copy.deepcopy(start), task, task.held_out, steps=150, eval_every=75, seed=0
    )
    per_step = 6 * _params(start) * 64 * (task.prompt_length + task.max_answer_tokens - 1)
    assert curve.flops == [0.0, 75 * per_step, 150 * per_step]  # 6 N per token, no teacher
    assert curve.samples == [0, 75 * 64, 150 * 64]
    after = distill_torch.greedy_accuracy(student, task, task.train)
    assert after > before + 0.1  # the true answers teach the cold student
    with pytest.raises(ValueError, match="eval_every"):
        distill_torch.supervise_on_answers(start, task, task.held_out, steps=2, eval_every=3)


def test_rejection_sampling_an_untrained_teacher_keeps_nothing(task):
    """An untrained teacher almost never writes a right sum: with traces="correct" the student
    trains on nothing, its weights do not move, and only the teacher's writing is counted."""
    torch.set_num_threads(1)
    teacher = new_policy(task, seed=3)
    start = cold_student(task, seed=0, warm_up_steps=1)
    student, curve = distill_torch.distill_on_traces(
        copy.deepcopy(start), teacher, task, task.held_out[:8], steps=3, batch_size=16,
        eval_every=3, seed=0, traces="correct",
    )  # fmt: skip
    writing = 2 * _params(teacher) * 16 * 9 * 3  # 2 N_teacher per token, three steps
    assert curve.flops == [0.0, writing]
    for a, b in zip(student.parameters(), start.parameters(), strict=True):
        assert torch.equal(a, b)
    _, sampled = distill_torch.distill_on_traces(
        copy.deepcopy(start), teacher, task, task.held_out[:8], steps=3, batch_size=16,
        eval_every=3, seed=0,
    )  # fmt: skip
    assert sampled.flops[-1] == writing + warm_up_flops(_params(start), 48, 9)


def test_rejection_sampling_keeps_only_right_answers(task):
    teacher, _ = distill_torch.load_teacher()
    problems = task.train[:64]
    gen = torch.Generator().manual_seed(0)
    prompts, completions, mask = _teacher_traces(teacher, task, problems, 1.0, gen, "correct")
    assert 0 < len(prompts) < len(problems)  # the teacher at T = 1 is right on some, not all
    by_text = {task.tokenizer.decode(task.prompts([p])[0][1:]): p for p in problems}
    kept = [by_text[task.tokenizer.decode(row[1:])] for row in prompts.tolist()]
    assert task.accuracy(kept, completions.numpy()) == 1.0
    assert mask[:, 0].all()


def test_greedy_traces_are_the_teachers_greedy_answers_masked_after_eos(task):
    teacher, _ = distill_torch.load_teacher()
    problems = task.held_out[:32]
    prompts, completions, mask = _teacher_traces(teacher, task, problems, 1.0, None, "greedy")
    answers = distill_torch.greedy_answers(teacher, task, problems)
    from labs.common.tasks import parse_answer

    parsed = [parse_answer(row) for row in completions.tolist()]
    assert [-1 if a is None else a for a in parsed] == answers.tolist()
    eos = task.tokenizer.eos_id
    for row, keep in zip(completions.tolist(), mask.tolist(), strict=True):
        end = row.index(eos) if eos in row else len(row) - 1
        assert keep == [i <= end for i in range(len(row))]


def test_distill_on_traces_refuses_an_unknown_kind_of_trace(task):
    policy = new_policy(task, seed=0, **TINY)
    with pytest.raises(ValueError, match="traces"):
        distill_torch.distill_on_traces(policy, policy, task, task.held_out[:2], steps=1,
                                        eval_every=1, traces="beam")  # fmt: skip


def test_greedy_answers_agree_with_greedy_accuracy(task):
    teacher, meta = distill_torch.load_teacher()
    answers = distill_torch.greedy_answers(teacher, task, task.held_out)
    truth = np.array([p.answer for p in task.held_out])
    assert answers.shape == (len(task.held_out),) and answers.dtype == np.int64
    assert np.mean(answers == truth) == pytest.approx(meta["held_out_greedy_accuracy"])


def test_group_statistics_of_groups_of_one(task):
    """A group of one answer holds a right one exactly when that answer is right, and its reward
    never varies: no group has a gradient."""
    policy = cold_student(task, seed=0, warm_up_steps=20)
    one = distill_torch.group_statistics(policy, task, task.train, group_size=1, seed=0)
    assert one["with_correct"] == pytest.approx(one["accuracy"])
    assert one["informative"] == 0.0 == one["informative_on_correctness"]
    eight = distill_torch.group_statistics(policy, task, task.train, group_size=8, seed=0)
    assert eight["with_correct"] >= eight["informative_on_correctness"]
    assert eight["informative"] >= eight["informative_on_correctness"]
    no_format = distill_torch.group_statistics(
        policy, task, task.train, group_size=8, format_weight=0.0, seed=0
    )
    assert no_format["informative"] == no_format["informative_on_correctness"]
    with pytest.raises(ValueError, match="group_size"):
        distill_torch.group_statistics(policy, task, task.train, group_size=0)


def test_inherited_errors_counts_exact_repeats_of_wrong_answers():
    truth = np.array([5, 7, 9, 11, 13, 15])
    teacher = np.array([5, 8, 10, 12, -1, 14])  # wrong, well formed, on 8, 10, 12, 14
    student = np.array([6, 8, 9, 13, 13, -1])  # repeats 8; right on 9; other wrong on 13; -1
    out = inherited_errors(teacher, student, truth)
    assert out["teacher_wrong"] == 4
    assert out["copied"] == pytest.approx(1 / 4)
    assert out["student_wrong"] == pytest.approx(3 / 4)
    assert out["copied_when_wrong"] == pytest.approx(1 / 3)
    never = inherited_errors(truth, student, truth)
    assert never["teacher_wrong"] == 0 and math.isnan(never["copied"])
    with pytest.raises(ValueError, match="one length"):
        inherited_errors(teacher, student[:3], truth)
    with pytest.raises(TypeError, match="student_answers"):
        inherited_errors(teacher, student.astype(float), truth)


def test_run_seed_runs_the_arms_it_is_given(task):
    torch.set_num_threads(1)
    teacher = new_policy(task, seed=1, **TINY)
    small = {"distill_steps": 2, "eval_every": 1, "grpo_chunks": 1, "grpo_steps": 1,
             "warm_up_steps": 1, "long_steps": 2, "long_eval_every": 1,
             "long_grpo_chunks": 1}  # fmt: skip
    out = run_seed(task, teacher, 0, arms=("answers", "grpo"), **small)
    assert set(out) == {"answers", "grpo"}
    assert out["answers"]["flops"][-1] == pytest.approx(
        run_seed(task, teacher, 0, arms=("distill",), **small)["distill"]["flops"][-1], rel=0.2
    )  # the answer key runs for distillation's FLOPs
    assert set(out["grpo"]["groups"]) == {"start", "end"}
    assert len(out["answers"]["answers"]) == len(task.held_out)
    with pytest.raises(ValueError, match="arms"):
        run_seed(task, teacher, 0, arms=("distill", "beam"), **small)
    with pytest.raises(TypeError, match="arms"):
        run_seed(task, teacher, 0, arms="distill", **small)
    assert set(ARMS) >= {"distill", "grpo", "control", "answers"}
