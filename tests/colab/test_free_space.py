"""The Colab path's set-up refuses to start on a disk too full for its venv, and says why.

A unit test (not marked `colab`): it runs with the others and builds nothing.
"""

from __future__ import annotations

import sys
from collections import namedtuple
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import colab_env  # noqa: E402

_Usage = namedtuple("_Usage", "total used free")


def _fake_free(monkeypatch, free: int) -> None:
    monkeypatch.setattr(colab_env.shutil, "disk_usage", lambda path: _Usage(10**12, 0, free))


def test_too_little_space_is_refused_with_both_figures(monkeypatch, tmp_path):
    _fake_free(monkeypatch, 287_000_000)  # CI's machine once had 287 MB free
    with pytest.raises(colab_env.SetupError) as err:
        colab_env.check_free_space(tmp_path)
    text = str(err.value)
    assert "0.29 GB free" in text and "needs about 2.0 GB" in text and str(tmp_path) in text


def test_build_stops_before_it_writes_anything(monkeypatch, tmp_path):
    _fake_free(monkeypatch, colab_env.NEEDS_FREE_BYTES - 1)  # one byte short is refused
    calls = []
    monkeypatch.setattr(colab_env, "run", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(colab_env, "OUT", tmp_path / "out")  # not the build's own log
    folder = tmp_path / "venv_folder"
    folder.mkdir()
    with pytest.raises(colab_env.SetupError, match="needs about"):
        colab_env.build(folder)
    assert calls == [] and list(folder.iterdir()) == []
    # the log the Colab test shows when the set-up did not finish says why
    assert "needs about 2.0 GB" in (tmp_path / "out" / "install.log").read_text()


def test_enough_space_passes_and_reports_it(monkeypatch, tmp_path):
    _fake_free(monkeypatch, colab_env.NEEDS_FREE_BYTES)
    assert colab_env.check_free_space(tmp_path) == colab_env.NEEDS_FREE_BYTES
