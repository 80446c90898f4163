"""Regression tests for labs.common's worst cases in the hostile-input audit."""

import time

import pytest

from labs.common import FACTS, fact, new_figure
from labs.common.tasks import TOKENIZER, AdditionTask, Problem, parse_answer


def test_a_mistyped_figure_size_is_refused_at_once():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"ncols must be <= 8 \(a larger grid does not fit"):
        new_figure(ncols=10**6)
    with pytest.raises(ValueError, match="height must be <= 40"):
        new_figure(height=1e9)
    assert time.perf_counter() - start < 1


def test_the_facts_registry_cannot_be_changed_by_a_cell():
    with pytest.raises(TypeError):
        FACTS["float16_max"] = None  # a mapping proxy has no item assignment
    with pytest.raises(AttributeError):
        fact("float16_max").value = 1.0  # a frozen dataclass
    with pytest.raises(AttributeError):
        fact("v3_fp8_tile").value.append(1)  # lists load as tuples
    with pytest.raises(TypeError):
        fact("deepseekv3_attention").value["n_heads"] = 1  # objects load as mapping proxies
    assert fact("float16_max").value == 65504.0


@pytest.mark.parametrize(
    "completion, message",
    [
        ("12<eos>", "completion must be an array of numbers, got str"),
        ([3, 99, 2], r"completion must lie in \[0, 15\), got a value of 99"),
        ([], "completion must not be empty"),
    ],
)
def test_rewards_refuse_what_is_not_a_completion(completion, message):
    with pytest.raises((TypeError, ValueError), match=message):
        parse_answer(completion)


def test_problems_and_task_inputs_are_checked():
    with pytest.raises(ValueError, match="a must be <= 49"):
        Problem(50, 1)
    task = AdditionTask(max_operand=5)
    with pytest.raises(ValueError, match="problems must not be empty"):
        task.prompts([])
    with pytest.raises(TypeError, match="bos must be True or False"):
        TOKENIZER.encode("1+1=", bos="yes")
