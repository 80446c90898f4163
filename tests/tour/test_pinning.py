"""labs.tour.pinning.one_core: inside the block every thread of the process is on one core, after
it each thread has its cores back, and a bad core is refused by name. labs.tour.pinning.thread_cores
reads each thread's own cores, and catches a pinning that misses a thread."""

import os
import threading

import pytest

from labs.tour import pinning
from labs.tour.pinning import one_core, thread_cores

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


several_cores = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs a process that may run on two cores or more",
)


def _parked_thread():
    """A thread started and waiting: (thread, event that ends it)."""
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    return worker, stop


@linux
@several_cores
def test_thread_cores_reads_each_threads_own_cores():
    # one thread alone on another core than the main thread: the process's mask would not show it
    low, high = sorted(os.sched_getaffinity(0))[:2]
    worker, stop = _parked_thread()
    try:
        os.sched_setaffinity(worker.native_id, {high})
        cores = thread_cores()
    finally:
        stop.set()
        worker.join()
    assert cores[worker.native_id] == {high}
    assert cores[threading.get_native_id()] != {high} and low in cores[threading.get_native_id()]


@linux
def test_thread_cores_finds_a_thread_started_before_the_block_on_the_one_core():
    worker, stop = _parked_thread()
    try:
        with one_core() as core:
            inside = thread_cores()
        after = thread_cores()
    finally:
        stop.set()
        worker.join()
    assert worker.native_id in inside and threading.get_native_id() in inside
    assert all(cores == {core} for cores in inside.values())
    assert after[worker.native_id] == os.sched_getaffinity(0)


@linux
@several_cores
def test_thread_cores_catches_a_pinning_that_misses_a_thread(monkeypatch):
    # the negative control: a one_core that lists only the main thread leaves the worker on all
    # the process's cores, and the check of the test above fails on it
    worker, stop = _parked_thread()
    main = threading.get_native_id()
    try:
        monkeypatch.setattr(pinning, "_threads", lambda: [main])
        with one_core() as core:
            monkeypatch.undo()  # the faulty listing pins; thread_cores reads with the real one
            inside = thread_cores()
    finally:
        monkeypatch.undo()
        stop.set()
        worker.join()
    assert inside[main] == {core}
    assert inside[worker.native_id] == os.sched_getaffinity(0) != {core}


def test_thread_cores_is_empty_without_per_thread_affinity(monkeypatch):
    monkeypatch.setattr(pinning, "_can_pin", lambda: False)
    assert thread_cores() == {}


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
