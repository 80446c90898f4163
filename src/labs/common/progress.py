"""Progress bars that pick the right kind: a widget in a notebook, text in a terminal."""

from __future__ import annotations

import os

from labs.common.validate import describe_value, integer, text


def progress(iterable=None, *, desc: str | None = None, total: int | None = None, **kwargs):
    """Wrap `iterable` in a tqdm progress bar (tqdm.auto picks notebook or terminal).

    `LABS_PROGRESS=off` disables the bars (the loop still runs). Extra keyword arguments go to
    tqdm unchanged.
    """
    from tqdm.auto import tqdm

    if desc is not None:
        text("desc", desc, nonempty=False)
    if total is not None:
        integer("total", total, minimum=0)
    if iterable is not None and not hasattr(iterable, "__iter__"):
        raise TypeError(f"iterable must be iterable, got {describe_value(iterable)}")

    disable = os.environ.get("LABS_PROGRESS", "").lower() in {"0", "off", "false", "no"}
    return tqdm(iterable, desc=desc, total=total, disable=disable, **kwargs)
