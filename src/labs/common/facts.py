"""The registry of external constants: every number the course takes from outside, with its source.

A chapter never types a paper's number inline. It asks `fact("key")` and gets the value with its
unit, the BibTeX key of its source (in book/references.bib) and a locator (table, section,
equation). A test checks that every citation key exists in the bibliography, so a number without a
source cannot enter the book.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    """One external constant.

    Attributes:
        key: the registry name, e.g. "float32_max".
        value: the number (or tuple of numbers) as published.
        unit: its unit, "" for a pure number.
        cite: BibTeX key in book/references.bib.
        locator: where in the source: "Table 1", "§3.3", "eq. 10".
        note: anything a reader needs to use it correctly.
    """

    key: str
    value: float | int | tuple
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

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.key} = {self.value}{unit}  [{self.cite}, {self.locator}]"


_FACTS = [
    # --- Floating-point formats (used from the tour on) -------------------------------------
    Fact(
        "float32_max",
        3.4028234663852886e38,
        "",
        "ieee754_2019",
        "§3.3, Table 3.5 (binary32)",
        "largest finite binary32 value, (2 - 2**-23) * 2**127",
    ),
    Fact(
        "float16_max",
        65504.0,
        "",
        "ieee754_2019",
        "§3.3, Table 3.5 (binary16)",
        "largest finite binary16 value, (2 - 2**-10) * 2**15",
    ),
    # --- Chapter 1: scaling laws (labs.scaling) ----------------------------------------------
    # (add this chapter's facts below this line)
    # --- Chapter 2: FP8 (labs.fp8) -----------------------------------------------------------
    # (add this chapter's facts below this line)
    # --- Chapter 3: MLA (labs.mla) -----------------------------------------------------------
    # (add this chapter's facts below this line)
    Fact(
        "deepseek67b_attention",
        (95, 8192, 64, 128, 8),
        "(layers, d_model, query heads, head dim, KV heads)",
        "deepseek67b2024",
        "Table 2",
        "DeepSeek LLM 67B uses grouped-query attention with 8 KV heads; head dim = 8192 / 64",
    ),
    Fact(
        "deepseek67b_params",
        67e9,
        "parameters",
        "deepseek67b2024",
        "Table 2",
        "nominal size as published",
    ),
    Fact(
        "deepseekv2_attention",
        (60, 5120, 128, 128, 512, 1536, 64),
        "(layers, d_model, heads, head dim, d_c, d_c', d_h^R)",
        "deepseekv2",
        "§3.1.2",
        "MLA: KV compression dim d_c, query compression dim d_c', decoupled RoPE dim d_h^R",
    ),
    Fact(
        "deepseekv2_params",
        (236e9, 21e9),
        "parameters (total, activated per token)",
        "deepseekv2",
        "§3.1.2",
        "mixture of experts: every parameter is stored, 21B are used per token",
    ),
    Fact(
        "deepseekv3_attention",
        (61, 7168, 128, 128, 512, 1536, 64),
        "(layers, d_model, heads, head dim, d_c, d_c', d_h^R)",
        "deepseekv3",
        "§4.2",
        "same MLA shape as DeepSeek-V2, one more layer, wider model",
    ),
    Fact(
        "llama2_70b_attention",
        (80, 8192, 64, 128, 8),
        "(layers, d_model, query heads, head dim, KV heads)",
        "touvron2023llama2",
        "§2.2 and Table 1 (GQA for 70B); App. A.2.1 (8 KV projections)",
        "layer count and width as in the released 70B configuration",
    ),
    Fact(
        "deepseekv2_kv_cache_reduction",
        0.933,
        "fraction",
        "deepseekv2",
        "Abstract; §1; Figure 1(b)",
        "KV cache of deployed DeepSeek-V2 against DeepSeek 67B: 'reduces the KV cache by 93.3%'",
    ),
    Fact(
        "deepseekv2_kv_cache_bits",
        6,
        "bits per element (average)",
        "deepseekv2",
        "§3.2.3 (inference efficiency)",
        "deployed V2 quantises its KV cache to about 6 bits per element on average",
    ),
    Fact(
        "deepseekv2_weight_bits",
        8,
        "bits per parameter",
        "deepseekv2",
        "§3.2.3 (inference efficiency)",
        "deployed V2 converts its parameters to FP8",
    ),
    Fact(
        "deepseekv2_mla_equivalent_gqa_groups",
        2.25,
        "groups",
        "deepseekv2",
        "Table 1",
        "MLA's cache (d_c + d_h^R) l = (9/2) d_h l equals GQA's 2 n_g d_h l at n_g = 2.25",
    ),
    # --- Chapter 5: GRPO (labs.grpo) ---------------------------------------------------------
    # (add this chapter's facts below this line)
    # --- Chapter 7: economics and hardware (labs.economics) ----------------------------------
    # (add this chapter's facts below this line)
]

FACTS: dict[str, Fact] = {f.key: f for f in _FACTS}
if len(FACTS) != len(_FACTS):  # pragma: no cover - guards against a duplicated key when editing
    raise RuntimeError("duplicate key in the facts registry")


def fact(key: str) -> Fact:
    """The registered fact `key`; a KeyError lists close matches when the key is unknown."""
    if not isinstance(key, str):
        raise TypeError(f"key must be a string, got {type(key).__name__}")
    try:
        return FACTS[key]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(key, FACTS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no fact named {key!r} in labs.common.facts{hint}") from None
