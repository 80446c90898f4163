"""The built site (_build/html, from `make book`): served on localhost for the browser test.

These tests are marked `site` and run by `make test-site` after `make book`; a site that was not
built is a failure with the command to run, never a skip.
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import site_browser  # noqa: E402

CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/site/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.site)


@pytest.fixture(scope="session")
def site() -> Path:
    if not (site_browser.SITE / "index.html").is_file():
        pytest.fail(f"{site_browser.SITE} is not built: run `make book` first", pytrace=False)
    return site_browser.SITE


@pytest.fixture(scope="session")
def base_url(site):
    with site_browser.serve(site) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    with site_browser.browser() as b:
        yield b
