"""The built site in a real browser (Debian's chromium under Playwright, on localhost).

Every page loads with no console error and no request to another host; math is typeset (no raw
TeX left); every chapter page shows at least one figure that loaded, a Colab and a Binder launch
button, Colab links to its own notebook at the configured revision, and code that fits a laptop
window without sideways scrolling. Screenshots go to _build/screenshots/.
"""

import pytest
from notebook_cells import colab_url, repository  # tools/, put on sys.path by conftest

from tests.site.conftest import CHAPTERS, ROOT, site_browser
from tests.site.test_links import SITE, pages

PAGES = [p.relative_to(SITE).as_posix() for p in pages()]

# Raw TeX left in the rendered text (outside code) means MathJax did not run.
RAW_TEX_JS = """() => {
  const body = document.querySelector('main') || document.body;
  const clone = body.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container').forEach(e => e.remove());
  const text = clone.innerText;
  return ['\\\\[', '\\\\(', '$$'].filter(t => text.includes(t));
}"""


CHAPTER_PAGES = [f"chapters/{c}.html" for c in CHAPTERS]
# How many of this module's tests read each page: every page once, a chapter's page twice.
USES = {path: PAGES.count(path) + CHAPTER_PAGES.count(path) for path in {*PAGES, *CHAPTER_PAGES}}


@pytest.fixture(scope="module")
def page_for(browser, base_url):
    """Each page loaded once for this module: a chapter page (about 4 s to load and typeset on a
    slow 2-core machine) serves both its checks. `with page_for(path) as (page, errors, foreign)`
    gives the loaded page; it closes after the last of its uses in `USES`, whichever test that
    is, and a page that fewer tests read (`-k`) closes at the module's end."""
    import contextlib

    opened, left = {}, dict(USES)

    @contextlib.contextmanager
    def use(path: str):
        if path not in opened:
            opened[path] = site_browser.open_page(browser, base_url + path)
        try:
            yield opened[path]
        finally:
            left[path] -= 1
            if left[path] <= 0:
                opened.pop(path)[0].close()

    yield use
    for page, _, _ in opened.values():
        page.close()


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_clean_and_offline(page_for, path):
    with page_for(path) as (page, errors, foreign):
        assert not foreign, f"{path} requested another host: {foreign}"
        assert not errors, f"{path} console errors: {errors}"
        math = page.locator(".math").count()
        if math:
            assert page.locator("mjx-container").count() >= math, f"{path}: math not typeset"
        raw = page.evaluate(RAW_TEX_JS)
        assert not raw, f"{path}: raw TeX {raw} left in the text"
        broken = page.evaluate(
            "() => [...document.images].filter(i => i.complete && i.naturalWidth === 0)"
            ".map(i => i.src)"
        )
        assert not broken, f"{path}: images that did not load: {broken}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page(page_for, chapter):
    path = f"chapters/{chapter}.html"
    with page_for(path) as (page, _, _):
        widths = page.evaluate(
            "() => [...document.querySelectorAll('.cell_output img')].map(i => i.naturalWidth)"
        )
        assert widths and all(w > 0 for w in widths), f"{path}: figures {widths}"
        hrefs = page.evaluate("() => [...document.querySelectorAll('a')].map(a => a.href)")
        colab = [h for h in hrefs if "colab.research.google.com" in h]
        assert colab, f"{path}: no Colab link"
        expected = colab_url(f"{chapter}.ipynb")
        assert all(h == expected for h in colab), f"{path}: Colab links {set(colab)} != {expected}"
        url, ref = repository()
        binder = [h for h in hrefs if "mybinder.org" in h]
        assert binder, f"{path}: no Binder button"
        slug = url.removeprefix("https://github.com/")
        assert all(slug in h and ref in h for h in binder), f"{path}: Binder links {binder}"
        wide = page.evaluate(
            "() => [...document.querySelectorAll('div.cell div.highlight pre')]"
            ".filter(p => p.scrollWidth > p.clientWidth + 1).length"
        )
        assert wide == 0, f"{path}: {wide} code cells scroll sideways at 1280 px"


def test_screenshots(browser, base_url):
    saved = site_browser.screenshots(browser, base_url)
    assert [p.name for p in saved] == ["landing.png", "chapter_00_tour.png"]
    assert all(p.stat().st_size > 10_000 for p in saved)
    assert all(p.is_relative_to(ROOT / "_build") for p in saved)
