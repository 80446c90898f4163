import re

import numpy as np
import pytest

from labs.common.facts import FACTS, Fact, fact


def bib_keys(root):
    text = (root / "book" / "references.bib").read_text()
    return set(re.findall(r"@\w+\{([^,\s]+),", text))


def test_every_fact_cites_an_entry_of_the_bibliography(root):
    keys = bib_keys(root)
    missing = {f.key: f.cite for f in FACTS.values() if f.cite not in keys}
    assert not missing, f"facts citing keys absent from book/references.bib: {missing}"


def test_every_citation_in_the_book_exists(root):
    keys = bib_keys(root)
    cited = set()
    for path in [*root.glob("book/*.md"), *root.glob("chapters/*.ipynb")]:
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", path.read_text()):
            cited.update(k.strip() for k in group.split(","))
    assert cited, "the book cites nothing: the pattern is broken"
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"


def test_facts_have_units_and_locators():
    for f in FACTS.values():
        assert f.locator.strip() and isinstance(f.unit, str)


def test_fact_lookup_and_unknown_key():
    # NumPy implements IEEE 754 independently of the registry: the two must agree.
    assert fact("float16_max").value == float(np.finfo(np.float16).max)
    assert fact("float32_max").value == float(np.finfo(np.float32).max)
    with pytest.raises(KeyError, match="did you mean float16_max"):
        fact("float16_mx")
    with pytest.raises(TypeError):
        fact(16)


def test_fact_requires_a_source():
    with pytest.raises(ValueError, match="cite"):
        Fact("x", 1.0, "", "", "Table 1")
