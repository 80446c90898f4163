"""Exercise 1.1, spend a pilot budget: predict N_opt at a large budget from runs on a hidden law.

`PilotLab` "trains" models on a law the student does not see and charges each run 6 N D FLOPs
from a budget. The law is held in a closure, in no attribute; the budget and the record of runs
are read-only, and a copy of a lab draws on the same budget. The answer is scored against the
law's true N_opt (`_true_n_opt`), within 40%, and a miss is reported with its side and its size
(`labs.scaling.exercises_scoring`, which exercise 1.3 uses too); the check audits the spend
after each plan (`_spend_breach`) and does not score a plan that overspent. `_draw_pilot_law`
draws the laws the chapter measures a plan on and the hidden cases grade with, their exponent
kept away from one half on a side drawn at random, so that a plan which assumes Chinchilla's
a = 0.5, or any other exponent, fails them; an answer
near that assumption is told so (`_half_mistake`). Taught in chapter 1, "Exercise 1.1: spend a
pilot budget". `labs.scaling.exercises` re-exports these names.
"""

from __future__ import annotations

import secrets
import weakref

import numpy as np

from labs.common import validate
from labs.common.exercises import Case, CheckReport, Exercise, check_with_note
from labs.common.validate import instance, real_number
from labs.scaling.exercises_allocation import _true_n_opt
from labs.scaling.exercises_scoring import _check_prediction, _how_far, _name_the_nearest_mistake
from labs.scaling.laws import ChinchillaParams


class _Ledger:
    """What a lab and every copy of it share once one of them has run: the FLOPs spent, the runs
    made and the noise generator."""

    __slots__ = ("__weakref__", "rng", "runs", "spent")

    def __init__(self, spent: float, runs, rng: np.random.Generator):
        self.spent, self.runs, self.rng = float(spent), list(runs), rng


# The ledger of each lab that has run, by its token, while some lab holding it lives: a lab and
# its copies (copy.copy, copy.deepcopy, a pickle round trip) carry one token, so in one process
# they draw on one budget. A copy cannot double the budget, and a lab that never ran (the cases'
# own, which only travel) holds no ledger here, so nothing it is copied into starts spent.
_LEDGERS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _lab_ops(token: str, law: ChinchillaParams, budget: float, noise: float, initial: tuple):
    """The three closures a PilotLab works through: `run(N, D)`, `view()` -> (budget, spent,
    runs) and `state()`, what a pickle carries. The law, the budget and the noise live only here,
    in no attribute of the lab. `initial` is (spent, runs, generator state), the lab's state until
    it joins its token's ledger."""
    bound: list[_Ledger] = []

    def ledger(create: bool) -> _Ledger | None:
        if not bound:
            shared = _LEDGERS.get(token)
            if shared is None and create:
                spent, runs, rng_state = initial
                rng = np.random.Generator(np.random.PCG64())
                rng.bit_generator.state = rng_state
                shared = _LEDGERS.setdefault(token, _Ledger(spent, runs, rng))
            if shared is None:
                return None
            bound.append(shared)
        return bound[0]

    def run(N: float, D: float) -> float:
        N, D = float(N), float(D)
        if not (np.isfinite(N) and np.isfinite(D) and N >= 1 and D >= 1):
            raise ValueError(f"N and D must be finite counts >= 1, got N={N:g}, D={D:g}")
        book = ledger(create=True)
        cost = 6.0 * N * D
        if cost > (budget - book.spent) * (1 + 1e-9):
            raise RuntimeError(
                f"a run of N={N:.3g}, D={D:.3g} costs {cost:.3g} FLOPs, more than the "
                f"{budget - book.spent:.3g} left of the {budget:.3g} pilot budget"
            )
        book.spent += cost
        loss = (law.E + law.A / N**law.alpha + law.B / D**law.beta) * np.exp(
            noise * book.rng.standard_normal()
        )
        book.runs.append((N, D, float(loss)))
        return float(loss)

    def view() -> tuple[float, float, tuple]:
        book = ledger(create=False)
        if book is None:
            return budget, float(initial[0]), tuple(initial[1])
        return budget, book.spent, tuple(book.runs)

    def state() -> tuple:
        book = ledger(create=False)
        if book is None:
            return (token, law, budget, noise, *initial)
        return (
            token,
            law,
            budget,
            noise,
            book.spent,
            tuple(book.runs),
            book.rng.bit_generator.state,
        )

    return run, view, state


def _reopen_lab(token, law, budget, noise, spent, runs, rng_state) -> PilotLab:
    """A lab from the state a pickle carries (`PilotLab.__reduce__`): the same token, so where a
    lab of that token has run in this process the two share its ledger."""
    lab = object.__new__(PilotLab)
    object.__setattr__(lab, "_ops", _lab_ops(token, law, budget, noise, (spent, runs, rng_state)))
    return lab


class PilotLab:
    """A lab with a pilot budget: `lab(N, D)` "trains" a model of N parameters on D tokens and
    returns its final loss, drawn from a law the student does not see, with run-to-run noise.

    Each run costs C = 6 N D FLOPs from `budget`; a run that would overspend is refused (a
    RuntimeError, and nothing is charged). `lab.spent` and `lab.remaining` say where you stand;
    `lab.log` lists the runs made, as (N, D, loss).

    The law is held in a closure, not in an attribute, and `budget`, `spent` and `log` are
    read-only: setting or deleting any attribute raises AttributeError. A copy of a lab (copy,
    deepcopy, a pickle round trip) draws on the same budget as the lab, so copying gives no extra
    runs. What Python cannot stop is code that digs through closures or the pickled state; the
    check audits the spend after each plan (`_spend_breach`).
    """

    __slots__ = ("_ops",)

    def __init__(self, law: ChinchillaParams, budget: float, *, noise: float, seed: int):
        law = instance("law", law, ChinchillaParams)
        budget = real_number("budget", budget, positive=True)
        noise = real_number("noise", noise, minimum=0.0, maximum=1.0)
        rng = np.random.default_rng(validate.seed("seed", seed))
        initial = (0.0, (), rng.bit_generator.state)
        object.__setattr__(
            self, "_ops", _lab_ops(secrets.token_hex(16), law, budget, noise, initial)
        )

    def __setattr__(self, name, value):
        raise AttributeError(
            f"a PilotLab is read-only, {name!r} cannot be set: its budget is fixed, and spent, "
            "remaining and log change only through runs, lab(N, D)"
        )

    def __delattr__(self, name):
        raise AttributeError(f"a PilotLab's {name!r} cannot be deleted")

    def __reduce__(self):
        return _reopen_lab, self._ops[2]()

    def __repr__(self) -> str:
        budget, spent, runs = self._ops[1]()
        return f"PilotLab(budget={budget:.3g} FLOPs, spent={spent:.3g} FLOPs, {len(runs)} runs)"

    @property
    def budget(self) -> float:
        return self._ops[1]()[0]

    @property
    def spent(self) -> float:
        return self._ops[1]()[1]

    @property
    def remaining(self) -> float:
        budget, spent, _ = self._ops[1]()
        return budget - spent

    @property
    def log(self) -> tuple[tuple[float, float, float], ...]:
        return self._ops[1]()[2]

    def __call__(self, N: float, D: float) -> float:
        return self._ops[0](N, D)


def _spend_breach(lab: PilotLab, budget: float) -> str | None:
    """Why the spend on `lab` (and its copies) breaks a pilot budget of `budget` FLOPs, counted
    afresh from the runs it logged (6 N D each, whatever the lab's counters say); None when it
    does not. The check calls it after each plan."""
    _, spent, runs = lab._ops[1]()
    total = max(float(spent), float(sum(6.0 * n * d for n, d, _ in runs)))
    if total <= budget * (1 + 1e-9):
        return None
    return (
        f"your plan spent {total:.3g} FLOPs on this lab ({len(runs)} runs), more than its "
        f"{budget:.3g}-FLOP pilot budget, past the lab's own refusal. A plan must fit the budget: "
        "its answer is not scored."
    )


# Hidden laws of the public cases, chosen so that Chinchilla's "20 tokens per parameter" misses
# both by a factor of 3 or more (tests/scaling/test_exercises_and_widgets.py). At 1e24 FLOPs the
# first wants a larger model than Chinchilla's (N_opt 3.4e11, 1.4 tokens per parameter), the
# second more data (N_opt 2.1e10, 381 tokens per parameter). Run-to-run noise of 0.1% in the loss.
_LAB_LAWS = (
    ChinchillaParams(E=1.8, A=400.0, B=1500.0, alpha=0.33, beta=0.38),
    ChinchillaParams(E=1.7, A=800.0, B=900.0, alpha=0.38, beta=0.30),
)
_PILOT_BUDGET, _TARGET_C, _LAB_NOISE, _LAB_RTOL = 1e21, 1e24, 0.001, 0.4
# How far the answer of a plan that assumes Chinchilla's a = 0.5 keeps outside the check's 40%
# window on a drawn law: a factor of 15/14 beyond either edge (the edges 1.4 and 0.6 become 1.5
# and 0.56), so that such a plan misses every drawn law with room to spare.
_HALF_MARGIN = 15 / 14


def _half_answer_ratio(law: ChinchillaParams) -> float:
    """The law's optimum at the pilot budget grown to the target as C^0.5, over its true N_opt
    there: 10^(3 (0.5 - a)), what a plan that measures the optimum within its budget and assumes
    Chinchilla's exponent answers, relative to the truth."""
    grown = _true_n_opt(_PILOT_BUDGET, law) * (_TARGET_C / _PILOT_BUDGET) ** 0.5
    return grown / _true_n_opt(_TARGET_C, law)


def _draw_pilot_law(seed: int) -> ChinchillaParams:
    """A law drawn at random for a pilot lab, never printed: E from 1.5 to 2, A and B from 100 to
    30,000 (uniform in log), alpha and beta from 0.28 to 0.45; redrawn until Chinchilla's 20
    tokens per parameter misses its N_opt at 1e24 FLOPs by a factor of 1.5 to 4 (a plan must
    measure), its N_opt at 1e20 FLOPs by less than 2.5 (the pilot budget can bracket it), and a
    plan that measures the optimum within the budget and assumes a = 0.5, Chinchilla's, misses
    by more than the 40% the check allows, with a margin (`_HALF_MARGIN`): the exponent a lies
    below 0.441 or above 0.584.

    Which side of one half a lies on is drawn first, each with probability one half, by ordering
    alpha and beta (a = beta / (alpha + beta)). Without that, the constraints accept a law above
    one half about once in eight, and a plan that assumed a = 0.43 would pass most laws drawn
    (and, before this draw, all three hidden ones). A and B reach further than Chinchilla's fitted
    values so that laws above one half exist at all: their N_opt must start far enough below the
    rule of thumb's at 1e20 FLOPs.

    Chapter 1 measures a plan on one such law after Exercise 1.1; the hidden cases draw theirs with
    other seeds (tests/grading/hidden/scaling.py), so neither is shown in the chapter.
    """
    rng = np.random.default_rng(validate.seed("seed", seed))
    above = bool(rng.random() < 0.5)  # the side of one half the exponent a lies on
    while True:
        log_a, log_b = rng.uniform(np.log(100.0), np.log(30000.0), size=2)
        low, high = np.sort(rng.uniform(0.28, 0.45, size=2))
        law = ChinchillaParams(
            E=float(rng.uniform(1.5, 2.0)),
            A=float(np.exp(log_a)),
            B=float(np.exp(log_b)),
            alpha=float(low if above else high),
            beta=float(high if above else low),
        )
        miss = abs(np.log((_TARGET_C / 120) ** 0.5 / _true_n_opt(_TARGET_C, law)))
        bracket = abs(np.log((1e20 / 120) ** 0.5 / _true_n_opt(1e20, law)))
        half = _half_answer_ratio(law)
        outside = not (1 - _LAB_RTOL) / _HALF_MARGIN <= half <= (1 + _LAB_RTOL) * _HALF_MARGIN
        if np.log(1.5) < miss < np.log(4.0) and bracket < np.log(2.5) and outside:
            return law


def _rule_of_thumb(target_C: float) -> float:
    """N at 20 tokens per parameter: 6 N (20 N) = C."""
    return (target_C / 120) ** 0.5


def _tokens_mistake(law: ChinchillaParams) -> tuple[tuple[float, str], ...]:
    """The optimum's tokens D_opt = C / (6 N_opt) returned in place of its parameters N_opt, as a
    `mistakes` entry; none where the 40% windows around D_opt and N_opt overlap, since an answer
    there may be a plain overestimate of N_opt rather than D."""
    n_opt = _true_n_opt(_TARGET_C, law)
    d_opt = _TARGET_C / (6 * n_opt)
    if d_opt * (1 - _LAB_RTOL) <= n_opt * (1 + _LAB_RTOL):
        return ()
    return (
        (
            d_opt,
            f"your answer is within 40% of D_opt = target_C / (6 N_opt) = {d_opt:.3g}, the "
            f"tokens this law's optimum trains on, not its parameters (here {d_opt / n_opt:.3g} "
            "tokens per parameter). If your function returns D, return N = target_C / (6 D) "
            "instead.",
        ),
    )


def _half_mistake(law: ChinchillaParams) -> tuple[tuple[float, str], ...]:
    """The law's optimum at the pilot budget grown to the target as C^0.5 (Chinchilla's exponent
    assumed, not measured), as a `mistakes` entry; none where that answer lands within the case's
    tolerance of the truth, since a plan that assumes one half passes there."""
    n_opt = _true_n_opt(_TARGET_C, law)
    grown = _half_answer_ratio(law) * n_opt
    if abs(grown / n_opt - 1) <= _LAB_RTOL:
        return ()
    return (
        (
            grown,
            f"your N_opt is within 40% of {grown:.3g}, what this law's optimum at the pilot "
            f"budget ({_PILOT_BUDGET:.0e} FLOPs), grown to target_C as C^0.5, gives. If you "
            "assumed Chinchilla's exponent a = 0.5: this law's is not one half; measure it, with "
            "profiles at two or more budgets (or a fit of eq. 2 to all runs).",
        ),
    )


_RULE_OF_THUMB_MISTAKE = (
    "your N_opt is within 40% of Chinchilla's 20 tokens per parameter, (target_C / 120)^0.5. "
    "This lab's law is not Chinchilla's: the rule misses its optimum by a factor of 3 or more. "
    "Measure the law with the pilot budget instead of assuming it."
)


_PILOT_HINT = (
    "your prediction is off by more than 40%. Spend the budget on a few IsoFLOP profiles (5-9 "
    "sizes each, around the size you expect to be optimal, at the largest budgets you can "
    "afford: extrapolating over fewer decades is safer), fit a parabola in log N to each, and a "
    "power law through the vertices; or fit eq. 2 to all runs."
)


def _pilot_exercise() -> Exercise:
    """The pilot-budget exercise with labs of its own (each lab has a token of its own)."""
    return Exercise(
        name="plan_pilot_runs",
        signature="plan_pilot_runs(lab: PilotLab, target_C: float) -> float",
        cases=tuple(
            Case(
                (PilotLab(law, _PILOT_BUDGET, noise=_LAB_NOISE, seed=seed), _TARGET_C),
                _true_n_opt(_TARGET_C, law),
                f"{name}: a {_PILOT_BUDGET:.0e}-FLOP pilot budget, predict N_opt at "
                f"{_TARGET_C:.0e} FLOPs",
                _PILOT_HINT,
                rtol=_LAB_RTOL,
                mistakes=(
                    (_rule_of_thumb(_TARGET_C), _RULE_OF_THUMB_MISTAKE),
                    *_tokens_mistake(law),
                    *_half_mistake(law),
                ),
            )
            for name, law, seed in (
                ("a law that wants a larger model than Chinchilla's", _LAB_LAWS[0], 0),
                ("a law that wants more data", _LAB_LAWS[1], 1),
            )
        ),
        time_limit_s=60.0,
    )


PILOT_BUDGET = _pilot_exercise()


class _NotScored:
    """What the check records in place of the answer of a plan that overspent its budget."""

    def __init__(self, why: str):
        self.why = why

    def __repr__(self) -> str:
        return "not scored, the plan spent more than its pilot budget"


def check_plan_pilot_runs(fn) -> CheckReport:
    """Run the public cases of the pilot-budget exercise against `fn` (scored against the hidden
    law's true N_opt, within 40%). A miss is reported with its side and its size.

    After each plan the spend on its lab is audited (`_spend_breach`, against the case's budget,
    not the lab's own counter): a plan that spent more than the budget, by whatever means, fails
    that case with the spend in its message, its answer unscored. Each call runs on fresh labs
    (`_pilot_exercise`), so a lab a plan kept from an earlier check shares nothing with them."""
    exercise = _pilot_exercise()
    if not callable(fn):
        return _check_prediction(fn, exercise, lambda case: case.args[0].budget)

    def audited(lab, target_C):
        answer = fn(lab, target_C)
        breach = _spend_breach(lab, _PILOT_BUDGET)
        return _NotScored(breach) if breach else answer

    try:
        audited.__name__ = str(getattr(fn, "__name__", exercise.name))
    except BaseException:  # noqa: BLE001 - a hostile __name__ must not escape
        audited.__name__ = exercise.name

    failed: list = []

    def note(answer, case):
        if isinstance(answer, _NotScored):
            return f"what is wrong: {answer.why}"
        failed.append((answer, case))
        return _how_far(answer, case, case.args[0].budget)

    report = check_with_note(audited, exercise, note)
    if failed:
        _name_the_nearest_mistake(report, *failed[-1])
    if any(isinstance(line, str) and "is not scored." in line for line in report.details):
        report.details[:] = [
            line.replace("expected a number or an array, got _NotScored: ", "")
            for line in report.details
            if not line.startswith("hint:")
        ]
    return report
