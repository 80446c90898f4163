"""Install packages into a Python environment with uv, from the sources pip is configured with.

    python tools/uv_pip.py PYTHON ARGS...     (ARGS as `pip install` takes them: -r FILE, NAME==V)

Runs `uv pip install --python PYTHON ARGS`, with uv (`UV_REQUIREMENT`) installed first, if it is
not there yet, by PYTHON's own pip into PYTHON's venv folder under uv/ (`pip install --target`:
uv is a binary in a PyPI wheel, and it lands outside the environment's site-packages, so the
environment holds only what ARGS asked for).

Why: pip took about 60 of the 92 s that `make env` took on the slow 2-core EPYC CI runs on
(December 2026), resolving, downloading and unpacking one package at a time; uv installed the same
150 packages at the same versions in 12 s with an empty cache. Both `make env` (.venv) and the
Colab path's fresh venv (tools/colab_env.py) install through here.

pip reads where packages come from out of its configuration (pip.conf files and PIP_* variables);
uv reads none of it. So the sources pip is configured with (`pip config list`: index-url,
extra-index-url, find-links, constraint) are passed to uv as flags, an environment variable
taking precedence over a file, as in pip. Where there is more than one index, uv by default takes
a package's versions from the first index that has it; pip takes the best version from all of
them, so `--index-strategy unsafe-best-match` (uv's name for pip's rule) is always passed. On this
project's machines that is how the CPU build of torch (a local wheel, under find-links) wins over
PyPI's CUDA build of the same version, as it does for pip.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

UV_REQUIREMENT = "uv==0.13.8"
# pip's configuration keys that say where packages come from -> uv's flag for each value.
SOURCES = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
}
# pip's precedence, lowest first: a later scope's value replaces an earlier one's.
SCOPES = ("global", "user", "site", ":env:")
LINE = re.compile(r"^(?P<scope>[^.]+)\.(?P<key>[\w-]+)=(?P<value>.*)$")


def pip_sources(config_list: str) -> list[str]:
    """uv's flags for the package sources in `pip config list`'s output.

    >>> pip_sources("global.find-links='/opt/wheels'\\n:env:.default-timeout='180'")
    ['--find-links', '/opt/wheels', '--index-strategy', 'unsafe-best-match']
    """
    if not isinstance(config_list, str):
        raise TypeError(f"config_list: expected str, got {type(config_list).__name__}")
    chosen: dict[str, tuple[int, str]] = {}
    for line in config_list.splitlines():
        match = LINE.match(line.strip())
        if not match or match["key"] not in SOURCES:
            continue
        rank = SCOPES.index(match["scope"]) if match["scope"] in SCOPES else 0
        if match["key"] not in chosen or rank >= chosen[match["key"]][0]:
            value = match["value"].strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            chosen[match["key"]] = (rank, value)
    flags = []
    for key, flag in SOURCES.items():  # pip's values are lists separated by white space
        for value in chosen[key][1].split() if key in chosen else ():
            flags += [flag, value]
    return [*flags, "--index-strategy", "unsafe-best-match"]


def uv_binary(python: Path, run=None) -> Path:
    """uv for the environment of `python`, installed by its pip into its venv folder if missing.

    `run(cmd)` runs the pip command (default: subprocess.run with check=True)."""
    folder = Path(python).absolute().parents[1] / "uv"
    uv = folder / "bin" / "uv"
    if not uv.is_file():
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        cmd = [*pip, "--target", str(folder), UV_REQUIREMENT]
        (run or (lambda c: subprocess.run(c, check=True)))(cmd)
    return uv


def command(python: Path, args: list[str], config_list: str, run=None) -> list[str]:
    """The uv command that installs `args` into the environment of `python` (`run`: uv_binary's)."""
    return [
        str(uv_binary(python, run)), "pip", "install", "--quiet", "--python", str(python),
        *pip_sources(config_list), *[str(a) for a in args],
    ]  # fmt: skip


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) < 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    python = Path(args[0])
    if not (python.is_file() and os.access(python, os.X_OK)):
        print(f"PYTHON: expected the python of a venv, got {args[0]!r}", file=sys.stderr)
        return 2
    config = subprocess.run(
        [str(python), "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    cmd = command(python, args[1:], config)
    print("$", shlex.join(cmd), flush=True)
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main())
