"""The claim ledger speaks one verdict vocabulary, defined once at its top."""

import functools
import json
import re

from tests.notebooks.test_pages import _stated

# DESIGN.md's claim-check vocabulary (chapter contract, point 5), in its order. Hardcoded because
# DESIGN.md lives outside the repository (../shared), which CI's clean clone does not have.
DESIGN_VERDICTS = ("confirmed", "recomputed", "misread", "overstated", "false", "unverifiable")


def _defined_verdicts(root):
    """The bold verdicts of the definition paragraph at the top of claims.md, in order."""
    text = (root / "book" / "claims.md").read_text()
    definition = text[text.index("Verdicts are one of:") : text.index("| Claim")]
    return tuple(re.findall(r"\*\*([a-z ]+)\*\*", definition))


def _vocabulary_and_rows(root):
    text = (root / "book" / "claims.md").read_text()
    vocabulary = set(_defined_verdicts(root))
    rows = [line for line in text.splitlines() if line.startswith("|") and "---" not in line]
    header, *body = rows
    column = [c.strip() for c in header.strip("|").split("|")].index("Verdict")
    verdicts = [[c.strip() for c in row.strip("|").split("|")][column] for row in body]
    return vocabulary, verdicts


def test_the_ledger_defines_exactly_design_vocabulary(root):
    # Not a subset, not a superset: a verdict that DESIGN.md lacks (such as the old "confirmed with
    # a caveat") or one it has that the book forgets would split the book's vocabulary from it.
    assert _defined_verdicts(root) == DESIGN_VERDICTS


def test_every_verdict_in_the_ledger_is_defined(root):
    vocabulary, verdicts = _vocabulary_and_rows(root)
    assert {"confirmed", "misread", "overstated"} <= vocabulary, vocabulary
    assert len(verdicts) >= 10, "the ledger lost its rows: the table pattern is broken"
    undefined = sorted({v for v in verdicts if v not in vocabulary | {"*pending*"}})
    assert not undefined, f"verdicts used but not defined at the top of claims.md: {undefined}"


def test_chapter_7_speaks_the_ledger_vocabulary(root):
    # The chapter's claim check writes "**claim: verdict.**" in its prose; every verdict it uses
    # must be one the ledger defines, and the chapter must judge at least the rows it owns.
    import json

    vocabulary, _ = _vocabulary_and_rows(root)
    notebook = json.loads((root / "chapters" / "07_economics.ipynb").read_text())
    prose = "".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")
    used = re.findall(r"\*\*[^*]*?:\s*([a-z][a-z ]+?)\.\*\*", prose)
    assert len(used) >= 6, used
    assert set(used) <= vocabulary, sorted(set(used) - vocabulary)


def test_every_chapter_verdict_is_in_the_ledger_vocabulary(root):
    # Each chapter's claim check ends with "**Verdict: <verdict>.**"; the tour and every chapter
    # must use a verdict the ledger defines, so a reader meets one vocabulary across the book.
    import json

    vocabulary, _ = _vocabulary_and_rows(root)
    found = {}
    for path in sorted((root / "chapters").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        for verdict in re.findall(r"\*\*Verdict:\s*([^.*]+?)\.\*\*", prose):
            found.setdefault(verdict.strip().lower(), []).append(path.name)
    assert len(found) >= 3, f"the '**Verdict: ...**' pattern found too little: {found}"
    undefined = {v: names for v, names in found.items() if v not in vocabulary}
    assert not undefined, f"chapter verdicts not defined at the top of claims.md: {undefined}"


def _ledger_verdicts_by_chapter(root):
    """{chapter stem: [verdict of each ledger row that points to it]}."""
    text = (root / "book" / "claims.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("|") and "---" not in line]
    header, *body = rows
    cells = [c.strip() for c in header.strip("|").split("|")]
    where, verdict = cells.index("Checked in"), cells.index("Verdict")
    by_chapter = {}
    for row in body:
        parts = [c.strip() for c in row.strip("|").split("|")]
        stem = re.search(r"chapters/(\d\d_\w+)>", parts[where])
        assert stem, f"a ledger row names no chapter: {row[:80]}"
        by_chapter.setdefault(stem.group(1), []).append(parts[verdict])
    return by_chapter


def _bold_verdicts(root, stem, vocabulary):
    """Every verdict word the chapter's prose sets in bold (`**...: misread.**`, `**false**`)."""
    import json

    cells = json.loads((root / "chapters" / f"{stem}.ipynb").read_text())["cells"]
    prose = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    words = "|".join(sorted(vocabulary))
    return [
        m.group(1)
        for span in re.findall(r"\*\*([^*]+)\*\*", prose)
        for m in [re.search(rf"\b({words})\b", span)]
        if m
    ]


def test_each_ledger_verdict_is_stated_in_its_chapter(root):
    # The ledger summarises the chapters; it must not hold a verdict its chapter does not give (a
    # chapter whose second edition changed a verdict would otherwise leave a stale row behind).
    # Counted: a chapter with three rows judged "unverifiable" states that verdict three times.
    from collections import Counter

    vocabulary, _ = _vocabulary_and_rows(root)
    missing = {}
    for stem, verdicts in _ledger_verdicts_by_chapter(root).items():
        stated = Counter(_bold_verdicts(root, stem, vocabulary))
        short = Counter(verdicts) - stated
        if short:
            missing[stem] = dict(short)
    assert not missing, f"ledger verdicts that their chapter does not state in bold: {missing}"


def test_chapter_6_ledger_verdicts_are_the_ones_its_cells_assert(root):
    # Chapter 6 decides its two verdicts in code: the claim check's cells end with
    # `assert verdict_claim == "..."` and `assert verdict_moat == "..."`. The ledger row of each
    # claim and the chapter's "**Verdict: ...**" (in the order of its claim checks) must say the
    # same, so an edit that changes the rule's outcome cannot leave a stale verdict behind.
    import json

    cells = json.loads((root / "chapters" / "06_distillation.ipynb").read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    prose = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    asserted = {
        name: re.findall(rf'assert {name} == "([a-z]+)"', code)
        for name in ("verdict_claim", "verdict_moat")
    }
    assert all(len(found) == 1 for found in asserted.values()), asserted
    stated = [v.strip().lower() for v in re.findall(r"\*\*Verdict:\s*([^.*]+?)\.\*\*", prose)]
    text = (root / "book" / "claims.md").read_text()
    rows = {
        "verdict_claim": "copy more powerful ones for a fraction of the costs",
        "verdict_moat": '"There is no moat in models"',
    }
    ledger = {}
    for name, claim in rows.items():
        (row,) = [line for line in text.splitlines() if line.startswith("|") and claim in line]
        ledger[name] = [c.strip() for c in row.strip("|").split("|")][2]
    code_verdicts = {name: found[0] for name, found in asserted.items()}
    assert ledger == code_verdicts, (ledger, code_verdicts)
    assert stated == [code_verdicts["verdict_claim"], code_verdicts["verdict_moat"]], stated


@functools.cache  # read each notebook once, not once per ledger row
def _chapter_source(root, stem):
    notebook = json.loads((root / "chapters" / f"{stem}.ipynb").read_text())
    return "\n".join("".join(cell["source"]) for cell in notebook["cells"])


def test_every_ledger_figure_appears_in_its_chapter(root):
    """A ledger row's evidence may quote only figures its chapter holds (in prose or in the code
    that prints and asserts them): a figure cut from a chapter, or changed there and not in the
    ledger, fails here. Single digits are left out (counts such as "8 of 8" are everywhere)."""
    text = (root / "book" / "claims.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "{doc}" in line]
    assert len(rows) >= 20, f"the row pattern found only {len(rows)} ledger rows"
    missing = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        stems = sorted(set(re.findall(r"chapters/(\d\d_\w+)>", cells[1])))
        source = "\n".join(_chapter_source(root, stem) for stem in stems)
        figures = set(re.findall(r"(?<![\w.])\d+(?:[.,]\d+)*", cells[3]))
        for figure in (f for f in figures if len(re.sub(r"\D", "", f)) >= 2):
            if not _stated(figure, source):  # a whole number there: not 57 inside 5,576
                missing.setdefault(cells[0][:60], []).append(figure)
    assert not missing, missing


def test_every_ledger_row_stays_readable(root):
    """A row is a verdict with its evidence, not a section: at most 1,000 characters. Rows had
    grown to 2,301 before the audit of note 37 cut them; a long one hides its own verdict."""
    text = (root / "book" / "claims.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) > 20, len(rows)
    long = [(len(row), row[:80]) for row in rows if len(row) > 1000]
    assert not long, long


# The prose under "## Checks the chapters have made" summarises each chapter in a paragraph that
# names it ({doc}`../chapters/NN_topic`). It quotes figures and verdicts as the table rows do, so
# it is held to the same rule: a figure of two digits or more must be one its chapter holds (as a
# whole number, in prose or in the code that prints and asserts it), and a verdict word must be one
# the chapter gives in a verdict paragraph (a markdown paragraph holding a bold verdict).


def _figures(text):
    """The figures of `text` with two digits or more; roles ({doc}, {cite}) and section numbers
    (§3.5.2) are not figures."""
    text = re.sub(r"\{(?:doc|cite)\}`[^`]*`", " ", text)
    return {
        f for f in re.findall(r"(?<![\w.§])\d+(?:[.,]\d+)*", text) if len(re.sub(r"\D", "", f)) >= 2
    }


def _verdict_paragraphs(cells, vocabulary):
    """The chapter's markdown paragraphs that set one of `vocabulary` in bold."""
    words = "|".join(sorted(vocabulary))
    prose = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return [
        p
        for p in re.split(r"\n\s*\n", prose)
        if any(re.search(rf"\b({words})\b", span) for span in re.findall(r"\*\*([^*]+)\*\*", p))
    ]


def ledger_prose_not_in_chapters(ledger, chapters, vocabulary):
    """{paragraph opening: [figure or 'verdict: word' its named chapters do not hold]}, for each
    paragraph of `ledger`'s "## Checks the chapters have made" section. `chapters` maps a
    chapter stem to its notebook cells; a paragraph that names no chapter is reported too."""
    section = ledger[ledger.index("## Checks the chapters have made") :].split("\n", 1)[1]
    words = "|".join(sorted(vocabulary))
    stale = {}
    for paragraph in (p for p in re.split(r"\n\s*\n", section) if p.strip()):
        key = " ".join(paragraph.split())[:70]
        named = re.findall(r"\{doc\}`(?:[^`<]*<)?\.\./chapters/(\d\d_\w+)>?`", paragraph)
        stems = sorted(set(named))
        if not stems or any(s not in chapters for s in stems):
            stale[key] = [f"names no known chapter: {stems}"]
            continue
        cells = [c for s in stems for c in chapters[s]]
        source = "\n".join("".join(c["source"]) for c in cells)
        found = [f for f in sorted(_figures(paragraph)) if not _stated(f, source)]
        judged = "\n".join(_verdict_paragraphs(cells, vocabulary))
        clean = re.sub(r"\{(?:doc|cite)\}`[^`]*`", " ", paragraph)
        for word in sorted(set(re.findall(rf"\b({words})\b", clean))):
            if not re.search(rf"\b{word}\b", judged):
                found.append(f"verdict: {word}")
        if found:
            stale[key] = found
    return stale


def test_every_ledger_paragraph_figure_and_verdict_appears_in_its_chapter(root):
    ledger = (root / "book" / "claims.md").read_text()
    chapters = {
        p.stem: json.loads(p.read_text())["cells"] for p in (root / "chapters").glob("*.ipynb")
    }
    section = ledger[ledger.index("## Checks the chapters have made") :]
    # the pattern must still see the section: every chapter named in it, and its figures
    named = set(re.findall(r"\{doc\}`\.\./chapters/(\d\d_\w+)`", section))
    assert named == set(chapters), sorted(set(chapters) ^ named)
    assert len(_figures(section)) >= 40, sorted(_figures(section))
    stale = ledger_prose_not_in_chapters(ledger, chapters, set(_defined_verdicts(root)))
    assert not stale, stale


def _synthetic(markdown, code):
    return [
        {"cell_type": "markdown", "source": [markdown]},
        {"cell_type": "code", "source": [code]},
    ]


def test_ledger_paragraph_check_fails_on_a_planted_stale_figure_or_verdict():
    # A synthetic ledger and chapter, not the book's: the chapter states 56.7 days, asserts 39.4,
    # and gives "**Verdict: misread.**" with "the shape is recomputed" in the same paragraph.
    vocabulary = {"confirmed", "recomputed", "misread", "overstated"}
    chapter = _synthetic(
        "Intro: 2,048 GPUs.\n\n**Verdict: misread.** The shape is recomputed.\n\nA 5,576 aside.",
        "assert abs(mfu - 0.394) < 1e-3  # 39.4%",
    )
    chapters = {"07_demo": chapter, "08_other": _synthetic("Nothing: 57 days.", "x = 0")}

    def ledger(paragraph):
        return f"# Ledger\n\n| table |\n\n## Checks the chapters have made\n\n{paragraph}\n"

    fresh = (
        "{doc}`../chapters/07_demo` finds 56.7 days on 2,048 GPUs at 39.4%"
        " (misread; shape recomputed)."
    )
    chapter[0]["source"] = [chapter[0]["source"][0] + " It takes 56.7 days."]
    assert ledger_prose_not_in_chapters(ledger(fresh), chapters, vocabulary) == {}
    # a figure the chapter never states, one that only sits inside a longer number (57 in 5,576),
    # a figure only another chapter holds, and a verdict the chapter gives nowhere: each is found
    for planted, expected in (
        (fresh.replace("56.7", "57.2"), ["57.2"]),
        (fresh.replace("56.7", "57"), ["57"]),
        (fresh.replace("39.4", "39"), ["39"]),
        (fresh.replace("misread;", "confirmed;"), ["verdict: confirmed"]),
        (fresh + " It was overstated.", ["verdict: overstated"]),
    ):
        (found,) = ledger_prose_not_in_chapters(ledger(planted), chapters, vocabulary).values()
        assert found == expected, (planted, found)
    # a verdict word in the chapter's prose but outside a bold-verdict paragraph does not count
    chapter[0]["source"] = ["Intro: 2,048 GPUs, not confirmed yet.\n\n" + chapter[0]["source"][0]]
    planted = fresh.replace("misread;", "confirmed;")
    assert list(ledger_prose_not_in_chapters(ledger(planted), chapters, vocabulary).values()) == [
        ["verdict: confirmed"]
    ]
    # a paragraph that names no chapter cannot be checked, so it is reported, not skipped
    unnamed = fresh.replace("{doc}`../chapters/07_demo`", "The economics chapter")
    assert list(ledger_prose_not_in_chapters(ledger(unnamed), chapters, vocabulary).values()) == [
        ["names no known chapter: []"]
    ]
