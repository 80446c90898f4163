"""A verifiable toy task small enough to train on a laptop CPU: two-digit addition.

A prompt is `<bos>` followed by the two operands, zero-padded to two digits, and `=`:
`<bos>07+12=`. The answer is the sum written without leading zeros and closed by `<eos>`:
`19<eos>`. Every prompt has the same length, so batches need no padding on the prompt side.

A rule checks each answer, with no annotator and no learned reward model, as in DeepSeek-R1's
rule-based rewards (an accuracy reward and a format reward):

* `format_reward` is 1 when the completion is a well-formed number: one or two digits, no leading
  zero (unless the number is 0), then `<eos>`; nothing else may come before the `<eos>`.
* `correctness_reward` is 1 when the completion is well formed and its number is the sum.
* `reward` = correctness + `format_weight` * format.

The module is framework-free (NumPy only): the GRPO chapter trains on it and the distillation
chapter reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labs.common import validate
from labs.common.validate import (
    boolean,
    describe_value,
    instance,
    integer,
    integer_array,
    real_number,
)
from labs.common.validate import text as validate_text

__all__ = [
    "AdditionTask",
    "Problem",
    "Tokenizer",
    "correctness_reward",
    "format_reward",
    "parse_answer",
    "reward",
]

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"


class Tokenizer:
    """Characters to ids and back. Vocabulary: <pad>, <bos>, <eos>, the ten digits, '+', '='."""

    def __init__(self) -> None:
        self.tokens: tuple[str, ...] = (PAD, BOS, EOS, *"0123456789", "+", "=")
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self.pad_id, self.bos_id, self.eos_id = self.ids[PAD], self.ids[BOS], self.ids[EOS]

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        """Ids of the characters of `text` (digits, '+', '='), optionally framed by bos/eos."""
        text = validate_text("text", text, nonempty=False)
        bos, eos = boolean("bos", bos), boolean("eos", eos)
        unknown = sorted({c for c in text if c not in self.ids})
        if unknown:
            raise ValueError(f"text holds characters outside the vocabulary: {unknown}")
        ids = [self.ids[c] for c in text]
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids) -> str:
        """Text of `ids`; special tokens are written as <bos>, <eos>, <pad>."""
        if hasattr(ids, "detach"):  # a torch tensor
            ids = ids.detach().cpu().numpy()
        if isinstance(ids, (list, tuple)) and not ids:
            return ""
        ids = integer_array("ids", np.asarray(ids), low=0, high=self.vocab_size, nonempty=False)
        return "".join(self.tokens[i] for i in ids.reshape(-1).tolist())


TOKENIZER = Tokenizer()


@dataclass(frozen=True)
class Problem:
    """One addition problem a + b."""

    a: int
    b: int

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            integer(name, getattr(self, name), minimum=0, maximum=49)

    @property
    def answer(self) -> int:
        return self.a + self.b

    @property
    def text(self) -> str:
        return f"{self.a:02d}+{self.b:02d}="


def _completion_ids(completion) -> list[int]:
    """A completion's token ids as a list; torch/JAX arrays are read on the host."""
    if hasattr(completion, "detach"):  # a torch tensor
        completion = completion.detach().cpu().numpy()
    ids = integer_array("completion", completion, low=0, high=TOKENIZER.vocab_size)
    return ids.reshape(-1).tolist()


def parse_answer(completion) -> int | None:
    """The number a completion states, or None when it is not well formed.

    `completion` holds token ids as generated (it may continue after `<eos>`; those tokens are
    ignored). Well formed: one or two digits, no leading zero unless the number is 0, then `<eos>`.
    """
    return _parse_answer(_completion_ids(completion))


def _parse_answer(ids: list[int]) -> int | None:
    """The number in ids up to <eos>: one or two digits, no leading zero; else None."""
    if TOKENIZER.eos_id not in ids:
        return None
    body = ids[: ids.index(TOKENIZER.eos_id)]
    digits = [TOKENIZER.tokens[i] for i in body]
    if not 1 <= len(body) <= 2 or not all(d.isdigit() for d in digits):
        return None
    if len(digits) == 2 and digits[0] == "0":
        return None
    return int("".join(digits))


def format_reward(completion) -> float:
    """1.0 if the completion is a well-formed number closed by <eos>, else 0.0."""
    return 0.0 if parse_answer(completion) is None else 1.0


def correctness_reward(problem: Problem, completion) -> float:
    """1.0 if the completion is well formed and states problem.a + problem.b, else 0.0."""
    instance("problem", problem, Problem, "a Problem")
    return 1.0 if parse_answer(completion) == problem.answer else 0.0


def reward(problem: Problem, completion, format_weight: float = 0.1) -> float:
    """Rule-based reward: correctness + format_weight * format (in [0, 1 + format_weight])."""
    instance("problem", problem, Problem, "a Problem")
    format_weight = real_number("format_weight", format_weight, nonnegative=True)
    return _reward(problem, _completion_ids(completion), format_weight)


def _reward(problem: Problem, ids: list[int], format_weight: float) -> float:
    """Correctness (the stated number is a + b) plus format_weight times well-formedness."""
    answer = _parse_answer(ids)
    correct = 1.0 if answer == problem.answer else 0.0
    well_formed = 0.0 if answer is None else 1.0
    return correct + format_weight * well_formed


def _problems(problems) -> list[Problem]:
    """`problems` as a non-empty list of Problem objects."""
    if isinstance(problems, (str, bytes)) or not hasattr(problems, "__iter__"):
        raise TypeError(
            f"problems must be a list of Problem objects, got {describe_value(problems)}"
        )
    problems = list(problems)
    if not problems:
        raise ValueError("problems must not be empty")
    for p in problems:
        if not isinstance(p, Problem):
            raise TypeError(f"problems must hold Problem objects, got {type(p).__name__}")
    return problems


class AdditionTask:
    """All problems a + b with 0 <= a, b <= `max_operand`, split into train and held-out sets.

    Args:
        max_operand: largest operand, 1 to 49 (the answer then has at most two digits).
        held_out_fraction: share of the problems kept out of training, in (0, 1).
        seed: seed of the split.
    """

    prompt_length = 7  # <bos> d d + d d =
    max_answer_tokens = 3  # two digits and <eos>

    def __init__(self, max_operand: int = 19, held_out_fraction: float = 0.2, seed: int = 0):
        self.max_operand = integer("max_operand", max_operand, minimum=1)
        if self.max_operand > 49:
            raise ValueError(f"max_operand must be <= 49 (two-digit sums), got {max_operand}")
        frac = real_number("held_out_fraction", held_out_fraction)
        if not 0 < frac < 1:
            raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
        self.seed = validate.seed("seed", seed)
        self.tokenizer = TOKENIZER
        problems = [
            Problem(a, b) for a in range(self.max_operand + 1) for b in range(self.max_operand + 1)
        ]
        order = np.random.default_rng(self.seed).permutation(len(problems))
        n_held = max(1, round(frac * len(problems)))
        self.held_out: list[Problem] = [problems[i] for i in sorted(order[:n_held])]
        self.train: list[Problem] = [problems[i] for i in sorted(order[n_held:])]

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def prompts(self, problems) -> np.ndarray:
        """Token ids of the prompts, shape (len(problems), prompt_length), dtype int64."""
        problems = _problems(problems)
        rows = [self.tokenizer.encode(p.text, bos=True) for p in problems]
        return np.asarray(rows, dtype=np.int64).reshape(len(problems), self.prompt_length)

    def answers(self, problems) -> np.ndarray:
        """Token ids of the correct completions, padded with <pad>: shape (n, max_answer_tokens)."""
        problems = _problems(problems)
        out = np.full((len(problems), self.max_answer_tokens), self.tokenizer.pad_id, np.int64)
        for row, p in enumerate(problems):
            ids = self.tokenizer.encode(str(p.answer), eos=True)
            out[row, : len(ids)] = ids
        return out

    def rewards(self, problems, completions, format_weight: float = 0.1) -> np.ndarray:
        """`reward` of each (problem, completion row) pair, shape (n,), float64."""
        problems = _problems(problems)
        if hasattr(completions, "detach"):  # a torch tensor
            completions = completions.detach().cpu().numpy()
        completions = integer_array(
            "completions", np.asarray(completions), ndim=2, low=0, high=self.vocab_size
        )
        if completions.ndim != 2 or completions.shape[0] != len(problems):
            raise ValueError(
                f"completions must have shape ({len(problems)}, length), got {completions.shape}"
            )
        return np.array(
            [reward(p, c, format_weight) for p, c in zip(problems, completions, strict=True)]
        )

    def accuracy(self, problems, completions) -> float:
        """Share of completions that are correct."""
        return float(self.rewards(problems, completions, format_weight=0.0).mean())
