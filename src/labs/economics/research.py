"""The shots simulator: a Monte Carlo of a lab that buys experiments to find its best idea.

The world (one trial):

* The lab has `n_ideas` candidate ideas. Idea i would lower the log-loss of the large run by
  q_i ~ Normal(0, idea_spread^2) (a negative q_i raises it); the best idea is the one with the
  largest q_i.
* Before spending anything, the team ranks the ideas by judgement: a free signal whose
  correlation with q_i is `prior_skill` (0: no better than chance; 1: perfect foresight).
* A *shot* is one small-scale run of one idea. It costs `cost_per_shot * hardware_cost_factor`
  dollars and returns q_i + e with e ~ Normal(0, prediction_noise^2): a small run predicts the
  large run only up to the residual noise of a scaling-law extrapolation (in log space).
* With a budget B the lab affords k = floor(B / (cost_per_shot * hardware_cost_factor)) shots.
  It spends them in the order of its ranking; past n_ideas shots it reruns ideas round-robin and
  averages the repeats.
* It then bets on the tested idea with the highest posterior mean (a Bayesian lab: the prior
  signal and the shots are combined with their precisions). It *finds the best idea* when that
  bet is the true best. An idea never tested is never bet on, so a budget that buys no shot finds
  nothing.

Every budget sees the same `n_trials` worlds, and the r-th run of an idea has the same error
whatever the budget: a larger budget only adds shots to what a smaller one saw (common random
numbers), so the curves are smooth and the estimate at a budget does not depend on which other
budgets are asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labs.common.validate import float_array, integer, real_number

# The default prediction noise is an ASSUMPTION, stated here once: 0.02 in natural-log units,
# i.e. a small run predicts the large run's loss to about 2 %, the same size as the spread of the
# ideas' true effects (so one shot is as informative as it is noisy). Chapter 1 measures the
# residuals of a fitted scaling law; pass its number as `prediction_noise` to use it instead.
# tests/economics/test_world_model_from_chapter1.py checks that 0.02 lies within what Chapter 1
# measures on Epoch AI's points (median and worst error of predicting the big runs from small ones).
DEFAULT_PREDICTION_NOISE = 0.02
DEFAULT_IDEA_SPREAD = 0.02
# Limits that keep a call to seconds and memory to megabytes: past 10,000 runs of every idea the
# noise of each estimate has fallen a hundredfold, and 20 million (trial, idea) pairs is 160 MB.
MAX_ROUNDS = 10_000
MAX_TRIAL_IDEAS = 20_000_000


@dataclass(frozen=True)
class ResearchProgramResult:
    """What `simulate_research_program` returns; arrays have one entry per budget.

    Attributes:
        budgets_usd: the budgets, in the order given.
        shots: shots each budget buys.
        success_probability: estimated probability of finding the best idea.
        standard_error: binomial standard error of that estimate.
        n_trials: the number of simulated worlds behind each estimate.
    """

    budgets_usd: np.ndarray
    shots: np.ndarray
    success_probability: np.ndarray
    standard_error: np.ndarray
    n_trials: int


@dataclass(frozen=True)
class Scenario:
    """A named set of `simulate_research_program` arguments (everything but the budget)."""

    name: str
    description: str
    cost_per_shot: float
    hardware_cost_factor: float = 1.0
    prior_skill: float = 0.0
    n_ideas: int = 100
    prediction_noise: float = DEFAULT_PREDICTION_NOISE
    idea_spread: float = DEFAULT_IDEA_SPREAD

    def simulate(self, budget_usd, *, n_trials: int = 2000, seed: int = 0):
        """`simulate_research_program` with this scenario's arguments."""
        return simulate_research_program(
            budget_usd,
            self.cost_per_shot,
            n_ideas=self.n_ideas,
            prediction_noise=self.prediction_noise,
            idea_spread=self.idea_spread,
            prior_skill=self.prior_skill,
            hardware_cost_factor=self.hardware_cost_factor,
            n_trials=n_trials,
            seed=seed,
        )


def shots_affordable(budget_usd, cost_per_shot: float, hardware_cost_factor: float = 1.0):
    """floor(budget / (cost_per_shot * hardware_cost_factor)), elementwise, as int64."""
    budgets = _budgets(budget_usd)
    cost = _shot_cost(cost_per_shot, hardware_cost_factor)
    # A relative nudge keeps budgets that are exact multiples of the cost from losing a shot to
    # floating-point rounding (3 * 0.1 / 0.1 = 2.9999999999999996).
    return np.floor(budgets / cost * (1 + 1e-12)).astype(np.int64)


def simulate_research_program(
    budget_usd,
    cost_per_shot: float,
    *,
    n_ideas: int = 100,
    prediction_noise: float = DEFAULT_PREDICTION_NOISE,
    idea_spread: float = DEFAULT_IDEA_SPREAD,
    prior_skill: float = 0.0,
    hardware_cost_factor: float = 1.0,
    n_trials: int = 2000,
    seed: int = 0,
) -> ResearchProgramResult:
    """Probability that a lab with budget `budget_usd` finds its best idea (see module docstring).

    Args:
        budget_usd: a budget in dollars, or a 1-D array of budgets (each >= 0).
        cost_per_shot: dollars per small-scale experiment on unconstrained hardware (> 0).
        n_ideas: candidate ideas (>= 2).
        prediction_noise: std of a small run's error in predicting the large run (log space, >= 0).
        idea_spread: std of the ideas' true effects (log space, > 0).
        prior_skill: correlation in [0, 1) of the team's free ranking with the truth.
        hardware_cost_factor: multiplies the cost of every shot (>= 1 for a constraint such as
            slower interconnect, < 1 for a saving such as FP8); > 0.
        n_trials: simulated worlds per budget (>= 1).
        seed: seeds NumPy's generator; the same arguments and seed give the same result.
    """
    budgets = _budgets(budget_usd)
    shots = shots_affordable(budgets, cost_per_shot, hardware_cost_factor)
    n_ideas = integer("n_ideas", n_ideas, minimum=2)
    noise = real_number("prediction_noise", prediction_noise, nonnegative=True)
    spread = real_number("idea_spread", idea_spread, positive=True)
    rho = real_number("prior_skill", prior_skill, nonnegative=True)
    if rho >= 1.0:
        raise ValueError(f"prior_skill must be in [0, 1), got {rho} (1 would be foresight)")
    n_trials = integer("n_trials", n_trials, minimum=1)
    seed = integer("seed", seed, minimum=0)
    if n_trials * n_ideas > MAX_TRIAL_IDEAS:
        raise ValueError(
            f"n_trials * n_ideas must be <= {MAX_TRIAL_IDEAS:,}, got {n_trials:,} * {n_ideas:,}"
        )
    if shots.max() // n_ideas > MAX_ROUNDS:
        raise ValueError(
            f"budget_usd buys up to {int(shots.max()):,} shots, more than {MAX_ROUNDS:,} per idea; "
            "lower the budget or raise cost_per_shot (by then every estimate is exact enough)"
        )

    rng = np.random.default_rng([seed, 0])
    quality = rng.normal(0.0, spread, size=(n_trials, n_ideas))
    best = quality.argmax(axis=1)

    # The team's free ranking: a standardised signal z with correlation rho to the quality. Read
    # as a measurement of q it is z * spread / rho, with error variance spread^2 (1 - rho^2) /
    # rho^2; what the posterior needs is its precision and precision x measurement, written so
    # that a tiny rho cannot overflow.
    eta = rng.normal(size=(n_trials, n_ideas))
    signal = rho * quality / spread + np.sqrt(1.0 - rho**2) * eta  # rho = 0: a random order
    prior_precision = rho**2 / (spread**2 * (1.0 - rho**2))
    prior_evidence = rho * signal / (spread * (1.0 - rho**2))
    order = np.argsort(-signal, axis=1, kind="stable")  # the order in which ideas are tried
    rank = np.empty_like(order)
    rank[np.arange(n_trials)[:, None], order] = np.arange(n_ideas)[None, :]

    # The r-th run of every idea draws its error from a stream of its own, so what a budget sees
    # does not depend on which other budgets are asked for in the same call.
    def errors(level: int) -> np.ndarray:
        return noise * np.random.default_rng([seed, 1, level]).normal(size=(n_trials, n_ideas))

    success = np.zeros(len(budgets))
    full_sums = np.zeros((n_trials, n_ideas))  # sums over the complete rounds run so far
    rounds, cached = 0, (-1, None)
    for i in np.argsort(shots, kind="stable"):  # from small budgets to large
        k = int(shots[i])
        if k == 0:
            continue  # no shot, nothing tested: nothing found
        complete, rest = divmod(k, n_ideas)
        while rounds < complete:
            full_sums += cached[1] if cached[0] == rounds else errors(rounds)
            rounds += 1
        in_partial_round = rank < rest
        sums, repeats = full_sums + quality * complete, np.full(rank.shape, complete)
        if rest:
            if cached[0] != complete:
                cached = (complete, errors(complete))
            sums = sums + np.where(in_partial_round, quality + cached[1], 0.0)
            repeats = repeats + in_partial_round
        bets = _bets(sums, repeats, prior_evidence, prior_precision, spread, noise)
        success[i] = np.mean(bets == best)
    standard_error = np.sqrt(success * (1.0 - success) / n_trials)
    return ResearchProgramResult(budgets, shots, success, standard_error, n_trials)


def _bets(sums, repeats, prior_evidence, prior_precision, spread, noise) -> np.ndarray:
    """The idea each trial bets on: the tested idea with the highest posterior mean.

    The posterior mean of q_i is (prior_evidence + sums / noise^2) / (1 / spread^2 +
    prior_precision + repeats / noise^2); both sides are multiplied by noise^2 here, so that
    noiseless (or nearly noiseless) shots give the plain average instead of inf / inf.
    """
    r = noise**2
    numerator = prior_evidence * r + sums
    denominator = r / spread**2 + prior_precision * r + repeats
    tested = repeats > 0
    mean = np.divide(numerator, denominator, out=np.zeros_like(sums), where=tested)
    return np.where(tested, mean, -np.inf).argmax(axis=1)


def _budgets(budget_usd) -> np.ndarray:
    if isinstance(budget_usd, bool):
        raise TypeError("budget_usd must be a number or an array of numbers, got bool")
    if np.isscalar(budget_usd):
        budgets = np.array([real_number("budget_usd", budget_usd)], dtype=np.float64)
    else:
        budgets = np.asarray(budget_usd)
        if budgets.dtype.kind in "iu":
            budgets = budgets.astype(np.float64)
        budgets = float_array("budget_usd", budgets, min_ndim=1)
        if budgets.ndim != 1:
            raise ValueError(f"budget_usd must be a number or a 1-D array, got {budgets.shape}")
    if np.any(budgets < 0):
        raise ValueError(f"budget_usd must be >= 0, got {budgets[budgets < 0][0]}")
    return budgets


def _shot_cost(cost_per_shot, hardware_cost_factor) -> float:
    cost = real_number("cost_per_shot", cost_per_shot, positive=True)
    factor = real_number("hardware_cost_factor", hardware_cost_factor, positive=True)
    return cost * factor
