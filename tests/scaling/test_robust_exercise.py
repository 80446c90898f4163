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
    assert report.startswith("[failed]") and "0/3 public cases" in report
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
