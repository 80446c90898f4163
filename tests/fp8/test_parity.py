"""NumPy, PyTorch and JAX run the same kernels on the same inputs.

Tolerances: quantisation, the limited accumulator and the FP8 casts do the same float32
operations in the same order in all three frameworks, so they must agree bit for bit (tolerance
zero). The float32 GEMM of accumulate="fp32" sums in an order each library's BLAS picks: a few
float32 ulps of the sum of |products| (rtol 1e-5 of that scale).
"""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import labs.fp8 as ref
from labs.fp8 import E4M3, E5M2, GRANULARITIES
from labs.fp8 import jax as fjax
from labs.fp8 import torch as ftorch

BLOCK = 4

matrices = arrays(
    np.float32,
    st.tuples(st.sampled_from([4, 8]), st.sampled_from([4, 8])),
    # XLA flushes float32 subnormals (< 1.2e-38) to zero, NumPy and torch keep them: a group
    # whose max-abs is subnormal gets scale 1 in JAX, 2**-126 elsewhere (all its codes are 0
    # in both). Parity is asserted on normal floats, where the three agree bit for bit.
    elements=st.floats(-3e4, 3e4, allow_nan=False, allow_subnormal=False, width=32),
)


def as_codes(q) -> np.ndarray:
    if isinstance(q, torch.Tensor):
        return q.view(torch.uint8).numpy()
    return np.asarray(q).view(np.uint8)


@settings(max_examples=40, deadline=None)
@given(x=matrices, granularity=st.sampled_from(GRANULARITIES), fmt=st.sampled_from([E4M3, E5M2]))
def test_quantize_is_bit_identical(x, granularity, fmt):
    codes, scales = ref.quantize(x, fmt, granularity, BLOCK)
    q_t, s_t = ftorch.quantize(torch.from_numpy(x), fmt, granularity, BLOCK)
    q_j, s_j = fjax.quantize(jnp.asarray(x), fmt, granularity, BLOCK)
    for q, s in ((q_t, s_t), (q_j, s_j)):
        np.testing.assert_array_equal(as_codes(q), codes)
        np.testing.assert_array_equal(np.asarray(s), scales)
    expected = ref.dequantize(codes, scales, fmt, granularity, BLOCK)
    np.testing.assert_array_equal(ftorch.dequantize(q_t, s_t, granularity, BLOCK), expected)
    np.testing.assert_array_equal(
        np.asarray(fjax.dequantize(q_j, s_j, granularity, BLOCK)), expected
    )


def test_v3_layout_at_128_is_bit_identical():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((256, 384)) * np.exp2(rng.uniform(-10, 10, (256, 384)))).astype(
        np.float32
    )
    for granularity in ("tile", "block"):
        expected = ref.fake_quantize(x, E4M3, granularity)
        np.testing.assert_array_equal(
            ftorch.fake_quantize(torch.from_numpy(x), E4M3, granularity).numpy(), expected
        )
        np.testing.assert_array_equal(
            np.asarray(fjax.fake_quantize(jnp.asarray(x), E4M3, granularity)), expected
        )


@pytest.mark.parametrize("fmt", [E4M3, E5M2], ids=lambda f: f.name)
@pytest.mark.parametrize("saturate", [True, False])
def test_casts_follow_the_documented_overflow_rule(fmt, saturate):
    x = np.array([1e6, -1e6, np.inf, -np.inf, 464, 465, 61440, 3e-3, -0.0, 1.0], np.float32)
    expected = ref.decode(ref.encode(x, fmt, saturate), fmt)
    got_t = ftorch.to_fp8(torch.from_numpy(x), fmt, saturate).float().numpy()
    got_j = np.asarray(fjax.to_fp8(jnp.asarray(x), fmt, saturate).astype(jnp.float32))
    # NaN codes differ between libraries (0x7E vs 0x7F for E5M2): compare values, NaN == NaN
    np.testing.assert_array_equal(got_t, expected)
    np.testing.assert_array_equal(got_j, expected)


@pytest.mark.parametrize("rounding", ["truncate", "nearest"])
@pytest.mark.parametrize("promote_every", [None, 7, 128])
def test_limited_sum_is_bit_identical(rounding, promote_every):
    rng = np.random.default_rng(1)
    v = rng.standard_normal((6, 300)).astype(np.float32)
    expected = ref.limited_sum(v, 14, promote_every, rounding)
    got_t = ftorch.limited_sum(torch.from_numpy(v), 14, promote_every, rounding).numpy()
    got_j = np.asarray(fjax.limited_sum(jnp.asarray(v), 14, promote_every, rounding))
    np.testing.assert_array_equal(got_t, expected)
    np.testing.assert_array_equal(got_j, expected)


@pytest.mark.parametrize("accumulate", ["fp32", "limited"])
def test_fp8_matmul_agrees(accumulate):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((16, 256)).astype(np.float32)
    b = rng.standard_normal((256, 128)).astype(np.float32)
    expected = ref.fp8_matmul(a, b, accumulate=accumulate)
    got_t = ftorch.fp8_matmul(torch.from_numpy(a), torch.from_numpy(b), accumulate=accumulate)
    got_j = fjax.fp8_matmul(jnp.asarray(a), jnp.asarray(b), accumulate=accumulate)
    if accumulate == "limited":
        np.testing.assert_array_equal(got_t.numpy(), expected)
        np.testing.assert_array_equal(np.asarray(got_j), expected)
    else:
        scale = np.abs(a) @ np.abs(b)
        for got in (got_t.numpy(), np.asarray(got_j)):
            assert np.all(np.abs(got - expected) <= 1e-5 * scale)


def test_fp8_linear_layers_agree():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 128)).astype(np.float32)
    layer = ftorch.FP8Linear(128, 256)
    params = {
        "kernel": jnp.asarray(layer.weight.detach().numpy().T),
        "bias": jnp.asarray(layer.bias.detach().numpy()),
    }
    expected_in = ref.fake_quantize(x, E4M3, "tile")
    expected_w = ref.fake_quantize(layer.weight.detach().numpy(), E4M3, "block")
    expected = expected_in @ expected_w.T + layer.bias.detach().numpy()
    got_t = layer(torch.from_numpy(x)).detach().numpy()
    got_j = np.asarray(fjax.fp8_linear(params, jnp.asarray(x)))
    scale = np.abs(expected_in) @ np.abs(expected_w.T) + 1
    assert np.all(np.abs(got_t - expected) <= 1e-5 * scale)
    assert np.all(np.abs(got_j - expected) <= 1e-5 * scale)
