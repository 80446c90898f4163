"""Chapter 4 plots and explorer: balancing runs side by side, and the time of one MoE layer's
compute and communication as the number of nodes grows.

Taught in chapter 4, "Routing collapse, and two cures" (`plot_balancing`) and "When does sparsity
pay?" (`plot_layer_time`, `layer_time_explorer`). ipywidgets is imported inside
`layer_time_explorer`, so importing this module needs no widgets.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from labs.common.explorer import explorer
from labs.common.facts import fact
from labs.common.plotting import PALETTE, new_figure
from labs.common.validate import describe_value, instance, integer, one_of, real_number, size
from labs.moe.comm import GPUS, moe_layer_time
from labs.moe.config import DEEPSEEK_V3_MOE

__all__ = ["LEGEND_BELOW", "layer_time_explorer", "plot_balancing", "plot_layer_time"]


# keyword arguments of a legend placed under its panel, where no line runs
LEGEND_BELOW = MappingProxyType(
    {
        "loc": "upper center",
        "bbox_to_anchor": (0.5, -0.2),
        "ncol": 2,
        "fontsize": 8,
        "frameon": False,
    }
)


def _check_runs(runs) -> Mapping:
    if not isinstance(runs, Mapping) or not runs:
        raise TypeError(
            f"runs must be a non-empty dict of label -> run, got {describe_value(runs)}"
        )
    for label, run in runs.items():
        instance(f"runs[{label!r}]", label, str, "a string label")
        if not isinstance(run, Mapping) or not {"loss", "load", "imbalance"} <= set(run):
            raise ValueError(
                f"runs[{label!r}] must be a result of train_tiny_lm (loss, load, imbalance)"
            )
    return runs


def plot_balancing(runs, smooth: int = 10):
    """One figure, three panels: per-expert load over steps (the first run's and the last
    run's), load imbalance, and training loss, for each run (a dict label -> train_tiny_lm())."""
    runs = _check_runs(runs)
    smooth = size("smooth", smooth, maximum=1000)
    fig, axes = new_figure(ncols=3, width=13, height=3.6)
    kernel = np.ones(smooth) / smooth
    for (label, run), colour in zip(runs.items(), PALETTE, strict=False):
        steps = np.arange(len(run["loss"]))
        axes[1].plot(steps, run["imbalance"], color=colour, label=label)
        axes[2].plot(steps[smooth - 1 :], np.convolve(run["loss"], kernel, "valid"), color=colour)
    first, last = next(iter(runs)), list(runs)[-1]
    for label, style in ((first, ":"), (last, "-")):
        share = runs[label]["load"] / runs[label]["load"].sum(1, keepdims=True)
        for e in range(share.shape[1]):
            axes[0].plot(share[:, e], style, color=PALETTE[e % len(PALETTE)], lw=1)
    axes[0].set(xlabel="step", ylabel="share of routing slots",
                title=f"load per expert\n({first}: dotted, {last}: solid)")  # fmt: skip
    axes[1].set(xlabel="step", ylabel="max / mean load", title="load imbalance")
    axes[1].axhline(1.0, color="grey", lw=0.8)
    axes[1].legend(**LEGEND_BELOW)  # below the panel: inside it the lines would run under it
    axes[2].set(xlabel="step", ylabel="loss (nats)", title=f"training loss ({smooth}-step mean)")
    return fig


def plot_layer_time(gpu: str = "h800", max_nodes: int = 4, mfu: float = 0.4, ax=None):
    """Compute, NVLink and InfiniBand time of one V3 MoE layer against the node count, with and
    without node-limited routing, for one GPU of the registry. `mfu` is the expert-GEMM
    efficiency: the share of the GPU's FP8 peak the expert GEMMs reach (as in `moe_layer_time`;
    not chapter 7's MFU, a share of the BF16 peak over all of a step's FLOPs). The counts are
    those that spread its 256 experts evenly over 8 GPUs a node (1, 2, 4, 8, 16, 32). Compute,
    NVLink and IB without a node limit are drawn from 1 node; IB with the limit from
    max(2, max_nodes) on, since a token cannot be limited to more nodes than there are: from 4
    with the default max_nodes=4."""
    gpu = one_of("gpu", gpu, GPUS)
    max_nodes = integer("max_nodes", max_nodes, minimum=1, maximum=32)
    mfu = real_number("mfu", mfu, positive=True, maximum=1.0)
    if ax is None:
        _, ax = new_figure(width=6.5, height=3.8)
    gpus = fact("moe_v3_gpus_per_node").value
    nodes = [n for n in range(1, 33) if DEEPSEEK_V3_MOE.n_routed % (n * gpus) == 0]
    spread = [n for n in nodes if n >= max(2, max_nodes)]  # where the node limit can apply
    free = [moe_layer_time(gpu, n, None, DEEPSEEK_V3_MOE, 4096, mfu) for n in nodes]
    limited = [moe_layer_time(gpu, n, max_nodes, DEEPSEEK_V3_MOE, 4096, mfu) for n in spread]
    ms = 1e3
    ax.plot(
        nodes, [t["compute"] * ms for t in free], "o-", color=PALETTE[0], label="expert compute"
    )
    ax.plot(nodes, [t["intra_node"] * ms for t in free], "o-", color=PALETTE[1], label="NVLink")
    ax.plot(
        nodes, [t["inter_node"] * ms for t in free], "o-", color=PALETTE[2], label="IB, any nodes"
    )
    ax.plot(spread, [t["inter_node"] * ms for t in limited], "o--", color=PALETTE[2],
            label=f"IB, at most {max_nodes} nodes")  # fmt: skip
    ax.set(
        xlabel="nodes the experts are spread over",
        xscale="log",
        xticks=nodes,
        xticklabels=[str(n) for n in nodes],
        ylabel="ms per layer (4096 tokens / GPU)",
        title=(
            f"One V3 MoE layer on {gpu.upper()} nodes\n(expert GEMMs at {mfu:.0%} of the FP8 peak)"
        ),
        ylim=(0, None),
    )
    ax.minorticks_off()  # a log axis labels its minor ticks too on so short a range
    ax.legend()
    return ax


def layer_time_explorer():
    """Sliders for `plot_layer_time`: GPU, node limit and expert-GEMM efficiency (`mfu`, the
    share of the FP8 peak the expert GEMMs reach)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(gpu, max_nodes, mfu):
        plot_layer_time(gpu, max_nodes, mfu)
        plt.show()

    return explorer(
        show,
        {
            "gpu": widgets.Dropdown(options=GPUS, value="h800"),
            "max_nodes": widgets.IntSlider(value=4, min=1, max=16),
            "mfu": widgets.FloatSlider(
                value=0.4, min=0.1, max=0.8, step=0.05, description="GEMM eff."
            ),
        },
    )
