"""`validate.finite_result` and `validate.learning_rate`: finite but huge input refused clearly."""

import math

import numpy as np
import pytest
import torch

from labs.common.validate import MAX_LEARNING_RATE, finite_result, learning_rate


def test_finite_result_passes_a_finite_result_through_unchanged():
    out = (np.ones(3, np.float32), {"loss": 2.0, "ids": np.arange(3)})
    assert finite_result("the result", out, inputs={"x": 1e30}) is out


@pytest.mark.filterwarnings("ignore:overflow")
def test_finite_result_names_the_inputs_largest_first_and_the_format():
    x = np.full(4, 1e30, np.float32)
    with np.errstate(over="ignore"):
        scores = x * x  # 1e60 overflows float32
    with pytest.raises(ValueError) as err:
        finite_result("the scores", scores, inputs={"scale": 0.5, "x": x})
    message = str(err.value)
    assert message.startswith("the scores came out NaN or inf in float32 (largest finite value 3.4")
    assert message.index("x holds values up to 1e+30") < message.index("scale = 0.5")


def test_finite_result_reads_nested_results_of_every_framework():
    nan_in_dict = {"curve": torch.tensor([1.0, math.nan])}
    with pytest.raises(ValueError, match=r"in float32 .*alpha = 1e\+300"):
        finite_result("the curves", (0.0, nan_in_dict), inputs={"alpha": 1e300})
    with pytest.raises(ValueError, match=r"in float64 .*N = 1e\+300"):
        finite_result("6 N D", math.inf, inputs={"N": 1e300})


def test_finite_result_refuses_a_call_that_names_no_input():
    with pytest.raises(ValueError, match="inputs must name at least one input"):
        finite_result("the loss", 1.0, inputs={})
    with pytest.raises(TypeError, match="inputs must be a dict"):
        finite_result("the loss", 1.0, inputs=None)


def test_learning_rate_is_capped_with_the_reason():
    assert learning_rate("lr", 3e-2) == 3e-2
    assert learning_rate("lr", MAX_LEARNING_RATE) == MAX_LEARNING_RATE
    with pytest.raises(ValueError, match=r"lr must be <= 10.0 \(a larger step.*got 1000.0"):
        learning_rate("lr", 1e3)
    with pytest.raises(ValueError, match="lr must be > 0"):
        learning_rate("lr", 0.0)


def _frameworks(values, dtype_name):
    import jax.numpy as jnp

    host = np.asarray(values, dtype=np.float64)
    yield "numpy", host.astype(dtype_name)
    yield "torch", torch.tensor(host, dtype=getattr(torch, dtype_name))
    yield "jax", jnp.asarray(host, dtype=dtype_name)


@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16", "float32"])
def test_huge_finite_values_whose_sum_overflows_are_finite_and_one_nan_or_inf_is_not(dtype_name):
    """The check sums first (a NaN or inf anywhere makes the sum non-finite) and reads element by
    element only when the sum is not finite. Values near the format's maximum overflow the sum
    while every element is finite: they must pass. The same values with one NaN, one inf, or
    +inf beside -inf (whose sum is NaN) must fail, in every framework."""
    if dtype_name == "bfloat16":
        import ml_dtypes

        top = float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)
    else:
        top = float(np.finfo(dtype_name).max)
    huge = np.full(64, top * 0.9)
    for framework, value in _frameworks(huge, dtype_name):
        assert finite_result("the output", value, inputs={"x": 1.0}) is value, framework
    for bad in (math.nan, math.inf, -math.inf):
        spoilt = huge.copy()
        spoilt[37] = bad
        for framework, value in _frameworks(spoilt, dtype_name):
            with pytest.raises(ValueError, match="came out NaN or inf"):
                finite_result("the output", value, inputs={framework: 1.0})
    both = np.zeros(8)
    both[[2, 5]] = [math.inf, -math.inf]
    for framework, value in _frameworks(both, dtype_name):
        with pytest.raises(ValueError, match=f"NaN or inf .*from {framework}"):
            finite_result("the output", value, inputs={framework: "an input"})
