"""Chapter 5 explorer: what the group baseline does to the advantages (ipywidgets, lazy).

Taught in chapter 5, "Explore: what the group baseline does".
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from labs.common.explorer import explorer
from labs.common.plotting import PALETTE, new_figure
from labs.common.validate import instance, integer, size
from labs.grpo.reference import group_advantages

# One bar per answer: beyond 1,024 bars the plot is unreadable (DeepSeekMath samples G = 64).
MAX_GROUP_SIZE = 1_024


def plot_group_advantages(group_size: int, n_correct: int, ax=None):
    """Bars of the advantage of each of `group_size` answers when `n_correct` are right (reward 1)
    and the rest wrong (reward 0). Returns the axes. group_size <= 1,024 (one bar per answer)."""
    group_size = size("group_size", group_size, minimum=2, maximum=MAX_GROUP_SIZE)
    n_correct = integer("n_correct", n_correct, minimum=0)
    if n_correct > group_size:
        raise ValueError(f"n_correct must be <= group_size={group_size}, got {n_correct}")
    rewards = np.array([1.0] * n_correct + [0.0] * (group_size - n_correct))
    adv = group_advantages(rewards, group_size)
    if ax is not None:
        instance("ax", ax, Axes, "a matplotlib Axes or None")
    if ax is None:
        _, ax = new_figure()
    colours = [PALETTE[2] if r else PALETTE[1] for r in rewards]
    ax.bar(range(group_size), adv, color=colours)
    ax.axhline(0, color="black", linewidth=0.8)
    right = f"{adv[0]:+.2f}" if n_correct else "n/a"
    wrong = f"{adv[-1]:+.2f}" if n_correct < group_size else "n/a"
    ax.set_title(f"G = {group_size}, {n_correct} correct: right {right}, wrong {wrong}")
    ax.set_xlabel("answer in the group (green: correct)")
    ax.set_ylabel("advantage")
    return ax


def advantage_explorer(max_group_size: int = 64):
    """Sliders over the group size G (2 to max_group_size <= 1,024) and the number of correct
    answers, redrawing the bars."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    max_group_size = size("max_group_size", max_group_size, minimum=2, maximum=MAX_GROUP_SIZE)
    group = widgets.IntSlider(value=8, min=2, max=max_group_size, description="G")
    correct = widgets.IntSlider(value=1, min=0, max=8, description="correct")

    def follow(change) -> None:
        correct.max = change["new"]

    group.observe(follow, names="value")

    def draw(group_size: int, n_correct: int) -> None:
        plot_group_advantages(group_size, min(n_correct, group_size))
        plt.show()

    return explorer(draw, {"group_size": group, "n_correct": correct})
