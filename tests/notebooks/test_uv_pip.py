"""tools/uv_pip.py: pip's package sources read from `pip config list` and passed to uv, and uv
then choosing what pip would from two indexes that disagree."""

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import uv_pip  # noqa: E402

# What `make env` installed next to .venv's python (tools/uv_pip.py puts it there).
UV = Path(sys.executable).absolute().parents[1] / "uv" / "bin" / "uv"


def test_sources_come_from_pip_config_with_pips_precedence():
    listing = "\n".join([
        "global.find-links='/opt/wheels'",
        "global.extra-index-url='file:///a/simple file:///b/simple'",
        "user.index-url='https://user.example/simple'",
        ":env:.index-url='https://env.example/simple'",  # the environment beats the files
        "global.constraint='/etc/pip/constraints.txt'",
        ":env:.default-timeout='180'",  # not a source: left out
        "global.cert='/etc/ssl/certs/ca.crt'",
        "not a config line",
    ])  # fmt: skip
    assert uv_pip.pip_sources(listing) == [
        "--index-url", "https://env.example/simple",
        "--extra-index-url", "file:///a/simple",
        "--extra-index-url", "file:///b/simple",
        "--find-links", "/opt/wheels",
        "--constraint", "/etc/pip/constraints.txt",
        "--index-strategy", "unsafe-best-match",
    ]  # fmt: skip
    # Scopes in the other order give the same choice: precedence is by scope, not by line order.
    reordered = "\n".join(reversed(listing.splitlines()))
    assert uv_pip.pip_sources(reordered) == uv_pip.pip_sources(listing)
    # With nothing configured uv keeps its own default index (PyPI), with pip's rule.
    assert uv_pip.pip_sources("") == ["--index-strategy", "unsafe-best-match"]


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="config_list: expected str, got bytes"):
        uv_pip.pip_sources(b"global.find-links='/x'")
    assert uv_pip.main(["/no/such/python", "-r", "requirements.txt"]) == 2


def wheel(folder: Path, version: str) -> Path:
    """A pure-Python wheel of a package `demo` whose module says its version."""
    files = {
        "demo/__init__.py": f"VERSION = {version!r}\n",
        f"demo-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: demo\nVersion: {version}\n"
        ),
        f"demo-{version}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"demo-{version}.dist-info/RECORD,,")
    files[f"demo-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    path = folder / f"demo-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


def simple_index(folder: Path, wheel_path: Path) -> str:
    """A one-package simple index (PEP 503) in `folder` serving `wheel_path`; its file URL."""
    (folder / "demo").mkdir(parents=True)
    (folder / "demo" / "index.html").write_text(
        f'<html><body><a href="{wheel_path.as_uri()}">{wheel_path.name}</a></body></html>'
    )
    return folder.as_uri()


@pytest.mark.skipif(not UV.is_file(), reason=f"no uv at {UV}: .venv was not made by make env")
def test_uv_takes_the_best_version_across_indexes_as_pip_does(tmp_path):
    # Two indexes in a pip.conf, nothing else: the main one serves demo 2.0, the extra one 1.0.
    # pip takes 2.0, the best version of all its sources; uv's default takes a package from the
    # first index that has it, and uv puts an extra index first.
    (tmp_path / "files").mkdir()
    main = simple_index(tmp_path / "main", wheel(tmp_path / "files", "2.0"))
    extra = simple_index(tmp_path / "extra", wheel(tmp_path / "files", "1.0"))
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {main}\nextra-index-url = {extra}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env |= {"PIP_CONFIG_FILE": str(conf), "UV_CACHE_DIR": str(tmp_path / "cache")}
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], env=env, capture_output=True, text=True
    ).stdout
    flags = uv_pip.pip_sources(listing)
    assert flags[:4] == ["--index-url", main, "--extra-index-url", extra]

    def installed(flags) -> str:
        venv = tmp_path / f"venv{len(flags)}"
        subprocess.run([UV, "venv", "-q", "--python", sys.executable, venv], env=env, check=True)
        py = venv / "bin" / "python"
        done = subprocess.run(
            [UV, "pip", "install", "-q", "--offline", "--python", py, *flags, "demo"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return subprocess.run(
            [py, "-c", "import demo; print(demo.VERSION)"], capture_output=True, text=True
        ).stdout.strip()

    assert installed(flags) == "2.0"
    # The control: the same sources without pip's rule, and uv keeps to the extra index's 1.0.
    assert installed(flags[:-2]) == "1.0"
