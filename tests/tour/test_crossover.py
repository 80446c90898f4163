"""labs.tour.crossover.time_head_and_pass: one time per round for the head, the pass and the write
at every width, and bad arguments refused by name. Timings themselves are the chapter's to judge:
here the arrays are tiny and only their shape and sign are checked."""

import numpy as np
import pytest

from labs.tour.crossover import time_head_and_pass


def test_one_positive_time_per_round_for_each_width_and_kind():
    times = time_head_and_pass([4, 2, 8], rows=16, vocab=32, rounds=3, seed=1)
    assert set(times) == {"head", "pass", "write"}
    for by_width in times.values():
        assert list(by_width) == [4, 2, 8]  # the caller's order, whatever order the rounds took
        for t in by_width.values():
            assert isinstance(t, np.ndarray) and t.shape == (3,) and np.all(t > 0)


def test_a_tuple_of_numpy_ints_is_accepted():
    times = time_head_and_pass((np.int64(3),), rows=4, vocab=8, rounds=1)
    assert list(times["head"]) == [3] and times["pass"][3].shape == (1,)
    assert times["write"][3].shape == (1,)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"widths": 8}, TypeError, "widths"),
        ({"widths": "8"}, TypeError, "widths"),
        ({"widths": []}, ValueError, "widths"),
        ({"widths": [8, 8]}, ValueError, "distinct"),
        ({"widths": [8, 0]}, ValueError, r"widths\[1\]"),
        ({"widths": [8.0]}, TypeError, r"widths\[0\]"),
        ({"widths": [4], "rows": 0}, ValueError, "rows"),
        ({"widths": [4], "vocab": True}, TypeError, "vocab"),
        ({"widths": [4], "rounds": 0}, ValueError, "rounds"),
        ({"widths": [4], "seed": -1}, ValueError, "seed"),
        ({"widths": [4], "seed": 2**32}, ValueError, "seed"),
        ({"widths": [4], "rows": 65536, "vocab": 8192}, ValueError, "rows x vocab"),
        ({"widths": [16384], "vocab": 16384}, ValueError, r"max\(widths\) x vocab"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        time_head_and_pass(**kwargs)
