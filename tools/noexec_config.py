"""Print a copy of the book's _config.yml with notebook execution turned off.

`make test` uses it to build the book quickly (structure, references, citations) after nbval has
already executed every notebook. Paths in the copy are made absolute so that the copy can live
under _build/.
"""

import sys
from pathlib import Path

import yaml


def main(path: str) -> None:
    config_path = Path(path).resolve()
    config = yaml.safe_load(config_path.read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    root = config_path.parent
    config["bibtex_bibfiles"] = [str(root / p) for p in config.get("bibtex_bibfiles", [])]
    extensions = config.get("sphinx", {}).get("local_extensions") or {}
    for name, path in extensions.items():
        extensions[name] = str(root / path)
    sphinx_config = config.get("sphinx", {}).get("config", {})
    if "html_static_path" in sphinx_config:
        sphinx_config["html_static_path"] = [
            str(root / p) for p in sphinx_config["html_static_path"]
        ]
    yaml.safe_dump(config, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: noexec_config.py PATH/_config.yml")
    main(sys.argv[1])
