import math

import ipywidgets
import numpy as np
import pytest

from labs.economics import ALLOCATIONS, Scenario
from labs.economics.exercises import (
    check_ib_bandwidth_where_dispatch_binds,
    check_nodes_to_own,
    check_plan_run,
)
from labs.economics.widgets import (
    plot_scenarios,
    shots_simulator,
    training_cost_calculator,
    training_cost_report,
)


def stub(*args):
    raise NotImplementedError


def test_plan_run_exercise():
    def plan_run(budget_usd, usd_per_gpu_hour, peak_tflops, mfu):
        n = math.sqrt(budget_usd / usd_per_gpu_hour * 3600 * peak_tflops * 1e12 * mfu / 120)
        return n, 20 * n

    def linear(budget_usd, usd_per_gpu_hour, peak_tflops, mfu):  # N proportional to compute
        c = budget_usd / usd_per_gpu_hour * 3600 * peak_tflops * 1e12 * mfu
        n = c / 120 / math.sqrt(7.5e21)  # right on the first case only
        return n, 20 * n

    def forgot_tera(budget_usd, usd_per_gpu_hour, peak_tflops, mfu):
        n = math.sqrt(budget_usd / usd_per_gpu_hour * 3600 * peak_tflops * mfu / 120)
        return n, 20 * n

    assert check_plan_run(plan_run).passed
    assert check_plan_run(linear).status == "failed"  # right on the first case, wrong after
    assert "square root" in str(check_plan_run(linear))
    assert check_plan_run(forgot_tera).status == "failed"
    assert "10^-6 times the expected value: a unit conversion" in str(check_plan_run(forgot_tera))

    def swapped(*args):
        return plan_run(*args)[::-1]

    def per_second(budget_usd, usd_per_gpu_hour, peak_tflops, mfu):  # GPU-hours taken as seconds
        n = math.sqrt(budget_usd / usd_per_gpu_hour * peak_tflops * 1e12 * mfu / 120)
        return n, 20 * n

    def full_peak(budget_usd, usd_per_gpu_hour, peak_tflops, mfu):
        return plan_run(budget_usd, usd_per_gpu_hour, peak_tflops, 1.0)

    def six_n_squared(budget_usd, usd_per_gpu_hour, peak_tflops, mfu):
        n = math.sqrt(budget_usd / usd_per_gpu_hour * 3600 * peak_tflops * 1e12 * mfu / 6)
        return n, 20 * n

    def forward_only(budget_usd, usd_per_gpu_hour, peak_tflops, mfu):  # C = 2 N D
        n = math.sqrt(budget_usd / usd_per_gpu_hour * 3600 * peak_tflops * 1e12 * mfu / 40)
        return n, 20 * n

    def divides_by_mfu(budget_usd, usd_per_gpu_hour, peak_tflops, mfu):
        n = math.sqrt(budget_usd / usd_per_gpu_hour * 3600 * peak_tflops * 1e12 / mfu / 120)
        return n, 20 * n

    # each wrong plan is told its own mistake, not only "expected ..., got ..."
    for wrong, says in (
        (swapped, "reverse order: items swapped?"),
        (per_second, "1/60 of the expected value"),
        (full_peak, "multiply the FLOPs by mfu"),
        (six_n_squared, "C = 6 N D = 120 N^2"),
        (forward_only, "the forward pass alone"),
        (divides_by_mfu, "your plan divides by mfu"),
    ):
        report = str(check_plan_run(wrong))
        assert "what is wrong: " in report and says in report, report
    assert check_plan_run(stub).status == "not attempted"


def test_nodes_to_own_exercise():
    def solution(hourly_nodes, owned, rent):
        def day(k):
            return k * len(hourly_nodes) * owned + sum(max(0, n - k) for n in hourly_nodes) * rent

        return min(range(max(hourly_nodes) + 1), key=day)

    def peak(hourly_nodes, owned, rent):  # sizes the owned fleet for the busiest hour
        return max(hourly_nodes)

    def average(hourly_nodes, owned, rent):
        return round(sum(hourly_nodes) / len(hourly_nodes))

    assert check_nodes_to_own(solution).passed
    # each sizing is told its own mistake, not "off by one" (3 is one above the right 2)
    for wrong, says in ((peak, "sized the fleet for the peak"), (average, "for the average load")):
        report = check_nodes_to_own(wrong)
        assert report.status == "failed" and "peak" in str(report)
        assert says in str(report) and "off by one" not in str(report), str(report)
    assert check_nodes_to_own(stub).status == "not attempted"


def test_nodes_to_own_rejects_a_fixed_share_and_the_largest_tie():
    def half_busy(hourly_nodes, owned, rent):  # owns every node busy half the hours, any price
        return max(k for k in range(max(hourly_nodes) + 1)
                   if sum(n >= k for n in hourly_nodes) >= len(hourly_nodes) / 2)  # fmt: skip

    def largest_on_tie(hourly_nodes, owned, rent):
        def day(k):
            return k * len(hourly_nodes) * owned + sum(max(0, n - k) for n in hourly_nodes) * rent

        return max(range(max(hourly_nodes) + 1), key=lambda k: (-day(k), k))

    for wrong, case, says in (
        (half_busy, "case 3", "a fixed share such as 50 % ignores the prices"),
        (largest_on_tie, "case 4", "on a tie return the smallest k"),
    ):
        report = check_nodes_to_own(wrong)
        assert report.status == "failed" and report.passed_cases == int(case[-1]) - 1, str(report)
        assert case in str(report) and says in str(report), str(report)


def test_reference_solutions_pass_the_public_cases():
    from tests.grading.solutions import economics as solutions

    assert check_plan_run(solutions.plan_run).passed
    assert check_nodes_to_own(solutions.nodes_to_own).passed


def test_ib_bandwidth_exercise():
    from labs.economics import step_time, v3_training_step

    def solution(compute_efficiency, max_nodes):
        t = step_time(v3_training_step(compute_efficiency, max_nodes=max_nodes))
        return 50.0 * t["inter_node"] / t["compute"]

    def ignores_the_limit(compute_efficiency, max_nodes):
        return solution(compute_efficiency, 4)

    def whole_step(compute_efficiency, max_nodes):  # the chapter's step, bubble and update in
        from labs.common import fact

        step_s, bubble_s, opt_s = (
            fact(f"econ_zhao_{part}_seconds").value for part in ("step", "bubble", "optimizer")
        )
        busy_s = step_s - bubble_s - opt_s
        s = v3_training_step(
            compute_efficiency,
            max_nodes=max_nodes,
            bubble_fraction=bubble_s / busy_s,
            optimizer_seconds=opt_s,
        )
        t = step_time(s)
        return 50.0 * t["inter_node"] / t["total"]

    assert check_ib_bandwidth_where_dispatch_binds(solution).passed
    report = check_ib_bandwidth_where_dispatch_binds(ignores_the_limit)
    assert report.status == "failed" and "max_nodes" in str(report)
    report = check_ib_bandwidth_where_dispatch_binds(whole_step)
    assert report.status == "failed" and "against the whole step" in str(report), str(report)
    assert check_ib_bandwidth_where_dispatch_binds(stub).status == "not attempted"


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


def test_shots_simulator_simulates_each_lab_once_per_redraw_for_both_panels(monkeypatch):
    import matplotlib.pyplot as plt

    calls, figures = [], []
    simulate = Scenario.simulate

    def counted(self, *args, **kwargs):
        calls.append((self.name, simulate(self, *args, **kwargs), self.idea_spread))
        return calls[-1][1]

    monkeypatch.setattr(Scenario, "simulate", counted)
    monkeypatch.setattr(plt, "show", lambda: figures.append(plt.gcf()))
    widget = shots_simulator(n_ideas=10)
    assert [c[0] for c in calls] == ["lab A", "lab B"]  # each lab once, not once per panel
    controls = {c.description: c for c in widget.children if hasattr(c, "description")}
    controls["lab B: judgement (prior skill)"].value = 0.9
    assert [c[0] for c in calls[2:]] == ["lab A", "lab B"]
    regret, success = figures[-1].axes[:2]
    # both panels are drawn from that one simulation of each lab
    for line, (name, res, _) in zip(success.lines, calls[2:], strict=True):
        assert line.get_label() == name
        np.testing.assert_array_equal(line.get_ydata(), res.success_probability)
    for line, (name, res, spread) in zip(regret.lines, calls[2:], strict=True):
        assert line.get_label() == name
        np.testing.assert_array_equal(line.get_ydata(), res.expected_regret / spread)
    assert not np.array_equal(calls[2][1].success_probability, calls[3][1].success_probability)


def test_shots_simulator_passes_each_labs_rule_for_its_spare_shots(monkeypatch):
    import labs.economics.widgets as economics_widgets

    seen = []

    def record(scenarios, budgets, **kwargs):
        seen.append([(s.name, s.allocation, s.prior_skill, s.confidence_sds) for s in scenarios])
        return kwargs["ax"], []

    monkeypatch.setattr(economics_widgets, "plot_scenarios", record)
    widget = shots_simulator(n_ideas=10)
    controls = {c.description: c for c in widget.children if hasattr(c, "description")}
    rules = [c for text, c in controls.items() if "spare shots" in text]
    assert [c.options for c in rules] == [ALLOCATIONS, ALLOCATIONS]
    controls["lab B: spare shots re-test"].value = "upper-confidence"
    # The last redraw: lab A still round-robin, lab B upper-confidence, each with its own judgement.
    assert seen[-1] == [("lab A", "round-robin", 0.6, 2.0), ("lab B", "upper-confidence", 0.3, 2.0)]
    # The width reaches the upper-confidence lab only (a round-robin Scenario refuses any other).
    controls["upper-confidence width (sds)"].value = 1.0
    assert seen[-1] == [("lab A", "round-robin", 0.6, 2.0), ("lab B", "upper-confidence", 0.3, 1.0)]
    controls["lab A: spare shots re-test"].value = "upper-confidence"
    assert [lab[3] for lab in seen[-1]] == [1.0, 1.0]


def test_plot_scenarios_draws_one_line_per_scenario():
    scenarios = [
        Scenario(name="a", description="", cost_per_shot=10.0),
        Scenario(name="b", description="", cost_per_shot=10.0, hardware_cost_factor=2.0),
    ]
    ax, results = plot_scenarios(scenarios, np.geomspace(10, 1000, 5), n_trials=50)
    assert len(ax.get_lines()) == 2 and len(results) == 2
    assert ax.get_xscale() == "log"
    ax, results = plot_scenarios(scenarios, np.geomspace(10, 1000, 5), n_trials=50,
                                 measure="regret")  # fmt: skip
    regret = ax.get_lines()[0].get_ydata()
    assert np.allclose(regret, results[0].expected_regret / scenarios[0].idea_spread)
    with pytest.raises(ValueError, match="measure"):
        plot_scenarios(scenarios, [10.0], n_trials=10, measure="loss")
    with pytest.raises(TypeError, match="Scenario"):
        plot_scenarios(["a"], [10.0], n_trials=10)
