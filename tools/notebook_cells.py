"""Shared text for chapter notebooks: the Colab badge and the setup cell.

`python tools/notebook_cells.py chapters/NN_topic.ipynb` prints the badge and setup cell that the
hygiene test (tests/notebooks/test_hygiene.py) expects for that notebook, built from the
repository URL in _config.yml, so a new chapter starts from exactly what the test checks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def repository() -> tuple[str, str]:
    """(url, branch) of the repository, read from _config.yml: the one place they are set."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def colab_url(notebook: str) -> str:
    url, branch = repository()
    slug = url.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{slug}/blob/{branch}/chapters/{notebook}"


# The badge image is the site's own (the site loads nothing from another host); the path is
# relative to chapters/, so it also resolves on the repository's web view.
BADGE_IMAGE = "../book/_assets/colab-badge.svg"


def badge(notebook: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook)})"


def install_target() -> str:
    url, branch = repository()
    return f"labs @ git+{url}@{branch}"


def setup_cell() -> str:
    return f'''# Setup: in Colab, install the course package (Colab keeps its own torch and jax).
# Anywhere else the package is already installed (make book / make test) and this does nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    target = "{install_target()}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", target], check=True)

from labs.common import describe, seed_everything, use_style

info = describe()  # prints the torch device, the JAX backend and its device count
key = seed_everything(0)  # seeds python, numpy and torch; returns a JAX PRNG key
use_style()'''


if __name__ == "__main__":
    name = Path(sys.argv[1]).name if len(sys.argv) > 1 else "NN_topic.ipynb"
    print(badge(name))
    print()
    print(setup_cell())
