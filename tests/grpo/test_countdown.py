"""The Countdown-style task: parsing, the reward and the task API, worked by hand."""

import numpy as np
import pytest
import torch

from labs.common.tasks import TOKENIZER
from labs.grpo import GRPOConfig
from labs.grpo import torch as gtorch
from labs.grpo.countdown import CountdownProblem, CountdownTask, countdown_reward, parse_terms

PROBLEM = CountdownProblem(numbers=(3, 11, 7, 4), solution=(3, 4))  # target 7


def ids(text, eos=True):
    return TOKENIZER.encode(text, eos=eos)


def test_prompt_text_and_target_by_hand():
    assert PROBLEM.target == 7
    assert PROBLEM.text == "03+11+07+04=07="
    task = CountdownTask(n_problems=20, seed=1)
    prompts = task.prompts([PROBLEM])
    assert prompts.shape == (1, task.prompt_length) == (1, 16)
    assert TOKENIZER.decode(prompts[0]) == "<bos>03+11+07+04=07="


@pytest.mark.parametrize(
    "text, terms",
    [
        ("3+4", (3, 4)),
        ("7", (7,)),
        ("11+3+4+7", (11, 3, 4, 7)),
        ("03+4", None),  # leading zero
        ("3++4", None),  # empty term
        ("3+4+", None),
        ("1+1+1+1+1", None),  # five terms: more than the four numbers
        ("", None),
        ("3=4", None),
    ],
)
def test_parse_terms_by_hand(text, terms):
    assert parse_terms(ids(text)) == terms


def test_parse_needs_eos():
    assert parse_terms(ids("3+4", eos=False)) is None


@pytest.mark.parametrize(
    "text, want",
    [
        ("3+4", 1.1),  # the reference solution
        ("4+3", 1.1),  # another order: also right
        ("7", 1.1),  # another subset: 7 is listed and is the target
        ("3+3+1", 0.1),  # sums to 7 but uses 3 twice and 1 is not listed
        ("11", 0.1),  # listed, wrong sum
        ("5+2", 0.1),  # right sum, numbers not listed
        ("03+4", 0.0),  # malformed
    ],
)
def test_reward_by_hand(text, want):
    assert countdown_reward(PROBLEM, ids(text)) == pytest.approx(want)
    assert countdown_reward(PROBLEM, ids(text), format_weight=0.0) == pytest.approx(float(want > 1))


def test_task_split_answers_and_rewards():
    task = CountdownTask(n_problems=50, held_out_fraction=0.2, seed=3)
    assert len(task.held_out) == 10 and len(task.train) == 40
    answers = task.answers(task.train)
    assert answers.shape == (40, task.max_answer_tokens)
    # The reference answers are right, by the reward (an independent rule from the generator).
    np.testing.assert_allclose(task.rewards(task.train, answers), 1.1)
    assert task.accuracy(task.train, answers) == 1.0
    for p in task.train:
        assert 2 <= len(p.solution) <= 3 and p.target == sum(p.solution)


def test_bad_input():
    with pytest.raises(ValueError, match="solution"):
        CountdownProblem(numbers=(1, 2, 3, 4), solution=(5, 1))
    with pytest.raises(ValueError, match="numbers"):
        CountdownProblem(numbers=(1, 2, 3), solution=(1, 2))
    with pytest.raises(ValueError, match="n_problems"):
        CountdownTask(n_problems=5)
    with pytest.raises(ValueError, match="held_out_fraction"):
        CountdownTask(held_out_fraction=1.0)
    with pytest.raises(TypeError, match="problem"):
        countdown_reward("3+4", ids("7"))
    task = CountdownTask(n_problems=20)
    with pytest.raises(TypeError, match="problems"):
        task.prompts([object()])
    with pytest.raises(ValueError, match="completions"):
        task.rewards(task.train[:2], np.zeros((3, 4), dtype=np.int64))


def test_the_training_loop_runs_on_it_and_pass_at_k_refuses_it():
    task = CountdownTask(n_problems=20)
    policy = gtorch.new_policy(task, seed=0, d_model=16, n_layers=1, n_heads=2)
    config = GRPOConfig(steps=2, prompts_per_step=2, group_size=2, loss_type="dapo")
    _, log = gtorch.train_grpo(task, policy, config)
    assert len(log.history["length"]) == 2 and max(log.history["length"]) <= task.max_answer_tokens
    out = gtorch.evaluate(policy, task, task.held_out, samples=2)
    assert 0.0 <= out["accuracy"] <= 1.0
    with pytest.raises(TypeError, match="AdditionTask"):
        gtorch.evaluate_at_k(policy, task, task.held_out, samples=2, ks=(1,))
    with torch.no_grad():
        assert policy(torch.as_tensor(task.prompts(task.train[:1]))).shape[1] == 16
