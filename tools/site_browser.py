"""Serve the built site on localhost and drive Debian's chromium over it with Playwright.

Used by the browser test (tests/site/test_browser.py) and by `make book`, which saves screenshots
of the landing page and of one chapter under _build/screenshots/. Playwright drives the system
browser (`LABS_CHROMIUM`, default /usr/bin/chromium): it downloads no browser of its own.

    python tools/site_browser.py screenshots   # after make book
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import socketserver
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("LABS_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags chromium phones home at start-up; on a closed network
# that shows up as refused connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1280, "height": 800}  # a normal laptop window
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@contextlib.contextmanager
def serve(site: Path = SITE) -> Iterator[str]:
    """Serve `site` on a free localhost port for the duration; yields the base URL."""
    if not (site / "index.html").is_file():
        raise FileNotFoundError(f"{site}/index.html is missing: build the site first (make book)")
    handler = functools.partial(_QuietHandler, directory=str(site))
    socketserver.TCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()


@contextlib.contextmanager
def browser() -> Iterator[object]:
    """A headless chromium (the system one) under Playwright."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        raise FileNotFoundError(
            f"no browser at {CHROMIUM}: `make browser` installs Debian's chromium "
            "(or set LABS_CHROMIUM to a Chrome or Chromium binary)"
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def is_local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in {"data", "blob", "about"} or parsed.hostname in LOCAL_HOSTS


def open_page(b, url: str):
    """Open `url` in a fresh page; requests to another host are refused and recorded.

    Returns (page, console_errors, foreign_requests), after the page settled and MathJax finished.
    """
    page = b.new_page(viewport=LAPTOP)
    errors: list[str] = []
    foreign: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        if is_local(r.request.url):
            r.continue_()
        else:
            foreign.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    page.evaluate(
        "async () => { if (window.MathJax && MathJax.startup && MathJax.startup.promise)"
        " { await MathJax.startup.promise; } }"
    )
    return page, errors, foreign


def screenshots(b, base: str, out: Path = SHOTS, chapter: str = "00_tour") -> list[Path]:
    """Screenshots (a laptop window) of the landing page and of one chapter; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    for name, path in (
        ("landing", "book/intro.html"),
        (f"chapter_{chapter}", f"chapters/{chapter}.html"),
    ):
        page, _, _ = open_page(b, base + path)
        target = out / f"{name}.png"
        page.screenshot(path=str(target))
        page.close()
        saved.append(target)
    return saved


def main() -> None:
    with serve(SITE) as base, browser() as b:
        for path in screenshots(b, base):
            print(f"screenshot: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:] != ["screenshots"]:
        sys.exit("usage: site_browser.py screenshots")
    main()
