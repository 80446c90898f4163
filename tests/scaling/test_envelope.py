"""Approach 1 (the envelope of training curves): a hand-worked crossing, a planted exponent it must
recover, curves with an unmatched-schedule penalty where it must not, and bad input."""

import numpy as np
import pytest

from labs.scaling import fit_power_law
from labs.scaling.envelope import envelope_optimal


def test_two_straight_curves_cross_where_worked_by_hand():
    # In x = log C: run 0 (N = 1) has loss 3 - 0.1 x on x in [0, 10]; run 1 (N = 4) has loss
    # 3.4 - 0.15 x on x in [2, 12]. They cross at 3 - 0.1 x = 3.4 - 0.15 x, x = 8.
    x0, x1 = np.linspace(0, 10, 11), np.linspace(2, 12, 11)
    n = np.array([1.0, 4.0])
    d = [np.exp(x0) / 6.0, np.exp(x1) / 24.0]  # C = 6 N D
    env = envelope_optimal(n, d, [3 - 0.1 * x0, 3.4 - 0.15 * x1], points=1001)
    step = 12 / 1000  # grid spacing in log C
    assert len(env.switch_C) == 1
    assert abs(np.log(env.switch_C[0]) - 8.0) < step
    assert env.switch_N[0] == pytest.approx(2.0)  # the geometric mean of 1 and 4
    below, above = np.log(env.C) < 8 - step, np.log(env.C) > 8 + step
    assert np.all(env.N[below] == 1) and np.all(env.N[above] == 4)
    # where only one run reaches, it is the envelope: run 1 alone beyond x = 10
    alone = np.log(env.C) > 10 + step
    np.testing.assert_allclose(env.loss[alone], 3.4 - 0.15 * np.log(env.C[alone]), rtol=1e-9)
    # the progress of run 0's point at x = 5 is D(5) / D(10) = e^-5
    at5 = np.argmin(np.abs(np.log(env.C) - 5))
    assert env.progress[at5] == pytest.approx(np.exp(np.log(env.C[at5]) - 10))


def _law_curves(alpha, beta, penalty=0.0, sizes=24, horizons=(1, 2, 4, 8)):
    """Curves of L = E + A/N^alpha + B/D^beta, each run a horizon of its size. With `penalty`,
    a point at progress p of its run is raised by penalty * (1 - p) * log10(N / 1e6): a schedule
    not decayed yet, costing larger models more (a stand-in for one long cosine read early)."""
    e, a_coef, b_coef = 1.7, 400.0, 410.0
    n_runs, d_runs, l_runs = [], [], []
    for n in np.logspace(6, 9, sizes):
        for h in horizons:
            d = np.logspace(7, 8 + 0.3 * h, 25 * h)
            p = d / d[-1]
            loss = e + a_coef / n**alpha + b_coef / d**beta
            n_runs.append(n)
            d_runs.append(d)
            l_runs.append(loss * (1 + penalty * (1 - p) * np.log10(n / 1e6)))
    return np.array(n_runs), d_runs, l_runs


@pytest.mark.parametrize(("alpha", "beta"), [(0.34, 0.28), (0.4, 0.3), (0.3, 0.36)])
def test_recovers_the_planted_exponent(alpha, beta):
    # Along 6ND = C the law's minimum sits at N ~ C^(beta / (alpha + beta)) (eq. 4 of the paper)
    planted = beta / (alpha + beta)  # 0.452, 0.429 and 0.545
    env = envelope_optimal(*_law_curves(alpha, beta))
    assert len(env.switch_C) >= 5
    _, a_switch = fit_power_law(env.switch_C, env.switch_N)
    assert env.a == pytest.approx(a_switch)
    assert abs(env.a - planted) < 0.01


def test_the_grid_slope_follows_the_grid_not_the_law():
    # the slope through the whole staircase: the same to 0.02 for planted exponents 0.43 and
    # 0.55 (the ends of the grid, where one extreme size is chosen by default, dominate it)
    grids = [envelope_optimal(*_law_curves(*ab)).a_grid for ab in ((0.4, 0.3), (0.3, 0.36))]
    assert abs(grids[0] - grids[1]) < 0.02


def test_an_unmatched_schedule_biases_the_exponent():
    # the same law, but points early in a run carry a penalty that grows with N: the envelope
    # of such curves must not return the planted exponent
    planted = 0.28 / (0.34 + 0.28)
    env = envelope_optimal(*_law_curves(0.34, 0.28, penalty=0.1))
    assert env.a - planted > 0.05


def test_shuffled_sizes_lose_the_exponent():
    # the curves kept, their sizes permuted among the runs: the envelope no longer follows N
    n, d, loss = _law_curves(0.34, 0.28, sizes=12)
    shuffled = np.random.default_rng(0).permutation(n)
    d_kept = [x * n_r / s for x, n_r, s in zip(d, n, shuffled, strict=True)]  # the same C
    env = envelope_optimal(shuffled, d_kept, loss)
    assert not abs(env.a - 0.28 / 0.62) < 0.15  # NaN (no crossings) passes too


def test_c_range_limits_the_grid():
    n, d, loss = _law_curves(0.34, 0.28, sizes=6)
    env = envelope_optimal(n, d, loss, points=50, c_range=(1e16, 1e17))
    assert env.C[0] == pytest.approx(1e16) and env.C[-1] == pytest.approx(1e17)
    assert len(env.C) == 50


def test_bad_input_names_the_parameter():
    n = np.array([1.0, 4.0])
    d = [np.array([1.0, 2.0, 3.0])] * 2
    loss = [np.array([3.0, 2.0, 1.5])] * 2
    with pytest.raises(ValueError, match="N must be 1-D with at least two distinct"):
        envelope_optimal(np.array([2.0, 2.0]), d, loss)
    with pytest.raises(ValueError, match="N must be > 0"):
        envelope_optimal(np.array([-1.0, 4.0]), d, loss)
    with pytest.raises(TypeError, match="D must be a sequence of 2 1-D arrays"):
        envelope_optimal(n, np.ones((2, 3)), loss)
    with pytest.raises(ValueError, match="loss must hold one curve per run"):
        envelope_optimal(n, d, loss[:1])
    with pytest.raises(ValueError, match=r"D\[0\] and loss\[0\] must have the same length"):
        envelope_optimal(n, d, [np.array([3.0, 2.0]), loss[1]])
    with pytest.raises(ValueError, match=r"D\[1\] must be strictly increasing"):
        envelope_optimal(n, [d[0], np.array([1.0, 1.0, 2.0])], loss)
    with pytest.raises(ValueError, match=r"loss\[0\] must be 1-D with at least 2 points"):
        envelope_optimal(n, d, [np.array([2.0]), loss[1]])
    with pytest.raises(ValueError, match=r"loss\[1\] must be finite"):
        envelope_optimal(n, d, [loss[0], np.array([3.0, np.nan, 1.0])])
    with pytest.raises(ValueError, match="points must be"):
        envelope_optimal(n, d, loss, points=3)
    with pytest.raises(ValueError, match="c_range must be \\(low, high\\)"):
        envelope_optimal(n, d, loss, c_range=(10.0, 5.0))
    with pytest.raises(ValueError, match="c_range must lie where some curve reaches"):
        envelope_optimal(n, d, loss, c_range=(1e3, 1e6))


def test_the_committed_curves_are_the_long_matched_runs():
    from labs.scaling.envelope_curves import BLOCK, load_envelope_curves
    from labs.scaling.schedule_long import LONG_STEPS, load_schedule_long

    curves, long_seeds = load_envelope_curves(), load_schedule_long()
    assert curves["meta"]["command"].startswith("python -m labs.scaling.envelope_curves")
    assert curves["block"] == BLOCK and curves["meta"]["settings"]["steps"] == list(LONG_STEPS)
    for key in ("N", "D", "d_model", "steps"):
        assert curves[key] == long_seeds[key]
    # retrained runs, the same final validation losses as the committed matched grid (seeds 0-7;
    # seeds 8-11 were appended later for the learning-rate question and have no such grid)
    first = len(long_seeds["seeds"])
    assert curves["seeds"] == list(range(len(curves["seeds"]))) and len(curves["seeds"]) >= 12
    assert long_seeds["seeds"] == list(range(first))
    np.testing.assert_allclose(curves["loss"][:first], long_seeds["loss_matched"], rtol=1e-6)
    # the appended seeds are new draws: no run ends at any earlier seed's loss
    later, earlier = np.array(curves["loss"][first:]), np.array(long_seeds["loss_matched"])
    assert np.all(np.abs(later[:, None, :] - earlier[None, :, :]) > 1e-7)
    for seed_curves in curves["curves"]:
        assert [len(c) for c in seed_curves] == [s // BLOCK for s in curves["steps"]]
        # smoothed training loss falls from the first block to the last on every run
        assert all(c[-1] < c[0] for c in seed_curves)
