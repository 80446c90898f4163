import numpy as np
import pytest

from labs.common import new_figure, progress
from labs.common.validate import axis_index, float_array, integer, one_of, real_number


def test_real_number():
    assert real_number("t", 2) == 2.0
    with pytest.raises(TypeError, match="t must be a real number"):
        real_number("t", "2")
    with pytest.raises(TypeError):
        real_number("t", True)
    with pytest.raises(ValueError, match="t must be > 0, got 0.0"):
        real_number("t", 0.0, positive=True)
    with pytest.raises(ValueError, match="finite"):
        real_number("t", float("nan"))


def test_integer_and_one_of():
    assert integer("n", np.int64(3), minimum=1) == 3
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        integer("n", 0, minimum=1)
    with pytest.raises(TypeError, match="n must be an int"):
        integer("n", 1.0)
    with pytest.raises(ValueError, match="kind must be one of 'a', 'b'; got 'c'"):
        one_of("kind", "c", ["a", "b"])


def test_float_array():
    assert float_array("x", [1.0, 2.0]).dtype == np.float64
    assert float_array("x", np.ones(2, np.float16)).dtype == np.float16
    with pytest.raises(TypeError, match="x must hold floating-point numbers.*int64"):
        float_array("x", np.arange(3))
    with pytest.raises(ValueError, match="at least 2 dimension"):
        float_array("x", np.ones(3), min_ndim=2)
    with pytest.raises(ValueError, match="NaN or inf"):
        float_array("x", [1.0, np.inf])


def test_axis_index():
    assert axis_index("axis", -1, 3) == 2
    with pytest.raises(ValueError, match="axis=3 is out of range"):
        axis_index("axis", 3, 3)


def test_new_figure_uses_the_course_style():
    import matplotlib as mpl

    fig, axes = new_figure(ncols=2)
    assert len(axes) == 2
    assert mpl.rcParams["axes.spines.top"] is False
    with pytest.raises(ValueError, match="ncols must be a positive int"):
        new_figure(ncols=0)


def test_progress_wraps_and_can_be_disabled(monkeypatch):
    monkeypatch.setenv("LABS_PROGRESS", "off")
    bar = progress(range(3), desc="x")
    assert list(bar) == [0, 1, 2] and bar.disable
    monkeypatch.setenv("LABS_PROGRESS", "on")
    assert not progress(range(3)).disable


def test_seed_refuses_what_torch_cannot_take_and_names_it():
    """NumPy takes any non-negative seed; torch fails deep inside past 2**63, and labs add small
    offsets, so the check stops at 2**62 and names the parameter; 2**62 itself seeds torch."""
    import torch

    from labs.common.validate import MAX_SEED, seed

    assert seed("eval_seed", MAX_SEED) == 2**62
    torch.Generator().manual_seed(MAX_SEED + 1_000_003)  # the largest offset a lab adds
    with pytest.raises(ValueError, match=r"eval_seed must be <= 2\*\*62"):
        seed("eval_seed", 2**62 + 1)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        seed("seed", -1)
    with pytest.raises(TypeError, match="seed must be an int"):
        seed("seed", 3.0)


def test_same_device_names_the_tensor_on_another_device():
    import torch

    from labs.common.validate import same_device

    a, b = torch.zeros(2), torch.zeros(2, device="meta")
    same_device(("a", a), ("b", torch.ones(3)), ("mask", None))  # one device: nothing to say
    with pytest.raises(
        ValueError, match=r"b must be on the device of a \(cpu\), got a tensor on meta"
    ):
        same_device(("a", a), ("mask", None), ("b", b))


def test_real_number_names_an_int_past_floats_range():
    """float(10**400) raises OverflowError, neither a ValueError nor a TypeError; the check
    reports it as a number that is not finite, by name. 10**30 still converts."""
    assert real_number("rent", 10**30) == 1e30
    with pytest.raises(ValueError, match="rent must be finite, got an int of 401 digits"):
        real_number("rent", 10**400)


def test_a_flag_among_numbers_is_refused_by_name():
    """np.asarray reads [1.0, True] as [1.0, 1.0]; the array checks look at the list itself. The
    control: a list of numbers, and a bool array where bools belong, pass."""
    from labs.common.validate import array, holds_bool

    assert holds_bool([[1.0], (2.0, np.True_)]) and not holds_bool([1.0, 2]) and not holds_bool(3)
    with pytest.raises(TypeError, match=r"c_range must hold numbers, not True or False"):
        float_array("c_range", [1e18, True])
    assert float_array("c_range", [1e18, 1e20]).tolist() == [1e18, 1e20]
    assert array("mask", [True, False], dtype="bool").tolist() == [True, False]


def test_on_module_device_holds_a_tensor_to_the_modules_weights():
    import torch

    from labs.common.validate import on_module_device

    model = torch.nn.Linear(2, 2)
    on_module_device("the model", model, ("x", torch.ones(2)))  # one device: nothing to say
    # a module without weights has no device to hold to
    on_module_device("the model", torch.nn.ReLU(), ("x", torch.ones(2, device="meta")))
    with pytest.raises(ValueError, match=r"x must be on the device of the model's weights \(cpu\)"):
        on_module_device("the model", model, ("x", torch.ones(2, device="meta")))
