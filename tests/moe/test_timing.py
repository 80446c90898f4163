"""Chapter 4's timings of a MoE layer's parts (labs.moe.timing): that they run the work they say
they time, counted in matrix products, and that bad input is refused with the parameter named.

The times themselves depend on the machine; the chapter checks them against each other."""

from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from labs.moe import MoEConfig
from labs.moe.timing import measured_layer_seconds, routed_expert_seconds

TINY = MoEConfig(d_model=8, d_expert=4, n_routed=4, n_shared=1, k=2)


def _matrix_products(call) -> int:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        call()
    return sum(event.name == "aten::mm" for event in prof.events())


def test_one_routed_expert_runs_the_products_of_one_expert_in_the_layer():
    """The layer's input needs no gradient, so one expert's forward and backward is 7 matrix
    products: W1, W3, W2 forward, their weight gradients, and W2's input gradient (the layer's
    37 = 7 x 5 + 2, test_roofline). One warm-up call and `repeats` = 2 timed ones: 3 x 7."""
    seconds = []
    count = _matrix_products(
        lambda: seconds.append(
            routed_expert_seconds(d_model=8, n_experts=4, k=2, d_expert=4, tokens=64, repeats=2)
        )
    )
    assert count == 21
    assert seconds[0] > 0


@pytest.mark.parametrize("select", ["unbind", "index"])
def test_the_old_and_new_one_expert_timings_run_the_same_products(select):
    """`routed_expert_seconds(select=...)` times one expert's share as the layer runs it now
    ("unbind") and as its loop ran it before ("index"): the same 7 matrix products either way."""
    seconds = []
    count = _matrix_products(
        lambda: seconds.append(
            routed_expert_seconds(
                d_model=8, n_experts=4, k=2, d_expert=4, tokens=64, repeats=2, select=select
            )
        )
    )
    assert count == 21
    assert seconds[0] > 0


def test_measured_layers_run_forward_only_on_the_cpu():
    """The same code path a GPU runs, on the CPU with a tiny layer. Forward only: the MoE runs
    its shared SwiGLU (3 products), the router (1) and its 4 routed experts, every one hit at 64
    tokens top-2 (a chance of 4 x 2^-64 to miss one), 3 each: 16; the dense layer 3. A warm-up
    and one timed call of each: 2 x (16 + 3) = 38. With gradients it would be 37 + 7 per call."""
    result = {}
    count = _matrix_products(
        lambda: result.update(measured_layer_seconds(TINY, 64, device="cpu", repeats=1))
    )
    assert count == 38
    assert result["device"] == "cpu" and result["moe"] > 0 and result["dense_total"] > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CUDA events)")
def test_measured_layers_on_the_gpu():
    result = measured_layer_seconds(TINY, 64, device="cuda", dtype=torch.bfloat16, repeats=2)
    assert result["device"] == torch.cuda.get_device_name()
    assert result["moe"] > 0 and result["dense_total"] > 0


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: routed_expert_seconds(n_experts=0), ValueError, "n_experts"),
        (lambda: routed_expert_seconds(tokens=2, k=2, n_experts=8), ValueError, "tokens \\* k"),
        (lambda: routed_expert_seconds(repeats=0), ValueError, "repeats"),
        (lambda: routed_expert_seconds(select="gather"), ValueError, "select"),
        (lambda: routed_expert_seconds(select=0), TypeError, "select"),
        (lambda: routed_expert_seconds(tokens=64.0), TypeError, "tokens"),
        (lambda: measured_layer_seconds("V3", 64), TypeError, "config"),
        (lambda: measured_layer_seconds(TINY, 0), ValueError, "tokens"),
        (lambda: measured_layer_seconds(TINY, 64, device="meta"), ValueError, "CPU or a CUDA"),
        (lambda: measured_layer_seconds(TINY, 64, device=3.0), TypeError, "device"),
        (lambda: measured_layer_seconds(TINY, 64, dtype="float32"), TypeError, "dtype"),
        (lambda: measured_layer_seconds(TINY, 64, dtype=torch.float64), ValueError, "dtype"),
        (lambda: measured_layer_seconds(TINY, 64, repeats=101), ValueError, "repeats"),
    ],
)
def test_refused_with_the_parameter_named(call, error, words):
    with pytest.raises(error, match=words):
        call()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_a_gpu_this_machine_lacks_is_refused():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        measured_layer_seconds(TINY, 64, device="cuda")
