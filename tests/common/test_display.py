import pytest

from labs.common import show_source, source_of
from labs.tour import softmax
from labs.tour.reference import _softmax


def test_source_of_function_is_its_source():
    assert source_of(softmax).startswith("def softmax(")
    src = source_of(_softmax)
    assert src.startswith("def _softmax(")
    assert "x.max(axis=axis, keepdims=True)" in src


def test_show_source_prints_outside_a_notebook(capsys):
    show_source(softmax)
    assert "def softmax(" in capsys.readouterr().out


def test_source_of_class_and_module():
    from labs.common import exercises

    assert source_of(exercises.Case).startswith("@dataclass")
    assert "def check(" in source_of(exercises)


@pytest.mark.parametrize("bad", [3, "softmax", len])
def test_source_of_rejects_objects_without_source(bad):
    with pytest.raises(TypeError, match="obj"):
        source_of(bad)


@pytest.mark.parametrize("source", [" x = 1", "def f(:\n    pass\n", "def f():\n'''doc'''\n"])
def test_strip_docstrings_refuses_source_that_does_not_parse_by_name(source):
    from labs.common.display import strip_docstrings

    with pytest.raises(ValueError, match=r"^source must be Python that parses, got \w*Error"):
        strip_docstrings(source)
    assert strip_docstrings('def f():\n    """doc"""\n') == "def f():\n    ...\n"
