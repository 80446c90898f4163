"""labs.bench.cases: chapter 8's negative controls miss by enough at every tolerance, GPU included.

The notebook asserts errors < tol and controls > control_bar(errors, tol) <= CONTROL_FACTOR * tol.
A kernel that meets the tolerance moves its control by at most tol from the NumPy control worked
here, so each NumPy control must exceed (CONTROL_FACTOR + 1) * tol for the assert to hold on a
GPU as well as in the interpreter. No kernel runs: this is NumPy alone.
"""

from __future__ import annotations

import pytest

from labs.bench.cases import (
    CONTROL_FACTOR,
    DECODE_TOL,
    GEMM_TOL,
    control_bar,
    gemm_case,
    paged_case,
    rel_error,
    unpromoted_case,
)
from labs.fp8.reference import fp8_matmul

SEEDS = (0, 1, 2)  # the notebook's


@pytest.mark.parametrize("where", sorted(DECODE_TOL))
def test_decode_control_misses_by_enough(where):
    tol = DECODE_TOL[where]
    controls = [rel_error(paged_case(s, short=1)[2], paged_case(s)[2]) for s in SEEDS]
    # measured: 0.288, 0.197, 0.268; the GPU's bar is at most 20 * 5e-3 = 0.1
    assert min(controls) > (CONTROL_FACTOR + 1) * tol, controls


@pytest.mark.parametrize("where", sorted(GEMM_TOL))
def test_gemm_control_misses_by_enough(where):
    tol = GEMM_TOL[where]
    controls = []
    for seed in SEEDS:
        a, b = gemm_case(seed)
        tile = fp8_matmul(a, b, "tile", "block", "fp32", block=128)
        tensor = fp8_matmul(a, b, "tensor", "tensor", "fp32", block=128)
        controls.append(rel_error(tile, tensor.astype("float64")))
    # measured: 0.063, 0.045, 0.061; with FP8 units the bar is at most 20 * 2e-3 = 0.04
    assert min(controls) > (CONTROL_FACTOR + 1) * tol, controls


@pytest.mark.parametrize("where", sorted(GEMM_TOL))
def test_gemm_promotion_control_misses_by_enough(where):
    """One K-block's scales for the whole sum: the outlier's tile scale (300 / 448) lands on the
    whole of row 0, and every other row's scale is off by its tiles' spread of max-abs."""
    tol = GEMM_TOL[where]
    controls = []
    for seed in SEEDS:
        a, b = gemm_case(seed)
        tile = fp8_matmul(a, b, "tile", "block", "fp32", block=128)
        controls.append(rel_error(tile, unpromoted_case(a, b)))
    assert min(controls) > (CONTROL_FACTOR + 1) * tol, controls


def test_the_promotion_control_is_right_when_the_scales_agree():
    """With one scale per K-block that is the same for every K-block (K = one block), skipping
    the promotion changes nothing: the control misses only because the scales differ along K."""
    a, b = gemm_case(0, k=128)
    tile = fp8_matmul(a, b, "tile", "block", "fp32", block=128)
    assert rel_error(tile, unpromoted_case(a, b)) < 1e-6


def test_control_bar_follows_the_errors_above_its_floor():
    assert control_bar([1e-7, 2e-7], 1e-5) == pytest.approx(1e-4)  # the floor, 10 * tol
    assert control_bar([1e-7, 4e-3], 5e-3) == pytest.approx(0.08)  # 20 * the worst error
