"""The measured peak of one call: known allocations worked by hand, and controls."""

import pytest
import torch

from labs.grpo.torch import peak_memory

N = 2**20  # float32 elements: 4 MiB


def test_cpu_peak_of_a_held_allocation():
    held, peak = peak_memory(lambda: torch.ones(N))
    assert held.numel() == N
    assert 4 * N <= peak < 4 * N + 4096  # 4 bytes per element, plus at most a little bookkeeping


def test_cpu_peak_sees_transients():
    def two_then_one():
        x = torch.ones(N)
        y = x * 2  # x and y alive together: 8 MiB
        del x
        return float(y.sum())  # y freed on return

    value, peak = peak_memory(two_then_one)
    assert value == 2.0 * N
    assert 8 * N <= peak < 8 * N + 4096


def test_cpu_peak_controls():
    assert peak_memory(lambda: 3) == (3, 0)  # nothing allocated
    holder = [torch.ones(N)]
    assert peak_memory(holder.clear) == (None, 0)  # memory freed, none taken: the peak is 0


def test_cuda_without_a_device_runs_and_returns_none():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert peak_memory(lambda: "ran", device="cuda") == ("ran", None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_peak_sees_an_allocation():
    _, peak = peak_memory(lambda: float(torch.ones(N, device="cuda").sum()), device="cuda")
    assert 4 * N <= peak < 4 * N + 2**20


@pytest.mark.parametrize(
    "args, exc, fragment",
    [
        ((3,), TypeError, "fn must be a callable"),
        ((lambda: 0, "tpu"), ValueError, "device"),
    ],
)
def test_peak_memory_bad_input(args, exc, fragment):
    with pytest.raises(exc, match=fragment):
        peak_memory(*args)
