"""Chapter 6 soft-target controls: the neutral control and the pair-neighbour mass, against hand
computations; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labs.distill import pair_neighbour_mass, uniform_wrong_classes


def test_uniform_wrong_classes_keeps_the_top_class_and_spreads_the_rest():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.25, 0.5, 0.25]])
    out = np.exp(uniform_wrong_classes(np.log(probs) + 3.0))  # a shift leaves a softmax alone
    expected = np.array([[0.7, 0.15, 0.15], [0.2, 0.2, 0.6], [0.25, 0.5, 0.25]])
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_uniform_wrong_classes_stays_finite_for_a_certain_teacher():
    # q_top = 1 - 2 exp(-1000) rounds to 1; the rest, exp(-1000) each, is kept in log space
    out = uniform_wrong_classes(np.array([[0.0, 1000.0, 0.0]]))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [[-1000.0, 0.0, -1000.0]], atol=1e-9)


def test_pair_neighbour_mass_by_hand():
    # V = 4: pairs (0, 2) and (1, 3).
    # row 1, label 0: neighbour 2 has 0.3; classes 1 and 3 have 0.1 each.
    # row 2, label 3: neighbour 1 has 0.2; classes 0 and 2 have 0.2 each.
    probs = np.array([[0.5, 0.1, 0.3, 0.1], [0.2, 0.2, 0.2, 0.4]])
    neighbour, other = pair_neighbour_mass(np.log(probs), np.array([0, 3]))
    assert neighbour == pytest.approx((0.3 + 0.2) / 2)
    assert other == pytest.approx((0.1 + 0.1 + 0.2 + 0.2) / 4)


def test_pair_neighbour_mass_flattens_with_temperature():
    logits = np.array([[4.0, -1.0, 2.0, -1.0]])
    low, high = pair_neighbour_mass(logits, [0]), pair_neighbour_mass(logits, [0], 100.0)
    assert low[0] > 10 * low[1]  # at T = 1 the neighbour stands out...
    assert high[0] == pytest.approx(high[1], rel=0.05)  # ...at T = 100 nearly uniform


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: uniform_wrong_classes(np.zeros((2, 1))), ValueError, "logits"),
        (lambda: uniform_wrong_classes(np.zeros(4)), ValueError, "logits"),
        (lambda: uniform_wrong_classes(torch.zeros(2, 3)), TypeError, "logits"),
        (lambda: uniform_wrong_classes(np.array([[0.0, np.nan]])), ValueError, "logits"),
        (lambda: pair_neighbour_mass(np.zeros((2, 5)), [0, 1]), ValueError, "even"),
        (lambda: pair_neighbour_mass(np.zeros((2, 2)), [0, 1]), ValueError, "logits"),
        (lambda: pair_neighbour_mass(np.zeros((2, 4)), [0, 4]), ValueError, "labels"),
        (lambda: pair_neighbour_mass(np.zeros((2, 4)), [0]), ValueError, "labels"),
        (lambda: pair_neighbour_mass(np.zeros((2, 4)), [0.0, 1.0]), TypeError, "labels"),
        (lambda: pair_neighbour_mass(np.zeros((2, 4)), [0, 1], 0.0), ValueError, "temperature"),
    ],
)
def test_bad_input_names_the_parameter(call, error, name):
    with pytest.raises(error, match=name):
        call()
