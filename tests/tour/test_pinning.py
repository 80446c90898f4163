"""labs.tour.pinning.one_core: inside the block every thread of the process is on one core, after
it each thread has its cores back, and a bad core is refused by name."""

import os
import threading

import pytest

from labs.tour.pinning import one_core

linux = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or not os.path.isdir("/proc/self/task"),
    reason="per-thread affinity is a Linux feature",
)


def _masks():
    return {int(t): os.sched_getaffinity(int(t)) for t in os.listdir("/proc/self/task")}


@linux
def test_every_thread_shares_one_core_inside_and_gets_its_cores_back():
    allowed = os.sched_getaffinity(0)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)  # a thread that exists before the block
    worker.start()
    try:
        before = _masks()
        with one_core() as core:
            inside = _masks()
            late = threading.Thread(target=lambda: None)  # started inside: inherits the core
            late.start()
            late.join()
        after = _masks()
    finally:
        stop.set()
        worker.join()
    assert core == min(allowed)
    assert len(inside) >= 2 and all(mask == {core} for mask in inside.values())
    assert all(after[t] == before[t] for t in before if t in after)


@linux
def test_the_block_runs_on_the_core_asked_for():
    cpu = max(os.sched_getaffinity(0))
    with one_core(cpu) as core:
        assert core == cpu and os.sched_getaffinity(0) == {cpu}


@pytest.mark.parametrize(
    "cpu, error, message",
    [
        (1.0, TypeError, "cpu must be an int"),
        ("0", TypeError, "cpu must be an int"),
        (True, TypeError, "cpu must be an int"),
        (-1, ValueError, "cpu must be >= 0"),
    ],
)
def test_a_bad_core_is_refused_by_name(cpu, error, message):
    with pytest.raises(error, match=message):
        one_core(cpu)


@linux
def test_a_core_outside_the_process_is_refused():
    outside = max(os.sched_getaffinity(0)) + 1
    with pytest.raises(ValueError, match=r"cpu must be one of this process's cores"):
        one_core(outside)
