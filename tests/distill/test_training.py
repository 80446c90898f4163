"""Chapter 6 loops, teacher checkpoint, cost model and exercises."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from labs.common.tasks import AdditionTask
from labs.common.validate import finite_loss
from labs.distill import cluster_data, copy_crossover, distill_step_flops, grpo_step_flops
from labs.distill import exercises as ex
from labs.distill import torch as distill_torch
from labs.distill.sweep import cold_student, shifted_problems
from labs.distill.teacher import DEFAULT_CHECKPOINT
from labs.grpo.training import new_policy

TINY = {"d_model": 8, "n_layers": 1, "n_heads": 2}


@pytest.fixture(scope="module")
def task():
    return AdditionTask()


def test_a_small_teacher_regenerates_and_loads(task, tmp_path):
    """The code that made the shipped checkpoint, run small: train, save, load, same outputs."""
    torch.set_num_threads(1)
    policy, record = distill_torch.train_teacher(task, warmup_steps=3, rl_steps=1, seed=0)
    path = distill_torch.save_teacher(policy, record, tmp_path / "teacher.pt")
    loaded, meta = distill_torch.load_teacher(path)
    prompts = torch.as_tensor(task.prompts(task.held_out[:5]))
    torch.testing.assert_close(loaded(prompts), policy(prompts))
    assert meta["params"] == sum(p.numel() for p in policy.parameters())
    assert meta["train_flops"] > 0 and meta["made_by"] == "python -m labs.distill.teacher"
    # the same seed and recipe give the same weights
    again, _ = distill_torch.train_teacher(task, warmup_steps=3, rl_steps=1, seed=0)
    torch.testing.assert_close(again(prompts), policy(prompts))


def test_timing_the_teacher_recipe_counts_its_flops_and_checks_its_steps(task):
    # A short timed run estimates the recipe's seconds; its FLOPs are train_teacher's count.
    _, record = distill_torch.train_teacher(task, warmup_steps=3, rl_steps=2, seed=0)
    timed = distill_torch.time_teacher_recipe(
        task, warmup_steps=3, rl_steps=2, seed=0, timed_warmup_steps=2, timed_rl_steps=2
    )
    assert timed["flops"] == record["train_flops"]
    assert timed["warmup_step_seconds"] > 0 and timed["rl_step_seconds"] > 0
    expected = 3 * timed["warmup_step_seconds"] + 2 * timed["rl_step_seconds"]
    assert timed["seconds"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="timed_rl_steps"):
        distill_torch.time_teacher_recipe(task, timed_rl_steps=0)
    with pytest.raises(ValueError, match="timed_warmup_steps"):
        distill_torch.time_teacher_recipe(task, timed_warmup_steps=1_001)
    with pytest.raises(ValueError, match="rl_steps"):
        distill_torch.time_teacher_recipe(task, rl_steps=0)


def test_the_shipped_teacher_is_the_grpo_chapters_strongest_policy(task):
    teacher, meta = distill_torch.load_teacher()
    assert DEFAULT_CHECKPOINT.is_file()
    assert meta["recipe"]["warmup_steps"] == 150 and meta["recipe"]["rl_steps"] == 250
    acc = distill_torch.greedy_accuracy(teacher, task, task.held_out)
    assert acc == pytest.approx(meta["held_out_greedy_accuracy"])
    assert acc > 0.45  # chapter 5 asserts GRPO lifts greedy accuracy well above the warm-up's


def test_sequence_distillation_data_gives_tokens_and_a_mask(task):
    teacher, _ = distill_torch.load_teacher()
    prompts = torch.as_tensor(task.prompts(task.train[:4]))
    tok = task.tokenizer
    rep, comp, mask = distill_torch.sequence_distillation_data(
        teacher, prompts, max_new_tokens=3, eos_id=tok.eos_id, pad_id=tok.pad_id,
        samples_per_prompt=3, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert rep.shape == (12, 7) and comp.shape == (12, 3) and mask.shape == (12, 3)
    assert torch.equal(rep[:3], prompts[:1].expand(3, -1))
    assert mask.dtype == torch.bool and mask[:, 0].all()
    assert comp.dtype == torch.int64  # tokens, not logits
    with pytest.raises(TypeError, match="teacher"):
        distill_torch.sequence_distillation_data(
            object(), prompts, max_new_tokens=3, eos_id=2, pad_id=0
        )
    with pytest.raises(ValueError, match="samples_per_prompt"):
        distill_torch.sequence_distillation_data(
            teacher, prompts, max_new_tokens=3, eos_id=2, pad_id=0, samples_per_prompt=0
        )


def test_distillation_from_the_teacher_beats_an_untrained_teacher(task):
    torch.set_num_threads(1)
    teacher, _ = distill_torch.load_teacher()
    start = cold_student(task, seed=0)
    _, good = distill_torch.distill_on_traces(
        copy.deepcopy(start), teacher, task, task.train[:64], steps=60, eval_every=30, seed=0
    )
    _, bad = distill_torch.distill_on_traces(
        copy.deepcopy(start), new_policy(task, seed=5), task, task.train[:64], steps=60,
        eval_every=30, seed=0,
    )  # fmt: skip
    assert good.flops == bad.flops and good.samples == [0, 1920, 3840]
    assert 0.0 == good.seconds[0] < good.seconds[1] < good.seconds[2]
    assert good.accuracy[-1] > bad.accuracy[-1] + 0.03


def test_grpo_on_student_counts_compute(task):
    from labs.grpo import GRPOConfig

    student = new_policy(task, seed=0, **TINY)
    config = GRPOConfig(steps=1, prompts_per_step=2, group_size=2)
    _, curve = distill_torch.grpo_on_student(student, task, task.held_out[:4], config, chunks=2)
    per_step = grpo_step_flops(sum(p.numel() for p in student.parameters()), 4, 9, 1)
    assert curve.flops == [0.0, per_step, 2 * per_step] and curve.samples == [0, 4, 8]
    assert curve.seconds[0] == 0.0 < curve.seconds[1] <= curve.seconds[2]  # CPU time, cumulative


def test_logit_distillation_beats_hard_labels_on_few_examples():
    torch.set_num_threads(1)
    x, y = map(torch.as_tensor, cluster_data(4000, seed=1))
    xt, yt = map(torch.as_tensor, cluster_data(2000, seed=2))
    torch.manual_seed(0)
    teacher = distill_torch.MLP(8, 10, width=64, depth=2)
    distill_torch.train_classifier(teacher, x, y, steps=300, batch_size=256, lr=3e-3)
    xs, ys = map(torch.as_tensor, cluster_data(100, seed=3))
    with torch.no_grad():
        logits = teacher(xs)
    acc = {}
    for name, kwargs in {"hard": {}, "soft": {"teacher_logits": logits, "temperature": 2.0,
                                              "alpha": 0.9}}.items():  # fmt: skip
        torch.manual_seed(0)
        student = distill_torch.MLP(8, 10, width=16)
        distill_torch.train_classifier(student, xs, ys, steps=200, **kwargs)
        acc[name] = distill_torch.classifier_accuracy(student, xt, yt)
    assert acc["soft"] > acc["hard"] + 0.03


def test_a_diverging_classifier_run_raises_naming_the_step_and_lr():
    """Adam at lr = 10 on a deep wide MLP overflows to NaN within a few steps: before this check
    train_classifier returned [2.3, nan, nan, nan]. The same call at lr = 1e-3 stays finite."""
    x, y = map(torch.as_tensor, cluster_data(64, seed=0))
    torch.manual_seed(0)
    model = distill_torch.MLP(8, 10, width=256, depth=16)
    start = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match=r"became nan at step 2 of 4 with lr = 10\b.*lower lr"):
        distill_torch.train_classifier(model, x, y, steps=4, batch_size=16, lr=10.0)
    model.load_state_dict(start)
    losses = distill_torch.train_classifier(model, x, y, steps=4, batch_size=16, lr=1e-3)
    assert len(losses) == 4 and np.isfinite(losses).all()


def test_cost_model():
    assert grpo_step_flops(10, 4, 9, 2) == 18 * 10 * 4 * 9
    assert distill_step_flops(100, 10, 4, 9) == (200 + 60) * 4 * 9
    assert copy_crossover(100.0, 2.0, 12.0) == pytest.approx(10.0)
    assert copy_crossover(100.0, 5.0, 5.0) == math.inf
    with pytest.raises(ValueError, match="teacher_cost"):
        copy_crossover(-1.0, 1.0, 2.0)
    with pytest.raises(ValueError, match="updates"):
        grpo_step_flops(10, 4, 9, 0)


def test_roofline_seconds():
    from labs.distill import sampling_seconds, training_seconds

    # 1,000 parameters, 2 bytes each, 10 tokens; peak 1e6 FLOP/s at utilisation 0.5, 1e3 bytes/s.
    # Compute: 2e3 / 5e5 = 4 ms a token; memory, batch 1: 2e3 / 1e3 = 2 s a token.
    kw = {"peak_flops": 1e6, "memory_bandwidth": 1e3, "utilisation": 0.5}
    assert sampling_seconds(1000, 10, batch=1, **kw) == pytest.approx(20.0)
    # batch 1000 shares the weight reads: 2 ms a token, below the compute bound of 4 ms
    assert sampling_seconds(1000, 10, batch=1000, **kw) == pytest.approx(0.04)
    assert training_seconds(6e6, peak_flops=1e6, mfu=0.5) == pytest.approx(12.0)
    with pytest.raises(ValueError, match="utilisation"):
        sampling_seconds(1000, 10, batch=1, peak_flops=1e6, memory_bandwidth=1e3, utilisation=2)
    with pytest.raises(ValueError, match="prompt_tokens"):
        sampling_seconds(1000, 10, batch=1, prompt_tokens=-1, **kw)
    with pytest.raises(ValueError, match="mfu"):
        training_seconds(1.0, peak_flops=1e6, mfu=0.0)


def test_the_prompt_is_one_prefill_pass():
    from labs.distill import sampling_seconds

    # The same device: 4 ms of compute per token, 2 s to read the weights once.
    kw = {"peak_flops": 1e6, "memory_bandwidth": 1e3, "utilisation": 0.5}
    # Batch 1, a prompt of 7 and 3 new tokens: one pass reads the weights once for all 7 prompt
    # tokens (2 s > 7 x 4 ms) and writes the first new token; 2 decoding steps of 2 s each: 6 s,
    # where charging all 9 token passes as decoding steps gives 18 s.
    assert sampling_seconds(1000, 3, batch=1, prompt_tokens=7, **kw) == pytest.approx(6.0)
    assert sampling_seconds(1000, 9, batch=1, **kw) == pytest.approx(18.0)
    # Batch 100: the prefill's 700 tokens take 700 x 4 ms = 2.8 s, past the 2 s read: 28 ms a
    # sequence; each decoding step max(4 ms, 2 s / 100 = 20 ms): 28 + 2 x 20 = 68 ms.
    assert sampling_seconds(1000, 3, batch=100, prompt_tokens=7, **kw) == pytest.approx(0.068)
    # Batch 1000: everything compute-bound, 9 token passes x 4 ms = 36 ms, with or without prefill.
    assert sampling_seconds(1000, 3, batch=1000, prompt_tokens=7, **kw) == pytest.approx(0.036)
    assert sampling_seconds(1000, 9, batch=1000, **kw) == pytest.approx(0.036)
    # One new token: the prefill alone.
    assert sampling_seconds(1000, 1, batch=1, prompt_tokens=7, **kw) == pytest.approx(2.0)


def test_memory_bound_batch_is_where_the_roofline_bends():
    from labs.distill import memory_bound_sampling_batch, sampling_seconds

    # Same numbers as above: compute 4 ms a token, memory 2 s a token at batch 1, so B* = 500.
    kw = {"peak_flops": 1e6, "memory_bandwidth": 1e3, "utilisation": 0.5}
    b_star = memory_bound_sampling_batch(**kw)
    assert b_star == pytest.approx(500.0)
    # Independent of the formula: below B* sampling_seconds still falls with the batch, from B* on
    # it no longer does (the compute bound).
    seconds = {b: sampling_seconds(1000, 10, batch=b, **kw) for b in (499, 500, 900)}
    assert seconds[499] > seconds[500] == seconds[900]
    # twice the bandwidth halves B*; one byte a weight halves it too
    assert memory_bound_sampling_batch(**{**kw, "memory_bandwidth": 2e3}) == pytest.approx(250.0)
    assert memory_bound_sampling_batch(**kw, bytes_per_param=1.0) == pytest.approx(250.0)
    with pytest.raises(ValueError, match="memory_bandwidth"):
        memory_bound_sampling_batch(peak_flops=1e6, memory_bandwidth=0.0, utilisation=0.5)
    with pytest.raises(ValueError, match="utilisation"):
        memory_bound_sampling_batch(peak_flops=1e6, memory_bandwidth=1e3, utilisation=1.5)


def test_score_prediction():
    from labs.distill.exercises import score_prediction

    # A wrong arm is scored against the arm it named, not the winner: 0.05 against GRPO's 0.04
    # (two standard errors 0.024) is close, though 0.134 from the winner's 0.184.
    report = score_prediction(("grpo", 0.05), winner="distillation", accuracy=0.184, spread=0.03,
                              other_accuracy=0.04, other_spread=0.012)  # fmt: skip
    assert "wrong arm" in report and "ends at 0.040" in report and "within" in report
    assert "0.134" not in report and "higher, at 0.184" in report
    report = score_prediction(("grpo", 0.2), winner="distillation", accuracy=0.3, spread=0.02,
                              other_accuracy=0.04, other_spread=0.01)  # fmt: skip
    assert "above it by 0.160" in report
    # without the other arm's figures the number is not scored at all (no distance to the winner)
    report = score_prediction(("grpo", 0.5), winner="distillation", accuracy=0.3, spread=0.02)
    assert "wrong arm" in report and "not scored" in report and "0.200" not in report
    with pytest.raises(ValueError, match="other_spread"):
        score_prediction(("grpo", 0.2), winner="distillation", accuracy=0.3, spread=0.02,
                         other_accuracy=0.04)  # fmt: skip
    with pytest.raises(ValueError, match="other_accuracy"):
        score_prediction(("grpo", 0.2), winner="distillation", accuracy=0.3, spread=0.02,
                         other_accuracy=1.5, other_spread=0.01)  # fmt: skip
    report = score_prediction(("distillation", 0.31), winner="distillation", accuracy=0.3,
                              spread=0.02)  # fmt: skip
    assert "right arm" in report and "within" in report
    assert "no prediction" in score_prediction(None, winner="grpo", accuracy=0.1, spread=0.0)
    with pytest.raises(ValueError, match="prediction"):
        score_prediction(("rl", 0.2), winner="grpo", accuracy=0.1, spread=0.0)
    with pytest.raises(ValueError, match="prediction"):
        score_prediction(("grpo", 1.5), winner="grpo", accuracy=0.1, spread=0.0)
    with pytest.raises(TypeError, match="prediction"):
        score_prediction("grpo", winner="grpo", accuracy=0.1, spread=0.0)


def test_shifted_problems_lie_outside_training():
    task = AdditionTask()
    shifted = shifted_problems()
    assert len(shifted) == 200 and not set(shifted) & set(task.train + task.held_out)


def test_sweep_results_are_committed_with_their_command(task):
    from labs.distill.sweep import ARMS, DEFAULT_RESULTS, SETTINGS

    results = json.loads(DEFAULT_RESULTS.read_text())
    assert results["made_by"].startswith("python -m labs.distill.sweep")
    assert results["settings"] == json.loads(json.dumps(SETTINGS))  # made with today's settings
    assert len(results["seeds"]) >= 3 and results["teacher"]["retrained"]["seconds"] > 0
    truth = np.array([p.answer for p in task.held_out])
    for arms in results["seeds"].values():
        assert set(arms) == set(ARMS)
        for record in arms.values():
            assert record["flops"][0] == 0.0 and len(record["flops"]) == len(record["accuracy"])
            # the last held-out accuracy is the share of the greedy answers recorded beside it
            answers = np.array(record["answers"])
            assert answers.shape == truth.shape
            assert record["accuracy"][-1] == pytest.approx(np.mean(answers == truth))
        assert arms["answers"]["flops"][-1] == pytest.approx(arms["distill"]["flops"][-1], rel=0.01)
        assert set(arms["grpo"]["groups"]) == {"start", "end"}


def _soft(logits, temperature):
    z = np.asarray(logits, dtype=np.float64) / temperature
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _kd(s, t, temperature):
    p, q = _soft(t, temperature), _soft(s, temperature)
    return float(temperature**2 * (p * (np.log(p) - np.log(q))).sum(-1).mean())


def _kd_no_t2(s, t, temperature):
    return _kd(s, t, temperature) / temperature**2


def _break_even(teacher_cost, distill_cost, rl_cost):
    if rl_cost <= distill_cost:
        return -1
    return max(1, math.ceil(teacher_cost / (rl_cost - distill_cost)))


def test_exercises_accept_solutions_and_explain_mistakes():
    assert ex.check_soft_targets(_soft).status == "passed"
    assert ex.check_kd_loss(_kd).status == "passed"
    assert ex.check_students_to_break_even(_break_even).status == "passed"
    report = ex.check_kd_loss(_kd_no_t2)
    assert report.status != "passed" and any("T^2" in d for d in report.details)
    with np.errstate(over="ignore", invalid="ignore"):  # the naive softmax overflows: the point
        naive = ex.check_soft_targets(
            lambda z, t: np.exp(z / t) / np.exp(z / t).sum(-1, keepdims=True)
        )
    assert naive.status != "passed"
    floor = ex.check_students_to_break_even(lambda a, b, c: int(a // (c - b)) if c > b else -1)
    assert floor.status != "passed"


def test_finite_loss_passes_a_finite_loss_and_stops_at_nan_or_inf():
    assert finite_loss(0.25, 3, 4, 1e-3) == 0.25
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match=r"became .* at step 3 of 4 with lr = 0.001.*lower lr"):
            finite_loss(bad, 3, 4, 1e-3)
    with pytest.raises(TypeError, match="loss must be a float"):
        finite_loss("0.5", 3, 4, 1e-3)
    with pytest.raises(ValueError, match="step must be <= 4"):
        finite_loss(0.5, 5, 4, 1e-3)
    # the message names the caller's own parameter, the one a reader lowers
    with pytest.raises(
        ValueError, match=r"with critic_lr = 0.02: the run diverged; lower critic_lr"
    ):
        finite_loss(float("nan"), 2, 4, 0.02, lr_name="critic_lr")
    with pytest.raises(ValueError, match="critic_lr must be > 0"):
        finite_loss(0.5, 2, 4, -1.0, lr_name="critic_lr")


def _nan_student(task):
    student = cold_student(task, 0, warm_up_steps=1)
    with torch.no_grad():
        for p in student.parameters():
            p.fill_(float("nan"))
    return student


def test_the_sequence_trainers_stop_at_the_first_nan_loss():
    """A student whose weights are NaN gives a NaN loss at step 1. Before the check both loops ran
    on and returned a curve of a broken model (with accuracy read off NaN logits); now each stops
    there, naming the step and the learning rate. The same calls on a sound student run through."""
    task = AdditionTask(max_operand=4, held_out_fraction=0.2, seed=0)
    teacher = new_policy(task, seed=0, d_model=16, n_layers=1, n_heads=2)
    calls = {
        "distill_on_traces": lambda s: distill_torch.distill_on_traces(
            s, teacher, task, task.held_out, steps=2, batch_size=4, eval_every=1
        ),
        "supervise_on_answers": lambda s: distill_torch.supervise_on_answers(
            s, task, task.held_out, steps=2, batch_size=4, eval_every=1
        ),
    }
    for name, run in calls.items():
        with pytest.raises(ValueError, match=r"became nan at step 1 of 2 with lr = 0.003"):
            run(_nan_student(task))
        _, curve = run(cold_student(task, 0, warm_up_steps=1))
        assert len(curve.accuracy) == 3, name
