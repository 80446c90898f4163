"""Hidden cases of chapter 1. Expected values by root-finding (the split), the piecewise
definition (Huber) and the normal equations (power law), as for the public cases."""

import importlib

import numpy as np

from labs.common.exercises import Case
from labs.scaling.exercises import _brute_force_split, _huber_by_hand, _power_law_case
from labs.scaling.laws import ChinchillaParams

_SKEWED = ChinchillaParams(E=2.0, A=50.0, B=900.0, alpha=0.5, beta=0.25)
_R = np.array([-3.0, -0.2, 0.0, 0.05, 0.2, 1.5, 40.0])

HIDDEN = {
    "compute_optimal_split": (
        Case(
            (3e19, _SKEWED),
            _brute_force_split(3e19, _SKEWED),
            "alpha > beta at C = 3e19",
            rtol=1e-4,
        ),
        Case(
            (1e25, _SKEWED),
            _brute_force_split(1e25, _SKEWED),
            "alpha > beta at C = 1e25",
            rtol=1e-4,
        ),
    ),
    "huber_loss": (
        Case(
            (_R, 0.2), _huber_by_hand(_R, 0.2), "residuals on both sides of delta = 0.2", rtol=1e-12
        ),
        Case(
            (_R.reshape(1, 7), 5.0),
            _huber_by_hand(_R, 5.0).reshape(1, 7),
            "a 1 x 7 array, delta = 5",
            rtol=1e-12,
        ),
    ),
    "power_law_fit": (
        _power_law_case(0.5, -0.25, np.geomspace(1e3, 1e9, 9), 0.05, 11, "a falling law", ""),
        _power_law_case(7.0, 1.5, np.geomspace(2.0, 2e4, 6), 0.0, 12, "an exact law", ""),
    ),
}
FORBIDDEN = {
    "compute_optimal_split": ("labs.scaling.laws.compute_optimal",),
    "huber_loss": ("labs.scaling.fitting.huber",),
    "power_law_fit": ("labs.scaling.fitting.fit_power_law",),
}

# The pilot-budget exercise (chapter 1), where it exists: three hidden laws, drawn by the
# exercise's own generator with seeds the chapter never uses (it measures a plan on seed 7), each a
# lab the answer must spend its budget on; scored like the public cases (within 40%). No law is
# written out here or in the chapter (tests/scaling/test_pilot_exercise.py checks that the drawn
# laws differ from every law the chapter and the public cases show).
_exercises = importlib.import_module("labs.scaling.exercises")
if hasattr(_exercises, "_draw_pilot_law"):
    HIDDEN_PILOT_SEEDS = (101, 102, 103)
    HIDDEN["plan_pilot_runs"] = tuple(
        Case(
            (
                _exercises.PilotLab(_exercises._draw_pilot_law(seed), 1e21, noise=0.001, seed=seed),
                1e24,
            ),
            _brute_force_split(1e24, _exercises._draw_pilot_law(seed))[0],
            f"hidden pilot law {j}: a 1e21-FLOP budget, N_opt at 1e24 FLOPs",
            rtol=0.4,
        )
        for j, seed in enumerate(HIDDEN_PILOT_SEEDS, start=1)
    )
