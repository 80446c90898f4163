"""Link check of the built site: every internal link and resource resolves (file and anchor), and
no page loads a script, stylesheet, image or font from another host."""

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

from tests.site.conftest import ROOT

SITE = ROOT / "_build" / "html"
SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static"}


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[tuple[str, str, str, str]] = []  # (tag, attribute, url, rel)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        for attr in ("href", "src"):
            if a.get(attr) is not None:
                self.links.append((tag, attr, a[attr], a.get("rel") or ""))


def pages() -> list[Path]:
    if not (SITE / "index.html").is_file():
        return []
    return sorted(
        p for p in SITE.rglob("*.html") if not SKIP_DIRS & set(p.relative_to(SITE).parts[:-1])
    )


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_site_is_built(site):
    names = {p.relative_to(site).as_posix() for p in pages()}
    chapters = {f"chapters/{p.stem}.html" for p in (ROOT / "chapters").glob("*.ipynb")}
    assert chapters <= names, f"chapter pages missing from the site: {chapters - names}"
    assert "book/glossary.html" in names and "book/intro.html" in names


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(SITE).as_posix())
def test_internal_links_resolve(site, page):
    parsed = parse(page)
    broken = []
    for tag, attr, url, rel in parsed.links:
        scheme = urlparse(url).scheme
        if scheme in {"http", "https"}:
            # A link to another site is fine; a resource from another site is not (offline).
            resource = tag in {"script", "img", "iframe", "source", "video", "audio"} or (
                tag == "link" and rel not in {"canonical", "alternate", "author", "license"}
            )
            if resource:
                broken.append(f"{tag} {attr}={url}: loads from another host")
            continue
        if scheme in {"mailto", "data", "javascript"} or url.startswith("//"):
            if url.startswith("//"):
                broken.append(f"{tag} {attr}={url}: protocol-relative URL to another host")
            continue
        target, fragment = urldefrag(url)
        target = urlparse(target).path  # without ?v=... cache-busting queries
        dest = page if not target else (page.parent / unquote(target)).resolve()
        if dest.is_dir():
            dest = dest / "index.html"
        if not dest.is_file():
            broken.append(f"{tag} {attr}={url}: no such file")
            continue
        if fragment and dest.suffix == ".html":
            ids = parsed.ids if dest == page else parse(dest).ids
            if unquote(fragment) not in ids:
                broken.append(f"{tag} {attr}={url}: no anchor #{fragment}")
    assert not broken, "\n".join(broken)


def test_stylesheets_load_no_remote_fonts(site):
    """A stylesheet's @import or url() to another host would break offline pages."""
    remote = []
    for css in (site / "_static").rglob("*.css"):
        text = css.read_text(errors="ignore")
        for url in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]*)", text):
            remote.append(f"{css.relative_to(site)}: {url}")
        if re.search(r"@import\s+(url\()?['\"]?https?://", text):
            remote.append(f"{css.relative_to(site)}: @import from another host")
    assert not remote, "\n".join(remote)
