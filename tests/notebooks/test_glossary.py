"""The glossary stays in alphabetical order and links only to pages that exist."""

import math
import re
from itertools import pairwise


def _terms_and_text(root):
    text = (root / "book" / "glossary.md").read_text()
    body = text[text.index("```{glossary}") : text.rindex("```")]
    terms = re.findall(r"^(\S[^\n]*)\n  ", body.split("\n", 1)[1], flags=re.M)
    return terms, body


def test_glossary_is_alphabetical(root):
    terms, _ = _terms_and_text(root)
    assert len(terms) >= 40, f"the term pattern found only {len(terms)} terms: {terms}"
    # Case-insensitive, so that "MFU" and "Mixture-of-Experts" sort as a reader looks them up.
    assert terms == sorted(terms, key=str.casefold), [
        (a, b) for a, b in pairwise(terms) if a.casefold() > b.casefold()
    ]


def test_glossary_links_resolve(root):
    _, body = _terms_and_text(root)
    targets = re.findall(r"\{doc\}`[^`<]*<([^>]+)>`", body)
    assert len(targets) >= 40, f"the link pattern found only {len(targets)} links"
    missing = sorted(
        {
            t
            for t in targets
            if not any((root / "book" / t).with_suffix(s).exists() for s in (".md", ".ipynb"))
        }
    )
    assert not missing, f"glossary links to pages that do not exist: {missing}"


def test_glossary_defines_the_terms_chapters_lean_on(root):
    # Terms several chapters use without always defining them where they appear.
    terms, _ = _terms_and_text(root)
    needed = {
        "Roofline",
        "Ridge point",
        "Arithmetic intensity",
        "Memory-bound",
        "KV cache",
        "Negative control",
        "Subnormal",
        "Promotion interval",
        "KL penalty",
    }
    assert needed <= set(terms), sorted(needed - set(terms))


def _entry(body, term):
    """The definition text of `term`, up to the next term."""
    start = body.index(f"\n{term}\n  ") + len(term) + 2
    nxt = re.search(r"\n\S", body[start:])
    return " ".join(body[start : start + nxt.start()].split()) if nxt else body[start:]


def test_glossary_figures_from_papers_match_the_facts_registry(root):
    """The glossary's paper figures are typed prose, so this reads each one back and compares it
    with the registry's value: a figure changed in one place and not the other fails here."""
    from labs.common.facts import fact

    _, body = _terms_and_text(root)
    v3 = fact("moe_v3_config").value
    huber = fact("chinchilla_huber_delta").value
    huber_exponent = round(math.log10(huber))
    assert math.isclose(huber, 10.0**huber_exponent), huber  # printed as a power of ten
    tile, block = fact("v3_fp8_tile").value, fact("v3_fp8_block").value
    expected = {
        "H800": f"trained on {fact('econ_v3_cluster_gpus').value:,} of them",
        "Huber loss": f"with $\\delta = 10^{{{huber_exponent}}}$ {{cite}}`hoffmann2022`",
        "Mixture-of-Experts": f"{v3['k']} routed experts of {v3['n_routed']}",
        "Node-limited routing": f"at most $M = {fact('econ_v3_max_nodes_per_token').value}$ nodes",
        "Promotion interval": (
            f"({fact('v3_promotion_interval').value}, "
            f"{['one', 'two', 'three', 'four'][fact('v3_promotion_interval_wgmmas').value - 1]} "
            "WGMMA instructions)"
        ),
        "Tile-wise scaling": (
            f"per ${tile[0]} \\times {tile[1]}$ tile and weights per "
            f"${block[0]} \\times {block[1]}$ block"
        ),
    }
    assert v3["n_shared"] == 1 and "beside one shared expert" in _entry(body, "Mixture-of-Experts")
    wrong = {t: (_entry(body, t), s) for t, s in expected.items() if s not in _entry(body, t)}
    assert not wrong, wrong
