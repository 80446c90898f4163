"""Chapter 7 in PyTorch: the matrix multiply the chapter times, and its timer.

Taught in chapter 7, "Measure it yourself: a matrix multiply against the peak".
`from labs.economics import torch as econ_torch` pulls in torch; `labs.economics` does not.

Axes: M rows of x, K the inner size, N columns of the weight.
"""

from __future__ import annotations

import time

import torch
from jaxtyping import Float
from torch import nn

from labs.economics.matmul_checks import check_matmul, check_matrix, check_timer

__all__ = ["Matmul", "measure_matmul_tflops"]


class Matmul(nn.Module):
    """y = x @ w with a (k, n) weight: a linear layer without bias, the bulk of a model's FLOPs.

    Shapes: x (m, k) -> y (m, n); 2 m k n FLOPs (`labs.economics.matmul_flops`). The weight is a
    finite, non-empty, 2-D floating tensor; x must share its dtype and device.
    """

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(check_matrix("weight", weight, "torch"), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, w = check_matmul(x, self.weight, framework="torch", w_name="weight")
        return _matmul(x, w)


def _matmul(
    x: Float[torch.Tensor, "M K"],
    w: Float[torch.Tensor, "K N"],
) -> Float[torch.Tensor, "M N"]:
    """y = x @ w: 2 M K N FLOPs."""
    return x @ w


def measure_matmul_tflops(
    n: int = 512, dtype=torch.float32, repeats: int = 5, device=None, seed: int = 0
) -> float:
    """Best achieved TFLOP/s of an (n, n) @ (n, n) product over `repeats`, after a warm-up.

    On a GPU the clock stops only after `torch.cuda.synchronize()`: kernels run asynchronously.
    `n` is capped at 16,384 and `repeats` at 1,000 (a typo must not hang the machine); `device`
    is None (the CPU), a torch.device or a string; `seed` lies in [0, 2**32).
    """
    n, dtype, repeats, seed, device = check_timer(
        n, dtype, repeats, seed, framework="torch", device=device
    )
    return _measure_matmul_tflops(n, dtype, repeats, device, seed)


def _measure_matmul_tflops(
    n: int, dtype: torch.dtype, repeats: int, device: torch.device, seed: int
) -> float:
    """Best-of-`repeats` TFLOP/s of an (n, n) @ (n, n) product, after a warm-up."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    w = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)

    def run() -> float:
        start = time.perf_counter()
        _matmul(x, w)
        if device.type == "cuda":
            torch.cuda.synchronize()  # the kernel ran asynchronously: wait for it
        return max(time.perf_counter() - start, 1e-9)

    with torch.no_grad():
        run()  # warm-up
        best = min(run() for _ in range(repeats))
    return 2 * n * n * n / best / 1e12  # matmul_flops(n, n, n) per second, in TFLOP/s
