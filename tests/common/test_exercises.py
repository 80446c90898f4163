import numpy as np
import pytest

from labs.common.exercises import (
    Case,
    CheckReport,
    Exercise,
    check,
    check_with_note,
    compare,
    compare_case,
    diagnose,
)

SQUARE = Exercise(
    name="square",
    signature="square(x: np.ndarray) -> np.ndarray",
    cases=(
        Case(args=(np.array([1.0, 2.0]),), expected=[1.0, 4.0], label="two numbers"),
        Case(args=(np.array([-3.0]),), expected=[9.0], label="a negative", hint="(-3)**2 = 9"),
    ),
)


def test_stub_is_not_attempted_and_does_not_raise():
    def square(x):
        raise NotImplementedError

    report = check(square, SQUARE)
    assert report.status == "not attempted" and not report.passed
    assert "not attempted" in str(report)
    assert check(None, SQUARE).status == "not attempted"


def test_correct_solution_passes():
    def square(x):
        return x * x

    report = check(square, SQUARE)
    assert report.passed and report.passed_cases == 2
    assert "all 2 public cases" in str(report)


def test_wrong_solution_says_which_case_expected_and_got():
    def square(x):
        return np.abs(x) * 2

    report = check(square, SQUARE)
    assert report.status == "failed" and report.passed_cases == 0
    text = str(report)
    assert "case 1 (two numbers)" in text
    assert "expected 1, got 2" in text


def test_a_failed_head_says_the_cases_after_the_failure_were_not_run():
    """`check` stops at the first failing case: the head names it and does not count the cases
    after it as failed (a check that ran none of them cannot say they do not match)."""

    def square(x):
        return np.abs(x) * 2  # wrong on case 1; case 2 is never called

    text = str(check(square, SQUARE)).splitlines()[0]
    assert text == "[failed] square: 0/2 public cases passed; case 1 failed, case 2 not run."
    heads = [str(CheckReport("f", "failed", k, 4, [])) for k in range(4)]
    assert heads == [
        "[failed] f: 0/4 public cases passed; case 1 failed, cases 2-4 not run.",
        "[failed] f: 1/4 public cases passed; case 2 failed, cases 3-4 not run.",
        "[failed] f: 2/4 public cases passed; case 3 failed, case 4 not run.",
        "[failed] f: 3/4 public cases passed; case 4 failed.",
    ]


def test_hint_is_shown_on_failure():
    def square(x):
        return x * np.abs(x)  # right for positives only

    text = str(check(square, SQUARE))
    assert "case 2 (a negative)" in text and "hint: (-3)**2 = 9" in text


def test_exception_in_student_code_is_reported_not_raised():
    def square(x):
        return x.nonexistent()

    text = str(check(square, SQUARE))
    assert "raised AttributeError" in text and "x.nonexistent()" in text


def test_missing_return_is_explained():
    def square(x):
        x * x

    assert "is a `return` missing?" in str(check(square, SQUARE))


def test_none_against_a_string_answer_is_not_called_a_missing_return():
    # where None is itself an answer (choose_granularity: "none of them"), it may be deliberate
    assert compare(None, "tile", 1e-6, 1e-9) == "expected 'tile', got None"
    assert "is a `return` missing?" in compare(None, 2.0, 1e-6, 1e-9)


def test_none_listed_as_a_mistake_is_not_called_a_missing_return():
    # a search that stops one short returns None: a known slip, named by its mistake message
    case = Case((9,), 9, "the top allowed", mistakes=((None, "the top itself is allowed"),))
    assert compare_case(None, case) == "expected 9, got None"
    plain = Case((9,), 9, "no None among the mistakes", mistakes=((8, "one short"),))
    assert "is a `return` missing?" in compare_case(None, plain)
    report = str(check(lambda n: None, Exercise(name="f", signature="f(n)", cases=(case,))))
    assert "expected 9, got None" in report and "the top itself is allowed" in report
    assert "is a `return` missing?" not in report


def test_check_never_changes_the_cases():
    def square(x):
        x *= x  # squares in place: must not corrupt the case for later runs
        return x

    assert check(square, SQUARE).passed
    assert check(square, SQUARE).passed
    np.testing.assert_array_equal(SQUARE.cases[0].args[0], [1.0, 2.0])


def test_renamed_function_gets_a_note():
    def my_square(x):
        return x * x

    report = check(my_square, SQUARE)
    assert report.passed and "the grader looks for 'square'" in str(report)


def test_not_a_function():
    report = check(42, SQUARE)
    assert report.status == "failed" and "expected a function" in str(report)
    with pytest.raises(TypeError, match="exercise"):
        check(lambda x: x, "square")


def test_report_html_is_escaped():
    report = CheckReport("f", "failed", 0, 1, ["expected <b>"])
    assert "&lt;b&gt;" in report._repr_html_()


@pytest.mark.parametrize(
    "got, expected, fragment",
    [
        (np.zeros(3), np.zeros(2), "expected shape (2,), got shape (3,)"),
        (np.array([np.nan]), [1.0], "got NaN"),
        ("text", 1.0, "expected a number or an array"),
        (("a",), ("a", "b"), "expected a sequence of 2 items"),
        ((1.0,), (1.0, 2.0), "expected shape (2,), got shape (1,)"),
        (np.ones((2, 2)), np.eye(2), "2 of 4 values differ; first at index (0, 1)"),
    ],
)
def test_compare_explains_differences(got, expected, fragment):
    assert fragment in compare(got, expected, rtol=1e-6, atol=1e-9)


def test_compare_accepts_torch_tensors_and_nan_where_expected():
    import torch

    assert compare(torch.tensor([1.0, 2.0]), [1.0, 2.0], 1e-6, 1e-9) is None
    assert compare(np.array([np.nan]), [np.nan], 1e-6, 1e-9) is None


def test_exercise_validation():
    with pytest.raises(ValueError, match="identifier"):
        Exercise("not a name", "", SQUARE.cases)
    with pytest.raises(ValueError, match="cases must hold at least one case"):
        Exercise("f", "", ())


def test_also_accepts_other_answers_and_reports_the_first():
    # Two accepted conventions for the same input: 3 (the first) or 4 (also).
    case = Case((2.0,), 3.0, "two conventions", also=(4.0,))
    assert compare_case(3.0, case) is None and compare_case(4.0, case) is None
    problem = compare_case(5.0, case)
    assert problem is not None and "3" in problem  # the failure names the first answer
    ex = Exercise(name="f", signature="f(x)", cases=(case,))
    assert check(lambda x: x * 2, ex).status == "passed"  # 4, the alternative
    assert check(lambda x: x + 1, ex).status == "passed"  # 3, the first
    assert check(lambda x: x * 3, ex).status == "failed"  # 6, neither
    with pytest.raises(TypeError, match="also must be a tuple"):
        Case((1.0,), 1.0, "bad", also=[2.0])
    with pytest.raises(TypeError, match="case must be a Case"):
        compare_case(1.0, "case")


# --- what is wrong, not only that it is wrong ---------------------------------------------------


def _report(got, expected, **case):
    exercise = Exercise("f", "f()", (Case(args=(), expected=expected, label="c", **case),))
    return str(check(lambda: got, exercise))


@pytest.mark.parametrize(
    ("got", "expected", "fragment"),
    [
        ((2e12, 1e11), (1e11, 2e12), "reverse order: items swapped?"),
        ([4.0, 3.0], [3.0, 4.0], "reverse order: items swapped?"),
        (1e-3, 1.0, "10^-3 times the expected value: a unit conversion"),
        (7.2e9, 2.0e6, "3600 times the expected value"),
        (60.0, 1.0, "60 times the expected value"),
        (-2.5, 2.5, "opposite sign"),
        (0.5, 1.0, "half the expected value"),
        (11, 10, "off by one"),
        (np.zeros((3, 2)), np.zeros((2, 3)), "in another order: transposed"),
        (np.zeros(6), np.zeros((2, 3)), "right number of values (6) in another shape"),
        ((1e11, 2.0), (1e11, 2000.0), "item 1: your answer is 10^-3 times"),
    ],
)
def test_check_names_the_relation_of_a_wrong_answer(got, expected, fragment):
    assert fragment in _report(got, expected)


@pytest.mark.parametrize(
    ("got", "expected"),
    # the controls: wrong answers with no telltale relation get no guess
    [(1.3, 1.0), (np.array([1.0, 2.7]), np.array([1.0, 2.0])), ("memory", "compute"), (0.0, 2.5)],
)
def test_check_guesses_nothing_for_an_unrelated_wrong_answer(got, expected):
    report = _report(got, expected)
    assert "failed" in report and "what is wrong" not in report


def test_a_known_mistake_is_named_before_any_generic_relation():
    report = _report(128, 256, mistakes=((128, "keys only: the values are cached too"),))
    assert "what is wrong: keys only" in report and "half the expected" not in report
    # a mistake is matched within the case's tolerance, and only when the answer is wrong
    assert "keys only" in _report(128.0000001, 256, mistakes=((128, "keys only"),))
    assert "passed" in _report(256, 256, mistakes=((256, "never shown"),))


def test_a_case_can_turn_the_generic_guesses_off():
    case = Case(args=(1,), expected=4, label="a count", relations=False, mistakes=((3, "three"),))
    assert diagnose(2, case) is None  # no "half the expected value" for a count
    assert diagnose(3, case) == "three"  # its named mistakes still speak
    assert "half the expected" in diagnose(2, Case(args=(1,), expected=4, label="a count"))
    with pytest.raises(TypeError, match="relations"):
        Case(args=(), expected=1.0, label="c", relations="no")


def test_mistakes_must_be_pairs_with_a_message():
    with pytest.raises(TypeError, match="mistakes"):
        Case(args=(), expected=1.0, label="c", mistakes=[(2.0, "two")])
    with pytest.raises(TypeError, match="mistakes must hold"):
        Case(args=(), expected=1.0, label="c", mistakes=((2.0, 3.0),))


def test_a_hostile_answer_cannot_break_the_diagnosis():
    class Hostile:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("no")

        def __eq__(self, other):
            raise RuntimeError("no")

    report = _report(Hostile(), 1.0, mistakes=((2.0, "two"),))
    assert "failed" in report and "what is wrong" not in report


def test_diagnose_is_what_the_grader_reports_and_checks_its_case():
    """The public diagnosis (the grader's): a case's named mistake, a generic relation (ten times
    3.0 is a power of ten), nothing for an unrelated answer; a `case` that is no Case is refused."""
    case = Case(args=(1,), expected=3.0, label="three", mistakes=((6.0, "counted twice"),))
    assert diagnose(6.0, case) == "counted twice"
    assert "10" in (diagnose(30.0, case) or "")
    assert diagnose(3.7, case) is None  # unrelated: no guess
    with pytest.raises(TypeError, match="case"):
        diagnose(6.0, {"expected": 3.0})


def test_check_with_note_puts_the_note_under_the_failing_call():
    def square(x):
        return x * 2  # fails on the first case: [2, 4], not [1, 4]

    seen = []

    def note(answer, case):
        seen.append((list(np.asarray(answer)), case.label))
        return "what is wrong: doubled, not squared"

    report = check_with_note(square, SQUARE, note)
    lines = report.details
    call = next(i for i, line in enumerate(lines) if line.startswith("  call:"))
    assert lines[call + 1] == "what is wrong: doubled, not squared"
    assert "what is wrong: doubled, not squared" in str(report)
    assert seen == [([2.0, 4.0], "two numbers")]  # the failing case's own answer, once


def test_check_with_note_hands_every_answer_to_the_caller():
    def square(x):
        return x * x

    answers = []
    assert check_with_note(square, SQUARE, lambda a, c: None, answers=answers).passed
    # one answer per public case, in order, each the square of that case's input
    assert len(answers) == len(SQUARE.cases)
    for got, case in zip(answers, SQUARE.fresh_cases(), strict=True):
        np.testing.assert_array_equal(got, np.asarray(case.args[0]) ** 2)
    with pytest.raises(TypeError, match="answers must be a list"):
        check_with_note(square, SQUARE, lambda a, c: None, answers=())


def test_check_with_note_leaves_passing_raising_and_noteless_reports_alone():
    def square(x):
        return x * x

    def broken_note(answer, case):
        raise RuntimeError("a note must never break the report")

    assert check_with_note(square, SQUARE, broken_note).passed  # passed: no note asked for

    def doubled(x):
        return x * 2

    plain = str(check(doubled, SQUARE))
    assert str(check_with_note(doubled, SQUARE, broken_note)) == plain  # the note raised
    assert str(check_with_note(doubled, SQUARE, lambda a, c: None)) == plain  # no note
    assert check_with_note(None, SQUARE, broken_note).status == "not attempted"
