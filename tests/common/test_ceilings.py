"""labs.common.ceilings: this machine's FLOP/s and bytes/s, checked against timings made here.

The shared machines these tests run on are noisy (two cores, other programs, possibly hyperthread
siblings): a competing load moved single-thread figures by up to 2x in CPU time while the tests
were written. So each figure is compared with an independent timing made in the same rounds,
interleaved, and the bands are a factor of 3 either way: wide enough for that noise, and narrow
enough to catch the unit errors a rewrite would make (4 bytes per float32 forgotten or counted
twice, bits for bytes, GB/s for bytes/s, n^2 for n^3).
"""

import math
import time

import numpy as np
import pytest
import torch

from labs.common.ceilings import (
    STREAM_BYTES,
    last_level_cache_bytes,
    measure_ceilings,
    stream_bytes,
    stream_kernels,
)


def _best_seconds(fn, clock="wall", repeats=2):
    # The reference reads the clock the helper reads: CPU time does not count the moments another
    # program holds the core, wall time does, so under a competing load a CPU-clock ceiling set
    # against a wall-clock reference would drift apart by the load, not by a unit error.
    now = {"wall": time.perf_counter, "cpu": time.process_time}[clock]
    fn()
    best = math.inf
    for _ in range(repeats):
        start = now()
        fn()
        best = min(best, now() - start)
    return best


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_ceilings_match_timings_made_independently_here(clock):
    # Not the helper's own sizes: a 768 x 768 product, and a 192 MiB tensor made by randn, summed
    # and multiplied as rows of 768 by a vector (the faster counts, as the ceiling's docstring
    # says), with FLOPs and bytes counted here, not copied from the code under test.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        n = 768
        a = torch.randn(n, n)
        big = torch.randn(48 * 2**20)
        rows, vector = big.view(-1, 768), torch.randn(768)
        ours, theirs = [0.0, 0.0], [0.0, 0.0]
        for _ in range(3):  # interleaved rounds: a busy moment touches both sides
            flops, nbytes = measure_ceilings(clock=clock, repeats=2)
            ours = [max(ours[0], flops), max(ours[1], nbytes)]
            theirs[0] = max(theirs[0], 2 * n**3 / _best_seconds(lambda: a @ a, clock))
            stream = min(_best_seconds(big.sum, clock), _best_seconds(lambda: rows @ vector, clock))
            theirs[1] = max(theirs[1], big.nbytes / stream)
    finally:
        torch.set_num_threads(before)
    assert all(math.isfinite(x) and x > 0 for x in ours)
    assert 1 / 3 < ours[0] / theirs[0] < 3, (ours[0], theirs[0])
    assert 1 / 3 < ours[1] / theirs[1] < 3, (ours[1], theirs[1])
    # one core of any machine the course runs on: above a slow laptop's, below any CPU core's
    assert 1e9 < ours[0] < 1e13 and 1e9 < ours[1] < 1e12


def test_stream_kernels_read_every_element_of_each_tensor():
    # the answers, counted here: each sum is the tensor's sum; each gemv, summed, is the tensor's
    # sum again (ones times every element, once), whatever the rows it was cut into. Small
    # integers in float32, so that every order of summation is exact.
    a = (torch.arange(3 * 2048) % 7).float().view(3, 2048)  # 6,144 elements: rows of STREAM_ROW
    b = torch.arange(5 * 6, dtype=torch.float64).view(5, 6) / 8  # 30 elements: rows of 6
    kernels = stream_kernels([a, b])
    sums, gemvs = kernels["sum"](), kernels["gemv"]()
    total_a = sum(i % 7 for i in range(3 * 2048))
    total_b = sum(range(30)) / 8
    assert [float(x) for x in sums] == [total_a, total_b]
    assert [tuple(g.shape) for g in gemvs] == [(6,), (5,)]  # 6,144 / 1,024 rows; 30 / 6
    assert [float(g.sum()) for g in gemvs] == [total_a, total_b]


@pytest.mark.parametrize(
    ("tensors", "error", "match"),
    [
        ([], ValueError, "at least one tensor"),
        (np.ones(4), TypeError, "tensors must be a torch.Tensor or a list"),
        ([np.ones(4)], TypeError, r"tensors\[0\] must be a torch.Tensor"),
        (torch.ones(0), ValueError, "non-empty"),
        ([torch.ones(4, dtype=torch.int32)], ValueError, "floating-point"),
        ([torch.ones(4), torch.ones(4, 6).T], ValueError, r"tensors\[1\].*contiguous"),
    ],
)
def test_stream_kernels_refuse_bad_tensors(tensors, error, match):
    with pytest.raises(error, match=match):
        stream_kernels(tensors)


def test_the_streamed_tensor_does_not_fit_in_the_last_level_cache():
    # A tensor the cache holds would measure the cache's bandwidth, not the memory's. sysfs gives
    # the cache of one core complex (AMD) or socket (Intel); the stream must be several times it.
    llc = last_level_cache_bytes()
    if llc is None:
        pytest.skip("this machine's cache size is not readable (no Linux sysfs)")
    assert stream_bytes(llc) >= 4 * llc, (stream_bytes(llc), llc)


def test_a_large_cache_gets_a_longer_stream_up_to_a_cap():
    mib = 2**20
    # a 32 MiB L3 (most server parts): the default 256 MiB is already 8x it
    assert stream_bytes(32 * mib) == 256 * mib == STREAM_BYTES
    # a 96 MiB 3D V-Cache part: 256 MiB would be under 3x it, so 384 MiB
    assert stream_bytes(96 * mib) == 384 * mib
    # an absurd 1 GiB cache: capped at 2 GiB, not 4 GiB
    assert stream_bytes(2**30) == 2 * 2**30
    assert stream_bytes(None) == 256 * mib
    for bad, error in ((0, ValueError), (-1, ValueError), (1.5, TypeError), ("32M", TypeError)):
        with pytest.raises(error, match="cache_bytes"):
            stream_bytes(bad)


def test_the_thread_count_is_restored():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        measure_ceilings(threads=1, repeats=1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_last_level_cache_reads_the_highest_level_and_falls_back_to_none(tmp_path):
    for name, level, kind, size in (
        ("index0", 1, "Data", "32K"),
        ("index1", 1, "Instruction", "32K"),
        ("index2", 2, "Unified", "1024K"),
        ("index3", 3, "Unified", "32768K"),
    ):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "level").write_text(f"{level}\n")
        (folder / "type").write_text(f"{kind}\n")
        (folder / "size").write_text(f"{size}\n")
    assert last_level_cache_bytes(str(tmp_path)) == 32 * 2**20
    (tmp_path / "index3" / "size").write_text("garbage\n")
    assert last_level_cache_bytes(str(tmp_path)) is None
    (tmp_path / "index3" / "size").write_text("\n")
    assert last_level_cache_bytes(str(tmp_path)) is None
    assert last_level_cache_bytes(str(tmp_path / "missing")) is None


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"clock": "gpu"}, ValueError, "clock must be one of"),
        ({"clock": None}, ValueError, "clock must be one of"),
        ({"threads": 0}, ValueError, "threads must be >= 1"),
        ({"threads": 10**6}, ValueError, "threads must be <= 1024"),
        ({"threads": 1.5}, TypeError, "threads must be an int"),
        ({"threads": math.nan}, TypeError, "threads must be an int"),
        ({"repeats": 0}, ValueError, "repeats must be >= 1"),
        ({"repeats": 101}, ValueError, "repeats must be <= 100"),
        ({"repeats": True}, TypeError, "repeats must be an int"),
        ({"device": 3}, TypeError, "device must be a torch.device"),
        ({"device": "abacus"}, ValueError, "device must name a torch device"),
        ({"device": "meta"}, ValueError, "device must be a CPU or a CUDA device"),
        ({"device": None}, TypeError, "device must be a torch.device"),
        ({"clock": "cpu", "threads": 2}, ValueError, "clock='cpu' needs threads=1"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_timed(kwargs, error, message):
    start = time.perf_counter()
    with pytest.raises(error, match=message):
        measure_ceilings(**kwargs)
    assert time.perf_counter() - start < 1  # refused at the boundary, not after a measurement


def test_a_gpu_is_refused_where_there_is_none_and_cpu_time_is_refused_on_one():
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="clock='cpu' needs device='cpu'"):
            measure_ceilings(clock="cpu", device="cuda")
    else:
        with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
            measure_ceilings(device="cuda")


@pytest.mark.parametrize("root, error", [(None, TypeError), (3, TypeError), ("", ValueError)])
def test_a_cache_root_that_is_not_a_path_is_refused(root, error):
    with pytest.raises(error, match="root"):
        last_level_cache_bytes(root)


def test_best_seconds_is_the_fastest_call_after_an_untimed_one():
    # a function whose calls take 30, 10 and 20 ms of wall time after a first (untimed) 50 ms
    import time

    from labs.common.ceilings import best_seconds

    delays = iter([0.05, 0.03, 0.01, 0.02])

    def sleep_next():
        time.sleep(next(delays))

    best = best_seconds(sleep_next, repeats=3, clock="wall")
    assert 0.01 <= best < 0.018  # the 10 ms call, not the untimed 50 ms one nor the mean


def test_best_seconds_refuses_cpu_time_on_a_gpu_and_a_non_callable():
    import pytest

    from labs.common.ceilings import best_seconds

    with pytest.raises(TypeError, match="fn"):
        best_seconds(3)
    with pytest.raises(ValueError, match="clock"):
        best_seconds(lambda: None, clock="cpu", device="cuda")


def test_best_seconds_refuses_cuda_events_on_a_cpu():
    import pytest

    from labs.common.ceilings import best_seconds

    with pytest.raises(ValueError, match="clock='events' needs a CUDA device"):
        best_seconds(lambda: None, clock="events", device="cpu")
    with pytest.raises(ValueError, match="clock must be one of"):
        best_seconds(lambda: None, clock="event")


def test_best_seconds_cuda_events_time_a_kernel_as_the_wall_clock_does():
    # a 4096^3 float32 product: long enough (milliseconds) that both clocks see the same work;
    # the events time the stream, the wall clock adds launch and synchronisation overheads
    import pytest
    import torch

    from labs.common.ceilings import best_seconds

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device: CUDA events time a GPU's stream")
    a = torch.randn(4096, 4096, device="cuda")
    events = best_seconds(lambda: a @ a, clock="events", device="cuda")
    wall = best_seconds(lambda: a @ a, clock="wall", device="cuda")
    assert 0.5 * wall < events <= 1.05 * wall


def test_timing_device_takes_a_cpu_and_refuses_what_it_cannot_time():
    import pytest
    import torch

    from labs.common.ceilings import timing_device

    assert timing_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be a CPU or a CUDA device"):
        timing_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            timing_device("cuda")
