"""Argument checks and caps of chapter 7's shots simulator (`labs.economics.research`), written
once: `simulate_research_program`, `Scenario`, the rank-reversal helpers
(`labs.economics.rank_reversal`) and the widget that draws them call these. Each raises a
`ValueError` or `TypeError` that names the parameter, says what was expected and what came.
"""

from __future__ import annotations

import math

import numpy as np

from labs.common.validate import (
    array,
    describe_value,
    integer,
    one_of,
    real_number,
    size,
    text,
)
from labs.economics.checks import MAX_SEED

# Internal helpers: the hostile-input walker reaches them through the public functions they guard.
__all__: list[str] = []

# --- Caps on sizes a typo could blow up ----------------------------------------------------------

# Shots are counted in float64 before they become int64: past 10**15 the count is no longer
# exact, and far past it (2**63) it would wrap to a negative number.
MAX_SHOTS = 10**15
# The shots simulator keeps a call to seconds and its memory to megabytes: past 10,000 runs of
# every idea the noise of each estimate has fallen a hundredfold; 20 million (trial, idea) pairs
# is 160 MB per array; and 2 * 10**8 (trial, idea) visits, counting one visit per round of shots
# and four per budget, is about five seconds of work.
MAX_ROUNDS = 10_000
MAX_TRIAL_IDEAS = 20_000_000
MAX_WORK = 2 * 10**8
# The ideas' spread and the shots' noise are squared and divided by each other in float64: a
# spread outside [1e-100, 1e100], or a noise over a million spreads (a rank reversal within 3e-7
# of a half: the shots say nothing), would underflow or overflow.
MIN_SPREAD, MAX_SPREAD, MAX_NOISE_RATIO = 1e-100, 1e100, 1e6
# How a lab spends the shots left after testing every idea once (labs.economics.research);
# "random" ignores the readings, a control for the two rules that use them.
ALLOCATIONS = ("round-robin", "leader", "upper-confidence", "random")
# "upper-confidence" re-tests the highest posterior mean plus this many posterior standard
# deviations by default ("leader": none).
UPPER_CONFIDENCE_SDS = 2.0
# An adaptive lab spends those shots one at a time: each scans the (trial, idea) table for its
# argmax (about a fiftieth of a round's visit per entry), updates one idea per trial (about 8
# visits per trial) and pays Python's loop (about 2,000 visits, 25 us); measured on a CPU.
RETEST_LOOP_VISITS, RETEST_TRIAL_VISITS, RETEST_SCANS_PER_VISIT = 2_000, 8, 50

# --- The shots simulator (research.py) -----------------------------------------------------------


def check_budgets(name: str, value) -> np.ndarray:
    """A budget >= 0 or a 1-D array of them, as float64 (whole-dollar integer arrays welcome)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number or an array of numbers, got bool")
    if np.isscalar(value):
        budgets = np.array([real_number(name, value)], dtype=np.float64)
    else:
        budgets = array(name, value, dtype=("float", "int"), min_ndim=1)
        if budgets.ndim != 1:
            raise ValueError(f"{name} must be a number or a 1-D array, got shape {budgets.shape}")
        budgets = budgets.astype(np.float64)
    if np.any(budgets < 0):
        raise ValueError(f"{name} must be >= 0, got {budgets[budgets < 0][0]}")
    return budgets


def check_shot_cost(cost_per_shot, hardware_cost_factor) -> float:
    """The price of one shot, cost_per_shot * hardware_cost_factor: both > 0, the product finite."""
    cost = real_number("cost_per_shot", cost_per_shot, positive=True)
    factor = real_number("hardware_cost_factor", hardware_cost_factor, positive=True)
    if not 0.0 < cost * factor < math.inf:
        raise ValueError(
            f"cost_per_shot * hardware_cost_factor must be a positive finite price, got "
            f"{cost!r} * {factor!r}"
        )
    return cost * factor


def check_shots(budgets: np.ndarray, cost: float, name: str = "budget_usd") -> None:
    """Refuse budgets (the argument `name`) that buy more than MAX_SHOTS shots (not exact in
    float64)."""
    most = float(budgets.max()) / cost if budgets.size else 0.0
    if most > MAX_SHOTS:
        raise ValueError(
            f"{name} / (cost_per_shot * hardware_cost_factor) must be <= {MAX_SHOTS:.0e} "
            f"shots (a count beyond it is not exact in float64), got {most:.3g}"
        )


def check_world(n_ideas, prediction_noise, idea_spread, prior_skill) -> tuple:
    """The world of the shots simulator: n_ideas >= 2, noise >= 0, spread > 0, skill in [0, 1)."""
    n_ideas = size(
        "n_ideas", n_ideas, minimum=2, maximum=MAX_TRIAL_IDEAS, why="160 MB per array of ideas"
    )
    noise = real_number("prediction_noise", prediction_noise, nonnegative=True)
    spread = real_number("idea_spread", idea_spread, positive=True)
    # The simulator squares both and divides one by the other: keep them where float64 can.
    if not MIN_SPREAD <= spread <= MAX_SPREAD:
        raise ValueError(f"idea_spread must be in [{MIN_SPREAD:g}, {MAX_SPREAD:g}], got {spread}")
    if noise > MAX_NOISE_RATIO * spread:
        raise ValueError(
            f"prediction_noise must be at most {MAX_NOISE_RATIO:g} x idea_spread "
            f"({MAX_NOISE_RATIO * spread:g}), got {noise}: shots that noisy carry no information"
        )
    rho = real_number("prior_skill", prior_skill, nonnegative=True)
    if rho >= 1.0:
        raise ValueError(f"prior_skill must be in [0, 1), got {rho} (1 would be foresight)")
    return n_ideas, noise, spread, rho


def check_trials(n_trials, seed) -> tuple[int, int]:
    n_trials = size(
        "n_trials", n_trials, maximum=MAX_TRIAL_IDEAS // 2, why="n_trials * n_ideas is capped"
    )
    return n_trials, integer("seed", seed, minimum=0, maximum=MAX_SEED)


def check_confidence_sds(confidence_sds, allocation: str, default: float) -> float:
    """A finite width >= 0 in posterior standard deviations, set only with "upper-confidence"
    (any other allocation would ignore it)."""
    confidence_sds = real_number("confidence_sds", confidence_sds, nonnegative=True)
    if allocation != "upper-confidence" and confidence_sds != default:
        raise ValueError(
            f"confidence_sds is used only by allocation='upper-confidence', got "
            f"confidence_sds={confidence_sds!r} with allocation={allocation!r}"
        )
    return confidence_sds


def check_allocation(allocation) -> str:
    """One of ALLOCATIONS: how the shots past the first pass are spent."""
    if not isinstance(allocation, str):
        raise TypeError(
            f"allocation must be one of {ALLOCATIONS} (a string), got {describe_value(allocation)}"
        )
    return one_of("allocation", allocation, ALLOCATIONS)


def check_research_program(
    budget_usd, cost_per_shot, hardware_cost_factor, n_ideas, prediction_noise, idea_spread,
    prior_skill, n_trials, seed,
) -> tuple:  # fmt: skip
    """Every argument of `simulate_research_program` but the allocation (`check_allocation`; the
    work cap follows in `check_work`).

    Returns (budgets, cost per shot, n_ideas, noise, spread, prior skill, n_trials, seed).
    """
    budgets = check_budgets("budget_usd", budget_usd)
    cost = check_shot_cost(cost_per_shot, hardware_cost_factor)
    check_shots(budgets, cost)
    world = check_world(n_ideas, prediction_noise, idea_spread, prior_skill)
    n_ideas = world[0]
    n_trials, seed = check_trials(n_trials, seed)
    if n_trials * n_ideas > MAX_TRIAL_IDEAS:
        raise ValueError(
            f"n_trials * n_ideas must be <= {MAX_TRIAL_IDEAS:,}, got {n_trials:,} * {n_ideas:,}"
        )
    return (budgets, cost, *world, n_trials, seed)


def check_work(
    shots: np.ndarray, n_ideas: int, n_trials: int, allocation: str = "round-robin"
) -> None:
    """Caps on the work the simulator would actually do for these shots (one count per budget),
    counting an adaptive lab's re-tests one at a time."""
    most = int(shots.max()) if shots.size else 0  # <= MAX_SHOTS (check_shots): exact
    if most // n_ideas > MAX_ROUNDS:
        raise ValueError(
            f"budget_usd buys up to {most:,} shots, more than {MAX_ROUNDS:,} per idea; "
            "lower the budget or raise cost_per_shot (by then every estimate is exact enough)"
        )
    # One pass over the (trial, idea) table per round of shots, and per budget that buys any a
    # pass that costs about four (the posterior and the bets; measured). Python ints: no overflow.
    visits = n_trials * n_ideas * (most // n_ideas + 1 + 4 * int(np.count_nonzero(shots)))
    if visits > MAX_WORK:
        raise ValueError(
            f"n_trials * n_ideas * (rounds of shots + 4 x budgets) must be <= {MAX_WORK:,} (a few "
            f"seconds of work), got {visits:,}; lower n_trials, n_ideas, the number of budgets "
            "in budget_usd or the largest budget"
        )
    retests = max(most - n_ideas, 0) if allocation != "round-robin" else 0
    per_retest = RETEST_LOOP_VISITS + n_trials * (
        RETEST_TRIAL_VISITS + n_ideas // RETEST_SCANS_PER_VISIT
    )
    total = visits + retests * per_retest
    if total > MAX_WORK:
        raise ValueError(
            f"allocation={allocation!r} spends {retests:,} re-tests one at a time; with "
            f"n_trials={n_trials:,} and n_ideas={n_ideas:,} that is {total:,} visits, more than "
            f"{MAX_WORK:,} (a few seconds of work); lower n_trials, n_ideas or the largest budget "
            "in budget_usd"
        )


def check_scenario(scenario) -> None:
    """A Scenario's fields, by the same rules as `simulate_research_program`'s arguments."""
    text("name", scenario.name)
    text("description", scenario.description, nonempty=False)
    check_shot_cost(scenario.cost_per_shot, scenario.hardware_cost_factor)
    check_world(scenario.n_ideas, scenario.prediction_noise, scenario.idea_spread,
                scenario.prior_skill)  # fmt: skip
    allocation = check_allocation(scenario.allocation)
    check_confidence_sds(scenario.confidence_sds, allocation, UPPER_CONFIDENCE_SDS)


def check_result(result) -> None:
    """A ResearchProgramResult: four 1-D arrays of one length, probabilities in [0, 1]."""
    budgets = array("budgets_usd", result.budgets_usd, ndim=1)
    if np.any(budgets < 0):
        raise ValueError("budgets_usd must be >= 0")
    shots = array("shots", result.shots, dtype="int", ndim=1)
    if np.any(shots < 0):
        raise ValueError(f"shots must be >= 0, got {int(shots.min())}")
    p = array("success_probability", result.success_probability, ndim=1)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("success_probability must lie in [0, 1]")
    se = array("standard_error", result.standard_error, ndim=1)
    if np.any(se < 0):
        raise ValueError("standard_error must be >= 0")
    regret = array("expected_regret", result.expected_regret, ndim=1)
    regret_se = array("regret_standard_error", result.regret_standard_error, ndim=1)
    if np.any(regret_se < 0):
        raise ValueError("regret_standard_error must be >= 0")
    named = (("shots", shots), ("success_probability", p), ("standard_error", se),
             ("expected_regret", regret), ("regret_standard_error", regret_se))  # fmt: skip
    for name, values in named:
        if len(values) != len(budgets):
            raise ValueError(
                f"{name} must have one entry per budget ({len(budgets)}), got {len(values)}"
            )
    size("n_trials", result.n_trials, maximum=MAX_TRIAL_IDEAS // 2, why="as the simulator's cap")


def check_rank_reversal_args(prediction_noise, idea_spread) -> tuple[float, float]:
    return (
        real_number("prediction_noise", prediction_noise, nonnegative=True),
        real_number("idea_spread", idea_spread, positive=True),
    )


def check_reversal_args(reversal_probability, idea_spread) -> tuple[float, float]:
    p = real_number("reversal_probability", reversal_probability, nonnegative=True)
    if p >= 0.5:
        raise ValueError(
            f"reversal_probability must be in [0, 0.5) (a half is pure noise), got {p}"
        )
    return p, real_number("idea_spread", idea_spread, positive=True)
