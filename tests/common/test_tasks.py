"""The toy addition task: tokenizer, rule-based rewards, split. Expected values worked by hand."""

import numpy as np
import pytest

from labs.common.tasks import (
    AdditionTask,
    Problem,
    Tokenizer,
    correctness_reward,
    format_reward,
    parse_answer,
    reward,
)

TOK = Tokenizer()


def ids(text: str, eos: bool = True) -> list[int]:
    return TOK.encode(text, eos=eos)


def test_tokenizer_round_trip_and_vocabulary():
    assert TOK.vocab_size == 15  # pad, bos, eos, 10 digits, '+', '='
    text = "07+12="
    assert TOK.decode(TOK.encode(text)) == text
    assert TOK.decode(TOK.encode(text, bos=True, eos=True)) == "<bos>07+12=<eos>"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        TOK.encode("7*2")
    with pytest.raises(TypeError, match="text must be a str"):
        TOK.encode(7)
    with pytest.raises(ValueError, match="ids must lie in"):
        TOK.decode([99])


@pytest.mark.parametrize(
    "completion, expected",
    [
        (ids("19"), 19),
        (ids("0"), 0),
        (ids("7") + ids("5"), 7),  # tokens after the first <eos> are ignored
        (ids("07"), None),  # leading zero
        (ids("123"), None),  # three digits
        (ids("", eos=True), None),  # nothing before <eos>
        (ids("19", eos=False), None),  # no <eos>
        (ids("1+"), None),  # not a digit
        ([TOK.bos_id, *ids("4")], None),  # a special token before the number
    ],
)
def test_parse_answer(completion, expected):
    assert parse_answer(completion) == expected


def test_rewards_hand_worked():
    problem = Problem(7, 12)
    assert problem.text == "07+12=" and problem.answer == 19
    assert correctness_reward(problem, ids("19")) == 1.0
    assert correctness_reward(problem, ids("18")) == 0.0
    assert format_reward(ids("18")) == 1.0 and format_reward(ids("019")) == 0.0
    assert reward(problem, ids("19")) == pytest.approx(1.1)
    assert reward(problem, ids("18")) == pytest.approx(0.1)
    assert reward(problem, ids("19", eos=False)) == 0.0
    assert reward(problem, ids("19"), format_weight=0.0) == 1.0
    with pytest.raises(ValueError, match="format_weight must be >= 0"):
        reward(problem, ids("19"), format_weight=-1.0)
    with pytest.raises(TypeError, match="problem must be a Problem"):
        correctness_reward((7, 12), ids("19"))


def test_split_is_disjoint_complete_and_seeded():
    task = AdditionTask(max_operand=19, held_out_fraction=0.2, seed=0)
    train, held = set(task.train), set(task.held_out)
    assert len(held) == 80 and len(train) == 320 and not train & held
    assert train | held == {Problem(a, b) for a in range(20) for b in range(20)}
    assert AdditionTask(seed=0).held_out == task.held_out
    assert AdditionTask(seed=1).held_out != task.held_out


def test_prompts_answers_and_batch_rewards():
    task = AdditionTask(max_operand=9)
    problems = [Problem(3, 4), Problem(9, 9)]
    prompts = task.prompts(problems)
    assert prompts.shape == (2, 7) and prompts.dtype == np.int64
    assert TOK.decode(prompts[1]) == "<bos>09+09="
    answers = task.answers(problems)
    assert TOK.decode(answers[0]) == "7<eos><pad>" and TOK.decode(answers[1]) == "18<eos>"
    np.testing.assert_allclose(task.rewards(problems, answers), [1.1, 1.1])
    wrong = np.array([ids("8") + [0], ids("18")])
    np.testing.assert_allclose(task.rewards(problems, wrong), [0.1, 1.1])
    assert task.accuracy(problems, wrong) == 0.5
    with pytest.raises(ValueError, match="completions must have shape"):
        task.rewards(problems, wrong[:1])


@pytest.mark.parametrize(
    "kwargs, exc, fragment",
    [
        ({"max_operand": 0}, ValueError, "max_operand must be >= 1"),
        ({"max_operand": 50}, ValueError, "max_operand must be <= 49"),
        ({"max_operand": 9.5}, TypeError, "max_operand must be an int"),
        ({"held_out_fraction": 1.0}, ValueError, r"held_out_fraction must be in \(0, 1\)"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
    ],
)
def test_task_bad_input(kwargs, exc, fragment):
    with pytest.raises(exc, match=fragment):
        AdditionTask(**kwargs)


def test_prompts_reject_non_problems():
    with pytest.raises(TypeError, match="problems must hold Problem objects"):
        AdditionTask().prompts([(1, 2)])


def test_split_seed_takes_the_shared_seed_rule():
    assert AdditionTask(seed=10**15).held_out  # a huge seed under the cap is valid
    with pytest.raises(ValueError, match=r"^seed must be <= 2\*\*62"):
        AdditionTask(seed=2**62 + 1)
