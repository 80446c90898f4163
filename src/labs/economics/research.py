"""The shots simulator: a Monte Carlo of a lab that buys experiments to find its best idea.

Taught in chapter 7, "The shots argument".

The world (one trial):

* The lab has `n_ideas` candidate ideas. Idea i would lower the log-loss of the large run by
  q_i ~ Normal(0, idea_spread^2) (a negative q_i raises it); the best idea is the one with the
  largest q_i.
* Before spending anything, the team ranks the ideas by judgement: a free signal whose
  correlation with q_i is `prior_skill` (0: no better than chance; 1: perfect foresight).
* A *shot* is one small-scale run of one idea. It costs `cost_per_shot * hardware_cost_factor`
  dollars and returns q_i + e with e ~ Normal(0, prediction_noise^2), independent across ideas:
  the part of a small run's error that differs from idea to idea (see rank reversal below).
* With a budget B the lab affords k = floor(B / (cost_per_shot * hardware_cost_factor)) shots.
  It spends them in the order of its ranking; past n_ideas shots (every idea tested once) it
  spends the spare shots by its `allocation` and averages the repeats:
  - "round-robin" (the default): reruns the ideas in the order of its ranking, again and again.
  - "leader": re-tests whichever idea has the highest posterior mean after the shots so far (a
    lucky first reading is re-tested until the average drops below another idea's estimate).
  - "upper-confidence": re-tests the idea with the highest posterior mean plus `confidence_sds`
    posterior standard deviations (two by default); unlike "leader" it also returns to an idea
    whose one or two readings leave it a real chance of being the best (a standard rule for
    finding the best of many noisy options, with the common two-sigma width by default rather
    than one tuned to this model).
  - "random": re-tests an idea drawn uniformly from the pool, whatever the readings say: a
    control for the two rules above, which gain over round-robin only by using the readings.
* It then bets on the tested idea with the highest posterior mean (a Bayesian lab: the prior
  signal and the shots are combined with their precisions). It *finds the best idea* when that
  bet is the true best. An idea never tested is never bet on, so a budget that buys no shot finds
  nothing.
* Its *regret* is what the bet leaves on the table: q_best - q_bet, and q_best (the whole gain)
  when it ships nothing. Expected regret weighs a near miss lightly and a bad bet heavily, where
  P(find the best) counts both as failures; more shots never raise it in expectation (a shot
  adds information and the bet uses it).
* The noise has a second reading, the probability that small runs order two ideas differently
  from the large run (a *rank reversal*): arctan(noise / spread) / pi, so a noise equal to the
  spread reverses one pair in four. That reading, and the default noise it sets, live in
  `labs.economics.rank_reversal` (re-exported here).

Every budget sees the same `n_trials` worlds, and the r-th run of an idea has the same error
whatever the budget: a larger budget only adds shots to what a smaller one saw (common random
numbers), so the curves are smooth and the estimate at a budget does not depend on which other
budgets are asked for. The other allocations keep the first pass's errors and draw the s-th
spare shot's error (and, for "random", its idea) from a stream of their own, so they too only add
shots as the budget grows;
with no spare shot (k <= n_ideas) every allocation is the same lab.

Axes: T trials (simulated worlds), I ideas, B budgets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jaxtyping import Float, Int

from labs.common.validate import real_number
from labs.economics.rank_reversal import (
    DEFAULT_IDEA_SPREAD,
    DEFAULT_PREDICTION_NOISE,
    prediction_noise_for_rank_reversal,
    rank_reversal_probability,
)
from labs.economics.research_checks import (
    ALLOCATIONS,
    MAX_ROUNDS,
    MAX_SHOTS,
    MAX_TRIAL_IDEAS,
    MAX_WORK,
    UPPER_CONFIDENCE_SDS,
    check_allocation,
    check_budgets,
    check_confidence_sds,
    check_research_program,
    check_result,
    check_scenario,
    check_shot_cost,
    check_shots,
    check_work,
)

__all__ = [
    "ALLOCATIONS",
    "DEFAULT_IDEA_SPREAD",
    "DEFAULT_PREDICTION_NOISE",
    "MAX_ROUNDS",
    "MAX_SHOTS",
    "MAX_TRIAL_IDEAS",
    "MAX_WORK",
    "ResearchProgramResult",
    "Scenario",
    "prediction_noise_for_rank_reversal",
    "rank_reversal_probability",
    "shots_affordable",
    "simulate_research_program",
]

# The caps (MAX_ROUNDS, MAX_TRIAL_IDEAS, MAX_WORK, MAX_SHOTS) live in
# labs.economics.research_checks with their reasons; they keep a call to seconds and its memory to
# megabytes.


@dataclass(frozen=True, kw_only=True)
class ResearchProgramResult:
    """What `simulate_research_program` returns; arrays have one entry per budget.

    Attributes:
        budgets_usd: the budgets, in the order given.
        shots: shots each budget buys.
        success_probability: estimated probability of finding the best idea.
        standard_error: binomial standard error of that estimate.
        expected_regret: mean of q_best - q_bet over the worlds (log-loss units, >= 0 on
            average; q_best when no shot is bought).
        regret_standard_error: standard error of that mean.
        n_trials: the number of simulated worlds behind each estimate.
    """

    budgets_usd: np.ndarray
    shots: np.ndarray
    success_probability: np.ndarray
    standard_error: np.ndarray
    expected_regret: np.ndarray
    regret_standard_error: np.ndarray
    n_trials: int

    def __post_init__(self) -> None:
        check_result(self)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A named set of `simulate_research_program` arguments (everything but the budget).

    Its fields obey the rules of `simulate_research_program`'s arguments (checked on creation).
    """

    name: str
    description: str = ""
    cost_per_shot: float
    hardware_cost_factor: float = 1.0
    prior_skill: float = 0.0
    n_ideas: int = 100
    prediction_noise: float = DEFAULT_PREDICTION_NOISE
    idea_spread: float = DEFAULT_IDEA_SPREAD
    allocation: str = "round-robin"
    confidence_sds: float = UPPER_CONFIDENCE_SDS

    def __post_init__(self) -> None:
        check_scenario(self)

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
            allocation=self.allocation,
            confidence_sds=self.confidence_sds,
        )


def shots_affordable(budget_usd, cost_per_shot: float, hardware_cost_factor: float = 1.0):
    """floor(budget / (cost_per_shot * hardware_cost_factor)), elementwise, as int64.

    A budget that buys more than 10**15 shots is refused (MAX_SHOTS): the count would no longer
    be exact in float64, and past 2**63 it would wrap to a negative int64.
    """
    budgets = check_budgets("budget_usd", budget_usd)
    cost = check_shot_cost(cost_per_shot, hardware_cost_factor)
    check_shots(budgets, cost)
    return _shots_affordable(budgets, cost)


def _shots_affordable(budgets: Float[np.ndarray, " B"], cost: float) -> Int[np.ndarray, " B"]:
    """k = floor(B / cost) per budget."""
    # A relative nudge of under two rounding errors keeps budgets that are exact multiples of
    # the cost from losing a shot (0.3 / 0.1 = 2.9999999999999996); at 4e-16 it adds less than
    # half a shot even at the cap of 10**15 shots (a nudge of 1e-12 added 1,000 shots there).
    return np.floor(budgets / cost * (1 + 4e-16)).astype(np.int64)


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
    allocation: str = "round-robin",
    confidence_sds: float = UPPER_CONFIDENCE_SDS,
    idea_tails: float | None = None,
) -> ResearchProgramResult:
    """Probability that a lab with budget `budget_usd` finds its best idea, and its expected regret
    (see the module docstring).

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
        seed: seeds NumPy's generator, in [0, 2**32); the same arguments and seed give the same
            result.
        allocation: how the shots past the first n_ideas are spent: "round-robin" (the
            default), "leader", "upper-confidence" or "random" (see the module docstring).
        confidence_sds: the posterior standard deviations "upper-confidence" adds to an idea's
            posterior mean when it picks what to re-test (finite, >= 0; 0 is "leader"); set it
            only with that allocation.
        idea_tails: None (the default) draws the ideas' true effects from a normal distribution;
            a number draws them from Student's t with that many degrees of freedom (> 2, at most
            1,000), scaled to the same standard deviation `idea_spread`: fewer degrees, heavier
            tails, rarer and larger long shots. The labs' estimates still assume normal ideas
            (they do not know the tails).

    Limits (labs.economics.research_checks, so that a typo cannot hang the machine or fill its
    memory):
    n_trials * n_ideas <= 20,000,000; at most 10,000 shots per idea; at most 10**15 shots; and
    the work actually done, n_trials * n_ideas * (rounds of shots + 4 x budgets), <= 2 * 10**8,
    with an adaptive allocation's re-tests (one at a time) counted in.
    """
    budgets, cost, n_ideas, noise, spread, rho, n_trials, seed = check_research_program(
        budget_usd, cost_per_shot, hardware_cost_factor, n_ideas, prediction_noise, idea_spread,
        prior_skill, n_trials, seed,
    )  # fmt: skip
    allocation = check_allocation(allocation)
    confidence_sds = check_confidence_sds(confidence_sds, allocation, UPPER_CONFIDENCE_SDS)
    if idea_tails is not None:
        idea_tails = real_number("idea_tails", idea_tails, maximum=1000.0)
        if idea_tails <= 2:
            raise ValueError(
                f"idea_tails must be > 2 degrees of freedom (a t distribution with 2 or fewer has "
                f"no finite standard deviation to scale to idea_spread), got {idea_tails}"
            )
    shots = _shots_affordable(budgets, cost)
    check_work(shots, n_ideas, n_trials, allocation)
    # What `_retest` adds to the posterior mean, in posterior stds (None: a random idea).
    optimism = {"leader": 0.0, "upper-confidence": confidence_sds, "random": None}
    success, regret, regret_sd = _simulate_research_program(
        shots, n_ideas, noise, spread, rho, n_trials, seed, allocation,
        optimism.get(allocation), idea_tails,
    )  # fmt: skip
    return ResearchProgramResult(
        budgets_usd=budgets,
        shots=shots,
        success_probability=success,
        standard_error=np.sqrt(success * (1.0 - success) / n_trials),
        expected_regret=regret,
        regret_standard_error=regret_sd / np.sqrt(n_trials),
        n_trials=n_trials,
    )


def _simulate_research_program(
    shots: Int[np.ndarray, " B"],
    n_ideas: int,
    noise: float,
    spread: float,
    rho: float,
    n_trials: int,
    seed: int,
    allocation: str = "round-robin",
    optimism: float | None = None,
    tails: float | None = None,
) -> tuple[Float[np.ndarray, " B"], Float[np.ndarray, " B"], Float[np.ndarray, " B"]]:
    """Per budget: the share of worlds whose k shots find the best idea, and the mean and std of
    the regret q_best - q_bet. Any `allocation` but "round-robin" spends the spare shots with
    `_retest`, on the highest posterior mean plus `optimism` posterior standard deviations, or on
    a random idea where `optimism` is None. `tails` None draws the ideas from a normal
    distribution, a number from a scaled Student's t."""
    rng = np.random.default_rng([seed, 0])
    if tails is None:
        quality = rng.normal(0.0, spread, size=(n_trials, n_ideas))  # q_i, (T, I)
    else:  # Student's t with `tails` degrees of freedom, scaled to standard deviation `spread`
        scale = spread * np.sqrt((tails - 2.0) / tails)
        quality = scale * rng.standard_t(tails, size=(n_trials, n_ideas))
    best = quality.argmax(axis=1)
    gain = quality.max(axis=1)  # (T,): what the best idea would give

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

    success = np.zeros(len(shots))
    regret_mean, regret_sd = np.full(len(shots), gain.mean()), np.full(len(shots), gain.std())
    full_sums = np.zeros((n_trials, n_ideas))  # sums over the complete rounds run so far
    rounds, cached = 0, (-1, None)
    retest = None  # an adaptive lab past its first pass: sums, repeats, its stream, shots spent
    for i in np.argsort(shots, kind="stable"):  # from small budgets to large
        k = int(shots[i])
        if k == 0:
            continue  # no shot, nothing tested, nothing shipped: the whole gain is the regret
        if allocation != "round-robin" and k > n_ideas:  # spare shots, spent by the rule
            if retest is None:  # the first pass: every idea once, with the errors of run 0
                first = quality + (cached[1] if cached[0] == 0 else errors(0))
                retest = (first, np.ones(rank.shape, np.int64), np.random.default_rng([seed, 2]), 0)
            sums, repeats, stream, spent = retest
            _retest(sums, repeats, quality, prior_evidence, prior_precision, spread, noise,
                    optimism, stream, k - n_ideas - spent)  # fmt: skip
            retest = (sums, repeats, stream, k - n_ideas)
        else:  # round-robin, or no spare shot yet
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
        regret = gain - quality[np.arange(n_trials), bets]  # (T,)
        regret_mean[i], regret_sd[i] = regret.mean(), regret.std()
    return success, regret_mean, regret_sd


def _retest(
    sums: Float[np.ndarray, "T I"],
    repeats: Int[np.ndarray, "T I"],
    quality: Float[np.ndarray, "T I"],
    prior_evidence: Float[np.ndarray, "T I"],
    prior_precision: float,
    spread: float,
    noise: float,
    optimism: float | None,
    stream: np.random.Generator,
    n_shots: int,
) -> None:
    """Spends `n_shots` more shots per trial, one at a time, each on the idea with the highest
    posterior mean + optimism x posterior std (as `_bets`, times noise^2), or on an idea drawn
    uniformly where `optimism` is None (the control: no reading chooses); updates in place."""
    rows, r = np.arange(len(sums)), noise**2
    prior = r / spread**2 + prior_precision * r  # the posterior precision before any shot, x r

    def score(evidence, total, denominator):  # posterior mean + optimism posterior stds
        return (evidence * r + total) / denominator + optimism * noise / np.sqrt(denominator)

    scores = None if optimism is None else score(prior_evidence, sums, prior + repeats)  # (T, I)
    for _ in range(n_shots):
        if scores is None:
            j = stream.integers(sums.shape[1], size=len(rows))  # (T,): a random idea each
        else:
            j = scores.argmax(axis=1)  # (T,): the idea each trial re-tests
        sums[rows, j] += quality[rows, j] + noise * stream.normal(size=len(rows))
        repeats[rows, j] += 1
        if scores is not None:
            evidence, denominator = prior_evidence[rows, j], prior + repeats[rows, j]
            scores[rows, j] = score(evidence, sums[rows, j], denominator)


def _bets(
    sums: Float[np.ndarray, "T I"],
    repeats: Int[np.ndarray, "T I"],
    prior_evidence: Float[np.ndarray, "T I"],
    prior_precision: float,
    spread: float,
    noise: float,
) -> Int[np.ndarray, " T"]:
    """The idea each trial bets on: the tested idea with the highest posterior mean."""
    # The posterior mean of q_i is (prior_evidence + sums / noise^2) / (1 / spread^2 +
    # prior_precision + repeats / noise^2); both sides are multiplied by noise^2 here, so that
    # noiseless (or nearly noiseless) shots give the plain average instead of inf / inf.
    r = noise**2
    numerator = prior_evidence * r + sums
    denominator = r / spread**2 + prior_precision * r + repeats
    tested = repeats > 0  # (T, I)
    mean = np.divide(numerator, denominator, out=np.zeros_like(sums), where=tested)
    return np.where(tested, mean, -np.inf).argmax(axis=1)
