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
    # --- Chapter 5: GRPO (labs.grpo) ---------------------------------------------------------
    # (add this chapter's facts below this line)
    Fact(
        "grpo_group_size",
        64,
        "outputs per question",
        "deepseekmath",
        "§4.2",
        "G: outputs sampled for each question in GRPO training",
    ),
    Fact("grpo_kl_beta", 0.04, "", "deepseekmath", "§4.2", "KL coefficient beta of eq. 3"),
    Fact(
        "grpo_learning_rate", 1e-6, "", "deepseekmath", "§4.2", "learning rate of the policy model"
    ),
    Fact(
        "grpo_max_length",
        1024,
        "tokens",
        "deepseekmath",
        "§4.2",
        "maximum length of a sampled output",
    ),
    Fact("grpo_batch_size", 1024, "", "deepseekmath", "§4.2", "training batch size"),
    Fact(
        "grpo_policy_params",
        7e9,
        "parameters",
        "deepseekmath",
        "§1, §4.2",
        "DeepSeekMath-Instruct 7B, the policy GRPO trains",
    ),
    Fact(
        "grpo_r1_policy_params",
        671e9,
        "parameters",
        "deepseekv3",
        "Abstract",
        "DeepSeek-V3-Base, total parameters; DeepSeek-R1 is trained from it with GRPO",
    ),
    Fact(
        "grpo_ppo_clip_eps",
        0.2,
        "",
        "schulman2017",
        "§6.1, Table 1",
        "the clip range that scored best in the PPO paper's comparison",
    ),
    Fact(
        "grpo_mixed_adam_bytes_per_param",
        16,
        "bytes",
        "rajbhandari2020",
        "§3.1",
        "fp16/bf16 weights (2) and gradients (2) + fp32 master weights, momentum, variance (12)",
    ),
    Fact(
        "grpo_bf16_bytes_per_param",
        2,
        "bytes",
        "rajbhandari2020",
        "§3.1",
        "a frozen model kept in 16-bit weights only",
    ),
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
