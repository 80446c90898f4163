"""The book's pages that are not chapters (debate, how to run, intro, README) against the chapters
and the package: a figure or a fact that a page states must be one the course checks elsewhere."""

import json
import re


def _chapter_source(root, stem):
    notebook = json.loads((root / "chapters" / f"{stem}.ipynb").read_text())
    return "\n".join("".join(cell["source"]) for cell in notebook["cells"])


def _stems(root):
    return {int(p.name[:2]): p.stem for p in (root / "chapters").glob("*.ipynb")}


def _stated(figure, source):
    """`figure` occurs in `source` as a whole number: 57 is not found inside 5,576 or 56.7."""
    forms = {figure, figure.replace(",", "_"), figure.replace(",", "")}
    # The pattern starts with the figure itself, so the scan jumps between its occurrences; a
    # lookbehind first would make it try every position of a chapter's source.
    for form in forms:
        for match in re.finditer(rf"{re.escape(form)}(?!\d|[.,]\d)", source):
            if match.start() == 0 or not re.match(r"[\w.]", source[match.start() - 1]):
                return True
    return False


def _debate_lines_and_chapters(root):
    """Each line of the debate page that names chapters, with the chapter numbers it names (as
    "(Chapter 7)", "(Chapters 4 and 7)" or a {doc} link), the link targets removed."""
    found = []
    for line in (root / "book" / "debate.md").read_text().splitlines():
        chapters = set()
        for a, b in re.findall(r"Chapters? (\d)(?: and (\d))?", line):
            chapters |= {int(a)} | ({int(b)} if b else set())
        chapters |= {int(n) for n in re.findall(r"chapters/0(\d)_", line)}
        if chapters:
            found.append((re.sub(r"<[^>]*>", "", line), chapters))
    return found


def test_debate_figures_appear_in_their_chapters(root):
    # The scoreboard and the chapter lines summarise the chapters; a figure of two digits or more
    # that the chapter it names does not hold (in prose or in the code that prints and asserts
    # it) is stale. Section numbers (§4.5) are not figures. (Checked: the scoreboard's old
    # "57 days" fails here; the chapter asserts 56.7.)
    stems = _stems(root)
    lines = _debate_lines_and_chapters(root)
    assert len(lines) >= 20, f"the pattern found only {len(lines)} debate lines naming a chapter"
    missing = {}
    for line, chapters in lines:
        source = "\n".join(_chapter_source(root, stems[n]) for n in sorted(chapters))
        for figure in set(re.findall(r"(?<![\w.§])\d+(?:[.,]\d+)*", line)):
            if len(re.sub(r"\D", "", figure)) >= 2 and not _stated(figure, source):
                missing.setdefault(line[:60], []).append(figure)
    assert not missing, missing


def _runs_alone(root):
    stems = _stems(root)
    return {
        n
        for n, stem in stems.items()
        if "runs_alone"
        in json.loads((root / "chapters" / f"{stem}.ipynb").read_text())["metadata"].get("labs", {})
    }


def test_the_live_timing_chapters_named_are_the_runs_alone_ones(root):
    # How to run lists the chapters whose asserts compare live timings; the README counts them.
    # Both must be the chapters whose metadata makes the book build run them alone.
    alone = _runs_alone(root)
    assert len(alone) >= 3, alone
    text = " ".join((root / "book" / "how_to_run.md").read_text().split())
    sentence = text[text.index("A few compare live timings:") :].split(". ")[0]
    named = {int(n) for n in re.findall(r"chapter (\d)'s", sentence)}
    named |= {0} if "the tour's" in sentence else set()
    assert named == alone, (named, alone)
    words = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    readme = " ".join((root / "README.md").read_text().split())
    counted = re.search(r"(\w+) chapters' checks rest on live timings", readme)
    assert counted and counted.group(1).lower() == words[len(alone)], (counted, len(alone))


def test_how_to_run_device_line_is_the_pinned_stack(root):
    # The example of the first cell's line is the line `labs.common.describe` prints on a CPU
    # machine with requirements.txt's torch and JAX pins.
    from labs.common.runtime import _one_line

    pins = dict(
        re.findall(r"^(torch|jax)==(\S+)", (root / "requirements.txt").read_text(), re.MULTILINE)
    )
    info = {
        "device": "cpu",
        "torch_version": pins["torch"],
        "torch_device": "cpu",
        "jax_version": pins["jax"],
        "jax_backend": "cpu",
        "jax_device_count": 1,
        "colab": False,
        "cpu_kernels": "AVX2",  # the kernels `import labs` pins on x86-64 Linux with AVX2
    }
    text = (root / "book" / "how_to_run.md").read_text()
    (shown,) = re.findall(r"^labs \| device: .*$", text, re.MULTILINE)
    assert shown == _one_line(info)


def test_fp8_capability_on_the_pages_is_the_package_gate(root):
    # The intro and how to run tell readers which GPUs run chapter 2's real FP8 GEMMs; the figure
    # is the one `labs.fp8.torch` checks before calling torch._scaled_mm.
    from labs.fp8.torch import SCALED_MM_CAPABILITY

    major, minor = SCALED_MM_CAPABILITY
    for page in ("intro.md", "how_to_run.md"):
        text = " ".join((root / "book" / page).read_text().split())
        stated = re.findall(r"compute capability (\d+)\.(\d+) or higher", text)
        assert stated == [(str(major), str(minor))], (page, stated)


# A cell marked `labs.shares_machine` runs beside another chapter's cells (tools/quiet_lock.py), so
# it must time nothing: it may call none of the course's timing and ceiling helpers, nor a clock.
TIMING_CALLS = re.compile(
    r"\b(perf_counter|process_time|monotonic|timeit|time\.time|\w*benchmark\w*|measure_\w+"
    r"|time_\w+|\w+_rounds|\w+_seconds|\w+_throughput|\w+_limits|\w+_ceilings|stream_bytes"
    r"|roofline_check|device_peaks)\s*\("
)


CLOCKS = {
    "perf_counter",
    "perf_counter_ns",
    "process_time",
    "process_time_ns",
    "monotonic",
    "timeit",
}


def labs_functions_that_time(src) -> set[str]:
    """Names of the package's functions that read a clock, themselves or through another of its
    functions; a clock read is any reference to time.perf_counter, process_time, monotonic,
    time.time or timeit, called or not.

    A call inside the package is followed to the function it names: one of its own module's, one
    it imports by name (`from labs.moe.training import train_tiny_lm`), or one of a module it
    imports (`sweep.run_config`); other calls, to a name defined once in the package only. Names
    are returned only where the package defines them once: a cell's call `run`, `check` or
    `train_tiny_lm` (defined many times, some timing, some not) cannot say which it calls."""
    import ast
    from collections import defaultdict

    root = src.parent
    modules = {
        ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
        for p in sorted(src.rglob("*.py"))
    }
    defs = {}  # (module, name) -> [calls: {(object or None, name)}, reads a clock]
    aliases = {}  # module -> {local name: a module, or (module, name) it imports}
    by_name = defaultdict(list)
    for module, path in modules.items():
        names = aliases[module] = {}
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text())
        for n in ast.walk(tree):
            if isinstance(n, ast.Import):
                for a in n.names:
                    names[a.asname or a.name.split(".")[0]] = (
                        a.name if a.asname else a.name.split(".")[0]
                    )
            elif isinstance(n, ast.ImportFrom):
                base = n.module or ""
                if n.level:
                    up = package.split(".")[: len(package.split(".")) - n.level + 1]
                    base = ".".join([*up, *([n.module] if n.module else [])])
                for a in n.names:
                    full = f"{base}.{a.name}"
                    names[a.asname or a.name] = full if full in modules else (base, a.name)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            entry = defs.setdefault((module, node.name), [set(), False])
            by_name[node.name].append((module, node.name))
            for n in ast.walk(node):
                if isinstance(n, ast.Attribute):
                    entry[1] |= n.attr in CLOCKS or (
                        n.attr == "time" and getattr(n.value, "id", "") == "time"
                    )
                elif isinstance(n, ast.Name):
                    entry[1] |= n.id in CLOCKS
                if isinstance(n, ast.Call):
                    f = n.func
                    if isinstance(f, ast.Attribute):
                        entry[0].add((getattr(f.value, "id", ""), f.attr))
                    else:
                        entry[0].add((None, getattr(f, "id", "")))
    unique = {n for n, where in by_name.items() if len(where) == 1 and not n.startswith("__")}

    def resolve(module, obj, name):
        names = aliases[module]
        if obj is None:
            target = (module, name) if (module, name) in defs else names.get(name)
            if isinstance(target, tuple) and target in defs:
                return target
        elif isinstance(names.get(obj), str) and (names[obj], name) in defs:
            return names[obj], name
        return by_name[name][0] if name in unique else None

    edges = {
        key: {t for call in calls if (t := resolve(key[0], *call)) is not None}
        for key, (calls, _) in defs.items()
    }
    timing = {key for key, (_, clock) in defs.items() if clock}
    grew = True
    while grew:
        grew = False
        for key in defs.keys() - timing:
            if edges[key] & timing:
                timing.add(key)
                grew = True
    return {name for _, name in timing if name in unique}


def called_names(source: str) -> set[str]:
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:  # a cell magic: judged by the pattern alone
        return set()
    return {
        n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
    }


# A shared cell may call a helper that times as a by-product (chapter 4's training records each
# step's CPU seconds) if its reason says that what is timed is "not read", by it or any later cell.
UNREAD = "not read"


def shared_cells_that_time(nb, timing_helpers=frozenset()) -> list[int]:
    out = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        reason = (cell.get("metadata", {}).get("labs") or {}).get("shares_machine")
        if not reason:
            continue
        source = "".join(cell["source"])
        if TIMING_CALLS.search(source):
            out.append(i)
        elif called_names(source) & timing_helpers and UNREAD not in reason:
            out.append(i)
    return out


def test_cells_that_share_the_machine_time_nothing(root):
    helpers = labs_functions_that_time(root / "src" / "labs")
    # The finder sees helpers the name pattern misses (its controls: two that read a clock).
    assert {"heads_sweep", "time_it", "measure_ceilings", "decode_benchmark"} <= helpers
    # ... and, through an imported name defined twice in the package (chapter 4's and chapter 2's
    # train_tiny_lm, only the first timing its steps), chapter 4's run_config
    assert "run_config" in helpers and "train_tiny_lm" not in helpers
    assert not {"fit_chinchilla", "new_figure", "simulate_research_program"} & helpers
    tagged = 0
    for path in sorted((root / "chapters").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        tagged += sum(
            bool((c.get("metadata", {}).get("labs") or {}).get("shares_machine"))
            for c in nb["cells"]
        )
        assert shared_cells_that_time(nb, helpers) == [], path.name
    assert tagged >= 6  # the set-up cell of each runs-alone chapter at least
    # Negative controls: a cell calling chapter 3's heads sweep (a name the pattern does not
    # catch) and the tour's head-and-pass timing cell, were they marked, are caught.
    sweep = {
        "cell_type": "code",
        "metadata": {"labs": {"shares_machine": "wrongly"}},
        "source": ["rows = heads_sweep(rounds=3)\n"],
    }
    assert TIMING_CALLS.search(sweep["source"][0]) is None
    assert shared_cells_that_time({"cells": [sweep]}, helpers) == [0]
    nb = json.loads((root / "chapters" / "00_tour.ipynb").read_text())
    timing = next(c for c in nb["cells"] if "time_head_and_pass(" in "".join(c["source"]))
    timing.setdefault("metadata", {})["labs"] = {"shares_machine": "wrongly"}
    assert shared_cells_that_time(nb) == [nb["cells"].index(timing)]
    # ... and chapter 4's live sweep, whose recorded CPU seconds later cells compare, as it was
    # marked until December 2026 ("times nothing"), is caught through run_config
    nb = json.loads((root / "chapters" / "04_moe.ipynb").read_text())
    live = next(c for c in nb["cells"] if "moe_sweep.run_config(kind, seed" in "".join(c["source"]))
    live["metadata"]["labs"] = {"shares_machine": "trains the sweep's runs, times nothing"}
    assert shared_cells_that_time(nb, helpers) == [nb["cells"].index(live)]
