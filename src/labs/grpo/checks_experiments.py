"""Chapter 5's argument checks for the experiments built on the loops: the ladder and its block
means, the k3 gradients on logits, and the Countdown-style task.

Taught in chapter 5, "The ladder: what each piece of GRPO buys", "The k3 estimator, and why the
KL sits in the loss" (its gradients) and "A task with several right answers: Countdown-style".

Helpers of the public API, not part of it: `__all__` is empty, and the hostile-input suite
attacks them through the entry points that call them. `labs.grpo.checks` re-exports every name.
"""

from __future__ import annotations

import numpy as np

from labs.common import validate
from labs.common.validate import (
    array,
    describe_value,
    integer,
    integer_array,
    one_of,
    real_number,
    size,
)
from labs.grpo.checks_base import (
    MAX_LOGIT,
    MAX_STEPS,
)

__all__: list[str] = []

# --- The ladder and the k3 gradients ------------------------------------------------------------


def check_ladder_args(rung, steps, seed, rungs) -> tuple[str, int, int]:
    """Checked (rung, steps, seed) of `ladder_config`: a known rung, steps <= MAX_STEPS."""
    one_of("rung", rung, tuple(rungs))
    steps = size("steps", steps, maximum=MAX_STEPS, why="a step takes about a second on a CPU")
    return rung, steps, validate.seed("seed", seed)


def check_block_means_args(values, block) -> tuple[np.ndarray, int]:
    """Checked (values, block) of `block_means`: a 1-D array of numbers and a block size."""
    values = array("values", values, dtype=("float", "int"), ndim=1)
    return values, size("block", block, maximum=MAX_STEPS)


def check_run_rung_args(config, eval_seed, config_type: type) -> int:
    """TypeError unless `config` is a `config_type`; the checked evaluation seed."""
    if not isinstance(config, config_type):
        raise TypeError(f"config must be a {config_type.__name__}, got {describe_value(config)}")
    return validate.seed("eval_seed", eval_seed)


def check_logit_pair(logits, ref_logits) -> tuple[np.ndarray, np.ndarray]:
    """Two 1-D float arrays of one shape (V >= 2,), as float64."""
    logits = array("logits", logits, ndim=1)
    ref_logits = array("ref_logits", ref_logits, ndim=1)
    if logits.shape != ref_logits.shape or logits.shape[0] < 2:
        raise ValueError(
            f"logits and ref_logits must have one shape (V >= 2,), got {logits.shape} and "
            f"{ref_logits.shape}"
        )
    for name, values in (("logits", logits), ("ref_logits", ref_logits)):
        if np.abs(values).max() > MAX_LOGIT:
            raise ValueError(
                f"{name} must be at most {MAX_LOGIT:g} in magnitude (a wider spread leaves "
                f"log-probabilities of -inf), got {float(np.abs(values).max()):g}"
            )
    return logits.astype(np.float64), ref_logits.astype(np.float64)


# --- The Countdown-style task -------------------------------------------------------------------


def check_countdown_task_args(n_problems, held_out_fraction, seed) -> tuple[int, float, int]:
    """Checked arguments of `CountdownTask`: 10 to 10,000 problems, a fraction in (0, 1)."""
    n_problems = size("n_problems", n_problems, minimum=10, maximum=10_000)
    frac = real_number("held_out_fraction", held_out_fraction)
    if not 0 < frac < 1:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
    return n_problems, frac, validate.seed("seed", seed)


def check_countdown_problem(numbers, solution, n_numbers: int, max_number: int) -> None:
    """ValueError/TypeError unless `numbers` is a tuple of `n_numbers` ints in 1..max_number and
    `solution` a tuple of 2 or 3 of them (each used at most as often as it is listed)."""
    from collections import Counter

    for name, value, lengths in (
        ("numbers", numbers, (n_numbers,)),
        ("solution", solution, (2, 3)),
    ):
        if not isinstance(value, tuple):
            raise TypeError(f"{name} must be a tuple of ints, got {describe_value(value)}")
        if len(value) not in lengths:
            raise ValueError(
                f"{name} must hold {' or '.join(map(str, lengths))} numbers, got {len(value)}"
            )
        for n in value:
            integer(name, n, minimum=1, maximum=max_number)
    if Counter(solution) - Counter(numbers):
        raise ValueError(f"solution {solution} must use only the numbers {numbers}")


def check_completion_ids(completion, vocab_size: int) -> list[int]:
    """A completion's token ids (any array-like of ints below `vocab_size`) as a flat list."""
    ids = integer_array("completion", np.asarray(completion), low=0, high=vocab_size)
    return ids.reshape(-1).tolist()


def check_format_weight(format_weight) -> float:
    """The weight of the format reward, a real number >= 0."""
    return real_number("format_weight", format_weight, nonnegative=True)


def check_completion_rows(completions, n_problems: int, vocab_size: int, format_weight):
    """(completions as an (n_problems, N) int array, format_weight) of a task's `rewards`."""
    if hasattr(completions, "detach"):  # a torch tensor
        completions = completions.detach().cpu().numpy()
    completions = integer_array(
        "completions", np.asarray(completions), ndim=2, low=0, high=vocab_size
    )
    if completions.shape[0] != n_problems:
        raise ValueError(
            f"completions must have {n_problems} rows, one per problem, got {completions.shape[0]}"
        )
    return completions, check_format_weight(format_weight)
