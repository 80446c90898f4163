"""This machine's ceilings, the two numbers a roofline needs: the FLOP/s a large matrix product
reaches and the bytes/s that streaming a tensor from main memory reaches, measured with PyTorch.

One measurement for every chapter that draws a roofline on the machine it runs on: chapter 1
("When does it pay?", the costs of a decoded and a trained token), chapter 3 ("When does it pay?",
the decode benchmark's limits), chapter 4 ("When does sparsity pay?", the CPU check), chapter 7
("When does it pay?", the ridge of a matrix product on this CPU) and chapter 8 ("When does it
pay?", decoding on this CPU and the einsum against the stream).

These are what a good kernel reaches here, not a vendor's peak. Each figure is the best of several
timed calls after a warm-up: load from other programs can only slow a call, so the fastest is the
closest to what the machine can do. The stream is timed with two kernels that read each byte once,
a sum and a matrix-vector product (BLAS's gemv), and the faster counts: PyTorch's own sum streams at
memory speed only where its CPU kernels are vectorised (with its generic kernels,
`ATEN_CPU_CAPABILITY=default`, it ran at about half the gemv's rate on an AVX-512 Xeon), while the
gemv comes from the BLAS library, which picks its own instructions.

Two clocks: "wall" (`time.perf_counter`, the only one that sees a GPU's work) and "cpu"
(`time.process_time`, this process's CPU time, which leaves out the time other programs hold the
core, though not what they take of its caches, of the memory bus or of a hyperthread sibling; one
thread only, since it adds up the time of every thread).

`last_level_cache_bytes` reads the size of the cache the streamed tensor must not fit in (chapter
3 also compares it with the KV caches it times). torch is imported inside the functions, so that
`labs.common` stays free of it.
"""

from __future__ import annotations

import time
from pathlib import Path

from labs.common.validate import callable_arg, one_of, size, text, torch_device_arg

__all__ = [
    "MATMUL_SIZE",
    "STREAM_BYTES",
    "best_seconds",
    "last_level_cache_bytes",
    "measure_ceilings",
    "stream_bytes",
    "stream_kernels",
    "timing_device",
]

MATMUL_SIZE = 1024  # an (n, n) @ (n, n) float32 product: 2 n^3 FLOPs, compute-bound on any device
STREAM_BYTES = 256 * 2**20  # float32 read once (a sum, a gemv): far larger than most CPUs' LLC
# A CPU with a very large last-level cache (3D V-Cache parts report 96 MiB and more) gets a stream
# four times its cache, up to 2 GiB; past that the cache would hold a fifth of the stream or more.
STREAM_CACHE_MULTIPLE = 4
MAX_STREAM_BYTES = 2 * 2**30
STREAM_ROW = 1024  # the matrix-vector product reads the streamed tensor as rows this long
CLOCKS = ("wall", "cpu")
_TIMER_CLOCKS = (*CLOCKS, "events")  # best_seconds also times a CUDA stream with its events


def timing_device(device):
    """`device` (a torch.device or a string such as "cpu" or "cuda:0") as a torch.device, checked
    for timing: a CPU, or a CUDA GPU that this machine has. Raises ValueError naming `device`."""
    import torch

    device = torch_device_arg("device", device, default=None)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be a CPU or a CUDA device, got {str(device)!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r}, but torch sees no CUDA GPU on this machine")
    return device


def measure_ceilings(
    *, clock: str = "wall", threads: int = 1, repeats: int = 5, device="cpu"
) -> tuple[float, float]:
    """(FLOP/s, bytes/s) this device reaches: a float32 (1024 x 1024) matrix product, and the
    faster of a sum and a matrix-vector product over a float32 tensor of `stream_bytes()` (256
    MiB, or four times a CPU's last-level cache where that is larger, so it streams from memory).

    Args:
        clock: "wall" (`time.perf_counter`) or "cpu" (`time.process_time`: this process's CPU
            time, which other programs' load leaves out; a CPU device and one thread only).
        threads: the CPU threads torch may use (1 to 1,024), restored afterwards; a GPU ignores it.
        repeats: timed calls of each kernel (1 to 100) after an untimed warm-up; the fastest counts.
        device: a CPU or CUDA device, as a torch.device or a string ("cpu", "cuda:0").

    Raises:
        TypeError, ValueError: an argument of the wrong type or out of range, a device that is
        neither a CPU nor a CUDA GPU (or a GPU this machine lacks), or CPU time asked of a GPU or
        of more than one thread.
    """
    import torch

    clock = one_of("clock", clock, CLOCKS)
    threads = size("threads", threads, maximum=1024, why="more than any CPU has")
    repeats = size("repeats", repeats, maximum=100, why="the best of 100 is as good as it gets")
    device = timing_device(device)
    if clock == "cpu" and device.type != "cpu":
        raise ValueError(
            f"clock='cpu' needs device='cpu', got device={str(device)!r}: CPU time does not count "
            "a GPU's work; use clock='wall'"
        )
    if clock == "cpu" and threads != 1:
        raise ValueError(
            f"clock='cpu' needs threads=1, got threads={threads}: CPU time adds up every "
            "thread's time (idle spinning included), so it would not time the call; use "
            "clock='wall'"
        )
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            return _measure(device, repeats, clock)
    finally:
        torch.set_num_threads(before)


def _measure(device, repeats: int, clock: str) -> tuple[float, float]:
    """2 n^3 FLOPs of an n x n product; 4 bytes per element of the streamed tensor, read once by
    a sum and once (as rows of STREAM_ROW elements) by a matrix-vector product: the faster."""
    import torch

    n = MATMUL_SIZE
    a = torch.ones(n, n, device=device) / n
    product = _best_seconds(lambda: a @ a, device, repeats, clock)
    rows = stream_bytes(last_level_cache_bytes()) // (4 * STREAM_ROW)
    big = torch.ones(rows * STREAM_ROW, device=device)
    kernels = stream_kernels(big)
    summed = _best_seconds(kernels["sum"], device, repeats, clock)
    gemv = _best_seconds(kernels["gemv"], device, repeats, clock)
    return 2 * n**3 / product, big.numel() * big.element_size() / min(summed, gemv)


def stream_kernels(tensors) -> dict:
    """The two kernels the stream ceiling times, over the elements of `tensors` (a torch tensor,
    or a list or tuple of them; each contiguous, floating-point and not empty): {"sum": a call
    that sums each tensor, "gemv": a call that reads each as rows of STREAM_ROW elements (or of
    its last dimension, where STREAM_ROW does not divide its size) times a vector of ones}. Each
    call reads every byte once, so timing them on other tensors (a cache a chapter streams)
    measures the same kernels as `measure_ceilings`' bandwidth. The values the tensors hold do
    not matter (NaN and infinities stream like any other bytes)."""
    import torch

    if isinstance(tensors, torch.Tensor):
        tensors = [tensors]
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"tensors must be a torch.Tensor or a list or tuple of them, got "
            f"{type(tensors).__name__}"
        )
    if not tensors:
        raise ValueError("tensors must hold at least one tensor, got an empty sequence")
    views = []
    for i, t in enumerate(tensors):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"tensors[{i}] must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point() or t.numel() == 0 or not t.is_contiguous():
            raise ValueError(
                f"tensors[{i}] must be a non-empty contiguous floating-point tensor, got "
                f"dtype {t.dtype}, shape {tuple(t.shape)}, contiguous={t.is_contiguous()}"
            )
        row = STREAM_ROW if t.numel() % STREAM_ROW == 0 else t.shape[-1]
        matrix = t.view(-1, row)
        views.append((t, matrix, torch.ones(row, dtype=t.dtype, device=t.device)))
    return {
        "sum": lambda: [t.sum() for t, _, _ in views],
        "gemv": lambda: [matrix @ ones for _, matrix, ones in views],
    }


def best_seconds(fn, *, repeats: int = 5, clock: str = "cpu", device="cpu") -> float:
    """The shortest of `repeats` (at most 100) timed calls of `fn()`, after one untimed call, in
    seconds: load from other programs can only slow a call. `clock` "cpu" (this process's CPU
    time; a CPU device only), "wall", or "events" (CUDA events recorded around the call on the
    GPU's stream: they time the GPU's own work, including any wait for the host; a CUDA device
    only). With "wall" on a CUDA `device` the clock stops only when the queued work has finished.
    The timing loop every chapter's measurements share."""
    fn = callable_arg("fn", fn)
    repeats = size("repeats", repeats, maximum=100, why="the best of 100 is as good as it gets")
    clock = one_of("clock", clock, _TIMER_CLOCKS)
    device = torch_device_arg("device", device, default=None)
    if clock == "cpu" and device.type != "cpu":
        raise ValueError(
            f"clock='cpu' needs device='cpu', got device={str(device)!r}: CPU time misses a GPU's "
            "work"
        )
    if clock == "events" and device.type != "cuda":
        raise ValueError(
            f"clock='events' needs a CUDA device, got device={str(device)!r}: CUDA events time a "
            "GPU's stream"
        )
    device = timing_device(device)  # a CPU, or a CUDA GPU this machine has
    return _best_seconds(fn, device, repeats, clock)


def _best_seconds(fn, device, repeats: int, clock: str) -> float:
    """The shortest of `repeats` timed calls of fn, after one untimed call; on a GPU the clock
    stops only when the queued work has finished ("wall") or times the stream ("events")."""
    import torch

    now = time.perf_counter if clock == "wall" else time.process_time

    def sync() -> None:  # GPU work is asynchronous: wait for it before reading the clock
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()  # the untimed call's kernels are queued, not yet run
    best = float("inf")
    for _ in range(repeats):
        if clock == "events":
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            fn()
            end.record()
            end.synchronize()
            best = min(best, start.elapsed_time(end) / 1e3)  # elapsed_time is in ms
            continue
        sync()
        start = now()
        fn()
        sync()
        best = min(best, now() - start)
    return max(best, 1e-9)  # process_time ticks coarsely on some systems: never divide by zero


def stream_bytes(cache_bytes: int | None) -> int:
    """Bytes the bandwidth measurement streams past a last-level cache of `cache_bytes` (None:
    unknown): STREAM_BYTES, or four times the cache where that is more, at most 2 GiB."""
    if cache_bytes is None:
        return STREAM_BYTES
    cache_bytes = size("cache_bytes", cache_bytes, maximum=2**40, why="no CPU cache is a TiB")
    return min(max(STREAM_BYTES, STREAM_CACHE_MULTIPLE * cache_bytes), MAX_STREAM_BYTES)


def last_level_cache_bytes(root: str = "/sys/devices/system/cpu/cpu0/cache") -> int | None:
    """Size of CPU 0's highest-level data or unified cache in bytes, read from Linux's sysfs
    (`root`); None where sysfs is missing or unreadable (macOS, Windows, some containers)."""
    root = text("root", root)
    best = None
    try:
        for index in sorted(Path(root).glob("index*")):
            kind = (index / "type").read_text().strip()
            if kind == "Instruction":
                continue
            level = int((index / "level").read_text())
            written = (index / "size").read_text().strip()  # e.g. "32768K"
            units = {"K": 2**10, "M": 2**20, "G": 2**30}
            nbytes = (
                int(written[:-1]) * units[written[-1]] if written[-1] in units else int(written)
            )
            if best is None or level > best[0]:
                best = (level, nbytes)
    except (OSError, ValueError, IndexError):  # IndexError: an empty size file
        return None
    return None if best is None else best[1]
