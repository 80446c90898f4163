"""The measured peak of one call: known allocations, a do-nothing control, and fallbacks."""

import pytest
import torch

from labs.grpo import peak_memory as pm
from labs.grpo.torch import cpu_peak_supported, peak_memory

MIB = 2**20
cpu_only = pytest.mark.skipif(not cpu_peak_supported(), reason="needs Linux /proc and glibc")


@cpu_only
def test_cpu_peak_sees_a_held_and_a_transient_allocation():
    n = 64 * MIB // 4  # float32 elements in 64 MiB, written so that every page is touched
    held, peak = peak_memory(lambda: torch.ones(n))
    assert held.numel() == n
    assert 64 * MIB <= peak < 64 * MIB + 16 * MIB
    del held

    def transient():
        x = torch.ones(n)
        return float(x[0])  # the 64 MiB are freed before the call returns

    value, peak = peak_memory(transient)
    assert value == 1.0 and 64 * MIB <= peak < 64 * MIB + 16 * MIB


@cpu_only
def test_cpu_peak_of_a_call_that_allocates_nothing_is_small():
    value, peak = peak_memory(lambda: 3)
    assert value == 3 and peak < 4 * MIB  # the negative control: far below 64 MiB


def test_no_measurement_where_it_is_not_available(monkeypatch):
    monkeypatch.setattr(pm, "cpu_peak_supported", lambda: False)
    assert peak_memory(lambda: "ran") == ("ran", None)
    if not torch.cuda.is_available():
        assert peak_memory(lambda: "ran", device="cuda") == ("ran", None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_peak_sees_an_allocation():
    n = 64 * MIB // 4
    _, peak = peak_memory(lambda: float(torch.ones(n, device="cuda").sum()), device="cuda")
    assert 64 * MIB <= peak < 80 * MIB


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
