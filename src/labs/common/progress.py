"""Progress bars that pick the right kind: a widget in a notebook, text in a terminal."""

from __future__ import annotations

import os


def progress(iterable=None, *, desc: str | None = None, total: int | None = None, **kwargs):
    """Wrap `iterable` in a tqdm progress bar (tqdm.auto picks notebook or terminal).

    `LABS_PROGRESS=off` disables the bars (the loop still runs). Extra keyword arguments go to
    tqdm unchanged.
    """
    from tqdm.auto import tqdm

    disable = os.environ.get("LABS_PROGRESS", "").lower() in {"0", "off", "false", "no"}
    return tqdm(iterable, desc=desc, total=total, disable=disable, **kwargs)
