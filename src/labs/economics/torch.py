"""Chapter 7 in PyTorch: the matrix multiply the chapter times, and its timer.

`from labs.economics import torch as econ_torch` pulls in torch; `labs.economics` does not.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from labs.common.validate import integer
from labs.economics import matmul_flops

__all__ = ["Matmul", "measure_matmul_tflops"]


class Matmul(nn.Module):
    """y = x @ w with a (k, n) weight: a linear layer without bias, the bulk of a model's FLOPs.

    Shapes: x (m, k) -> y (m, n); 2 m k n FLOPs (`labs.economics.matmul_flops`).
    """

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
            raise ValueError(f"weight must be a 2-D tensor, got {type(weight).__name__}")
        if not weight.is_floating_point():
            raise TypeError(f"weight must be floating point, got {weight.dtype}")
        self.weight = nn.Parameter(weight, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.weight.shape[0]:
            raise ValueError(f"x must have shape (m, {self.weight.shape[0]}), got {tuple(x.shape)}")
        return x @ self.weight


def measure_matmul_tflops(
    n: int = 512, dtype=torch.float32, repeats: int = 5, device=None, seed: int = 0
) -> float:
    """Best achieved TFLOP/s of an (n, n) @ (n, n) product over `repeats`, after a warm-up.

    On a GPU the clock stops only after `torch.cuda.synchronize()`: kernels run asynchronously.
    """
    n = integer("n", n, minimum=1)
    repeats = integer("repeats", repeats, minimum=1)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    layer = Matmul(torch.randn(n, n, generator=gen).to(device=device, dtype=dtype))

    def run() -> float:
        start = time.perf_counter()
        layer(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return max(time.perf_counter() - start, 1e-9)

    with torch.no_grad():
        run()
        best = min(run() for _ in range(repeats))
    return matmul_flops(n, n, n) / best / 1e12
