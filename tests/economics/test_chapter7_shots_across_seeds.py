"""The shots claims Chapter 7 asserts on one pair of seeds, checked on four other pairs.

The notebook runs each comparison once (seeds 1 and 2) and asserts only what it says holds across
seeds: the equal-skill baseline ties, each view wins under its own premise, the grid's cells away
from the frontier, the "both at once" comparison across the rank-reversal range, and that a
single constrained lab more likely misses its best idea than finds it; judgement priced in shots
(the grid's decisive signs it predicts, and the tie of matched labs); and, with the well-funded
lab re-testing adaptively, how its two rules fare against round-robin and where "both at once"
flips. This test re-runs those comparisons with the notebook's settings (a small-ablation shot
priced from the facts, 1,000 worlds per lab, regret in units of the ideas' spread) on seed pairs
the notebook never uses, so a claim that held on the notebook's seeds by luck fails here. Expected
outcomes are the chapter's prose, not values read from the simulator.
"""

import numpy as np
import pytest

from labs.common import fact
from labs.economics import (
    hardware,
    model_flops_utilization,
    prediction_noise_for_rank_reversal,
    simulate_research_program,
    training_cost,
    training_flops,
)
from labs.economics.research import DEFAULT_IDEA_SPREAD

B = 3e6  # the constrained lab's budget in every view
TRIALS = 1000  # the notebook's N_TRIALS on a CPU
SEED_PAIRS = [(31, 41), (32, 42), (33, 43), (34, 44)]  # none of them used by the notebook
REVERSAL = {"low": 0.10, "assumed": 0.25, "high": 0.40}


def _shot_cost(key):
    # As the chapter prices it: 6ND of the ablation at V3's 6ND utilisation, $2 per H800-hour.
    peak = hardware("H800 SXM").peak_flops("bf16")
    v3 = training_flops(fact("econ_v3_active_params").value, fact("econ_v3_tokens").value)
    mfu = model_flops_utilization(v3, fact("econ_v3_pretraining_gpu_hours").value, peak)
    a = fact(key).value
    hours = training_flops(a["active_params"], a["tokens"]) / (mfu * peak * 3600)
    return training_cost(hours, fact("econ_h800_usd_per_hour").value)


SMALL, LARGE = _shot_cost("econ_v3_ablation_small"), _shot_cost("econ_v3_ablation_large")


def _lab(
    budget, skill, seed, reversal="assumed", cost=SMALL, n_ideas=100, allocation="round-robin",
    **width,
):  # fmt: skip
    noise = 1e4 * DEFAULT_IDEA_SPREAD if reversal == "none" else REVERSAL[reversal]
    if reversal != "none":
        noise = prediction_noise_for_rank_reversal(noise)
    r = simulate_research_program(
        budget, cost, prior_skill=skill, n_trials=TRIALS, seed=seed, n_ideas=n_ideas,
        prediction_noise=noise, allocation=allocation, **width,
    )  # fmt: skip
    s = DEFAULT_IDEA_SPREAD
    return r.expected_regret[0] / s, r.regret_standard_error[0] / s, r.success_probability[0]


def _z(a, b):
    """Regret of lab a minus lab b in standard errors: > 0 when b leaves less on the table."""
    return (a[0] - b[0]) / np.hypot(a[1], b[1])


def _outcome(c, f):
    z = _z(c, f)
    return "tie" if abs(z) < 3 else ("constrained" if z < 0 else "well-funded")


def test_the_shot_prices_are_the_chapters():
    # The prose's $31K and $110K: a different pricing here would test a different model.
    assert (round(SMALL / 1e3), round(LARGE / 1e3)) == (31, 110)
    assert (int(B // SMALL), int(B // LARGE)) == (96, 27)


@pytest.mark.parametrize("cost", [SMALL, LARGE], ids=["small-shots", "large-shots"])
@pytest.mark.parametrize(("seed_c", "seed_f"), SEED_PAIRS)
def test_each_view_wins_only_under_its_own_premise(seed_c, seed_f, cost):
    views = {
        "equal-skill baseline": ((B, 0.3), (B, 0.3), "tie"),
        "constraints breed creativity": ((B, 0.6), (B, 0.3), "constrained"),
        "capital buys shots": ((B, 0.3), (10 * B, 0.3), "well-funded"),
        "both at once": ((B, 0.6), (10 * B, 0.3), "well-funded"),
    }
    for name, ((b_c, s_c), (b_f, s_f), expected) in views.items():
        c = _lab(b_c, s_c, seed_c, cost=cost)
        f = _lab(b_f, s_f, seed_f, cost=cost)
        assert _outcome(c, f) == expected, (name, c, f)


@pytest.mark.parametrize(("seed_c", "seed_f"), SEED_PAIRS)
def test_the_grid_cells_the_chapter_asserts(seed_c, seed_f):
    ratios, skills = [1, 2, 4, 8, 16], [0.3, 0.45, 0.6, 0.75, 0.9]
    funded = [_lab(r * B, 0.3, seed_f) for r in ratios]
    # z here is the well-funded lab's regret minus the constrained lab's: the opposite sign to the
    # chapter's grid (> 0 there when the well-funded lab leads), so `lead = z > 3` (the constrained
    # lab leads) is the chapter's `lead = z_grid < -3`.
    z = np.array(
        [
            [(f[0] - c[0]) / np.hypot(c[1], f[1]) for f in funded]
            for c in (_lab(B, s, seed_c) for s in skills)
        ]
    )
    lead = z > 3
    assert abs(z[0, 0]) < 3, z  # equal labs tie
    assert lead[2:, 0].all(), z  # at equal budgets, judgement 0.6 and up leads
    assert lead[4, 1] and not lead[:3, 1].any(), z  # at twice the budget only 0.9 leads
    assert not lead[:, 3:].any(), z  # at 8x and 16x no judgement in the grid leads


@pytest.mark.parametrize(("seed_c", "seed_f"), SEED_PAIRS)
def test_both_at_once_across_the_rank_reversal_range(seed_c, seed_f):
    regrets = {k: (_lab(B, 0.6, seed_c, k)[0], _lab(10 * B, 0.3, seed_f, k)[0]) for k in REVERSAL}
    assert all(c > f for c, f in regrets.values()), regrets
    assert regrets["high"][0] > regrets["assumed"][0] > regrets["low"][0], regrets


@pytest.mark.parametrize("seed", [s for s, _ in SEED_PAIRS])
def test_one_constrained_lab_more_likely_misses_than_finds(seed):
    p_one = _lab(B, 0.6, seed)[2]
    assert p_one < 0.5 and 1 - (1 - p_one) ** 20 > 0.95, p_one


@pytest.mark.parametrize("price", ["small", "large"])
@pytest.mark.parametrize(("seed_c", "seed_f"), SEED_PAIRS[:2])
def test_both_at_once_flips_with_ideas_per_shot(seed_c, seed_f, price):
    # The chapter: "both at once" goes to capital while the pool of ideas is at most 0.3 of the
    # well-funded lab's shots, and to judgement from 1.0 of them on, each by more than three
    # standard errors, at either shot price; at 0.6 capital is still ahead.
    cost = {"small": SMALL, "large": LARGE}[price]
    funded_shots = int(10 * B // cost)
    expected = {0.1: "well-funded", 0.3: "well-funded", 1.0: "constrained", 1.25: "constrained"}
    for fraction, outcome in expected.items():
        n_ideas = round(fraction * funded_shots)
        c = _lab(B, 0.6, seed_c, cost=cost, n_ideas=n_ideas)
        f = _lab(10 * B, 0.3, seed_f, cost=cost, n_ideas=n_ideas)
        assert _outcome(c, f) == outcome, (n_ideas, c, f)
    n_ideas = round(0.6 * funded_shots)
    c = _lab(B, 0.6, seed_c, cost=cost, n_ideas=n_ideas)
    f = _lab(10 * B, 0.3, seed_f, cost=cost, n_ideas=n_ideas)
    assert c[0] > f[0], (n_ideas, c, f)


@pytest.mark.parametrize(("seed_rr", "seed_ad"), SEED_PAIRS)
def test_adaptive_re_testing_against_round_robin(seed_rr, seed_ad):
    # The chapter, for the well-funded lab ($30M, judgement 0.3, $31K shots) against itself
    # re-testing round-robin: upper-confidence wins by more than three standard errors at 100,
    # 290, 579 and 868 ideas; leader loses by more than three at 100, is behind at 290 and wins by
    # more than three at 579 and 868.
    z = {}
    for n_ideas in (100, 290, 579, 868):
        plain = _lab(10 * B, 0.3, seed_rr, n_ideas=n_ideas)
        for rule in ("leader", "upper-confidence"):
            z[rule, n_ideas] = _z(
                plain, _lab(10 * B, 0.3, seed_ad, n_ideas=n_ideas, allocation=rule)
            )
    assert all(z["upper-confidence", n] > 3 for n in (100, 290, 579, 868)), z
    assert z["leader", 100] < -3 and z["leader", 290] < 0, z
    assert z["leader", 579] > 3 and z["leader", 868] > 3, z


@pytest.mark.parametrize(("seed_rr", "seed_ad"), SEED_PAIRS)
def test_adaptive_re_testing_across_the_noise_range_and_without_information(seed_rr, seed_ad):
    # At 100 ideas: upper-confidence wins at one reversal in ten and at two in five, leader loses
    # at one in ten; with shots that carry no information (noise 10,000 spreads) neither rule
    # leaves the tie band (the negative control).
    z = {}
    for reversal in ("low", "high", "none"):
        plain = _lab(10 * B, 0.3, seed_rr, reversal)
        for rule in ("leader", "upper-confidence"):
            z[rule, reversal] = _z(plain, _lab(10 * B, 0.3, seed_ad, reversal, allocation=rule))
    assert z["upper-confidence", "low"] > 3 and z["upper-confidence", "high"] > 3, z
    assert z["leader", "low"] < -3, z
    assert abs(z["leader", "none"]) < 3 and abs(z["upper-confidence", "none"]) < 3, z


@pytest.mark.parametrize("price", ["small", "large"])
@pytest.mark.parametrize(("seed_c", "seed_f"), SEED_PAIRS[:2])
def test_both_at_once_with_adaptive_re_testing(seed_c, seed_f, price):
    # The chapter: with the well-funded lab re-testing adaptively, by either rule, it leads by more
    # than three standard errors at 0.1, 0.6, 0.9 and 0.95 of its shots, at either shot price, and
    # with upper-confidence at 0.99 at $31K (ten spare shots). With no spare shot (one shot per
    # idea) it is the round-robin lab and the constrained lab wins.
    cost = {"small": SMALL, "large": LARGE}[price]
    funded_shots = int(10 * B // cost)
    for fraction in (0.1, 0.6, 0.9, 0.95, 0.99):
        n_ideas = round(fraction * funded_shots)
        c = _lab(B, 0.6, seed_c, cost=cost, n_ideas=n_ideas)
        for rule in ("leader", "upper-confidence"):
            z = _z(c, _lab(10 * B, 0.3, seed_f, cost=cost, n_ideas=n_ideas, allocation=rule))
            if fraction < 0.99 or (rule, price) == ("upper-confidence", "small"):
                assert z > 3, (fraction, rule, z)
    c = _lab(B, 0.6, seed_c, cost=cost, n_ideas=funded_shots)
    f = _lab(10 * B, 0.3, seed_f, cost=cost, n_ideas=funded_shots, allocation="upper-confidence")
    assert f == _lab(10 * B, 0.3, seed_f, cost=cost, n_ideas=funded_shots)
    assert _outcome(c, f) == "constrained", (c, f)


@pytest.mark.parametrize(("seed_rr", "seed_ad"), SEED_PAIRS)
def test_the_upper_confidence_width_matters_at_100_ideas(seed_rr, seed_ad):
    # The chapter: at 100 ideas a width of one posterior std falls behind round-robin, and three
    # gains more than two (the public rule's width).
    plain = _lab(10 * B, 0.3, seed_rr)
    z = {
        width: _z(plain, _lab(10 * B, 0.3, seed_ad, allocation="upper-confidence",
                              confidence_sds=width))
        for width in (1.0, 2.0, 3.0)
    }  # fmt: skip
    assert z[1.0] < 0 and z[1.0] < z[2.0] < z[3.0], z


@pytest.mark.parametrize(("seed_narrow", "seed_wide"), SEED_PAIRS)
def test_a_five_sd_width_leaves_under_a_quarter_of_the_two_sd_regret(seed_narrow, seed_wide):
    # The chapter ("A rule for one budget") runs the five-sd width on one seed and reads from it
    # that the conventional two-sd width "was too narrow here all along": at $30M the five-sd
    # rule leaves under a quarter of the two-sd rule's regret (0.11 of it there). Four more seed
    # pairs, at $30M only (the cheap half of that cell); the share varies with the pair.
    narrow = _lab(10 * B, 0.3, seed_narrow, allocation="upper-confidence")
    wide = _lab(10 * B, 0.3, seed_wide, allocation="upper-confidence", confidence_sds=5.0)
    assert wide[0] < 0.25 * narrow[0], (wide, narrow)


@pytest.mark.parametrize(("seed_rr", "seed_scaled"), SEED_PAIRS[:2])
def test_a_width_scaled_with_the_budget_beats_round_robin_at_300m(seed_rr, seed_scaled):
    # The chapter ("A rule for one budget") scales the two-sd width with the square root of the
    # budget, as UCB-E's parameter grows with it (2 x sqrt(10) sd at $300M), runs it on one seed
    # at the notebook's 500 worlds, and reads that it leaves far less regret than round-robin at
    # $300M. Two more seed pairs (the two-sd width, unscaled, loses there: the notebook asserts it).
    def regret(seed, **rule):
        r = simulate_research_program(
            100 * B, SMALL, prior_skill=0.3, n_trials=500, seed=seed,
            prediction_noise=prediction_noise_for_rank_reversal(REVERSAL["assumed"]), **rule,
        )  # fmt: skip
        return r.expected_regret[0], r.regret_standard_error[0]

    plain = regret(seed_rr)
    scaled = regret(seed_scaled, allocation="upper-confidence", confidence_sds=2 * np.sqrt(10))
    assert _z(plain, scaled) > 3 and scaled[0] < plain[0] / 10, (plain, scaled)


def _reads_per_idea(skill, budget, cost=SMALL, n_ideas=100):
    """Judgement's free reading plus the round-robin shots, in shots of every idea (noise = spread:
    the chapter's assumed rank reversal of one pair in four)."""
    return skill**2 / (1 - skill**2) + (budget // cost) / n_ideas


@pytest.mark.parametrize(("seed_c", "seed_f"), SEED_PAIRS)
def test_judgement_priced_in_shots_predicts_the_grid_and_matched_labs_tie(seed_c, seed_f):
    # The chapter ("Judgement has a price in shots") prices judgement rho at rho^2 / (1 - rho^2)
    # shots of every idea, predicts the sign of each decisive cell of its grid from that count, and
    # finds that a constrained lab given the judgement whose count matches the well-funded lab's
    # ties it, on two seed pairs. The same on four more; the control, judgement 0.3 at the same
    # budgets, loses by more than three standard errors.
    for ratio in (1, 2, 4, 8, 16):
        f = _lab(ratio * B, 0.3, seed_f)
        for skill in (0.3, 0.45, 0.6, 0.75, 0.9):
            z = _z(_lab(B, skill, seed_c), f)
            predicted = np.sign(_reads_per_idea(0.3, ratio * B) - _reads_per_idea(skill, B))
            assert abs(z) < 3 or np.sign(z) == predicted, (ratio, skill, z)
    for ratio in (2, 4, 8):
        need = _reads_per_idea(0.3, ratio * B) - (B // SMALL) / 100
        rho = np.sqrt(need / (1 + need))
        f = _lab(ratio * B, 0.3, seed_f)
        assert abs(_z(_lab(B, rho, seed_c), f)) < 3, (ratio, rho)
        assert _z(_lab(B, 0.3, seed_c), f) > 3, ratio
