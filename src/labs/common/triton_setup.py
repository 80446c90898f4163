"""Triton for the course's PyTorch kernels: compiled on a CUDA GPU, interpreted elsewhere.

Triton decides once, when it is first imported, whether `@triton.jit` compiles kernels for the
GPU or runs them in its interpreter (NumPy underneath): the environment variable
TRITON_INTERPRET=1 asks for the interpreter, and it must be set before the import because
Triton's own library functions (`tl.zeros`, `tl.max`, ...) are built then. `load()` sets it
when torch sees no CUDA GPU and Triton is not imported yet, so the same kernel source runs on
a CPU (the tests, CI) and compiles on a GPU. Triton is a Linux package; PyTorch's CUDA builds
bring it. Where it is missing, `load()` raises an ImportError that says so.
"""

from __future__ import annotations

import functools
import os
import sys

__all__ = ["jit", "load", "require_device"]


@functools.cache
def load():
    """(triton, triton.language, interpreted): Triton, imported in the mode this machine needs."""
    import torch

    if "triton" not in sys.modules and not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
    try:
        import triton
        import triton.language as tl
    except ImportError:
        raise ImportError(
            "the course's Triton kernels need Triton (pip install triton: Linux only; PyTorch's "
            "CUDA builds bring it); their Pallas twins need only JAX"
        ) from None
    from triton.runtime.interpreter import InterpretedFunction

    interpreted = isinstance(tl.zeros, InterpretedFunction)  # how Triton built its library
    return triton, tl, interpreted


def jit(fn):
    """`triton.jit(fn)`, in the mode `load()` chose: a kernel launched as `kernel[grid](...)`."""
    import inspect

    if not inspect.isfunction(fn):
        raise TypeError(f"fn must be a Python function (a kernel), got {type(fn).__name__}")
    triton, _, _ = load()
    return triton.jit(fn)


def require_device(device) -> None:
    """A clear error where Triton compiles (a CUDA GPU is present, or Triton was imported
    without the interpreter) but the tensors are not on a CUDA device."""
    import torch

    if not isinstance(device, torch.device):
        raise TypeError(f"device must be a torch.device, got {type(device).__name__}")
    _, _, interpreted = load()
    if interpreted or device.type == "cuda":
        return

    if torch.cuda.is_available():
        raise ValueError(
            f"Triton compiles for the GPU in this process, so the tensors must be on a CUDA "
            f"device, got {device}"
        )
    raise ValueError(
        "Triton was imported before the course's kernels on a machine without a CUDA GPU, so it "
        "can neither compile nor interpret them: import labs.common.triton_setup (or the "
        "kernels) first, or set TRITON_INTERPRET=1 before importing triton"
    )
