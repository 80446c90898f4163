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
    Fact(
        "chinchilla_E",
        1.69,
        "nats/token",
        "hoffmann2022",
        "eq. 10 (§3.3)",
        "irreducible loss of the published parametric fit (rounded as printed)",
    ),
    Fact("chinchilla_A", 406.4, "", "hoffmann2022", "eq. 10 (§3.3)"),
    Fact("chinchilla_B", 410.7, "", "hoffmann2022", "eq. 10 (§3.3)"),
    Fact("chinchilla_alpha", 0.34, "", "hoffmann2022", "eq. 10 (§3.3)"),
    Fact("chinchilla_beta", 0.28, "", "hoffmann2022", "eq. 10 (§3.3)"),
    Fact(
        "chinchilla_huber_delta",
        1e-3,
        "",
        "hoffmann2022",
        "App. D.2",
        "Huber threshold on log-space residuals",
    ),
    Fact(
        "chinchilla_init_grid_exponents",
        (0.0, 0.5, 1.0, 1.5, 2.0),
        "",
        "hoffmann2022",
        "App. D.2",
        "initial values of alpha and beta",
    ),
    Fact(
        "chinchilla_init_grid_e",
        (-1.0, -0.5, 0.0, 0.5, 1.0),
        "",
        "hoffmann2022",
        "App. D.2",
        "initial values of e = log E",
    ),
    Fact(
        "chinchilla_init_grid_ab",
        (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
        "",
        "hoffmann2022",
        "App. D.2",
        "initial values of a = log A and b = log B",
    ),
    Fact(
        "chinchilla_table2_a",
        (0.50, 0.49, 0.46),
        "",
        "hoffmann2022",
        "Table 2",
        "exponent a in N_opt ~ C^a from approaches 1, 2 and 3",
    ),
    Fact(
        "chinchilla_model_params", 70e9, "parameters", "hoffmann2022", "§4.1", "Chinchilla's size"
    ),
    Fact(
        "chinchilla_model_tokens",
        1.4e12,
        "tokens",
        "hoffmann2022",
        "§4.1",
        "Chinchilla's training tokens",
    ),
    Fact(
        "flops_per_param_token",
        6,
        "FLOP",
        "kaplan2020",
        "§2.1",
        "training compute C ~ 6 N D (forward 2ND, backward 4ND)",
    ),
    Fact("kaplan_alpha_N", 0.076, "", "kaplan2020", "§1.2, eq. 1.1"),
    Fact("kaplan_alpha_D", 0.095, "", "kaplan2020", "§1.2, eq. 1.2"),
    Fact("kaplan_alpha_C_min", 0.050, "", "kaplan2020", "§1.2, eq. 1.3"),
    Fact(
        "kaplan_n_opt_exponent",
        0.73,
        "",
        "kaplan2020",
        "§6.1",
        "compute-efficient model size N ~ C_min^0.73",
    ),
    Fact("epoch_fit_E", 1.82, "nats/token", "besiroglu2024", "Table 1 (their estimate)"),
    Fact("epoch_fit_A", 482.01, "", "besiroglu2024", "Table 1 (their estimate)"),
    Fact("epoch_fit_B", 2085.43, "", "besiroglu2024", "Table 1 (their estimate)"),
    Fact("epoch_fit_alpha", 0.3478, "", "besiroglu2024", "Table 1 (their estimate)"),
    Fact("epoch_fit_beta", 0.3658, "", "besiroglu2024", "Table 1 (their estimate)"),
    Fact(
        "epoch_excluded_points",
        5,
        "runs",
        "epoch_chinchilla_data",
        "analysis code",
        "the replication drops the 5 highest-loss runs before fitting",
    ),
    # --- Chapter 2: FP8 (labs.fp8) -----------------------------------------------------------
    # (add this chapter's facts below this line)
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
