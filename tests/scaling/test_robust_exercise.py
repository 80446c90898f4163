"""Exercise 1.2 (the Huber loss): where the bad runs are planted, and the wrong answers its check
names."""

from __future__ import annotations

import numpy as np
import pytest

from labs.scaling.exercises import ROBUST_EXPONENT, _huber_line, _planted_runs
from labs.scaling.exercises_robust import check_robust_exponent
from tests.grading.solutions.scaling import robust_exponent


def _drop_cheapest_quarter(x, y):
    keep = np.argsort(x)[len(x) // 4 :]
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


def test_bad_runs_are_planted_anywhere_and_always_tilt_least_squares():
    """Over 40 seeds the bad runs land in every quarter of the sweep, and on every seed least
    squares misses by 10 clean standard errors or more (the draw is repeated until it does)."""
    quarters = set()
    for seed in range(40):
        x, y, _, wrong = _planted_runs(-0.05, 0.01, 40, 3, 20.0, seed)
        quarters |= set(np.flatnonzero(wrong) // 10)
        log_x = np.log(x)
        error = 0.01 / np.sqrt(np.sum((log_x - log_x.mean()) ** 2))
        assert abs(_huber_line(log_x, np.log(y), np.inf)[1] + 0.05) >= 10 * error
    assert quarters == {0, 1, 2, 3}
    again = _planted_runs(-0.05, 0.01, 40, 3, 20.0, 3)  # a seed gives one data set
    assert np.array_equal(again[1], _planted_runs(-0.05, 0.01, 40, 3, 20.0, 3)[1])


def test_bad_runs_too_small_to_tilt_least_squares_raise_instead_of_looping():
    """Three runs 1-2 noise units off cannot tilt 40 runs' least squares by 10 standard errors:
    the draw gives up with a ValueError naming size and bad, where it once could spin forever.
    Runs 20 units off (control) return."""
    with pytest.raises(ValueError, match=r"size=1\.0, bad=3: planted runs cannot tilt"):
        _planted_runs(-0.05, 0.01, 40, 3, 1.0, 0)
    assert len(_planted_runs(-0.05, 0.01, 40, 3, 20.0, 0)[0]) == 40


def test_dropping_the_cheapest_quarter_fails_and_is_named():
    """Least squares after dropping the cheapest quarter misses public case 1 by more than the
    tolerance, and the check names it."""
    case = ROBUST_EXPONENT.fresh_cases()[0]
    assert abs(_drop_cheapest_quarter(*case.args) - case.expected) > 1.5 * case.atol

    def robust_exponent_(x, y):
        return _drop_cheapest_quarter(x, y)

    report = str(check_robust_exponent(robust_exponent_))
    assert report.startswith("[failed]") and "0/4 public cases" in report
    assert "after dropping the cheapest quarter" in report
    assert "after dropping" not in str(check_robust_exponent(robust_exponent))  # control


@pytest.mark.parametrize(
    ("wrong", "named"),
    [
        (lambda x, y: -robust_exponent(x, y), "the wrong sign"),
        (
            lambda x, y: robust_exponent(x, np.exp(np.log10(y))),  # log10 of y, ln of x
            "p / ln(10)",
        ),
        (
            lambda x, y: float(np.polyfit(np.log(x), np.log(y), 1)[0]),
            "what least squares gets on all the runs",
        ),
    ],
    ids=["sign", "log10", "least-squares"],
)
def test_a_known_wrong_exponent_is_named(wrong, named):
    report = str(check_robust_exponent(wrong))
    assert report.startswith("[failed]") and "what is wrong: your exponent" in report
    assert named in report


def test_a_returned_pair_is_named_with_its_order():
    """The reference's line returned whole, in _huber_line's order and in np.polyfit's: the check
    names the order and the item that is the exponent, in place of the case's hint about a wrong
    exponent; a pair holding no exponent is told to return one float."""

    def huber_pair(x, y):
        return _huber_line(np.log(x), np.log(y), 0.03)  # (intercept, slope)

    def polyfit_pair(x, y):
        slope = robust_exponent(x, y)
        return np.array([slope, 0.3])  # (slope, intercept)

    report = str(check_robust_exponent(huber_pair))
    assert "(intercept, slope), as _huber_line gives them, and its item 1" in report
    assert "hint:" not in report and "off by more than half" not in report
    report = str(check_robust_exponent(polyfit_pair))
    assert "(slope, intercept), as np.polyfit gives them, and its item 0" in report
    report = str(check_robust_exponent(lambda x, y: (5.0, 7.0)))
    assert "returned two numbers; return the exponent p alone" in report
    control = str(check_robust_exponent(lambda x, y: 1.0))  # one wrong float: no pair line
    assert "what is wrong" not in control and "hint: your exponent is off by more" in control


def _end_to_end(x, y):
    lx, ly = np.log(x), np.log(y)
    return float((ly[-1] - ly[0]) / (lx[-1] - lx[0]))


def _standard_error(x, sigma):
    log_x = np.log(x)
    return sigma / np.sqrt(np.sum((log_x - log_x.mean()) ** 2))


@pytest.mark.parametrize("end", ["cheapest", "costliest"])
def test_an_end_run_planted_wrong_is_one_of_the_bad_runs_and_defeats_a_two_point_slope(end):
    """With `end` set, that end run is among the bad ones (the others still anywhere), and on 40
    seeds the slope through the two end runs misses by more than twice half of least squares'
    miss (the cases' tolerance): over 20 clean standard errors. A bad `end` is refused."""
    for seed in range(40):
        x, y, _, wrong = _planted_runs(-0.05, 0.01, 40, 3, 20.0, seed, end=end)
        assert wrong[0 if end == "cheapest" else -1] and wrong.sum() == 3
        tolerance = abs(_huber_line(np.log(x), np.log(y), np.inf)[1] + 0.05) / 2
        miss = abs(_end_to_end(x, y) + 0.05)
        assert miss > 2 * tolerance and miss > 20 * _standard_error(x, 0.01)
    with pytest.raises(ValueError, match="end must be"):
        _planted_runs(-0.05, 0.01, 40, 3, 20.0, 0, end="middle")


def test_a_two_point_slope_fails_a_public_and_a_hidden_case_and_is_named():
    """The slope between the first and the last run once passed every public and hidden case.
    Public case 4 (the cheapest run went wrong) and hidden case 3 (the costliest) now fail it by
    more than 5 times the tolerance, and the check names it; on the cases whose end runs are
    sound it still lands within the tolerance, which is why those cases alone could not catch it.
    The reference passes all of them (control)."""
    from tests.grading.hidden.scaling import HIDDEN

    public, hidden = ROBUST_EXPONENT.fresh_cases(), HIDDEN["robust_exponent"]
    for i, case in enumerate((*public, *hidden)):
        miss = abs(_end_to_end(*case.args) - case.expected)
        planted_at_an_end = i in (3, len(public) + 2)
        assert (miss > 5 * case.atol) if planted_at_an_end else (miss < case.atol)
        named = [message for _, message in case.mistakes if "first and the last run" in message]
        assert len(named) == int(planted_at_an_end)
        assert abs(robust_exponent(*case.args) - case.expected) < case.atol
    report = str(check_robust_exponent(_end_to_end))
    assert report.startswith("[failed] robust_exponent: 3/4 public cases")
    assert "what is wrong: your exponent is the slope between the first and the last run" in report
    assert "first and the last run" not in str(check_robust_exponent(robust_exponent))


def test_each_named_exponent_is_a_mistake_of_its_own():
    """Where the two-point slope is named, its window (the case's tolerance around it) holds
    neither the planted exponent nor any other named answer, so an answer in it is told of that
    mistake and of no other."""
    from tests.grading.hidden.scaling import HIDDEN

    for case in (*ROBUST_EXPONENT.fresh_cases(), *HIDDEN["robust_exponent"]):
        answers = [answer for answer, _ in case.mistakes]
        for answer, message in case.mistakes:
            if "first and the last run" in message:
                others = [case.expected, *(a for a in answers if a is not answer)]
                assert all(abs(answer - other) > 2 * case.atol for other in others)


def test_a_tolerance_of_two_standard_errors_would_fail_the_reference():
    """Why the tolerance stays at half of least squares' miss and is not a few clean standard
    errors: the reference (Huber, delta at three noise units) keeps part of each bad run's pull
    and misses by more than 2 standard errors on a third of 40 seeds or more, while a two-point
    slope through sound end runs misses by about sqrt(n / 6) = 2.6 of them."""
    over = [
        abs(robust_exponent(x, y) + 0.05) > 2 * _standard_error(x, 0.01)
        for x, y, _, _ in (_planted_runs(-0.05, 0.01, 40, 3, 20.0, seed) for seed in range(40))
    ]
    assert np.mean(over) > 1 / 3
