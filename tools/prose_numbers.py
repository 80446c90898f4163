"""Numbers in a chapter's prose that no code cell's source or output contains: a heuristic audit
of "the prose never states a number that no cell computes" (DESIGN.md).

Run it on executed notebooks (their outputs are stripped in git), for example
    jupyter nbconvert --to notebook --execute chapters/03_mla.ipynb --output /tmp/03.ipynb
    python tools/prose_numbers.py /tmp/03.ipynb
Maths, citations, link targets and years are skipped; a number the prose rounds (1,560 for a
printed 1,562) is reported, so read each hit rather than counting them.
"""

import json
import re
import sys

NUM = re.compile(r"(?<![\w.$\\{])(\d{1,3}(?:,\d{3})+|\d+\.\d+|\d{2,})(?![\w])")


def norm(x):
    return x.replace(",", "")


def variants(n):
    v = {n}
    if "." in n:
        f = float(n)
        d = len(n.split(".")[1])
        v |= {f"{f:.{d}f}", f"{f:.{d + 1}f}"[:-1]}
    return v


for path in sys.argv[1:]:
    nb = json.load(open(path))
    hay = []
    for c in nb["cells"]:
        if c["cell_type"] != "code":
            continue
        hay.append("".join(c["source"]))
        for o in c.get("outputs", []):
            t = o.get("text") or "".join(o.get("data", {}).get("text/plain", ""))
            hay.append("".join(t) if isinstance(t, list) else t)
    text = norm(" ".join(hay))
    missing = []
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "markdown":
            continue
        src = "".join(c["source"])
        src = re.sub(r"\{cite[^`]*`[^`]*`", "", src)
        src = re.sub(r"\$[^$]*\$", "", src)  # maths
        src = re.sub(r"\]\([^)]*\)", "]", src)  # links
        for m in NUM.finditer(src):
            n = norm(m.group(1))
            if 1900 <= float(n) <= 2030 and "." not in n:
                continue  # years
            if not any(v in text for v in variants(n)):
                ctx = src[max(0, m.start() - 50) : m.end() + 30].replace("\n", " ")
                missing.append((i, m.group(1), ctx))
    print(f"== {path}: {len(missing)} numbers in prose not found in any cell")
    for i, n, ctx in missing:
        print(f"  cell {i}: {n!r}: ...{ctx}...")
