import ipywidgets
import numpy as np

from labs.tour.exercises import LOG_SUM_EXP, check_log_sum_exp
from labs.tour.widgets import plot_softmax, temperature_explorer


def test_stable_solution_passes():
    def log_sum_exp(x):
        m = np.max(x)
        if m == -np.inf:
            return -np.inf
        return m + np.log(np.sum(np.exp(x - m)))

    assert check_log_sum_exp(log_sum_exp).passed


def test_eq_2s_shift_alone_fails_only_on_the_fully_masked_row_with_a_hint():
    # the transcription of eq. (2): right on every finite input and on a partly masked one
    def log_sum_exp(x):
        m = np.max(x)
        with np.errstate(invalid="ignore"):
            return m + np.log(np.sum(np.exp(x - m)))

    report = check_log_sum_exp(log_sum_exp)
    assert report.status == "failed" and report.passed_cases == len(LOG_SUM_EXP.cases) - 1
    text = str(report)
    assert "every logit masked" in text and "NaN" in text and "return -inf" in text


def test_naive_solution_fails_on_large_logits_with_a_hint():
    def log_sum_exp(x):
        with np.errstate(over="ignore", divide="ignore"):
            return np.log(np.sum(np.exp(x)))

    report = check_log_sum_exp(log_sum_exp)
    assert report.status == "failed" and report.passed_cases == 2
    text = str(report)
    assert "large logits" in text and "got inf" in text and "m = max(x)" in text


def test_stub_is_not_attempted():
    def log_sum_exp(x):
        raise NotImplementedError

    assert check_log_sum_exp(log_sum_exp).status == "not attempted"


def test_cases_include_overflow_and_underflow():
    labels = " ".join(case.label for case in LOG_SUM_EXP.cases)
    assert "large" in labels and "negative" in labels


def test_widget_and_plot():
    widget = temperature_explorer()
    assert isinstance(widget, ipywidgets.interactive)
    ax = plot_softmax([2.0, 0.0], temperature=1.0)
    assert "entropy" in ax.get_title()
    assert len(ax.patches) == 2
