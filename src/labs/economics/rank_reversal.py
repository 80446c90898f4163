"""Rank reversal: how often small runs order two ideas differently from the large run.

Taught in chapter 7, "The shots argument" ("What is the noise?"). The shots simulator
(`labs.economics.research`, which re-exports every name here) draws each shot's error with a
standard deviation, `prediction_noise`, beside the spread of the ideas' true effects,
`idea_spread`. What a reader can judge is not that noise but what it does to a comparison: between
two ideas, the probability that the small runs put them in the wrong order (a *rank reversal*) is
arctan(noise / spread) / pi. A noise equal to the spread reverses one pair in four, a noise of
zero never, an infinite one one pair in two. Common-mode error, which shifts every idea's
prediction alike, cancels in the comparison and does not enter.

`rank_reversal_probability` gives the probability from the noise and
`prediction_noise_for_rank_reversal` the noise from the probability; the chapter states its
assumption as a rate of reversals and converts it with the second.
"""

from __future__ import annotations

import math

from labs.economics.research_checks import check_rank_reversal_args, check_reversal_args

__all__ = [
    "DEFAULT_IDEA_SPREAD",
    "DEFAULT_PREDICTION_NOISE",
    "prediction_noise_for_rank_reversal",
    "rank_reversal_probability",
]

# The default prediction noise is an ASSUMPTION, stated here once: 0.02 in natural-log units, the
# same size as the spread of the ideas' true effects, so that small runs reverse the order of one
# pair of ideas in four (rank_reversal_probability(0.02, 0.02) = 1/4). What matters for comparing
# ideas is that rank reversal, not the error of extrapolating a run's absolute loss (an error
# common to every idea cancels); the course has no measurement of it, and chapter 7 shows 10 % to
# 40 % as the range (Chapter 1's absolute-loss errors cannot stand in for it: chapter 7 says why).
DEFAULT_PREDICTION_NOISE = 0.02
DEFAULT_IDEA_SPREAD = 0.02


def rank_reversal_probability(prediction_noise: float, idea_spread: float = DEFAULT_IDEA_SPREAD):
    """P(small runs order two random ideas differently from the large run) = arctan(e / s) / pi.

    The true gap of two ideas is Normal(0, 2 s^2) and the small runs see it plus Normal(0, 2 e^2):
    the two gaps have correlation rho = s / sqrt(s^2 + e^2), and two such Gaussians differ in sign
    with probability arccos(rho) / pi = arctan(e / s) / pi. Noise 0 never reverses; noise equal to
    the spread reverses one pair in four; infinite noise, one in two.
    """
    noise, spread = check_rank_reversal_args(prediction_noise, idea_spread)
    return _rank_reversal_probability(noise, spread)


def _rank_reversal_probability(noise: float, spread: float) -> float:
    """arctan(e / s) / pi."""
    return math.atan2(noise, spread) / math.pi


def prediction_noise_for_rank_reversal(
    reversal_probability: float, idea_spread: float = DEFAULT_IDEA_SPREAD
) -> float:
    """The inverse of `rank_reversal_probability`: e = s tan(pi p), for p in [0, 1/2)."""
    p, spread = check_reversal_args(reversal_probability, idea_spread)
    return _prediction_noise_for_rank_reversal(p, spread)


def _prediction_noise_for_rank_reversal(p: float, spread: float) -> float:
    """e = s tan(pi p)."""
    return spread * math.tan(math.pi * p)
