"""Chapter 6 explorer: what the temperature does to a teacher's soft targets (ipywidgets, lazy).

Taught in chapter 6, "Explore: the temperature".
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from labs.common.explorer import explorer
from labs.common.plotting import PALETTE, new_figure
from labs.common.validate import array, instance, real_number
from labs.distill.reference import soft_targets

# Hand-written illustrative logits (not the trained teacher's): the true class (0), its near
# neighbour (5), the rest.
EXAMPLE_LOGITS = np.array([6.0, 1.0, -1.0, 0.0, -2.0, 4.0, -1.5, 0.5, -3.0, -0.5])


def plot_soft_targets(temperature: float, logits=None, ax=None):
    """Bars of softmax(logits / temperature) for one example (default: `EXAMPLE_LOGITS`, whose
    true class is 0 and whose near neighbour is class 5). Returns the axes."""
    temperature = real_number("temperature", temperature, positive=True)
    logits = EXAMPLE_LOGITS if logits is None else array("logits", logits, ndim=1)
    if ax is not None:
        instance("ax", ax, Axes, "a matplotlib Axes or None")
    if ax is None:
        _, ax = new_figure()
    q = soft_targets(logits, temperature)
    ax.bar(range(len(q)), q, color=[PALETTE[2] if i == 0 else PALETTE[0] for i in range(len(q))])
    entropy = float(-(q * np.log(np.maximum(q, 1e-300))).sum())
    ax.set_title(f"T = {temperature:g}: top class {q.max():.2f}, entropy {entropy:.2f} nats")
    ax.set_xlabel("class")
    ax.set_ylabel("soft target")
    ax.set_ylim(0, 1)
    return ax


def temperature_explorer(max_temperature: float = 20.0):
    """A slider over the temperature (0.25 to max_temperature <= 1,000), redrawing the bars."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    max_temperature = real_number("max_temperature", max_temperature, minimum=0.5, maximum=1000)
    slider = widgets.FloatSlider(value=2.0, min=0.25, max=max_temperature, step=0.25,
                                 description="T")  # fmt: skip

    def draw(temperature: float) -> None:
        plot_soft_targets(temperature)
        plt.show()

    return explorer(draw, {"temperature": slider})
