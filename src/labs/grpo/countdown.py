"""A Countdown-style task with several right answers and no demonstration needed: pick numbers.

Taught in chapter 5, "A task with several right answers". Each problem lists four numbers and a
target; an answer is a sum of some of the listed numbers, each used at most once, that equals the
target. Several answers are right (the order of the terms is free, and other subsets may hit the
same target), a program checks any of them, and answers differ in length (two or three terms), so
the loss's length normalisation has something to act on. It uses the addition task's tokenizer
(digits, '+', '='), so the same tiny policy reads it.

A prompt is `<bos>` and the four numbers zero-padded to two digits, joined by '+', then '=', the
target (two digits) and '=': `<bos>03+11+07+16=18=`. A well-formed answer is one to four numbers
without leading zeros joined by '+', closed by `<eos>`: `11+7<eos>`. Reward: 1 if the answer is
right, plus `format_weight` if it is well formed (as `labs.common.tasks.reward`).

Framework-free (NumPy).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from labs.common.tasks import TOKENIZER
from labs.common.validate import instance
from labs.grpo.checks import (
    check_completion_ids,
    check_completion_rows,
    check_countdown_problem,
    check_countdown_task_args,
    check_format_weight,
    check_items,
)

__all__ = ["CountdownProblem", "CountdownTask", "countdown_reward", "parse_terms"]

N_NUMBERS = 4
MAX_NUMBER = 19


@dataclass(frozen=True)
class CountdownProblem:
    """Four numbers in 1..19 and a target that some of them (`solution`, two or three) sum to."""

    numbers: tuple[int, ...]
    solution: tuple[int, ...]

    def __post_init__(self) -> None:
        check_countdown_problem(self.numbers, self.solution, N_NUMBERS, MAX_NUMBER)

    @property
    def target(self) -> int:
        return sum(self.solution)

    @property
    def text(self) -> str:
        return "+".join(f"{n:02d}" for n in self.numbers) + f"={self.target:02d}="


def parse_terms(completion) -> tuple[int, ...] | None:
    """The numbers a completion adds up, or None when it is not well formed (see the module)."""
    return _parse_terms(check_completion_ids(completion, TOKENIZER.vocab_size))


def _parse_terms(ids: list[int]) -> tuple[int, ...] | None:
    """Split the text before <eos> on '+'; each part 1-2 digits, no leading zero, 1 to 4 parts."""
    if TOKENIZER.eos_id not in ids:
        return None
    text = "".join(TOKENIZER.tokens[i] for i in ids[: ids.index(TOKENIZER.eos_id)])
    parts = text.split("+")
    if not 1 <= len(parts) <= N_NUMBERS:
        return None
    for p in parts:
        if not (1 <= len(p) <= 2 and p.isdigit()) or (len(p) == 2 and p[0] == "0"):
            return None
    return tuple(int(p) for p in parts)


def countdown_reward(problem: CountdownProblem, completion, format_weight: float = 0.1) -> float:
    """1 if the completion's terms are listed numbers (each at most once) summing to the target,
    plus `format_weight` if it is well formed."""
    instance("problem", problem, CountdownProblem)
    ids = check_completion_ids(completion, TOKENIZER.vocab_size)
    return _countdown_reward(problem, ids, check_format_weight(format_weight))


def _countdown_reward(problem: CountdownProblem, ids: list[int], format_weight: float) -> float:
    """Correct: a sub-multiset of the numbers with the target's sum; plus the format bonus."""
    terms = _parse_terms(ids)
    if terms is None:
        return 0.0
    uses_listed = not (Counter(terms) - Counter(problem.numbers))
    correct = uses_listed and sum(terms) == problem.target
    return float(correct) + format_weight


class CountdownTask:
    """`n_problems` random problems, split into train and held-out sets (the AdditionTask API).

    Args:
        n_problems: 10 to 10,000 problems.
        held_out_fraction: share kept out of training, in (0, 1).
        seed: seed of the problems and the split.
    """

    prompt_length = 1 + 4 * 3 + 3  # <bos> 'nn+' x 3, 'nn=' , 'tt='  -> 16 tokens
    max_answer_tokens = 10  # the longest right answer, 'nn+nn+nn<eos>', is 9 tokens

    def __init__(self, n_problems: int = 600, held_out_fraction: float = 0.2, seed: int = 0):
        n_problems, held_out_fraction, seed = check_countdown_task_args(
            n_problems, held_out_fraction, seed
        )
        self.seed = seed
        self.tokenizer = TOKENIZER
        rng = np.random.default_rng(seed)
        problems = []
        for _ in range(n_problems):
            numbers = tuple(int(n) for n in rng.choice(np.arange(1, MAX_NUMBER + 1), N_NUMBERS))
            k = int(rng.integers(2, 4))  # two or three terms
            pick = rng.choice(N_NUMBERS, size=k, replace=False)
            problems.append(CountdownProblem(numbers, tuple(numbers[i] for i in sorted(pick))))
        n_held = max(1, round(held_out_fraction * n_problems))
        self.held_out: list[CountdownProblem] = problems[:n_held]
        self.train: list[CountdownProblem] = problems[n_held:]

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def prompts(self, problems) -> np.ndarray:
        """Token ids of the prompts, shape (len(problems), prompt_length), int64."""
        problems = check_items("problems", problems, CountdownProblem)
        rows = [self.tokenizer.encode(p.text, bos=True) for p in problems]
        return np.asarray(rows, dtype=np.int64)

    def answers(self, problems) -> np.ndarray:
        """The reference solution of each problem, padded: shape (n, max_answer_tokens)."""
        problems = check_items("problems", problems, CountdownProblem)
        out = np.full((len(problems), self.max_answer_tokens), self.tokenizer.pad_id, np.int64)
        for row, p in enumerate(problems):
            ids = self.tokenizer.encode("+".join(map(str, p.solution)), eos=True)
            out[row, : len(ids)] = ids
        return out

    def rewards(self, problems, completions, format_weight: float = 0.1) -> np.ndarray:
        """`countdown_reward` of each (problem, completion row) pair, shape (n,)."""
        problems = check_items("problems", problems, CountdownProblem)
        completions, fw = check_completion_rows(
            completions, len(problems), self.vocab_size, format_weight
        )
        return np.array(
            [
                _countdown_reward(p, c.tolist(), fw)
                for p, c in zip(problems, completions, strict=True)
            ]
        )

    def accuracy(self, problems, completions) -> float:
        """Share of completions that are right."""
        return float(self.rewards(problems, completions, format_weight=0.0).mean())
