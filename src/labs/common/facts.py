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
    Fact(
        "fp8_e4m3_max",
        448.0,
        "",
        "micikevicius2022",
        "Table 1",
        "largest finite E4M3 value, 1.75 * 2**8 (no infinities; S.1111.111 is NaN)",
    ),
    Fact(
        "fp8_e5m2_max",
        57344.0,
        "",
        "micikevicius2022",
        "Table 1",
        "largest finite E5M2 value, 1.75 * 2**15 (IEEE-like: inf and NaN kept)",
    ),
    Fact(
        "fp8_e4m3_min_subnormal",
        2.0**-9,
        "",
        "micikevicius2022",
        "Table 1",
        "smallest positive E4M3 value",
    ),
    Fact(
        "fp8_e5m2_min_subnormal",
        2.0**-16,
        "",
        "micikevicius2022",
        "Table 1",
        "smallest positive E5M2 value",
    ),
    Fact(
        "v3_fp8_tile",
        (1, 128),
        "elements",
        "deepseekv3",
        "§3.3.2, Fine-Grained Quantization",
        "activations are scaled per 1 x 128 tile (per token, per 128 channels)",
    ),
    Fact(
        "v3_fp8_block",
        (128, 128),
        "elements",
        "deepseekv3",
        "§3.3.2, Fine-Grained Quantization",
        "weights are scaled per 128 x 128 block (128 input by 128 output channels)",
    ),
    Fact(
        "v3_accumulator_bits",
        14,
        "bits",
        "deepseekv3",
        "§3.3.2, Increasing Accumulation Precision",
        "FP8 GEMM accumulation on H800 tensor cores retains 'around 14 bits'",
    ),
    Fact(
        "v3_accumulation_error_k",
        4096,
        "",
        "deepseekv3",
        "§3.3.2, Increasing Accumulation Precision",
        "the inner dimension K of the GEMM for which V3 quotes its accumulation error",
    ),
    Fact(
        "v3_accumulation_max_error",
        0.02,
        "",
        "deepseekv3",
        "§3.3.2, Increasing Accumulation Precision",
        "'a maximum relative error of nearly 2%' at K = 4096 without promotion",
    ),
    Fact(
        "v3_promotion_interval",
        128,
        "elements",
        "deepseekv3",
        "§3.3.2, Increasing Accumulation Precision",
        "N_C: partial sums are copied to FP32 registers on CUDA cores every 128 elements of K",
    ),
    Fact(
        "v3_fp8_relative_loss_error",
        0.0025,
        "",
        "deepseekv3",
        "§3.3 and Appendix B.1",
        "FP8 vs BF16 training: relative loss error 'consistently below 0.25%'",
    ),
    Fact(
        "v3_fp8_validation_runs",
        ((16e9, 1.33e12), (230e9, 0.9e12)),
        "(parameters, tokens)",
        "deepseekv3",
        "Appendix B.1",
        "the two FP8-vs-BF16 validation runs: about 16B params on 1.33T tokens, 230B on 0.9T",
    ),
    # --- Chapter 3: MLA (labs.mla) -----------------------------------------------------------
    # (add this chapter's facts below this line)
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
