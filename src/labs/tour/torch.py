"""Chapter 0 in PyTorch: the stable softmax of labs.tour, on any torch device.

Taught in chapter 0, "The code".
"""

from __future__ import annotations

import torch
from jaxtyping import Float

from labs.tour.checks import softmax_args

__all__ = ["softmax"]


def softmax(x: torch.Tensor, axis: int = -1, temperature: float = 1.0) -> torch.Tensor:
    """Stable softmax of `x / temperature` along `axis` (eq. 1 of labs.tour.reference).

    Args:
        x: floating tensor of logits, shape (..., n) with at least one dimension, on any device.
        axis: the dimension that sums to one.
        temperature: T > 0 (at least the smallest normal number of x's dtype).

    Returns:
        Probabilities, same shape, dtype and device as `x`.
    """
    x, axis, temperature = softmax_args(x, axis, temperature, framework="torch")
    return _softmax(x, axis, temperature)


def _softmax(
    x: Float[torch.Tensor, "..."], axis: int, temperature: float
) -> Float[torch.Tensor, "..."]:
    """Eq. (1) with the max subtracted first."""
    z = x - x.amax(dim=axis, keepdim=True)  # every exponent <= 0: exp cannot overflow
    e = torch.exp(z / temperature)
    # A float16 accumulator fails on V3's 129,280 equal logits: the exact sum rounds to inf
    # from 65,520 on, and one added at a time it stalls at 2,048 (2,048 + 1 rounds down).
    acc = torch.promote_types(x.dtype, torch.float32)
    return (e / e.sum(dim=axis, keepdim=True, dtype=acc)).to(x.dtype)
