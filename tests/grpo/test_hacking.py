"""labs.grpo.hacking.wrong_answer_gaps: checked against the task's own reward and the tokenizer's
text, an independent route to the same numbers, and its bad input."""

import numpy as np
import pytest
import torch

from labs.common.tasks import AdditionTask, reward
from labs.grpo import torch as gtorch
from labs.grpo.countdown import CountdownTask
from labs.grpo.hacking import wrong_answer_gaps

TASK = AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)


@pytest.fixture(scope="module")
def half_trained():
    # A short warm-up: the policy writes well-formed sums, some right and some wrong.
    policy = gtorch.new_policy(TASK, seed=3, d_model=32, n_layers=1, n_heads=2)
    gtorch.warm_up(policy, TASK, steps=60, seed=3)
    return policy


def test_gaps_match_the_reward_and_the_decoded_text(half_trained):
    problems = TASK.held_out
    prompts = torch.as_tensor(TASK.prompts(problems))
    answers = gtorch.greedy(half_trained, prompts, TASK.max_answer_tokens)
    expected = []
    for problem, row in zip(problems, answers, strict=True):
        # reward 0.1 = well formed but wrong (1.1 right, 0.0 malformed)
        if abs(reward(problem, row) - 0.1) < 1e-9:
            text = TASK.tokenizer.decode(row).split("<eos>")[0]
            expected.append(int(text) - problem.answer)
    got = wrong_answer_gaps(half_trained, TASK)
    assert len(expected) >= 5  # the fixture does produce wrong answers to compare
    assert got.dtype == np.int64 and got.tolist() == expected
    assert (got != 0).all()


def test_a_subset_of_problems_gives_the_matching_gaps(half_trained):
    full = wrong_answer_gaps(half_trained, TASK, TASK.held_out)
    first = wrong_answer_gaps(half_trained, TASK, TASK.held_out[:10])
    assert first.tolist() == full[: len(first)].tolist()


def test_bad_input_is_refused_with_the_parameter_named(half_trained):
    with pytest.raises(TypeError, match="task must be an AdditionTask, got"):
        wrong_answer_gaps(half_trained, CountdownTask(n_problems=20))
    with pytest.raises(TypeError, match="policy must be a TinyPolicy"):
        wrong_answer_gaps("policy", TASK)
    with pytest.raises(ValueError, match="problems must hold at least one Problem, got none"):
        wrong_answer_gaps(half_trained, TASK, [])
    with pytest.raises(TypeError, match=r"problems\[1\] must be a Problem, got"):
        wrong_answer_gaps(half_trained, TASK, [TASK.held_out[0], "07+12="])
    with pytest.raises(TypeError, match="problems must be a sequence of Problem, got"):
        wrong_answer_gaps(half_trained, TASK, 5)
