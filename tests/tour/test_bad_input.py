"""Regression tests for the tour's worst cases in the hostile-input audit: the same clear error
in NumPy, PyTorch and JAX, never a silent NaN."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from labs.tour import jax as tour_jax
from labs.tour import softmax
from labs.tour import torch as tour_torch

FRAMEWORKS = {
    "numpy": (softmax, np.asarray),
    "torch": (tour_torch.softmax, torch.as_tensor),
    "jax": (tour_jax.softmax, jnp.asarray),
}


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    "temperature, message",
    [
        (float("inf"), "temperature must be finite"),
        (float("nan"), "temperature must be finite"),
        (1e-320, "temperature must be >= 1.18e-38 for float32"),
        (-1.0, "temperature must be > 0"),
        (1 + 1j, "temperature must be a real number"),
    ],
)
def test_bad_temperatures_are_refused_in_every_framework(framework, temperature, message):
    fn, to_array = FRAMEWORKS[framework]
    x = to_array(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    with pytest.raises((ValueError, TypeError), match=message):
        fn(x, temperature=temperature)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_smallest_allowed_temperature_gives_the_argmax_not_nan(framework):
    # Subtracting the max before dividing by T keeps a tiny T finite: the limit is one-hot.
    fn, to_array = FRAMEWORKS[framework]
    x = to_array(np.array([1.0, 3.0, 2.0], dtype=np.float32))
    got = np.asarray(fn(x, temperature=float(np.finfo(np.float32).tiny)))
    np.testing.assert_array_equal(got, [0.0, 1.0, 0.0])


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    "values, message",
    [
        ([1.0, np.nan], "x must be finite"),
        ([1.0, np.inf], "x must be finite"),
        (np.zeros((2, 0)), "x must not be empty"),
    ],
)
def test_non_finite_and_empty_logits_are_refused(framework, values, message):
    fn, to_array = FRAMEWORKS[framework]
    with pytest.raises(ValueError, match=message):
        fn(to_array(np.asarray(values, dtype=np.float32)))


def test_one_frameworks_arrays_on_another_path_are_refused():
    with pytest.raises(TypeError, match="x must be a NumPy array, got a torch tensor"):
        softmax(torch.ones(3))
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got a NumPy array"):
        tour_torch.softmax(np.ones(3))
    with pytest.raises(TypeError, match="x must be a JAX or NumPy array, got a torch tensor"):
        tour_jax.softmax(torch.ones(3))
