"""Second hostile-input audit, chapter 3: tensors on two devices (a `meta` tensor stands for
another device on this CPU-only machine), seeds past what torch's generators take, and the
memory check of `max_batch_throughput` naming both sides. Each bad call must name its parameter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labs.mla import triton as mla_triton
from labs.mla.benchmark import batched_product_flops, decode_benchmark
from labs.mla.cost import max_batch_throughput
from labs.mla.torch import apply_rope
from tests.mla.test_bad_input import MLA  # a small MLA layer


def test_apply_rope_refuses_positions_on_another_device():
    x = torch.randn(1, 3, 2, 4)
    assert apply_rope(x, torch.arange(3)).shape == x.shape
    with pytest.raises(ValueError, match=r"^positions must be on the device of x \(cpu\)"):
        apply_rope(x, torch.arange(3, device="meta"))


def _decode_args() -> dict:
    rng = np.random.default_rng(0)
    f32 = np.float32
    arrays = {
        "q_latent": rng.standard_normal((2, 4, 16)).astype(f32),
        "q_rope": rng.standard_normal((2, 4, 4)).astype(f32),
        "c_kv": rng.standard_normal((5, 4, 16)).astype(f32),  # a pool of 5 pages of 4 rows
        "k_rope": rng.standard_normal((5, 4, 4)).astype(f32),
        "lengths": np.array([6, 3], np.int32),
        "block_table": np.array([[4, 0], [2, 1]], np.int32),
    }
    return {k: torch.from_numpy(v) for k, v in arrays.items()} | {"scale": 0.25, "block": 4}


@pytest.mark.parametrize("moved", ["q_rope", "c_kv", "k_rope", "lengths", "block_table"])
def test_triton_decode_names_the_tensor_on_another_device(moved):
    args = _decode_args()
    args[moved] = args[moved].to("meta")
    with pytest.raises(ValueError, match=rf"^{moved} must be on the device of q_latent \(cpu\)"):
        mla_triton.mla_decode(**args)


@pytest.mark.parametrize(
    "run",
    [
        lambda seed: batched_product_flops(
            rows=4, inner=8, cols=16, batch=2, repeats=1, clock="cpu", seed=seed
        ),
        lambda seed: decode_benchmark(MLA, 4, batch=1, steps=1, repeats=1, seed=seed),
    ],
)
@pytest.mark.parametrize("seed", [2**64, 10**30])
def test_benchmark_seeds_past_torch_s_64_bits_are_refused_by_name(run, seed):
    with pytest.raises(ValueError, match=r"^seed must be <= 2\*\*62"):
        run(seed)


def test_max_batch_throughput_names_weight_bytes_when_the_weights_do_not_fit():
    kwargs = dict(
        config=MLA,
        context=64,
        memory_bytes=1e9,
        active_params=5e7,
        peak_flops_per_s=1e12,
        peak_bytes_per_s=1e11,
    )
    assert max_batch_throughput(**kwargs, weight_bytes=1e8)
    with pytest.raises(ValueError, match=r"^memory_bytes must hold .*weight_bytes=1e\+30"):
        max_batch_throughput(**kwargs, weight_bytes=10**30)
