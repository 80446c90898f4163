"""The one time limit of the exercises (`labs.common.exercise_limit.time_limit`).

The instant checks and the grader run through it (their own tests: test_exercises_hostile.py and
tests/grading/test_hangs.py); here it is tested on its own: it stops code that swallows every
exception, leaves a block that ends in time alone, puts the process's alarm state back, and
refuses bad limits and threads it cannot interrupt.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

import pytest

from labs.common.exercise_limit import OutOfTime, can_limit_time, time_limit


def _swallows_everything():
    while True:
        try:
            time.sleep(0.01)
        except BaseException:  # noqa: BLE001, S110 - the point: it swallows the time limit
            pass


def _tracing_is_ours() -> bool:
    return sys.gettrace() is None or "coverage" in type(sys.gettrace()).__module__


def test_a_loop_that_swallows_everything_is_stopped_and_the_alarm_state_restored():
    assert can_limit_time()  # pytest runs the tests in the main thread
    outer = signal.signal(signal.SIGALRM, lambda *a: None)
    signal.setitimer(signal.ITIMER_REAL, 60.0)
    start = time.perf_counter()
    try:
        with pytest.raises(OutOfTime, match=r"loop\(\) ran for more than 0\.2 s"):
            with time_limit(0.2, what="loop()"):
                _swallows_everything()
        took = time.perf_counter() - start
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        handler = signal.getsignal(signal.SIGALRM)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        restored = signal.signal(signal.SIGALRM, outer)
    assert 0.2 <= took < 2.0  # stopped at the limit, not at the first re-fire or later
    assert restored is handler and handler is not outer  # our lambda came back
    assert 50.0 < left < 60.0  # the outer timer runs on, less the time the block took
    assert _tracing_is_ours()


def test_a_block_that_ends_in_time_is_left_alone():
    """The control: the same limit does not touch a block that finishes before it."""
    with time_limit(0.5, what="sum"):
        total = sum(range(1000))
    assert total == 499500
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    time.sleep(0.6)  # past the limit: no alarm is left to fire
    with pytest.raises(ZeroDivisionError):  # other exceptions pass through unchanged
        with time_limit(0.5):
            1 / 0  # noqa: B018
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and _tracing_is_ours()


def test_off_the_main_thread_it_refuses_to_start():
    box = {}

    def worker():
        box["can"] = can_limit_time()
        try:
            with time_limit(0.2):
                pass
        except RuntimeError as err:
            box["error"] = str(err)

    thread = threading.Thread(target=worker, name="helper")
    thread.start()
    thread.join(5)
    assert box["can"] is False
    assert "main thread" in box["error"] and "'helper'" in box["error"]


@pytest.mark.parametrize(
    "bad, kind",
    [
        (0.0, ValueError),
        (-1.0, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("10", TypeError),
        (None, TypeError),
        (True, TypeError),
    ],
)
def test_bad_seconds_are_refused_by_name(bad, kind):
    with pytest.raises(kind, match="seconds"):
        time_limit(bad)


def test_bad_what_is_refused_by_name():
    with pytest.raises(TypeError, match="what"):
        time_limit(1.0, what=3)
    with pytest.raises(ValueError, match="what"):
        time_limit(1.0, what=" ")
