"""Chapter 2 explorer: one number in, its E4M3, E5M2 and bfloat16 encodings and errors out.

`encodings_of` is the plain function behind the widget (tested, usable without ipywidgets);
`format_explorer` wraps it in a text box (ipywidgets is imported only when it is called).
Taught in chapter 2, "Explore: one number, three formats".
"""

from __future__ import annotations

import numpy as np

from labs.common.explorer import explorer
from labs.common.validate import real_number
from labs.fp8.formats import E4M3, E5M2, bit_string, decode, encode, round_to_bfloat16

__all__ = ["encodings_of", "format_explorer", "format_table"]


def _bf16_bits(x: float) -> str:
    bits = int(np.float32(round_to_bfloat16(np.float32(x))).view(np.uint32)) >> 16
    text = f"{bits:016b}"
    return f"{text[0]} {text[1:9]} {text[9:]}"


def encodings_of(x: float, saturate: bool = True) -> list[dict]:
    """How E4M3, E5M2 and bfloat16 store the real number `x`.

    Returns:
        One dict per format with keys format, bits, value (the stored number), abs_error and
        rel_error: 0 where the stored value is exact (x = 0 is, in every format), NaN (both
        errors) where it is not finite.
    """
    x = real_number("x", x)
    rows = []
    for fmt in (E4M3, E5M2):
        code = encode(np.float64(x), fmt, saturate)
        value = float(decode(code, fmt))
        rows.append({"format": fmt.name, "bits": bit_string(int(code), fmt), "value": value})
    bf16 = float(round_to_bfloat16(np.float32(x)))
    rows.append({"format": "BF16", "bits": _bf16_bits(x), "value": bf16})
    for row in rows:
        if not np.isfinite(row["value"]):
            row["abs_error"] = row["rel_error"] = float("nan")
            continue
        err = abs(row["value"] - x)  # 0 when x = 0: zero is exact in every format
        row["abs_error"] = err
        row["rel_error"] = err / abs(x) if err else 0.0
    return rows


def format_table(x: float, saturate: bool = True) -> str:
    """`encodings_of(x)` as an aligned text table."""
    lines = [f"x = {x!r}", f"{'format':6} {'bits':20} {'stored value':>14} {'rel. error':>11}"]
    for row in encodings_of(x, saturate):
        lines.append(
            f"{row['format']:6} {row['bits']:20} {row['value']:>14.7g} {row['rel_error']:>11.3%}"
        )
    return "\n".join(lines)


def format_explorer(value: float = 3.14159):
    """A text box: type a number, read its three encodings (saturating overflow)."""
    value = real_number("value", value)
    import ipywidgets as widgets

    box = widgets.FloatText(value=value, description="x")
    saturate = widgets.Checkbox(value=True, description="saturate overflow")

    def show(x: float, saturate: bool) -> None:
        print(format_table(x, saturate))

    return explorer(show, {"x": box, "saturate": saturate})
