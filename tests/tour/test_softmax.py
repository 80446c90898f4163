"""The tour's kernel: NumPy reference, PyTorch and JAX agree with each other and with SciPy."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labs.tour import entropy, naive_softmax, overflow_threshold, softmax
from labs.tour import jax as tour_jax
from labs.tour import torch as tour_torch
from tests.conftest import requires_gpu

# float64 inputs: the three implementations do the same operations in the same order up to
# reduction order, so they agree to ~1e-12; SciPy's softmax is the independent reference.
RTOL, ATOL = 1e-10, 1e-12

logit_arrays = arrays(
    np.float64,
    st.tuples(st.integers(1, 4), st.integers(1, 17)),
    elements=st.floats(-500, 500, allow_nan=False),
)


@settings(max_examples=60, deadline=None)
@given(x=logit_arrays, axis=st.sampled_from([0, 1, -1]), t=st.floats(0.05, 20.0))
def test_three_frameworks_agree_with_scipy(x, axis, t):
    expected = scipy.special.softmax(x / t, axis=axis)
    np.testing.assert_allclose(softmax(x, axis, t), expected, rtol=RTOL, atol=ATOL)
    got_torch = tour_torch.softmax(torch.from_numpy(x), axis, t).numpy()
    np.testing.assert_allclose(got_torch, expected, rtol=RTOL, atol=ATOL)


@settings(max_examples=30, deadline=None)
@given(x=logit_arrays, t=st.floats(0.05, 20.0))
def test_jax_agrees_in_float32(x, t):
    # JAX defaults to 32-bit floats: compare in float32, whose rounding sets the tolerance.
    x32 = x.astype(np.float32)
    expected = scipy.special.softmax(x32.astype(np.float64) / t, axis=-1)
    got = np.asarray(tour_jax.softmax(jnp.asarray(x32), -1, t))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


@given(x=logit_arrays, shift=st.floats(-1e3, 1e3))
def test_shift_invariance(x, shift):
    np.testing.assert_allclose(softmax(x + shift), softmax(x), rtol=1e-9, atol=1e-12)


def test_dtype_and_device_are_kept():
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    assert softmax(x).dtype == np.float32
    assert tour_torch.softmax(torch.from_numpy(x)).dtype == torch.float32
    assert softmax(x.astype(np.float16)).dtype == np.float16


def test_temperature_limits():
    x = np.array([2.0, 1.0, 0.0])
    np.testing.assert_allclose(softmax(x, temperature=1e-3), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(softmax(x, temperature=1e6), [1 / 3] * 3, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_overflow_threshold_is_the_edge_of_exp(dtype):
    t = overflow_threshold(dtype)
    below = np.nextafter(dtype(t), dtype(0))
    above = np.nextafter(dtype(t), dtype(np.inf))
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(below))
        assert np.isinf(np.exp(above))


def test_naive_softmax_breaks_where_stable_does_not():
    x = np.array([100.0, 99.0], dtype=np.float32)
    assert np.isnan(naive_softmax(x)).any()
    np.testing.assert_allclose(softmax(x), scipy.special.softmax([1.0, 0.0]), rtol=1e-6)


def test_entropy():
    assert entropy(np.full(8, 1 / 8)) == pytest.approx(np.log(8))
    assert entropy(np.array([1.0, 0.0, 0.0])) == 0.0
    with pytest.raises(ValueError, match="sum to 1"):
        entropy(np.array([0.5, 0.6]))
    with pytest.raises(ValueError, match="non-negative"):
        entropy(np.array([1.5, -0.5]))


BAD_INPUTS = [
    (np.arange(3), {}, TypeError, "floating"),
    (np.float64(1.0), {}, ValueError, "at least (1|one) dimension"),
    (np.ones(3), {"temperature": 0.0}, ValueError, "temperature must be > 0"),
    (np.ones(3), {"temperature": "hot"}, TypeError, "temperature must be a real number"),
    (np.ones(3), {"axis": 1}, ValueError, "axis"),
]


@pytest.mark.parametrize("x, kwargs, exc, fragment", BAD_INPUTS)
def test_bad_input_numpy(x, kwargs, exc, fragment):
    with pytest.raises(exc, match=fragment):
        softmax(x, **kwargs)


@pytest.mark.parametrize("x, kwargs, exc, fragment", BAD_INPUTS)
def test_bad_input_torch(x, kwargs, exc, fragment):
    with pytest.raises(exc, match=fragment):
        tour_torch.softmax(torch.as_tensor(x), **kwargs)


@pytest.mark.parametrize("x, kwargs, exc, fragment", BAD_INPUTS)
def test_bad_input_jax(x, kwargs, exc, fragment):
    with pytest.raises(exc, match=fragment):
        tour_jax.softmax(jnp.asarray(x), **kwargs)


def test_nan_input_is_rejected_not_propagated():
    with pytest.raises(ValueError, match="NaN or inf"):
        softmax(np.array([1.0, np.nan]))


def test_torch_rejects_non_tensors():
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        tour_torch.softmax([1.0, 2.0])


@requires_gpu
def test_torch_softmax_on_gpu_matches_cpu():
    x = torch.randn(64, 1000, dtype=torch.float32)
    got = tour_torch.softmax(x.cuda()).cpu()
    torch.testing.assert_close(got, tour_torch.softmax(x), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("framework", ["numpy", "torch", "jax"])
def test_float16_softmax_survives_a_vocabulary_past_float16_max(framework):
    # 129,280 equal logits (DeepSeek-V3's vocabulary): each exponential is 1, and a float16 sum of
    # them rounds to inf (float16's largest value is 65,504), which turns every probability into 0.
    # The kernels sum in float32. The naive formula, summing in float16, is the control that must
    # fail.
    z = np.zeros(129_280, np.float16)
    if framework == "numpy":
        p = softmax(z)
    elif framework == "torch":
        p = tour_torch.softmax(torch.from_numpy(z)).numpy()
    else:
        p = np.asarray(tour_jax.softmax(jnp.asarray(z)))
    assert p.dtype == np.float16
    # float16 rounds 1/129,280 to a subnormal 0.2% too large: the total is 1.0017.
    assert abs(p.astype(np.float64).sum() - 1) < 0.005
    assert naive_softmax(z).astype(np.float64).sum() == 0.0
