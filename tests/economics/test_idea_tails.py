"""Heavy-tailed ideas (simulate_research_program(idea_tails=...)): Student's t scaled to the same
standard deviation, checked against an independent draw of the same distribution."""

import numpy as np
import pytest

from labs.economics import simulate_research_program


def _expected_best(draw, n_ideas, n_trials=200_000):
    return draw((n_trials, n_ideas)).max(axis=1).mean()


@pytest.mark.parametrize("tails", [3.0, 10.0])
def test_a_zero_budget_leaves_the_best_ideas_whole_gain_as_regret(tails):
    # with no shot the lab ships nothing: the regret is E[max q] over 20 ideas, which an
    # independent Monte Carlo of the scaled t distribution gives to about 0.3%
    spread = 0.05
    res = simulate_research_program(0.0, 1.0, n_ideas=20, idea_spread=spread, n_trials=20_000,
                                    idea_tails=tails, seed=3)  # fmt: skip
    rng = np.random.default_rng(99)
    scale = spread * np.sqrt((tails - 2) / tails)
    expected = _expected_best(lambda size: scale * rng.standard_t(tails, size=size), 20)
    assert res.expected_regret[0] == pytest.approx(expected, rel=4 * res.regret_standard_error[0]
                                                   / res.expected_regret[0])  # fmt: skip


def test_heavier_tails_make_the_best_idea_rarer_and_larger():
    # the same standard deviation, but the best of 100 ideas lies further out with 3 degrees of
    # freedom than with a normal distribution (about 3.1 against 2.5 spreads)
    normal = simulate_research_program(0.0, 1.0, n_ideas=100, n_trials=5000, seed=1)
    heavy = simulate_research_program(0.0, 1.0, n_ideas=100, n_trials=5000, seed=1, idea_tails=3)
    assert heavy.expected_regret[0] > 1.15 * normal.expected_regret[0]


@pytest.mark.parametrize("tails", [2.0, 1.5, float("nan"), 1e6])
def test_tails_without_a_finite_spread_or_out_of_range_are_refused(tails):
    with pytest.raises(ValueError, match="idea_tails"):
        simulate_research_program(10.0, 1.0, n_trials=10, idea_tails=tails)


def test_tails_that_are_not_a_number_are_refused():
    with pytest.raises(TypeError, match="idea_tails"):
        simulate_research_program(10.0, 1.0, n_trials=10, idea_tails="heavy")
