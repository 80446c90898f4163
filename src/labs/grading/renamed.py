"""Exercises renamed since an earlier release, so that the grader can say so.

A student who answers from an older copy of a chapter defines the old function. Without this
table the grader would only report that the new function is missing. `RENAMED` maps each old
name to (exercise number, new name); the new name's signature comes from its `Exercise`.

Used by `labs.grading.grade` (the gradebook row) and `labs.grading.bundle` (otter's message);
described in book/instructors.md, "Grading".
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["RENAMED"]

RENAMED = MappingProxyType(
    {
        "decode_e4m3": ("2.1", "decode_float"),  # decode_e4m3(code): one format only
        "kv_cache_elements": ("3.1", "cache_bytes_per_token"),  # elements, no FP8 layout
        "v3_route": ("4.2", "v2_device_route"),  # V3's node-limited routing, now V2's
    }
)


def _note(name: str, defined=(), signature: str = "") -> str:
    """What to add to "the notebook defines no function `name`": the old name it defines
    instead, if any (an empty `defined` gives the general remark); `signature` defaults to the
    name. Empty when `name` was never renamed."""
    olds = [old for old, (_, new) in RENAMED.items() if new == name]
    if not olds:
        return ""
    found = [old for old in olds if old in defined]
    old = (found or olds)[0]
    number = RENAMED[old][0]
    signature = signature or name
    if found:
        return (
            f"; it defines {old}, exercise {number} of an earlier release, which was renamed and "
            f"changed: answer {signature} in the current release's cell"
        )
    return f" (exercise {number} was {old} in an earlier release; it is now {signature})"
