"""Chapter 1 explorer: a compute budget in, the compute-optimal N, D and predicted loss out,
under each fitted law (ipywidgets, imported lazily).

Taught in chapter 1, "Explore: spend a budget".
"""

from __future__ import annotations

import numpy as np

from labs.common.explorer import explorer
from labs.common.plotting import PALETTE, new_figure
from labs.common.validate import describe_value, instance, real_number
from labs.scaling.laws import ChinchillaParams, chinchilla_loss, compute_optimal

LINE_STYLES = ("-", "-", (0, (4, 3)), ":")


def _check_laws(laws) -> dict:
    if not isinstance(laws, dict):
        raise TypeError(
            f"laws must be a dict {{name: ChinchillaParams}}, got {describe_value(laws)}"
        )
    if not laws:
        raise ValueError("laws must be a non-empty dict {name: ChinchillaParams}, got {}")
    for name, law in laws.items():
        if not isinstance(law, ChinchillaParams):
            raise TypeError(f"laws[{name!r}] must be a ChinchillaParams, got {type(law).__name__}")
    return laws


def _check_range(log10_c_range) -> tuple[float, float]:
    instance("log10_c_range", log10_c_range, (tuple, list), "a (low, high) pair")
    if len(log10_c_range) != 2:
        raise ValueError(f"log10_c_range must be a (low, high) pair, got {log10_c_range!r}")
    lo, hi = (real_number("log10_c_range", v, minimum=0.0, maximum=40.0) for v in log10_c_range)
    if not lo < hi:
        raise ValueError(f"log10_c_range must have low < high, got {log10_c_range!r}")
    return lo, hi


def allocation_table(C: float, laws: dict) -> list[tuple[str, float, float, float]]:
    """(name, N_opt, D_opt, predicted loss) at compute `C` under each law."""
    C = real_number("C", C, positive=True)
    rows = []
    for name, law in _check_laws(laws).items():
        n, d = compute_optimal(C, law)
        rows.append((name, n, d, chinchilla_loss(n, d, law)))
    return rows


def plot_isoflop(C: float, laws: dict, ax=None):
    """Loss along 6ND = C as a function of N under each law, the optimum marked. Returns ax."""
    rows = allocation_table(C, laws)
    if ax is None:
        _, ax = new_figure()
    n_grid = np.logspace(
        np.log10(min(r[1] for r in rows)) - 1.5, np.log10(max(r[1] for r in rows)) + 1.5, 200
    )
    # each law drawn over the ones before it, thinner and in its own dash pattern, so that two laws
    # that agree (Epoch AI's and a refit of the same runs) both show
    for i, ((name, n_opt, _, l_opt), colour) in enumerate(zip(rows, PALETTE, strict=False)):
        law, style, width = laws[name], LINE_STYLES[i % len(LINE_STYLES)], max(1.0, 3.0 - 0.8 * i)
        ax.plot(n_grid, chinchilla_loss(n_grid, C / (6 * n_grid), law), color=colour, label=name,
                linestyle=style, linewidth=width)  # fmt: skip
        ax.plot([n_opt], [l_opt], "o", color=colour)
    ax.set_xscale("log")
    ax.set_xlabel("parameters N (tokens D = C / 6N)")
    ax.set_ylabel("predicted loss")
    ax.set_title(f"C = {C:.2e} FLOPs: the bottom of each curve is the optimal split")
    ax.legend()
    return ax


def compute_explorer(laws: dict, log10_c_range=(18.0, 26.0), log10_c=23.77):
    """A slider over log10(C) that redraws `plot_isoflop` and prints each law's N_opt, D_opt,
    tokens per parameter and predicted loss."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    _check_laws(laws)
    lo, hi = _check_range(log10_c_range)
    log10_c = real_number("log10_c", log10_c, minimum=lo, maximum=hi)
    slider = widgets.FloatSlider(
        value=log10_c,
        min=lo,
        max=hi,
        step=0.05,
        description="log10 C",
        continuous_update=False,
        readout_format=".2f",
    )

    def draw(log10_C: float) -> None:
        C = 10.0**log10_C
        for name, n, d, loss in allocation_table(C, laws):
            print(
                f"{name:>22}: N = {n:.3g}, D = {d:.3g} ({d / n:.0f} tokens/param), L = {loss:.3f}"
            )
        plot_isoflop(C, laws)
        plt.show()

    return explorer(draw, {"log10_C": slider})
