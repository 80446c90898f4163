"""Chapter 1 exercises, with their instant checks.

Expected values are computed independently of the package's own functions: the compute-optimal
split by root-finding on dL/dN along 6ND = C (SciPy's brentq), and the true N_opt of every law a
decision exercise draws or plants the same way; the exponent of the robust-fit exercise (1.2) is
the one its runs were planted with, and its tolerance half of what least squares misses it by.

The exercises live in one module each, and every name the chapter, the tests and the grader use
is re-exported here, where the chapter and the grader look for them:
`labs.scaling.exercises_pilot` (Exercise 1.1, a pilot budget), `labs.scaling.exercises_robust`
(Exercise 1.2, the Huber loss), `labs.scaling.exercises_profiles` (Exercise 1.3, IsoFLOP
profiles) and `labs.scaling.exercises_allocation` (the compute-optimal split by root-finding,
which scores the others, and the split exercise the grader keeps); `labs.scaling.exercises_scoring`
says how a prediction of N_opt missed, for 1.1 and 1.3. Taught in chapter 1,
"Exercise 1.1" to "Exercise 1.3".
"""

from __future__ import annotations

from labs.scaling.exercises_allocation import (
    COMPUTE_OPTIMAL_SPLIT,
    check_compute_optimal_split,
)
from labs.scaling.exercises_allocation import _brute_force_split as _brute_force_split
from labs.scaling.exercises_allocation import _true_n_opt as _true_n_opt
from labs.scaling.exercises_pilot import _LAB_LAWS as _LAB_LAWS
from labs.scaling.exercises_pilot import PILOT_BUDGET, PilotLab, check_plan_pilot_runs
from labs.scaling.exercises_pilot import _draw_pilot_law as _draw_pilot_law
from labs.scaling.exercises_profiles import N_OPT_FROM_PROFILES, check_predict_n_opt
from labs.scaling.exercises_profiles import _isoflop_profiles as _isoflop_profiles
from labs.scaling.exercises_profiles import _profiles_case as _profiles_case
from labs.scaling.exercises_robust import ROBUST_EXPONENT, check_robust_exponent
from labs.scaling.exercises_robust import _exponent_case as _exponent_case
from labs.scaling.exercises_robust import _huber_line as _huber_line
from labs.scaling.exercises_robust import _planted_runs as _planted_runs

__all__ = [
    "COMPUTE_OPTIMAL_SPLIT",
    "N_OPT_FROM_PROFILES",
    "PILOT_BUDGET",
    "ROBUST_EXPONENT",
    "PilotLab",
    "check_compute_optimal_split",
    "check_plan_pilot_runs",
    "check_predict_n_opt",
    "check_robust_exponent",
]
