"""The glossary stays in alphabetical order and links only to pages that exist."""

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
