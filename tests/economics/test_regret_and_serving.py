"""Expected regret of the shots simulator, the rank-reversal reading of its noise, and the
self-hosting break-even with the hardware priced."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.economics import (
    prediction_noise_for_rank_reversal,
    priced_self_hosting_breakeven,
    rank_reversal_probability,
    simulate_research_program,
)


def _regret(budget, skill, seed, factor=1.0, trials=3000):
    res = simulate_research_program(
        budget, 10.0, n_ideas=50, prior_skill=skill, hardware_cost_factor=factor,
        n_trials=trials, seed=seed,
    )  # fmt: skip
    return res.expected_regret[0], res.regret_standard_error[0]


def test_equal_skill_and_budget_give_equal_regret_within_sampling_error():
    # Two labs with the same skill and the same number of shots, one paying twice per shot with
    # twice the budget, in independent worlds (different seeds): no difference beyond the noise.
    for skill in (0.0, 0.5):
        a, se_a = _regret(400.0, skill, seed=11, factor=2.0)
        b, se_b = _regret(200.0, skill, seed=12, factor=1.0)
        assert abs(a - b) <= 4 * math.hypot(se_a, se_b), (skill, a, b)


def test_negative_control_unequal_skill_is_detected():
    # The same comparison with skills 0 and 0.8: the test above would fail here.
    a, se_a = _regret(200.0, 0.0, seed=11)
    b, se_b = _regret(200.0, 0.8, seed=12)
    assert a - b > 4 * math.hypot(se_a, se_b)


@settings(max_examples=12, deadline=None)
@given(
    skill=st.floats(0.0, 0.9),
    noise_ratio=st.floats(0.0, 3.0),
    seed=st.integers(0, 1000),
)
def test_more_shots_never_raise_expected_regret(skill, noise_ratio, seed):
    budgets = np.geomspace(1.0, 400.0, 12)
    res = simulate_research_program(
        budgets, 1.0, n_ideas=40, prediction_noise=0.02 * noise_ratio, prior_skill=skill,
        n_trials=600, seed=seed,
    )  # fmt: skip
    r, se = res.expected_regret, res.regret_standard_error
    slack = 3 * np.maximum(se[1:], se[:-1]) + 1e-12
    assert np.all(r[1:] <= r[:-1] + slack), (r, se)
    assert r[-1] < r[0]


def test_regret_by_hand():
    trials = 40_000
    # No shot: the whole gain is lost. Two ideas of spread s: E[max] = s / sqrt(pi).
    res = simulate_research_program([0.0, 2.0], 1.0, n_ideas=2, prediction_noise=0.0,
                                    n_trials=trials, seed=3)  # fmt: skip
    assert res.expected_regret[0] == pytest.approx(0.02 / math.sqrt(math.pi), rel=0.02)
    # Both ideas measured exactly: the lab always ships the best, regret 0.
    assert res.expected_regret[1] == 0.0 and res.success_probability[1] == 1.0
    # One exact shot of one of two ideas, chosen at random: the regret is E[max - q_1] =
    # E[max] - 0 = s / sqrt(pi), the same as shipping nothing (the mean idea is worth 0).
    one = simulate_research_program(1.0, 1.0, n_ideas=2, prediction_noise=0.0,
                                    n_trials=trials, seed=3)  # fmt: skip
    assert one.expected_regret[0] == pytest.approx(0.02 / math.sqrt(math.pi), rel=0.03)


def test_rank_reversal_by_hand_and_by_simulation():
    assert rank_reversal_probability(0.0) == 0.0
    assert rank_reversal_probability(0.02, 0.02) == pytest.approx(0.25)
    assert rank_reversal_probability(0.02 * math.sqrt(3), 0.02) == pytest.approx(1 / 3)
    assert prediction_noise_for_rank_reversal(0.25, 0.02) == pytest.approx(0.02)
    for p in (0.05, 0.2, 0.4):
        assert rank_reversal_probability(prediction_noise_for_rank_reversal(p)) == pytest.approx(p)
    # Independent check: draw pairs of ideas and noisy small-run measurements, count flips.
    rng = np.random.default_rng(0)
    q = rng.normal(0, 0.02, size=(200_000, 2))
    seen = q + rng.normal(0, 0.03, size=q.shape)
    flips = np.mean(np.sign(q[:, 0] - q[:, 1]) != np.sign(seen[:, 0] - seen[:, 1]))
    assert flips == pytest.approx(rank_reversal_probability(0.03, 0.02), abs=0.005)
    with pytest.raises(ValueError, match="reversal_probability must be in"):
        prediction_noise_for_rank_reversal(0.5)


def test_priced_breakeven_by_hand():
    # 100 hours a month, one node at $1/h serving 10 tokens/s: U = $100, C = 3.6M tokens. API at
    # $100 per million: a full unit saves $360 - $100 = $260 a month, so $1,000 of people needs
    # n_units = ceil(1000 / 260) = 4 units and T* = (1000 + 400) / 1e-4 = 14M tokens a month.
    r = priced_self_hosting_breakeven(1000.0, 100.0, 1.0, 10.0, 1, 100.0)
    assert r["units"] == 4 and r["tokens_per_month"] == pytest.approx(1.4e7)
    assert r["unit_usd_per_month"] == 100.0 and r["unit_tokens_per_month"] == 3.6e6
    assert r["usd_per_million_at_capacity"] == pytest.approx(100 / 3.6)
    # Brute force over volumes: the first volume at which the self-hosting bill is no dearer.
    volumes = np.arange(1, 20_000_001, 1000, dtype=float)
    own = 1000.0 + np.maximum(1, np.ceil(volumes / 3.6e6)) * 100.0
    api = volumes * 1e-4
    assert volumes[np.argmax(own <= api)] == pytest.approx(1.4e7, abs=1000)
    # A unit that costs more than the API charges for all it can serve never pays.
    never = priced_self_hosting_breakeven(1000.0, 10.0, 1.0, 10.0, 1, 100.0)
    assert never["tokens_per_month"] == math.inf and never["units"] == 0
    # Free hardware would pay back at F / p = 10M tokens: pricing it raises the break-even.
    assert r["tokens_per_month"] > 1000.0 / 1e-4


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((-1.0, 1.0, 1.0, 1.0), ValueError, "monthly_people_usd must be >= 0"),
        ((1.0, 0.0, 1.0, 1.0), ValueError, "api_usd_per_million_tokens must be > 0"),
        ((1.0, 1.0, 0.0, 1.0), ValueError, "node_usd_per_hour must be > 0"),
        ((1.0, 1.0, 1.0, float("inf")), ValueError, "node_tokens_per_second must be finite"),
        ((1.0, 1.0, 1.0, 1.0, 1.5), TypeError, "nodes_per_unit"),
        ((1.0, 1.0, 1.0, 1.0, 1, 800.0), ValueError, "hours_per_month must be <= 744"),
    ],
)
def test_priced_breakeven_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        priced_self_hosting_breakeven(*args)
