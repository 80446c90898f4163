"""Regression tests for the worst bad inputs found in chapter 7, each with its exact clear error:
counts that overflowed, a simulator that slipped past its own cap, a writable registry, and
arguments that failed deep inside NumPy, torch or JAX."""

import dataclasses
import re

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from labs.economics import (
    HARDWARE,
    HardwareSpec,
    Scenario,
    measure_matmul_tflops,
    shots_affordable,
    simulate_research_program,
)
from labs.economics import jax as econ_jax
from labs.economics import torch as econ_torch
from labs.economics.widgets import (
    plot_scenarios,
    shots_simulator,
    training_cost_calculator,
    training_cost_report,
)

TOO_MANY_SHOTS = re.escape(
    "budget_usd / (cost_per_shot * hardware_cost_factor) must be <= 1e+15 shots"
)
TOO_MUCH_WORK = re.escape(
    "n_trials * n_ideas * (rounds of shots + 4 x budgets) must be <= 200,000,000"
)


def test_shots_affordable_refuses_a_count_that_would_overflow():
    # 1e21 / 100 = 1e19 shots, past int64's 9.2e18: it used to come back negative.
    with pytest.raises(ValueError, match=TOO_MANY_SHOTS):
        shots_affordable(1e21, 100.0)
    with pytest.raises(ValueError, match=TOO_MANY_SHOTS):
        shots_affordable([1.0, 1e300], 1e-10)
    with pytest.raises(ValueError, match=TOO_MANY_SHOTS):
        simulate_research_program(1e21, 100.0)
    # The largest count allowed is exact (the rounding nudge used to add 1,000 shots here).
    assert shots_affordable(1e15, 1.0)[0] == 10**15
    assert shots_affordable(1e15 - 1.0, 1.0)[0] == 10**15 - 1


def test_shot_price_that_overflows_or_underflows_is_refused():
    with pytest.raises(ValueError, match="cost_per_shot \\* hardware_cost_factor must be"):
        shots_affordable(100.0, 1e200, 1e200)
    with pytest.raises(ValueError, match="cost_per_shot \\* hardware_cost_factor must be"):
        shots_affordable(100.0, 1e-200, 1e-200)


def test_simulator_caps_the_work_it_would_actually_do():
    # Each argument passes its own cap (20M trial-ideas, 10,000 shots per idea), but together
    # they ask for 20M x 10,001 visits: hours of work, refused before any allocation.
    with pytest.raises(ValueError, match=TOO_MUCH_WORK):
        simulate_research_program(1e7, 1.0, n_ideas=1000, n_trials=20_000)
    # Thousands of budgets multiply the work too.
    with pytest.raises(ValueError, match=TOO_MUCH_WORK):
        simulate_research_program(np.full(5000, 1000.0), 10.0, n_trials=2000)


def test_registry_is_read_only_and_its_entries_frozen():
    with pytest.raises(TypeError):
        HARDWARE["H20"] = HARDWARE["H800 SXM"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        HARDWARE["H800 SXM"].interconnect_gbs = 900.0  # type: ignore[misc]


def test_configurations_are_keyword_only_and_checked():
    with pytest.raises(TypeError):
        Scenario("x", "", 10.0)  # type: ignore[misc]
    with pytest.raises(ValueError, match="cost_per_shot must be > 0"):
        Scenario(name="x", cost_per_shot=0.0)
    with pytest.raises(ValueError, match="prior_skill must be in"):
        Scenario(name="x", cost_per_shot=1.0, prior_skill=1.0)
    with pytest.raises(ValueError, match="memory_gbs must be > 0"):
        HardwareSpec(
            name="x", memory_gbs=0.0, interconnect_gbs=1.0, interconnect="PCIe",
            usd_per_hour=1.0, key="x",
        )  # fmt: skip


@pytest.mark.parametrize("dtype", [None, object(), np.int32, "int8"])
def test_numpy_timer_refuses_dtypes_it_cannot_use(dtype):
    with pytest.raises(
        TypeError, match=r"dtype must be a floating-point dtype \(e.g. np.float32\)"
    ):
        measure_matmul_tflops(n=8, dtype=dtype, repeats=1)


@pytest.mark.parametrize("dtype", [None, object(), torch.int32, np.float32])
def test_torch_timer_refuses_dtypes_it_cannot_use(dtype):
    with pytest.raises(TypeError, match="dtype must be a floating-point torch dtype"):
        econ_torch.measure_matmul_tflops(n=8, dtype=dtype, repeats=1)


@pytest.mark.parametrize("dtype", [None, object(), jnp.int32])
def test_jax_timer_refuses_dtypes_it_cannot_use(dtype):
    with pytest.raises(
        TypeError, match=r"dtype must be a floating-point dtype \(e.g. np.float32\)"
    ):
        econ_jax.measure_matmul_tflops(n=8, dtype=dtype, repeats=1)


@pytest.mark.parametrize(
    "timer",
    [measure_matmul_tflops, econ_torch.measure_matmul_tflops, econ_jax.measure_matmul_tflops],
)
def test_timers_cap_sizes_and_seeds_alike(timer):
    with pytest.raises(ValueError, match="n must be <= 16384"):
        timer(n=10**6)
    with pytest.raises(ValueError, match="repeats must be <= 1000"):
        timer(n=8, repeats=10**9)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        timer(n=8, seed=-1)


def test_devices_are_checked_before_any_work():
    with pytest.raises(TypeError, match="device must be a torch.device"):
        econ_torch.measure_matmul_tflops(n=8, device=object())
    with pytest.raises(TypeError, match="device must be a jax.Device"):
        econ_jax.measure_matmul_tflops(n=8, device="gpu")


def test_one_frameworks_arrays_on_another_path():
    w = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(TypeError, match="weight must be a torch.Tensor"):
        econ_torch.Matmul(w)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        econ_torch.Matmul(torch.from_numpy(w))(np.ones((4, 2), dtype=np.float32))
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        from labs.economics import matmul

        matmul(torch.ones(4, 2), w)
    with pytest.raises(TypeError, match="x must be a JAX or NumPy array"):
        econ_jax.matmul({"w": jnp.asarray(w)}, torch.ones(4, 2))


def test_torch_matmul_refuses_mixed_dtypes_clearly():
    layer = econ_torch.Matmul(torch.ones(2, 3, dtype=torch.float32))
    with pytest.raises(TypeError, match="x must have the dtype and device of weight"):
        layer(torch.ones(4, 2, dtype=torch.float64))


def test_jax_matmul_names_params():
    with pytest.raises(ValueError, match="params must hold the weight 'w'"):
        econ_jax.matmul({}, jnp.ones((2, 2)))
    with pytest.raises(ValueError, match='params\\["w"\\] must be finite'):
        econ_jax.matmul({"w": np.array([[np.nan]], dtype=np.float32)}, jnp.ones((1, 1)))
    with pytest.raises(ValueError, match="k \\* n must be <= 268,435,456"):
        econ_jax.init_matmul(econ_jax.jax.random.key(0), 2**20, 2**20)


def test_widgets_refuse_instead_of_clipping_or_hiding():
    # A bad precision used to be swallowed into a "not computable" line.
    with pytest.raises(ValueError, match="precision must be one of"):
        training_cost_report(1000, 1.0, 8, 1e9, 1e9, precision="int8")
    with pytest.raises(TypeError, match="chip must be a string"):
        training_cost_report(1000, 1.0, 8, 1e9, 1e9, chip=None)
    # A default outside its slider's range would be clipped without a word.
    with pytest.raises(ValueError, match="n_gpus must be <= 32768"):
        training_cost_calculator(n_gpus=100_000)
    with pytest.raises(ValueError, match="n_ideas must be <= 1000"):
        shots_simulator(n_ideas=10**6)
    with pytest.raises(TypeError, match="scenarios must be a list of Scenario objects"):
        plot_scenarios(None, [10.0])
    with pytest.raises(ValueError, match="budgets_usd must not be empty"):
        plot_scenarios([Scenario(name="a", cost_per_shot=1.0)], [])


def test_products_of_in_range_arguments_that_overflow_are_refused():
    # Found in the chapter 7 review: each argument was in range, but a product or quotient
    # overflowed or underflowed. They used to raise ZeroDivisionError or OverflowError, or return
    # inf, which these functions reserve for "no volume ever pays".
    from dataclasses import replace

    from labs.economics import (
        binding_bandwidth,
        priced_self_hosting_breakeven,
        self_hosting_breakeven,
        v3_training_step,
    )

    v3 = v3_training_step(0.45)
    with pytest.raises(ValueError, match="the step's compute time.* must be a positive finite"):
        binding_bandwidth(replace(v3, flops_per_token=1e-300, peak_flops=1e300), "inter_node")
    with pytest.raises(ValueError, match="the step's link time overflows"):
        replace(v3, tokens_per_step=1e306, n_gpus=1, flops_per_token=1e-300)
    with pytest.raises(ValueError, match="monthly_fixed_usd / \\(api - self-host price\\) over"):
        self_hosting_breakeven(1e308, 1e-300, 0.0)
    assert self_hosting_breakeven(1e308, 1e-300, 1e-300) == float("inf")  # "never" still is
    with pytest.raises(ValueError, match="the unit's monthly capacity must be a positive finite"):
        priced_self_hosting_breakeven(1.0, 10.0, 1.0, 5e-324, 1, 1e-10)
    with pytest.raises(ValueError, match="the unit's price per million tokens overflows"):
        priced_self_hosting_breakeven(1.0, 10.0, 1e300, 1e-300, 1)
    with pytest.raises(ValueError, match="the units needed overflows"):
        # a unit that saves about 1e-15 dollars a month against people costing 1e300 a month
        priced_self_hosting_breakeven(1e300, 1e6, 1.0, (1 + 1e-15) / 3600, 1, 1.0)
    with pytest.raises(ValueError, match=re.escape("idea_spread must be in [1e-100, 1e+100]")):
        simulate_research_program(10.0, 1.0, idea_spread=1e-200, n_trials=10)
    with pytest.raises(ValueError, match="prediction_noise must be at most 1e\\+06 x idea_spread"):
        simulate_research_program(10.0, 1.0, prediction_noise=1e300, n_trials=10)
    with pytest.raises(ValueError, match="prediction_noise must be at most 1e\\+06 x idea_spread"):
        Scenario(name="lab", cost_per_shot=1.0, prediction_noise=1e5, idea_spread=1e-2)
