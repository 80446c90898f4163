"""tools/warm_bytecode.py: which modules it finds in .py files and notebooks, and that importing
them writes their bytecode where PYTHONDONTWRITEBYTECODE would otherwise stop it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import warm_bytecode  # noqa: E402


def notebook(cells) -> str:
    return json.dumps(
        {
            "cells": [{"cell_type": t, "source": s, "metadata": {}} for t, s in cells],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def test_the_names_come_from_import_lines_of_code_only(tmp_path):
    (tmp_path / "a.py").write_text(
        "import os, json as j\nfrom collections import abc\n"
        "from __future__ import annotations\nfrom tests.site import conftest\n"
        "def f():\n    import xml.dom\n    from . import sibling\n"
        'def g():\n    """Say\n    import docstring_word\n    """\n'
    )
    magic = '%matplotlib inline\nimport email.charset\ns = """\nimport in_a_string\n"""'
    (tmp_path / "b.ipynb").write_text(
        notebook(
            [
                ("code", "import email.mime\nx = 1"),
                ("markdown", "import not_a_module"),
                ("code", magic),
            ]
        )
    )
    names = warm_bytecode.module_names([tmp_path])
    assert {"os", "json", "collections", "xml.dom", "email.mime", "email.charset"} <= set(names)
    assert not {"tests.site", "__future__", "not_a_module", "j", "sibling", "."} & set(names)
    # read from the syntax tree, a docstring's line names nothing; the control: the magic's cell
    # does not parse, is read line by line, and there the string's line does name a module
    assert "docstring_word" not in names and "in_a_string" in names
    assert set(warm_bytecode.ALSO) <= set(names)


def test_a_missing_path_is_refused():
    with pytest.raises(ValueError, match="path: expected an existing file or folder, got 'nope'"):
        warm_bytecode.module_names(["nope"])


def test_imports_write_bytecode_that_the_environment_would_not(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    for name in ("warmed_mod", "cold_mod"):
        (pkg / f"{name}.py").write_text("VALUE = 1\n")
    (tmp_path / "uses.ipynb").write_text(notebook([("code", "import warmed_mod")]))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(pkg)}
    env.pop("PYTHONPYCACHEPREFIX", None)
    script = ROOT / "tools" / "warm_bytecode.py"
    done = subprocess.run(
        [sys.executable, script, tmp_path / "uses.ipynb"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    compiled = {p.name.split(".")[0] for p in (pkg / "__pycache__").glob("*.pyc")}
    assert "warmed_mod" in compiled
    # Control: an ordinary import in the same environment writes nothing.
    subprocess.run([sys.executable, "-c", "import cold_mod"], env=env, check=True, timeout=60)
    assert "cold_mod" not in {p.name.split(".")[0] for p in (pkg / "__pycache__").glob("*.pyc")}
