"""labs: the package behind the course "Doing More with Less".

Each chapter has a subpackage with the same topic name as its notebook. The subpackage itself
(`labs.<topic>`) is framework-free: configurations, formulas and the NumPy reference. Its
framework halves are imported explicitly, in the `from d2l import torch as d2l` idiom::

    from labs.tour import torch as tour_torch   # pulls in PyTorch
    from labs.tour import jax as tour_jax       # pulls in JAX

so a reader with only one framework installed can still run that half.
"""

__version__ = "0.1.0"

# Before anything imports PyTorch: its CPU kernels pinned to AVX2, so that retrained runs
# reproduce the committed records on any x86-64 processor (see labs.common.cpu_arithmetic).
from labs.common.cpu_arithmetic import pin_cpu_arithmetic as _pin  # noqa: E402

CPU_ARITHMETIC = _pin()
