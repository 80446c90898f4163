"""Chapter 0 in PyTorch: the stable softmax of labs.tour, on any torch device."""

from __future__ import annotations

import torch

__all__ = ["softmax"]


def softmax(x: torch.Tensor, axis: int = -1, temperature: float = 1.0) -> torch.Tensor:
    """Stable softmax of `x / temperature` along `axis` (eq. 1 of labs.tour).

    Args:
        x: floating tensor of logits, shape (..., n) with at least one dimension, on any device.
        axis: the dimension that sums to one.
        temperature: T > 0.

    Returns:
        Probabilities, same shape, dtype and device as `x`.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating tensor, got dtype {x.dtype}")
    if x.dim() < 1:
        raise ValueError(f"x must have at least one dimension, got shape {tuple(x.shape)}")
    if isinstance(axis, bool) or not isinstance(axis, int) or not -x.dim() <= axis < x.dim():
        raise ValueError(f"axis must be an int in [-{x.dim()}, {x.dim()}), got {axis!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a real number, got {type(temperature).__name__}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = x / temperature
    z = z - z.amax(dim=axis, keepdim=True)  # every exponent <= 0: exp cannot overflow
    e = torch.exp(z)
    return e / e.sum(dim=axis, keepdim=True)
