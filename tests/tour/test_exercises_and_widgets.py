import warnings

import ipywidgets
import numpy as np
import pytest

from labs.tour.exercises import LOG_SUM_EXP, check_log_sum_exp
from labs.tour.widgets import plot_softmax, temperature_explorer


def _stable(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(x - m), axis=axis)) + np.squeeze(m, axis=axis)


def test_stable_solution_passes():
    assert check_log_sum_exp(_stable).passed


def _failure(fn):
    with np.errstate(all="ignore"):
        report = check_log_sum_exp(fn)
    assert report.status == "failed"
    return report.passed_cases, str(report)


def test_the_softmax_shift_transcribed_fails_on_the_first_batch():
    # eq. (2)'s shift on a 1-D row, as the chapter's softmax shows it: one scalar result
    def log_sum_exp(x, axis=-1):
        m = np.max(x)
        return m + np.log(np.sum(np.exp(x - m)))

    passed, text = _failure(log_sum_exp)
    assert passed == 3 and "expected shape (3,), got shape ()" in text and "own maximum" in text


def test_a_shift_per_row_without_the_mask_rule_is_told_about_the_masked_row():
    def log_sum_exp(x, axis=-1):
        m = np.max(x, axis=axis, keepdims=True)
        return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(x - m), axis=axis))

    passed, text = _failure(log_sum_exp)
    assert passed == 3 and "NaN on the fully masked row" in text


def test_one_shift_for_the_whole_array_is_named():
    def log_sum_exp(x, axis=-1):
        m = np.max(x)
        return m + np.log(np.sum(np.exp(x - m), axis=axis))

    passed, text = _failure(log_sum_exp)
    assert passed == 3 and "one shift for the whole array" in text


def test_ignoring_axis_is_named():
    def log_sum_exp(x, axis=-1):
        return _stable(x, axis=-1)

    passed, text = _failure(log_sum_exp)
    assert passed == 4 and "reduces over the last axis" in text and "axis=0" in text


def test_plus_inf_giving_nan_is_named():
    def log_sum_exp(x, axis=-1):
        x = np.asarray(x, dtype=np.float64)
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(m == -np.inf, 0.0, m)  # the mask rule only
        return np.log(np.sum(np.exp(x - m), axis=axis)) + np.squeeze(m, axis=axis)

    passed, text = _failure(log_sum_exp)
    assert passed == 5 and "inf - inf" in text and "+inf" in text


def test_a_float16_sum_is_named():
    def log_sum_exp(x, axis=-1):  # right, except that float16 stays float16
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0).astype(x.dtype)
        return np.log(np.sum(np.exp(x - m), axis=axis)) + np.squeeze(m, axis=axis)

    passed, text = _failure(log_sum_exp)
    assert passed == 6 and "65,504" in text and "wider type" in text


def test_a_shift_by_anything_but_the_maximum_is_named():
    # right about masks, +inf, axes and float16, but shifting by the row's mean or minimum: the
    # minimum fails on the columns along axis=0 (0 beside 900); the mean keeps every exponent of
    # the other cases below 709, and only the spread case catches it
    def shifted_by(pick):
        def log_sum_exp(x, axis=-1):
            x = np.asarray(x, dtype=np.float64)
            finite = np.where(np.isfinite(x), x, np.nan)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a fully masked slice: NaN
                m = pick(finite, axis=axis, keepdims=True)
                m = np.where(np.isfinite(m), m, 0.0)
                return np.log(np.sum(np.exp(x - m), axis=axis)) + np.squeeze(m, axis=axis)

        return log_sum_exp

    passed, text = _failure(shifted_by(np.nanmean))
    assert passed == len(LOG_SUM_EXP.cases) - 1, text
    assert "spread over 1,600" in text and "709.8" in text and "maximum" in text
    passed, text = _failure(shifted_by(np.nanmin))
    assert passed == 4 and "smallest finite logit" in text and "709.8" in text, text


def test_an_answer_right_to_float32_only_is_told_so():
    def log_sum_exp(x, axis=-1):  # float32 arithmetic, returned as float64
        return _stable(np.asarray(x, dtype=np.float32).astype(np.float64), axis).astype(np.float32)

    def float32_inside(x, axis=-1):
        x = np.asarray(x, dtype=np.float32)
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, np.float32(0.0))
        with np.errstate(divide="ignore"):
            out = np.log(np.sum(np.exp(x - m), axis=axis)) + np.squeeze(m, axis=axis)
        return out.astype(np.float64)

    float32_inside.__name__ = "log_sum_exp"
    passed, text = _failure(float32_inside)
    assert passed == 0 and "right to float32's precision" in text and "float64" in text
    # the same arithmetic returned as float32 matches at float32's precision, the course's rule
    # for every check (and the grader's): it passes, with a note that the exercise asks for float64
    with np.errstate(all="ignore"):
        report = check_log_sum_exp(log_sum_exp)
    assert report.passed and "case 1 returned float32" in str(report), str(report)
    assert "asks for float64" in str(report)


def test_an_answer_returned_in_the_inputs_dtype_passes_with_a_note_where_it_first_differs():
    # right in float64, handed back as float16 for the float16 case (case 7): its value matches
    # at float16's precision, so it passes, told that the exercise asks for float64
    def log_sum_exp(x, axis=-1):
        return _stable(x, axis).astype(np.asarray(x).dtype)

    with np.errstate(all="ignore"):
        report = check_log_sum_exp(log_sum_exp)
    assert report.passed and "case 7 returned float16" in str(report), str(report)
    # a float64 answer gets no such note
    with np.errstate(all="ignore"):
        assert "returned" not in str(check_log_sum_exp(lambda x, axis=-1: _stable(x, axis)))


def test_a_wider_type_without_the_shift_is_named():
    # no shift, summed in x86's 80-bit long double and returned as float64: it passes every case
    # below its exp limit (about 11,356) and fails on logits of 12,000
    def log_sum_exp(x, axis=-1):
        wide = np.exp(np.asarray(x, dtype=np.longdouble)).sum(axis=axis)
        return np.log(wide).astype(np.float64)

    if np.finfo(np.longdouble).maxexp <= 1024:
        pytest.skip("long double is float64 on this platform (Arm macOS, Windows)")
    passed, text = _failure(log_sum_exp)
    assert passed == len(LOG_SUM_EXP.cases) - 2 and "a wider type moves the limits" in text


def test_a_wrong_answer_near_the_value_is_not_blamed_on_precision():
    # off by 1e-3 of the answer: too far for float32's rounding, and float16 is named only for a
    # float16 input
    passed, text = _failure(lambda x, axis=-1: _stable(x, axis) * (1 + 1e-3))
    assert passed == 0 and "precision" not in text.split("hint:")[0].replace("at float", "")


def test_an_unrelated_wrong_answer_gets_no_named_mistake():
    # the control: off by a constant 0.5 everywhere, which no named slip produces
    passed, text = _failure(lambda x, axis=-1: _stable(x, axis) + 0.5)
    assert passed == 0 and "what is wrong" not in text


def test_naive_solution_fails_on_large_logits_with_a_hint():
    def log_sum_exp(x, axis=-1):
        return np.log(np.sum(np.exp(x), axis=axis))

    passed, text = _failure(log_sum_exp)
    assert passed == 1 and "large logits" in text and "got inf" in text and "m = max(x)" in text


def test_stub_is_not_attempted():
    def log_sum_exp(x, axis=-1):
        raise NotImplementedError

    assert check_log_sum_exp(log_sum_exp).status == "not attempted"


def test_cases_cover_what_the_shift_alone_misses():
    labels = " ".join(case.label for case in LOG_SUM_EXP.cases)
    for words in ("large", "negative", "masked", "+inf", "float16", "axis=0", "spread"):
        assert words in labels


def test_widget_and_plot():
    widget = temperature_explorer()
    assert isinstance(widget, ipywidgets.interactive)
    ax = plot_softmax([2.0, 0.0], temperature=1.0)
    assert "entropy" in ax.get_title()
    assert len(ax.patches) == 2
