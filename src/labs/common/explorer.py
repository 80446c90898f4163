"""Interactive explorers that also leave a picture on the static page.

An explorer is an `ipywidgets.interactive`: sliders that redraw a figure (or reprint a table). In
Jupyter and Colab the sliders are live. The book's web pages cannot run a kernel, so a bare widget
would leave only its text repr there; an explorer built with `explorer()` also carries, in the same
display output, a rendering of its current state (the figure as a PNG, or the printed text), and
the book shows that rendering (its `_config.yml` gives the widget view no priority on HTML pages).

Used by every chapter's `widgets.py`; the book's explorers are shown in chapters 0 to 8.
"""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import Callable, Mapping

__all__ = ["explorer"]


def explorer(draw: Callable[..., None], controls: Mapping[str, object]):
    """`ipywidgets.interactive(draw, **controls)`, with a static rendering of its state attached.

    Args:
        draw: called with one keyword per control; it draws with matplotlib (ending in
            `plt.show()`) or prints text.
        controls: parameter name of `draw` -> an ipywidgets control (a slider, a checkbox...).

    Returns:
        An `ipywidgets.interactive` (a subclass): live in a notebook; on a static page its display
        also holds the figure (image/png) or the printed text of the current state.

    Raises:
        TypeError: `draw` is not callable, `controls` is not a mapping of names to widgets.
        ValueError: `controls` is empty.
    """
    import ipywidgets as widgets

    if not callable(draw):
        raise TypeError(f"draw must be callable, got {type(draw).__name__}")
    if not isinstance(controls, Mapping):
        raise TypeError(f"controls must be a mapping of names to widgets, got {type(controls)}")
    if not controls:
        raise ValueError("controls must name at least one control, got an empty mapping")
    for name, control in controls.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"controls keys must be parameter names, got {name!r}")
        if not isinstance(control, widgets.ValueWidget):
            raise TypeError(
                f"controls[{name!r}] must be an ipywidgets control, got {type(control).__name__}"
            )
    return _explorer_class()(draw, **controls)


def _snapshot(draw: Callable[..., None], kwargs: dict) -> dict[str, str]:
    """Run `draw(**kwargs)` off screen; the mime data of what it drew (PNG) or printed (text)."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    text = io.StringIO()
    show = plt.show
    plt.show = lambda *args, **kw: None  # keep the figure open: it is captured below
    try:
        with contextlib.redirect_stdout(text):
            draw(**kwargs)
    finally:
        plt.show = show
    new = [n for n in plt.get_fignums() if n not in before]
    data = {}
    if new:
        fig = plt.figure(new[-1])
        png = io.BytesIO()
        fig.savefig(png, format="png", bbox_inches="tight", dpi=fig.dpi)  # as shown inline
        data["image/png"] = base64.b64encode(png.getvalue()).decode("ascii")
    for n in new:
        plt.close(n)
    if text.getvalue().strip():
        data["text/plain"] = text.getvalue().rstrip()
    return data


_CLASS = None
_VIEW = "application/vnd.jupyter.widget-view+json"


def _explorer_class():
    """The interactive subclass (built on first use, so importing labs never imports ipywidgets)."""
    global _CLASS
    if _CLASS is None:
        import ipywidgets as widgets

        class Explorer(widgets.interactive):
            """An `interactive` whose display also carries a static rendering of its state."""

            _ipython_display_ = None  # ipywidgets 7 displays itself; route it through the bundle

            def _repr_mimebundle_(self, **kwargs):
                bundle = {"text/plain": repr(self)}
                if self._view_name is not None:  # what ipywidgets 8 sends, and 7 displays
                    bundle[_VIEW] = {
                        "version_major": 2,
                        "version_minor": 0,
                        "model_id": self.model_id,
                    }
                try:
                    bundle.update(_snapshot(self.f, dict(self.kwargs)))
                except Exception as err:  # the live widget still works; say why the picture is not
                    bundle["text/plain"] = f"(no static rendering: {type(err).__name__}: {err})"
                return bundle

        _CLASS = Explorer
    return _CLASS
