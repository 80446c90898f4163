"""Chapter 0, the tour: a numerically stable softmax, the template every chapter follows.

Framework-free: the NumPy reference lives in `labs.tour.reference`; `labs.tour.torch` and
`labs.tour.jax` hold the same kernel in each framework, and a parity test feeds all three the
same input. The argument checks, shared by the three, are in `labs.tour.checks`.
"""

from labs.tour.reference import entropy, naive_softmax, overflow_threshold, softmax

__all__ = ["entropy", "naive_softmax", "overflow_threshold", "softmax"]
