"""Chapter 6 controls that take a teacher's soft targets apart, and what they measure.

Taught in chapter 6, "Soft targets on a small task". Framework-free (NumPy). A soft target holds
three things at once: the teacher's top class (a label, often a cleaner one than the data's), its
confidence in that class, and how it spreads the rest over the wrong classes.
`uniform_wrong_classes` keeps the first two and drops the third, the neutral control: the gain of
the real soft targets over it is what the spread itself teaches. `pair_neighbour_mass` measures
that spread on `labs.distill.data.cluster_data`, whose class c and class c + V/2 are near
neighbours: how much of the teacher's probability lands on the example's neighbour, and how much
on each of the other wrong classes.

Axes: N examples, V classes.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float, Int

from labs.common.validate import array, integer_array, real_number
from labs.distill.reference import _log_softmax, _soft_targets

__all__ = ["pair_neighbour_mass", "uniform_wrong_classes"]


def _logits(logits, minimum_classes: int) -> np.ndarray:
    logits = array("logits", logits, ndim=2)
    if logits.shape[1] < minimum_classes:
        raise ValueError(
            f"logits must have at least {minimum_classes} classes (columns), "
            f"got shape {logits.shape}"
        )
    return logits.astype(np.float64)


def uniform_wrong_classes(logits) -> np.ndarray:
    """The neutral control of a teacher's soft targets at T = 1, as log-probabilities.

    Each row keeps the teacher's top class and its probability q_top = softmax(logits)[top]; the
    other V - 1 classes share the rest evenly, (1 - q_top) / (V - 1) each. Used as a teacher's
    logits at T = 1 (log-probabilities are logits), it teaches the top class and the teacher's
    confidence, and nothing about which wrong classes are nearly right.

    Args:
        logits: float array (N, V), V >= 2: the teacher's logits.

    Returns:
        float64 (N, V) log-probabilities, finite even where q_top rounds to 1 (the rest is summed
        in log space). Ties for the top class go to the lowest index, as with argmax.
    """
    return _uniform_wrong_classes(_logits(logits, 2))


def _uniform_wrong_classes(logits: Float[np.ndarray, "N V"]) -> Float[np.ndarray, "N V"]:
    """log q_top at the top class, log((1 - q_top) / (V - 1)) elsewhere."""
    n, v = logits.shape
    log_q = _log_softmax(logits)
    top = log_q.argmax(axis=1)  # (N,)
    rows = np.arange(n)
    rest = log_q.copy()
    rest[rows, top] = -np.inf
    peak = rest.max(axis=1, keepdims=True)  # finite: V >= 2 and finite logits
    log_rest = peak[:, 0] + np.log(np.exp(rest - peak).sum(axis=1))  # log(1 - q_top), (N,)
    out = np.repeat((log_rest - np.log(v - 1))[:, None], v, axis=1)
    out[rows, top] = log_q[rows, top]
    return out


def pair_neighbour_mass(logits, labels, temperature: float = 1.0) -> tuple[float, float]:
    """How much of softmax(logits / T) lands on each example's pair-neighbour, against the rest.

    In `cluster_data` class c and class (c + V/2) mod V are near neighbours. For each example
    with label y this takes the probability on (y + V/2) mod V, and the mean probability on the
    other V - 2 classes (neither y nor its neighbour).

    Args:
        logits: float array (N, V), V even and >= 4.
        labels: integer array (N,) of class ids in [0, V).
        temperature: T > 0.

    Returns:
        (neighbour, other): the mean over examples of the neighbour's probability, and the mean
        over examples and over the V - 2 other classes of theirs.
    """
    logits = _logits(logits, 4)
    n, v = logits.shape
    if v % 2:
        raise ValueError(f"logits must have an even number of classes (pairs), got shape {(n, v)}")
    labels = integer_array("labels", labels, ndim=1, low=0, high=v)
    if labels.shape[0] != n:
        raise ValueError(f"labels must hold one label per row of logits ({n}), got {len(labels)}")
    temperature = real_number("temperature", temperature, positive=True)
    return _pair_neighbour_mass(logits, labels, temperature)


def _pair_neighbour_mass(
    logits: Float[np.ndarray, "N V"], labels: Int[np.ndarray, " N"], temperature: float
) -> tuple[float, float]:
    """Mean q at (y + V/2) mod V; mean q over the classes that are neither y nor its pair."""
    n, v = logits.shape
    q = _soft_targets(logits, temperature)
    rows = np.arange(n)
    neighbour = (labels + v // 2) % v
    others = np.ones((n, v), dtype=bool)
    others[rows, labels] = False
    others[rows, neighbour] = False
    return float(q[rows, neighbour].mean()), float(q[others].mean())
