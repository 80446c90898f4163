"""The committed benchmark results (JSON written by `python -m labs.bench`) and their reader."""

from __future__ import annotations

import json
from pathlib import Path

from labs.common.validate import text

__all__ = ["RESULTS_DIR", "load_results"]

RESULTS_DIR = Path(__file__).resolve().parent


def load_results(name: str = "cpu") -> dict:
    """The committed results `name` (a file `<name>.json` of this folder, e.g. "cpu", "h200").

    Raises:
        ValueError: no such file (the message lists the ones there are).
    """
    name = text("name", name)
    known = sorted(p.stem for p in RESULTS_DIR.glob("*.json"))
    if name not in known:
        raise ValueError(f"name must be one of the committed results {known}, got {name!r}")
    return json.loads((RESULTS_DIR / f"{name}.json").read_text())
