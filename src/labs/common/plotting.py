"""One plotting style for every figure in the course.

matplotlib is imported by the functions that draw, not by this module: `import labs` (every grader
sandbox, every child process) would otherwise spend about 0.6 s on pyplot for nothing.
"""

from __future__ import annotations

from labs.common.validate import real_number, size

# A colour-blind-safe palette (Okabe & Ito), in the order series are drawn.
PALETTE = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # green
    "#CC79A7",  # purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",
)

STYLE = {
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linestyle": "-",
    "legend.frameon": False,
    "lines.linewidth": 1.8,
}  # and the colour cycle: PALETTE (use_style)


MAX_PANELS = 8
MAX_INCHES = 40.0


def use_style() -> None:
    """Apply the course style to every later matplotlib figure."""
    import matplotlib as mpl

    mpl.rcParams.update({**STYLE, "axes.prop_cycle": mpl.cycler(color=PALETTE)})


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float | None = None, height=None):
    """A figure in the course style: returns (fig, axes), axes squeezed as in plt.subplots.

    At most 8 columns and 8 rows, and sides of at most 40 inches: a larger grid does not fit a
    page, and a mistyped size would make matplotlib build thousands of axes for minutes.
    """
    for name, value in (("ncols", ncols), ("nrows", nrows)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
        size(name, value, maximum=MAX_PANELS, why="a larger grid does not fit a page")
    if width is not None:
        width = real_number("width", width, positive=True, maximum=MAX_INCHES)
    if height is not None:
        height = real_number("height", height, positive=True, maximum=MAX_INCHES)
    import matplotlib.pyplot as plt

    use_style()
    base_w, base_h = STYLE["figure.figsize"]
    default_width = base_w * min(ncols, 2) * (0.8 if ncols > 1 else 1)
    figsize = (width or default_width, height or base_h * nrows)
    return plt.subplots(nrows, ncols, figsize=figsize, layout="constrained")
