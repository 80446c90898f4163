import math

import ipywidgets
import numpy as np
import pytest

from labs.economics import Scenario
from labs.economics.exercises import (
    check_breakeven_tokens_per_day,
    check_mfu_from_run,
    check_training_days_wall_clock,
)
from labs.economics.widgets import (
    plot_scenarios,
    shots_simulator,
    training_cost_calculator,
    training_cost_report,
)


def stub(*args):
    raise NotImplementedError


def test_training_days_exercise():
    def training_days_wall_clock(gpu_hours, n_gpus):
        return gpu_hours / n_gpus / 24

    def forgot_the_gpus(gpu_hours, n_gpus):  # a typical mistake
        return gpu_hours / 24

    assert check_training_days_wall_clock(training_days_wall_clock).passed
    report = check_training_days_wall_clock(forgot_the_gpus)
    assert report.status == "failed" and "2 GPUs" in str(report) and "GPUs" in str(report)
    assert check_training_days_wall_clock(stub).status == "not attempted"


def test_mfu_exercise():
    def mfu_from_run(active_params, tokens, gpu_hours, peak_tflops):
        return 6 * active_params * tokens / (gpu_hours * 3600 * peak_tflops * 1e12)

    def two_nd(active_params, tokens, gpu_hours, peak_tflops):  # forward pass only
        return 2 * active_params * tokens / (gpu_hours * 3600 * peak_tflops * 1e12)

    assert check_mfu_from_run(mfu_from_run).passed
    report = check_mfu_from_run(two_nd)
    assert report.status == "failed" and "expected 0.6, got 0.2" in str(report)
    assert "6 FLOPs per parameter" in str(report)
    assert check_mfu_from_run(stub).status == "not attempted"


def test_breakeven_exercise():
    def breakeven_tokens_per_day(monthly_fixed_usd, api_usd_per_million, own_usd_per_million):
        if own_usd_per_million >= api_usd_per_million:
            return math.inf
        return monthly_fixed_usd / (api_usd_per_million - own_usd_per_million) * 1e6 / 30

    def per_month(monthly_fixed_usd, api_usd_per_million, own_usd_per_million):  # forgot /30
        return monthly_fixed_usd / (api_usd_per_million - own_usd_per_million) * 1e6

    assert check_breakeven_tokens_per_day(breakeven_tokens_per_day).passed
    report = check_breakeven_tokens_per_day(per_month)
    assert report.status == "failed" and "30 days" in str(report)
    assert check_breakeven_tokens_per_day(stub).status == "not attempted"


def test_training_cost_report_for_v3():
    text = training_cost_report(2_788_000, 2.0, 2048, 37e9, 14.8e12)
    assert "$5,576,000" in text and "56.7 days" in text and "MFU on H800 SXM" in text
    no_fp8 = training_cost_report(1000, 1.0, 8, 1e9, 1e9, chip="A100 SXM", precision="fp8")
    assert "not computable" in no_fp8
    with pytest.raises(ValueError, match="chip must be one of"):
        training_cost_report(1, 1.0, 1, 1e9, 1e9, chip="V100")


def test_widgets_build():
    assert isinstance(training_cost_calculator(), ipywidgets.interactive)
    assert isinstance(shots_simulator(), ipywidgets.interactive)


def test_plot_scenarios_draws_one_line_per_scenario():
    scenarios = [
        Scenario(name="a", description="", cost_per_shot=10.0),
        Scenario(name="b", description="", cost_per_shot=10.0, hardware_cost_factor=2.0),
    ]
    ax, results = plot_scenarios(scenarios, np.geomspace(10, 1000, 5), n_trials=50)
    assert len(ax.get_lines()) == 2 and len(results) == 2
    assert ax.get_xscale() == "log"
    with pytest.raises(TypeError, match="Scenario"):
        plot_scenarios(["a"], [10.0], n_trials=10)
