"""Chapter 3 explorer: a KV-cache calculator across models, contexts, batches and precisions.

Taught in chapter 3, "Explore: a KV-cache calculator". ipywidgets is imported inside
`cache_calculator`, so importing this module needs no widgets.
"""

from __future__ import annotations

from collections.abc import Mapping

from labs.common.explorer import explorer
from labs.common.plotting import PALETTE, new_figure
from labs.common.validate import integer, real_number
from labs.mla.cache_size import MAX_BITS, kv_cache_bytes
from labs.mla.checks import check_config
from labs.mla.config import PRESETS, AttentionConfig

__all__ = ["cache_calculator", "plot_cache"]

GIB = 2**30


def _check_configs(configs) -> Mapping[str, AttentionConfig]:
    """The presets for None, else a non-empty mapping of label -> AttentionConfig."""
    configs = PRESETS if configs is None else configs
    if not isinstance(configs, Mapping) or not configs:
        raise TypeError("configs must be a non-empty dict of label -> AttentionConfig")
    for label, config in configs.items():
        if not isinstance(label, str):
            raise TypeError(f"configs must have string labels, got {label!r}")
        check_config(config, name=f"configs[{label!r}]")
    return configs


def plot_cache(
    configs: dict[str, AttentionConfig] | None = None,
    tokens: int = 32_768,
    batch: int = 1,
    bits_per_element: float = 16,
    ax=None,
):
    """Horizontal bars: KV cache in GiB of each config for `batch` sequences of `tokens` tokens.

    Returns the axes. `configs` maps a label to an AttentionConfig (default: the presets);
    `bits_per_element` is at most 64.
    """
    configs = _check_configs(configs)
    tokens = integer("tokens", tokens, minimum=1)
    batch = integer("batch", batch, minimum=1)
    bits = real_number("bits_per_element", bits_per_element, positive=True, maximum=MAX_BITS)
    sizes = {name: kv_cache_bytes(c, tokens, batch, bits) / GIB for name, c in configs.items()}
    if ax is None:
        _, ax = new_figure()
    names = list(sizes)
    colours = [PALETTE[1] if c.kind == "mla" else PALETTE[0] for c in configs.values()]
    bars = ax.barh(names, [sizes[n] for n in names], color=colours)
    ax.bar_label(bars, labels=[f"{sizes[n]:,.1f} GiB" for n in names], padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("KV cache (GiB)")
    ax.set_xlim(0, max(sizes.values()) * 1.3)
    ax.set_title(f"{batch} x {tokens:,} tokens at {bits:g} bits per element")
    return ax


def cache_calculator(configs: dict[str, AttentionConfig] | None = None):
    """Sliders for context length, batch size and bits per element, redrawing `plot_cache`."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    configs = _check_configs(configs)
    tokens = widgets.IntSlider(
        value=32_768,
        min=1_024,
        max=131_072,
        step=1_024,
        description="context",
        continuous_update=False,
    )
    batch = widgets.IntSlider(value=1, min=1, max=64, description="batch", continuous_update=False)
    bits = widgets.Dropdown(options=[16, 8, 6, 4], value=16, description="bits/elem")

    def draw(tokens: int, batch: int, bits: float) -> None:
        plot_cache(configs, tokens, batch, bits)
        plt.show()

    return explorer(draw, {"tokens": tokens, "batch": batch, "bits": bits})
