"""labs.scaling.serving: the time per FLOP of decoded and trained tokens, and its bad input."""

import numpy as np
import pytest

from labs.scaling.serving import TokenCosts, measure_token_costs


def test_decoding_one_token_at_a_time_costs_more_per_flop_than_a_batch():
    # 4 x 1024^2 float32 weights (16 MiB): at batch 1 a decoding step is a matrix-vector product
    # per layer, at batch 256 a matrix product; per FLOP the first is slower on any CPU
    costs = measure_token_costs(width=1024, layers=4, batches=(1, 256), train_batch=64, repeats=2)
    assert costs.params == 4 * 1024**2 and costs.batches == (1, 256) and costs.device == "cpu"
    gain = costs.measured_gain
    assert gain.shape == (2,) and np.isfinite(gain).all()
    assert gain[0] > 2 * gain[1]
    # the model's prediction falls with the batch and never goes below 1 (compute-bound)
    assert costs.predicted_gain[0] > costs.predicted_gain[1] >= 1.0
    # the product at M = b is timed too; its rate enters the shape model
    assert costs.product_flops_per_s.shape == (2,) and (costs.product_flops_per_s > 0).all()
    assert np.isfinite(costs.shape_gain).all() and (costs.shape_gain > 0).all()


def test_shape_gain_takes_the_slower_of_the_stream_and_the_product_at_m_equals_b():
    costs = TokenCosts(
        device="cpu",
        params=4096,
        batches=(1, 64),
        decode_seconds_per_flop=np.array([8e-11, 2e-11]),
        train_seconds_per_flop=1e-11,
        flops_per_s=1e11,
        bytes_per_s=2e10,
        predicted_gain=np.array([10.0, 1.0]),
        product_flops_per_s=np.array([2e10, 5e10]),
    )
    # batch 1: the stream, 4 / (2 x 2e10) = 1e-10 s per FLOP, is slower than the product's 5e-11;
    # batch 64: the stream's 1.6e-12 is far below the product's 2e-11, so the product sets it
    assert np.allclose(costs.shape_gain, [10.0, 2.0])
    with pytest.raises(ValueError, match="product_flops_per_s"):
        TokenCosts(**{**costs.__dict__, "product_flops_per_s": np.array([1e10])})


def test_restores_the_thread_count():
    import torch

    before = torch.get_num_threads()
    measure_token_costs(width=16, layers=1, batches=(1,), train_batch=2, repeats=1, threads=2)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batches": ()}, ValueError, "batches must hold at least one"),
        ({"batches": "1,2"}, TypeError, "batches must be a sequence"),
        ({"batches": (1, 0)}, ValueError, r"batches\[1\]"),
        ({"batches": tuple(range(1, 18))}, ValueError, "at most 16"),
        ({"width": 16_384, "layers": 4}, ValueError, "at most 2 GiB"),
        ({"width": 0}, ValueError, "width"),
        ({"train_batch": 1.5}, TypeError, "train_batch"),
        ({"device": "tpu"}, ValueError, "device"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_bad_input_names_the_parameter(kwargs, error, match):
    with pytest.raises(error, match=match):
        measure_token_costs(**{"width": 16, "layers": 1, "repeats": 1, **kwargs})
