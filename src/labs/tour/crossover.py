"""The output head against the stable softmax's extra pass, timed on this machine's CPU.

Chapter 0's cost model sets the stable softmax's extra pass (one read of the float32 logits, for
their maximum) against the output head that wrote them, a (rows, width) @ (width, vocab) product.
Past the ridge the head is compute-bound: its time grows with its inner width while the pass's does
not, so the pass's share of the head falls as 2 ridge / width and crosses 1/2 at width = 4 ridge.
Below the ridge the head cannot run faster than its own write of the logits, so its time has a
floor and the share levels off at the pass's time over the write's. `time_head_and_pass` times the
head, the pass and a plain write of the same logits with PyTorch and NumPy in float32 on the CPU,
interleaved in rounds, so that the chapter can derive this CPU's ridge and the head's floor from
the measured rates and check the share against both. Pinning (`labs.tour.pinning.one_core`) and
PyTorch's thread count are the caller's choice: the function changes neither.

Taught in chapter 0, "When does it pay?".
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from labs.common.validate import describe_value, integer, size

__all__ = ["time_head_and_pass"]

_MAX_ELEMENTS = 2**27  # 512 MiB of float32 per array: the largest buffer a call may allocate


def _widths(widths) -> list[int]:
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise TypeError(f"widths must be a list or tuple of ints, got {describe_value(widths)}")
    checked = [size(f"widths[{i}]", w, maximum=16384) for i, w in enumerate(widths)]
    if not checked:
        raise ValueError("widths must hold at least one width, got an empty sequence")
    if len(set(checked)) != len(checked):
        raise ValueError(f"widths must be distinct, got {checked}")
    return checked


def time_head_and_pass(
    widths: Sequence[int],
    *,
    rows: int = 1024,
    vocab: int = 8192,
    rounds: int = 5,
    seed: int = 0,
) -> dict[str, dict[int, np.ndarray]]:
    """Seconds per call of the output head and of one read pass over its logits, round by round.

    Each round visits every width, in an order that rotates from round to round. At each it
    times the head, `torch.matmul(x, w)` with x of shape (rows, width) and w of shape
    (width, vocab), written into one preallocated float32 buffer of logits, then the pass,
    `torch.amax(logits, -1)`, over the logits the head has just written, and then a plain write
    of the same buffer, NumPy's `fill(0.0)` through a view of it (NumPy's vectorised fill, whose
    speed does not depend on which of PyTorch's CPU kernels was picked): the head's floor. The
    first visit of each width is a warm-up, untimed.

    Args:
        widths: the head's inner widths (d_model), distinct ints in [1, 16384].
        rows: rows of logits (tokens), in [1, 65536].
        vocab: columns of logits, in [1, 262144].
        rounds: timed calls of each, in [1, 1000].
        seed: the seed of the normal random x and w, an int in [0, 2**32 - 1].

    Returns:
        {"head": {width: seconds}, "pass": {width: seconds}, "write": {width: seconds}}, each
        value an array of `rounds` wall-clock times in round order; "pass"[width] is the pass
        timed right after the head of that width and "write"[width] the write right after that
        pass (the same buffer every time: its time does not depend on the width).

    Raises:
        TypeError: widths is not a list or tuple of ints, or another argument is not an int.
        ValueError: an argument is outside its range, widths repeats a width, or an array would
            hold more than 2**27 elements (rows x vocab, width x vocab or rows x width).
    """
    widths = _widths(widths)
    rows = size("rows", rows, maximum=65536)
    vocab = size("vocab", vocab, maximum=262144)
    rounds = size("rounds", rounds, maximum=1000)
    seed = integer("seed", seed, minimum=0, maximum=2**32 - 1)
    for name, elements in (
        ("rows x vocab", rows * vocab),
        ("max(widths) x vocab", max(widths) * vocab),
        ("rows x max(widths)", rows * max(widths)),
    ):
        if elements > _MAX_ELEMENTS:
            raise ValueError(
                f"{name} must be <= 2**27 elements (512 MiB of float32), got {elements:,}"
            )
    return _time_head_and_pass(widths, rows, vocab, rounds, seed)


def _time_head_and_pass(widths, rows, vocab, rounds, seed):
    """The timing loop of `time_head_and_pass`, on checked arguments."""
    generator = torch.Generator().manual_seed(seed)
    x = {d: torch.randn(rows, d, generator=generator) for d in widths}  # (rows, d)
    w = {d: torch.randn(d, vocab, generator=generator) for d in widths}  # (d, vocab)
    logits = torch.empty(rows, vocab)  # (rows, vocab) float32, written by every head call
    maxima = torch.empty(rows)  # (rows,)
    view = logits.numpy()  # the same memory, for the plain write
    times = {kind: {d: [] for d in widths} for kind in ("head", "pass", "write")}
    for r in range(-1, rounds):  # round -1 warms up
        order = widths[r % len(widths) :] + widths[: r % len(widths)]
        for d in order:
            start = time.perf_counter()
            torch.matmul(x[d], w[d], out=logits)
            middle = time.perf_counter()
            torch.amax(logits, -1, out=maxima)  # the stable softmax's extra pass: the maximum
            end = time.perf_counter()
            view.fill(0.0)  # a plain write of the logits: the head's floor
            written = time.perf_counter()
            if r >= 0:
                times["head"][d].append(middle - start)
                times["pass"][d].append(end - middle)
                times["write"][d].append(written - end)
    return {kind: {d: np.array(t) for d, t in by.items()} for kind, by in times.items()}
