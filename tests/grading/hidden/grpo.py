"""Hidden cases of chapter 5, worked by hand (the arithmetic is beside each case)."""

import math

import numpy as np

from labs.common.exercises import Case

EPS = 1e-4
# Either std convention is accepted (DeepSeekMath writes only std(r)): `also` holds ddof = 0.
# (2, 4, 6): mean 4, squares 4 + 0 + 4 = 8; sample variance 8 / 2 = 4, std 2; population 8 / 3.
_D, _P = 2.0 + EPS, math.sqrt(8 / 3) + EPS
# (1, 1, 0, 0): mean 0.5, squares 4 x 0.25 = 1; sample variance 1 / 3; population 1 / 4, std 0.5.
_D4, _P4 = math.sqrt(1 / 3) + EPS, 0.5 + EPS

HIDDEN = {
    "advantages_from_rewards": (
        Case(
            (np.array([2.0, 4.0, 6.0, 5.0, 5.0, 5.0]), 3),
            np.array([-2 / _D, 0.0, 2 / _D, 0.0, 0.0, 0.0]),
            "two groups of three, the second all equal",
            also=(np.array([-2 / _P, 0.0, 2 / _P, 0.0, 0.0, 0.0]),),
        ),
        Case(
            (np.array([1.0, 1.0, 0.0, 0.0]), 4),
            np.array([0.5, 0.5, -0.5, -0.5]) / _D4,
            "one group of four, two correct answers first",
            rtol=1e-9,
            also=(np.array([0.5, 0.5, -0.5, -0.5]) / _P4,),
        ),
    ),
    "k3_estimator": (
        # r = 0.1 / 0.4 = 0.25 -> 0.25 - log 0.25 - 1; r = 0.6 / 0.2 = 3 -> 3 - log 3 - 1.
        Case(
            (np.log(np.array([0.4, 0.2])), np.log(np.array([0.1, 0.6]))),
            np.array([0.25 - math.log(0.25) - 1, 3 - math.log(3) - 1]),
            "ratios 1/4 and 3",
            rtol=1e-9,
        ),
        Case(
            (np.log(np.array([[0.5]])), np.log(np.array([[0.5]]))),
            np.array([[0.0]]),
            "a 1 x 1 array of equal policies",
        ),
    ),
    "clipped_objective": (
        # eps 0.1: min(2 x 0.5, 1.1 x 0.5) = 0.55; min(0.2 x -2, 0.9 x -2) = -1.8.
        Case(
            (np.array([2.0, 0.2]), np.array([0.5, -2.0]), 0.1),
            np.array([0.55, -1.8]),
            "ratios far outside a narrow clip range",
            rtol=1e-12,
        ),
        Case(
            (np.array([[1.0, 3.0]]), np.array([[0.0, 0.0]]), 0.3),
            np.array([[0.0, 0.0]]),
            "zero advantages",
        ),
    ),
    "choose_group_size": (
        # (0.2, 0.2, 1.0), target 0.5: share 2 (1 - 0.2^G - 0.8^G) / 3 >= 0.5 needs
        # 0.2^G + 0.8^G <= 0.25: G = 6 -> 0.262144 + 0.000064 = 0.262208, no;
        # G = 7 -> 0.2097152 + 0.0000128 = 0.209728, yes. (Mean p 0.467 gives 3; dropping the
        # p = 1 prompt gives 4.)
        Case((np.array([0.2, 0.2, 1.0]), 0.5, 16), 7, "an easy pair and a solved prompt"),
        # four prompts at 0.5, target 0.95: 1 - 2 / 2^G >= 0.95 needs 2^G >= 40, so G = 6.
        Case((np.array([0.5, 0.5, 0.5, 0.5]), 0.95, 6), 6, "four even prompts, a high target"),
        Case((np.array([0.5, 0.5, 0.5, 0.5]), 0.95, 5), None, "the same, capped at five"),
    ),
}
FORBIDDEN = {
    "advantages_from_rewards": (
        "labs.grpo.reference.group_advantages",
        "labs.grpo.torch_kernels.group_advantages",
        "labs.grpo.jax.group_advantages",
    ),
    "k3_estimator": (
        "labs.grpo.reference.kl_k3",
        "labs.grpo.torch_kernels.kl_k3",
        "labs.grpo.jax.kl_k3",
    ),
}
