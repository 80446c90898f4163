"""Chapter 0 explorer: how temperature reshapes a softmax (ipywidgets, imported lazily).

Taught in chapter 0, "Explore: temperature".
"""

from __future__ import annotations

import numpy as np

from labs.common.explorer import explorer
from labs.common.plotting import PALETTE, new_figure
from labs.common.validate import array, instance
from labs.tour.reference import entropy, softmax

DEFAULT_LOGITS = (2.0, 1.0, 0.5, 0.0, -1.0, -2.0)


def plot_softmax(logits, temperature: float, ax=None):
    """Bar chart of softmax(logits / temperature), titled with its entropy. Returns the axes."""
    logits = array("logits", logits, ndim=1)
    p = softmax(logits.astype(np.float64), temperature=temperature)
    if ax is None:
        _, ax = new_figure()
    else:
        from matplotlib.axes import Axes

        instance("ax", ax, Axes, "a matplotlib Axes")
    ax.bar(range(len(p)), p, color=PALETTE[0])
    uniform = np.log(len(p))
    ax.set_title(f"T = {temperature:.2f}: entropy {entropy(p):.2f} nats (uniform: {uniform:.2f})")
    ax.set_xlabel("class")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1)
    return ax


def temperature_explorer(logits=DEFAULT_LOGITS):
    """A slider over the temperature T (log scale, 0.05 to 20) redrawing the distribution."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    logits = array("logits", logits, ndim=1)

    slider = widgets.FloatLogSlider(
        value=1.0,
        base=10,
        min=np.log10(0.05),
        max=np.log10(20),
        step=0.05,
        description="T",
        continuous_update=False,
        readout_format=".2f",
    )

    def draw(temperature: float) -> None:
        plot_softmax(logits, temperature)
        plt.show()

    return explorer(draw, {"temperature": slider})
