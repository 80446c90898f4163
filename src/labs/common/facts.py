"""The registry of external constants: every number the course takes from outside, with its source.

The constants live in `facts.json` beside this module, grouped by chapter. A chapter never types a
paper's number inline: it asks `fact("key")` and gets the value with its unit, the BibTeX key of
its source (in book/references.bib) and a locator (table, section, equation). A test checks that
every citation key exists in the bibliography, so a number without a source cannot enter the book.

The registry is read-only: `FACTS` is a mapping proxy and every `Fact` is frozen, with lists
turned into tuples and configurations into read-only mappings, so that no notebook cell can change
a constant for every later import.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass
from importlib.resources import files
from types import MappingProxyType

__all__ = ["FACTS", "Fact", "fact"]


@dataclass(frozen=True)
class Fact:
    """One external constant.

    Attributes:
        key: the registry name, e.g. "float32_max".
        value: the number, tuple of numbers, or read-only mapping of named fields, as published.
        unit: its unit, "" for a pure number.
        cite: BibTeX key in book/references.bib.
        locator: where in the source: "Table 1", "§3.3", "eq. 10".
        note: anything a reader needs to use it correctly.
    """

    key: str
    value: float | int | tuple | MappingProxyType
    unit: str
    cite: str
    locator: str
    note: str = ""

    def __post_init__(self) -> None:
        for name in ("key", "cite", "locator"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(
                    f"Fact.{name} must be a non-empty string, got {getattr(self, name)!r}"
                )
        for name in ("unit", "note"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Fact.{name} must be a string, got {getattr(self, name)!r}")
        if isinstance(self.value, numbers.Real) and not isinstance(self.value, bool):
            if not math.isfinite(self.value):
                raise ValueError(f"Fact.value must be finite, got {self.value!r}")
        elif not isinstance(self.value, (tuple, MappingProxyType)):
            raise TypeError(
                f"Fact.value must be a real number, a tuple or a read-only mapping, "
                f"got {type(self.value).__name__}"
            )

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        value = dict(self.value) if isinstance(self.value, MappingProxyType) else self.value
        return f"{self.key} = {value}{unit}  [{self.cite}, {self.locator}]"


def _frozen(value):
    """JSON lists as tuples and objects as read-only mappings, all the way down."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    return value


def _load() -> MappingProxyType:
    data = json.loads(files("labs.common").joinpath("facts.json").read_text(encoding="utf-8"))
    facts: dict[str, Fact] = {}
    for section in data["sections"]:
        for entry in section["facts"]:
            item = Fact(**{**entry, "value": _frozen(entry["value"])})
            if item.key in facts:
                raise RuntimeError(f"duplicate key {item.key!r} in labs/common/facts.json")
            facts[item.key] = item
    return MappingProxyType(facts)


FACTS = _load()


def fact(key: str) -> Fact:
    """The registered fact `key`; a KeyError lists close matches when the key is unknown."""
    if not isinstance(key, str):
        raise TypeError(f"key must be a string, got {type(key).__name__}")
    try:
        return FACTS[key]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(key, list(FACTS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no fact named {key!r} in labs.common.facts{hint}") from None
