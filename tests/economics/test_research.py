"""The shots simulator: determinism, hand-worked probabilities, monotonicity in the budget, and
bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.economics import Scenario, shots_affordable, simulate_research_program


def test_deterministic_under_a_seed():
    budgets = np.geomspace(1e3, 1e6, 7)
    a = simulate_research_program(budgets, 1000.0, prior_skill=0.3, n_trials=300, seed=5)
    b = simulate_research_program(budgets, 1000.0, prior_skill=0.3, n_trials=300, seed=5)
    c = simulate_research_program(budgets, 1000.0, prior_skill=0.3, n_trials=300, seed=6)
    np.testing.assert_array_equal(a.success_probability, b.success_probability)
    assert not np.array_equal(a.success_probability, c.success_probability)


def test_a_budget_does_not_depend_on_the_other_budgets_asked_for():
    one = simulate_research_program(50_000, 1000.0, n_trials=300, seed=1)
    many = simulate_research_program([3e5, 5e4, 1e3], 1000.0, n_trials=300, seed=1)
    assert one.success_probability[0] == many.success_probability[1]


def test_zero_budget_finds_nothing():
    res = simulate_research_program([0.0, 999.0, 1000.0], 1000.0, prior_skill=0.9, n_trials=200)
    assert list(res.shots) == [0, 0, 1]
    assert res.success_probability[0] == 0.0 and res.success_probability[1] == 0.0
    assert res.success_probability[2] > 0.0


def test_noiseless_random_lab_finds_the_best_with_probability_k_over_n():
    # With exact shots and no judgement, the lab finds the best idea iff the best is among the k
    # ideas it tried: a uniform random subset, so P = k / n (by hand, no simulation).
    n, trials = 20, 4000
    budgets = np.array([1, 5, 10, 20, 40], dtype=float)
    res = simulate_research_program(
        budgets, 1.0, n_ideas=n, prediction_noise=0.0, n_trials=trials, seed=2
    )
    expected = np.minimum(budgets, n) / n
    se = np.sqrt(expected * (1 - expected) / trials)
    assert np.all(np.abs(res.success_probability - expected) <= 4 * se + 1e-12)
    assert res.success_probability[-2] == 1.0  # everything tested exactly: always found


def test_two_ideas_one_noisy_shot_each_matches_the_arcsine_formula():
    # Two ideas, one shot each, noise equal to the spread: the lab picks the larger observation.
    # The true gap d ~ N(0, 2 s^2) and the observed gap d + e with e ~ N(0, 2 s^2) have
    # correlation 1/sqrt(2); P(same sign) = 1/2 + arcsin(1/sqrt(2)) / pi = 3/4.
    trials = 20_000
    res = simulate_research_program(
        2.0, 1.0, n_ideas=2, prediction_noise=0.02, idea_spread=0.02, n_trials=trials, seed=3
    )
    expected = 0.5 + math.asin(1 / math.sqrt(2)) / math.pi
    assert expected == pytest.approx(0.75)
    assert res.success_probability[0] == pytest.approx(expected, abs=4 * math.sqrt(0.1875 / trials))


def test_one_shot_without_judgement_is_a_coin_flip_between_two_ideas():
    trials = 20_000
    res = simulate_research_program(1.0, 1.0, n_ideas=2, n_trials=trials, seed=4)
    assert res.success_probability[0] == pytest.approx(0.5, abs=4 * math.sqrt(0.25 / trials))


@settings(max_examples=12, deadline=None)
@given(
    skill=st.floats(0.0, 0.9),
    noise_ratio=st.floats(0.0, 3.0),
    factor=st.floats(0.5, 3.0),
    seed=st.integers(0, 1000),
)
def test_more_budget_never_lowers_the_success_probability(skill, noise_ratio, factor, seed):
    # A Monte Carlo estimate: the check allows 3 standard errors of sampling noise (common random
    # numbers make neighbouring budgets' errors strongly correlated, so this is generous).
    budgets = np.geomspace(1.0, 400.0, 12)
    res = simulate_research_program(
        budgets,
        1.0,
        n_ideas=40,
        prediction_noise=0.02 * noise_ratio,
        prior_skill=skill,
        hardware_cost_factor=factor,
        n_trials=600,
        seed=seed,
    )
    p, se = res.success_probability, res.standard_error
    slack = 3 * np.maximum(se[1:], se[:-1]) + 1e-12
    assert np.all(p[1:] >= p[:-1] - slack), (p, se)
    assert p[-1] >= p[0]


def test_hardware_cost_factor_divides_the_shots():
    assert shots_affordable(1000, 100, 2) == 5
    assert list(shots_affordable([0, 0.3, 250], 0.1)) == [0, 3, 2500]
    # A constrained lab with twice the cost per shot sees exactly what an unconstrained lab sees
    # with half the budget.
    a = simulate_research_program(10_000, 100, hardware_cost_factor=2.0, n_trials=300, seed=9)
    b = simulate_research_program(5_000, 100, hardware_cost_factor=1.0, n_trials=300, seed=9)
    assert a.success_probability[0] == b.success_probability[0]


def test_scenario_simulates_with_its_arguments():
    s = Scenario(
        name="x", description="", cost_per_shot=10.0, hardware_cost_factor=2.0, prior_skill=0.5
    )
    direct = simulate_research_program(
        [100.0], 10.0, hardware_cost_factor=2.0, prior_skill=0.5, n_trials=100
    )
    assert s.simulate([100.0], n_trials=100).success_probability[0] == pytest.approx(
        direct.success_probability[0]
    )


def test_scenario_passes_its_confidence_width():
    s = Scenario(name="x", cost_per_shot=10.0, allocation="upper-confidence", confidence_sds=1.0)
    direct = simulate_research_program(
        [5000.0], 10.0, allocation="upper-confidence", confidence_sds=1.0, n_trials=200, seed=3
    )
    wide = Scenario(name="x", cost_per_shot=10.0, allocation="upper-confidence", confidence_sds=3.0)
    ours, other = (
        s.simulate([5000.0], n_trials=200, seed=3),
        wide.simulate([5000.0], n_trials=200, seed=3),
    )
    assert ours.expected_regret[0] == direct.expected_regret[0]
    assert other.expected_regret[0] != direct.expected_regret[0]  # the width reached the kernel
    with pytest.raises(ValueError, match="confidence_sds is used only"):
        Scenario(name="x", cost_per_shot=10.0, confidence_sds=1.0)  # round-robin ignores it
    with pytest.raises(ValueError, match="confidence_sds"):
        Scenario(name="x", cost_per_shot=10.0, allocation="upper-confidence", confidence_sds=-1.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"budget_usd": -1.0}, ValueError, "budget_usd must be >= 0"),
        ({"budget_usd": [10.0, -5.0]}, ValueError, "budget_usd must be >= 0"),
        ({"budget_usd": float("nan")}, ValueError, "budget_usd must be finite"),
        ({"budget_usd": [[1.0]]}, ValueError, "1-D"),
        ({"budget_usd": True}, TypeError, "budget_usd"),
        ({"budget_usd": "10"}, TypeError, "budget_usd"),
        ({"cost_per_shot": 0.0}, ValueError, "cost_per_shot must be > 0"),
        ({"cost_per_shot": -3.0}, ValueError, "cost_per_shot must be > 0"),
        ({"hardware_cost_factor": 0.0}, ValueError, "hardware_cost_factor must be > 0"),
        ({"n_ideas": 1}, ValueError, "n_ideas must be >= 2"),
        ({"prior_skill": 1.0}, ValueError, "prior_skill must be in"),
        ({"prior_skill": -0.1}, ValueError, "prior_skill must be >= 0"),
        ({"prediction_noise": -0.01}, ValueError, "prediction_noise must be >= 0"),
        ({"idea_spread": 0.0}, ValueError, "idea_spread must be > 0"),
        ({"n_trials": 0}, ValueError, "n_trials must be >= 1"),
        ({"seed": 1.5}, TypeError, "seed must be an int"),
        ({"budget_usd": 1e12}, ValueError, "per idea"),
        ({"n_trials": 10**6, "n_ideas": 1000}, ValueError, "n_trials \\* n_ideas"),
    ],
)
def test_bad_input(kwargs, error, message):
    args = {"budget_usd": 100.0, "cost_per_shot": 10.0, **kwargs}
    budget, cost = args.pop("budget_usd"), args.pop("cost_per_shot")
    with pytest.raises(error, match=message):
        simulate_research_program(budget, cost, **args)
