"""Second hostile-input audit, chapter 6: tensors on two devices (a `meta` tensor stands for
another device on this CPU-only machine), seeds past what torch's generators take, and the
documented nan and inf of the verdicts. Each bad call must raise an error naming the parameter,
not fail inside torch or return garbage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.common.validate import MAX_SEED
from labs.distill.baselines import group_statistics, supervise_on_answers
from labs.distill.classify import MLP, classifier_accuracy, soft_gradient_norm, train_classifier
from labs.distill.data import cluster_data
from labs.distill.dense import run_dense
from labs.distill.rl_tuning import run_setting
from labs.distill.sequence import distill_on_traces, grpo_on_student
from labs.distill.sweep import MAX_RUN_SEED, cold_student, run_seed
from labs.distill.teacher import time_teacher_recipe, train_teacher
from labs.distill.torch_kernels import distillation_loss
from labs.distill.verdicts import copy_verdict, first_crossing, match_teacher
from labs.grpo.config import GRPOConfig
from labs.grpo.training import new_policy

TINY = {"d_model": 8, "n_layers": 1, "n_heads": 2}
SEED_CAP = r"^seed must be <= 2\*\*62"
ON_MODEL = r"must be on the device of the model's weights \((cpu|meta)\), got a tensor on"


@pytest.fixture(scope="module")
def task():
    return AdditionTask()


@pytest.fixture(scope="module")
def policy(task):
    return new_policy(task, seed=0, **TINY)


def _classifier_data():
    torch.manual_seed(0)
    return MLP(3, 4, width=4), torch.randn(6, 3), torch.tensor([0, 1, 2, 3, 0, 1])


# --- Devices -------------------------------------------------------------------------------------


def test_train_classifier_refuses_labels_on_another_device():
    """The audit's worst case: y on another device trained to a loss of -3e22, silently."""
    model, x, y = _classifier_data()
    assert len(train_classifier(model, x, y, steps=2, batch_size=4)) == 2
    with pytest.raises(ValueError, match=r"^y " + ON_MODEL + " meta"):
        train_classifier(model, x, y.to("meta"), steps=2, batch_size=4)
    with pytest.raises(ValueError, match=r"^x " + ON_MODEL + " meta"):
        train_classifier(model, x.to("meta"), y, steps=2, batch_size=4)


def test_train_classifier_refuses_teacher_logits_on_another_device():
    model, x, y = _classifier_data()
    teacher = torch.randn(6, 4)
    assert len(train_classifier(model, x, y, teacher_logits=teacher, steps=1, batch_size=4)) == 1
    with pytest.raises(ValueError, match=r"^teacher_logits must be on the device of x \(cpu\)"):
        train_classifier(model, x, y, teacher_logits=teacher.to("meta"), steps=1, batch_size=4)


def test_the_classifier_takes_its_input_on_its_own_device():
    model, x, y = _classifier_data()
    assert model(x).shape == (6, 4) and 0.0 <= classifier_accuracy(model, x, y) <= 1.0
    with pytest.raises(ValueError, match=r"^x " + ON_MODEL + " meta"):
        model(x.to("meta"))
    with pytest.raises(ValueError, match=r"^x must be on the device of the model's weights "
                                         r"\(meta\), got a tensor on cpu"):  # fmt: skip
        MLP(3, 4, width=4).to("meta")(x)
    with pytest.raises(ValueError, match=r"^x " + ON_MODEL + " meta"):
        classifier_accuracy(model, x.to("meta"), y)
    with pytest.raises(ValueError, match=r"^y " + ON_MODEL + " meta"):
        classifier_accuracy(model, x, y.to("meta"))


def test_soft_gradient_norm_refuses_logits_on_two_devices():
    s, t = torch.randn(4, 5), torch.randn(4, 5)
    assert soft_gradient_norm(s, t, 2.0, scaled=True) > 0
    with pytest.raises(ValueError, match=r"^teacher_logits must be on the device of "
                                         r"student_logits \(cpu\)"):  # fmt: skip
        soft_gradient_norm(s, t.to("meta"), 2.0, scaled=True)
    with pytest.raises(ValueError, match=r"^teacher_logits must be on the device of "
                                         r"student_logits \(meta\)"):  # fmt: skip
        soft_gradient_norm(s.to("meta"), t, 2.0, scaled=True)


@pytest.mark.parametrize("name", ["teacher_logits", "labels", "mask"])
def test_distillation_loss_refuses_a_tensor_on_another_device(name):
    args = {
        "student_logits": torch.randn(2, 3, 5),
        "teacher_logits": torch.randn(2, 3, 5),
        "labels": torch.tensor([[0, 1, 4], [2, 3, 0]]),
        "mask": torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]]),
    }
    assert torch.isfinite(distillation_loss(**args))
    args[name] = args[name].to("meta")
    with pytest.raises(ValueError, match=rf"^{name} must be on the device of student_logits"):
        distillation_loss(**args)


# --- Seeds ---------------------------------------------------------------------------------------

HUGE_SEEDS = [2**64, 10**30]  # past torch's generators (at most 2**64 - 1)


@pytest.mark.parametrize("seed", HUGE_SEEDS)
@pytest.mark.parametrize(
    "run",
    [
        lambda task, policy, seed: cold_student(task, seed, warm_up_steps=1),
        lambda task, policy, seed: run_dense(
            task, policy, seed, steps=1, eval_every=1, warm_up_steps=1
        ),  # fmt: skip
        lambda task, policy, seed: train_teacher(task, warmup_steps=1, rl_steps=1, seed=seed),
        lambda task, policy, seed: time_teacher_recipe(
            task, warmup_steps=1, rl_steps=1, seed=seed, timed_warmup_steps=1, timed_rl_steps=1
        ),
        lambda task, policy, seed: group_statistics(
            policy, task, task.train[:2], group_size=2, seed=seed
        ),  # fmt: skip
        lambda task, policy, seed: supervise_on_answers(
            policy, task, task.held_out[:2], steps=1, batch_size=2, eval_every=1, seed=seed
        ),  # fmt: skip
        lambda task, policy, seed: distill_on_traces(
            policy, policy, task, task.held_out[:2], steps=1, batch_size=2, eval_every=1, seed=seed
        ),  # fmt: skip
        lambda task, policy, seed: train_classifier(*_classifier_data(), steps=1, seed=seed),
        lambda task, policy, seed: cluster_data(10, classes=4, dim=3, seed=seed),
        lambda task, policy, seed: match_teacher(
            np.ones((2, 4), int), np.ones(4, int), 0.1, resamples=100, seed=seed
        ),  # fmt: skip
    ],
    ids=[
        "cold_student",
        "run_dense",
        "train_teacher",
        "time_teacher_recipe",
        "group_statistics",
        "supervise_on_answers",
        "distill_on_traces",
        "train_classifier",
        "cluster_data",
        "match_teacher",
    ],  # fmt: skip
)
def test_a_seed_past_2_62_is_refused_naming_seed(task, policy, run, seed):
    with pytest.raises(ValueError, match=SEED_CAP):
        run(task, policy, seed)


@pytest.mark.parametrize("seed", HUGE_SEEDS)
def test_cluster_data_refuses_a_huge_task_seed(seed):
    with pytest.raises(ValueError, match=r"^task_seed must be <= 2\*\*62"):
        cluster_data(10, classes=4, dim=3, task_seed=seed)


def test_a_seed_is_an_int(task):
    with pytest.raises(TypeError, match=r"^seed must be an int"):
        cluster_data(10, classes=4, dim=3, seed=1.5)
    with pytest.raises(TypeError, match=r"^seed must be an int"):
        cold_student(task, "3", warm_up_steps=1)


def test_the_cold_student_refuses_the_seed_whose_policy_seed_would_pass_the_cap(task):
    with pytest.raises(ValueError, match=r"^seed must be < 2\*\*62 \(the policy is seeded"):
        cold_student(task, MAX_SEED, warm_up_steps=1)


def test_runs_that_seed_grpo_100_x_seed_cap_the_seed(task, policy):
    """run_seed and run_setting seed GRPO 100 x seed plus one a round: 10**17 is under 2**62 but
    100 x 10**17 is past what torch takes (old code: 'Overflow when unpacking long long')."""
    assert 100 * MAX_RUN_SEED + 999 <= MAX_SEED < 100 * (MAX_RUN_SEED + 1) + 999
    cap = rf"^seed must be <= {MAX_RUN_SEED} \(the GRPO arms are seeded 100 x seed"
    for seed in (MAX_RUN_SEED + 1, 10**17, 10**30):
        with pytest.raises(ValueError, match=cap if seed < MAX_SEED else SEED_CAP):
            run_seed(task, policy, seed, distill_steps=1, eval_every=1, grpo_chunks=1,
                     grpo_steps=1, warm_up_steps=1, long_steps=1, long_eval_every=1,
                     long_grpo_chunks=1, arms=("grpo",))  # fmt: skip
        with pytest.raises(ValueError, match=cap if seed < MAX_SEED else SEED_CAP):
            run_setting(task, {"name": "chapter 5"}, seed, warm_up_steps=1, steps=1)


def test_grpo_on_student_checks_the_seed_of_every_round(task, policy):
    """Round r runs with config.seed + r: the last round's seed must stay <= 2**62."""
    config = GRPOConfig(steps=1, prompts_per_step=2, group_size=2, seed=MAX_SEED)
    with pytest.raises(ValueError, match=r"^config.seed must be <= 2\*\*62 - \(chunks - 1\)"):
        grpo_on_student(policy, task, task.held_out[:2], config, chunks=2)
    with pytest.raises(ValueError, match=r"seed must be <= 2\*\*62"):
        huge = dataclasses.replace(config, seed=10**30)  # GRPOConfig may refuse it itself
        grpo_on_student(policy, task, task.held_out[:2], huge, chunks=1)


# --- The verdicts' documented nan and inf --------------------------------------------------------


def test_match_teacher_pairs_one_teacher_row_with_each_seed_and_one_seed_is_valid():
    """The audit read (1, 4) against (4,) as a broadcast of 1 seed row against 2: it is one
    seed's student against the teacher's one row, a valid comparison; its seed-to-seed standard
    error is nan by definition (documented), the interval and verdict are the problems' alone."""
    teacher = np.array([1, 0, 0, 1])
    two = match_teacher(np.array([[1, 0, 1, 1], [1, 1, 0, 1]]), teacher, 0.1, resamples=200)
    one = match_teacher(np.array([[1, 0, 1, 1]]), teacher, 0.1, resamples=200)
    assert two["seeds"] == 2 and np.isfinite(two["se_seeds"])
    assert one["seeds"] == 1 and np.isnan(one["se_seeds"]) and np.isfinite(one["se_problems"])
    assert np.isfinite([one["low"], one["high"], one["difference"]]).all()
    assert "nan, by definition, when there is one seed" in " ".join(match_teacher.__doc__.split())
    with pytest.raises(ValueError, match=r"^student_correct must have one column per problem"):
        match_teacher(np.array([[1, 0, 1]]), teacher, 0.1)  # a different problem count
    with pytest.raises(ValueError, match=r"^teacher_correct must have 1 dimension"):
        match_teacher(np.array([[1, 0, 1, 1]]), np.array([[1, 0, 0, 1]]), 0.1)


def test_first_crossing_answers_never_with_a_documented_inf():
    cost = np.array([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    share = np.array([[0.2, 0.95, 1.0], [0.0, 0.0, 0.0]])  # the second seed never crosses
    out = first_crossing(cost, share, 0.9)
    assert out["per_seed"].tolist() == [1.0, np.inf] and out["every_seed"] == np.inf
    assert copy_verdict(out["every_seed"]) == "overstated"  # the rule reads it as not reached
    assert "never within the run" in " ".join(first_crossing.__doc__.split())
