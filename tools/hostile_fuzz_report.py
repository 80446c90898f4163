"""Count the outcomes of a tools/hostile_fuzz.py run and rank its problems into DIR/problems.tsv.

    python tools/hostile_fuzz_report.py DIR

A silent acceptance is a problem only for some mutations: a 0-d array or a list that gives the same
answer, a float16 array that is upcast, or a changed shape for an elementwise function is fine. The
sets below say which families are judged benign and which are always bad; shape and rank changes
without a non-finite result are left for a reader to judge by hand.
"""

import collections
import glob
import json
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SIZE = re.compile(
    r"(^n_|^num_|^d_|dim|size|batch|steps|len|heads|layers|rank|tokens|width|depth|count|repeats|"
    r"group|block|tile|experts|^k$|vocab|hidden|chunks|problems|samples|epochs|max_|context|bits|"
    r"features|parallel|threads|every|top|sizes|capacity|devices|rows|cols|^m$|^n$|bytes|params)"
)
NOT_SIZE = re.compile(r"(seed|offset|index|position|start|axis|^eval_seed)")

# acceptance of these is not a problem (a harmless variant, or a legitimate value for many params)
BENIGN = {
    "python-list",
    "0d-array",
    "float16",
    "array-all-zero",
    "float-integral",
    "np-float64",
    "list",
    "rank-plus-trailing",
    "dict-extra-key",
    "dict-entry-list",
    "seq-np-scalars",
    "upper-case",
    "whitespace",
    "empty-string",
    "bool-dtype",
}
ALWAYS_BAD = {
    "shape-last-minus-one",
    "shape-last-plus-one",
    "shape-first-minus-one",
    "rank-minus-one",
    "ids-2pow40",
    "complex-dtype",
    "device-meta",
    "dict-missing-key",
    "dict-entry-shape",
    "dict-entry-rank",
    "dict-entry-inf",
    "dict-entry-nan",
    "dict-entry-negative",
    "dict-entry-string",
    "nan",
    "inf",
    "minus-inf",
    "array-nan",
    "array-inf",
    "array-minus-inf",
    "seq-inf",
    "bool",
    "seq-bool",
    "float-frac",
    "string",
    "array-empty-leading",
    "array-empty-last",
    "seq-empty",
    "seq-nested",
    "ids-float-integral",
    "int-for-str",
}


CODECS = {
    "labs.fp8.formats.round_to_format",
    "labs.fp8.formats.encode",
    "labs.fp8.formats.round_to_bfloat16",
    "labs.fp8.torch.to_fp8",
    "labs.fp8.jax.to_fp8",
}


def family(row):
    m = row.get("mutation") or ""
    return "field:" + m.split(":")[2] if m.startswith("field:") else m


def is_sizey(row):
    name = row.get("param") or ""
    if (row.get("mutation") or "").startswith("field:"):
        name = row["mutation"].split(":")[1]
    return bool(SIZE.search(name)) and not NOT_SIZE.search(name)


def silent_problem(row):
    """(rank, why) for a silent acceptance that matters, or None."""
    fam = family(row)
    flav = row.get("flavour")
    if row.get("accepted_by_repo"):
        return None
    key = row["key"]
    if fam == "ids-2pow40" and ".jax" in key:
        return None  # artifact: jnp.asarray(2**40, int32) wraps to 0 before labs sees it (x64 off)
    if fam in ("array-minus-inf", "array-nan", "array-inf") and key in CODECS:
        return None  # ACCEPTED in examples_fp8.py: a codec passes NaN/inf through by design
    if fam.startswith(("shape-", "rank-")) and flav != "nonfinite":
        return "review", None  # legitimate for elementwise/shape-free functions: reviewed by hand
    if flav in ("nonfinite", "empty", "uninspectable"):
        if fam == "array-all-zero" and flav != "nonfinite":
            return None
        return 0, f"silent {flav} result"
    if fam in BENIGN:
        return None
    if fam in ALWAYS_BAD:
        if fam in ("nan", "array-nan") and flav == "different":
            return 2, "NaN input accepted (result changed)"
        return 1, "bad input accepted" + (
            " (result identical: value ignored/coerced)" if flav == "same-as-valid" else ""
        )
    if fam in (
        "zero",
        "neg-one",
        "negative",
        "int-overflow-1e30",
        "seq-negative",
        "seq-zero",
        "seq-overflow-1e30",
        "field:zero",
        "field:neg-one",
        "field:negative",
        "field:overflow-1e30",
        "field:nan",
        "field:inf",
        "field:float-frac",
        "field:string",
        "field:empty-string",
    ):
        if fam.startswith("field:") and fam in (
            "field:nan",
            "field:inf",
            "field:float-frac",
            "field:string",
        ):
            return 1, "bad config field accepted"
        if is_sizey(row):
            return 1, "bad size accepted" + (
                " (result identical)" if flav == "same-as-valid" else ""
            )
        return None  # a seed, an offset, a budget: triage by hand if needed
    return None


def where(key):
    parts = key.split(".")
    for i in range(len(parts) - 1, 1, -1):
        mod = "/".join(parts[:i])
        if os.path.exists(os.path.join(REPO, "src", f"{mod}.py")):
            return f"src/{mod}.py:{'.'.join(parts[i:])}"
    return key


def main(out_dir):
    rows = []
    for path in sorted(glob.glob(os.path.join(out_dir, "results_*.jsonl"))):
        with open(path) as results:
            rows += [json.loads(line) for line in results]
    if not rows:
        raise SystemExit(f"no results_*.jsonl under {out_dir}: run tools/hostile_fuzz.py run first")
    counts = collections.Counter()
    problems = []
    for r in rows:
        v = r["verdict"]
        if v == "clear":
            counts["clear"] += 1
        elif v == "unclear":
            counts[f"unclear/{r['why']}"] += 1
            rank = {"deep": 3, "other-type": 3, "unnamed": 4}[r["why"]]
            problems.append((rank, f"{r['why']} error", r))
        elif v == "silent":
            p = silent_problem(r)
            if p == ("review", None):
                counts["silent shape/rank change (needs context; reviewed by hand)"] += 1
            elif p is None:
                counts["silent (benign / legitimate)"] += 1
            else:
                counts["silent (problem)"] += 1
                problems.append((p[0], p[1], r))
        elif v == "silent-harmless":
            counts["silent on a harmless variant (fine)"] += 1
        elif v == "hang":
            if "died" in r.get("detail", ""):
                counts["silent (problem)"] += (
                    1  # meta result crashed the judge: a silent acceptance
                )
                problems.append((0, "silent uninspectable (meta-device) result", r))
            else:
                counts["over 2 s (slow jax training entry point, not a hang)"] += 1
        else:
            counts[v] += 1

    problems.sort(
        key=lambda p: (p[0], p[2]["key"], p[2].get("param", ""), p[2].get("mutation", ""))
    )
    with open(os.path.join(out_dir, "problems.tsv"), "w") as out:
        out.write("rank\twhy\tkey\tparam\tmutation\tflavour\tdetail\twhere_check_belongs\trepro\n")
        for rank, why, r in problems:
            repro = (
                f"PYTHONPATH=src python tools/hostile_fuzz.py repro {r['key']} "
                f"{r.get('param')} '{r.get('mutation')}'"
            )
            out.write(
                "\t".join(
                    map(
                        str,
                        [
                            rank,
                            why,
                            r["key"],
                            r.get("param"),
                            r.get("mutation"),
                            r.get("flavour", r.get("why", "")),
                            (r.get("detail") or "").replace("\n", " ").replace("\t", " ")[:200],
                            where(r["key"]),
                            repro,
                        ],
                    )
                )
                + "\n"
            )
    print("total calls:", sum(counts.values()))
    for k, v in sorted(counts.items(), key=lambda x: -x[1]):
        print(f"{v:6d}  {k}")
    print("problems:", len(problems), collections.Counter(p[1] for p in problems).most_common())
    print("callables with a problem:", len({p[2]["key"] for p in problems}))
    print("callables fuzzed:", len({r["key"] for r in rows}))


if __name__ == "__main__":
    main(sys.argv[1])
