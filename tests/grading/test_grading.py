"""Grade a folder of synthetic submissions and check the exact gradebook.

Every chapter with exercises gets a correct submission (the reference solutions) and the stub as
released; chapters 3 (MLA) and 5 (GRPO) also get partly correct and wrong answers and every way a
submission can fail: an exception, an infinite loop, sys.exit and os._exit, invalid JSON, an empty
file, a missing exercise, megabytes of output, reading the hidden cases, writing outside its
scratch folder, overwriting the checks and `labs`, and calling the course's own implementation.
The whole folder grades in one call; the submissions folder is hashed before and after.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import json
import os
import re
import time
from pathlib import Path

import pytest

from labs.grading import STATUSES, discover_chapters, grade
from labs.grading.chapters import default_hidden_dir, is_exercise_cell, load_hidden
from tests.grading.synthetic import (
    LOOPS,
    correct,
    release_notebook,
    submission,
    with_hanging_cell,
)

CHAPTERS = {c.topic: c for c in discover_chapters()}
MLA, GRPO = CHAPTERS["mla"], CHAPTERS["grpo"]
# Per case. With 2 s, two gradebook tests failed once while the book built beside them on 2
# cores (not reproduced; a correct case running into the limit is the likely cause); 4 s leaves
# a loaded runner room.
TIME_LIMIT_S = 4.0
# 40 submissions, three of which run into a time limit, on 2 workers. Measured ~35-60 s on the
# 2 shared cores of the development machine; the bound leaves room for a loaded CI runner.
TIME_BOUND_S = 240

MLA_KV = """def cache_bytes_per_token(
    kind, n_layers, n_kv_heads, head_dim, kv_lora_rank=0, rope_head_dim=0, fp8_tile=0
):
    def stored(n):
        return 2 * n if fp8_tile == 0 else n + 4 * -(-n // fp8_tile)

    if kind == "mla":
        return n_layers * (stored(kv_lora_rank) + 2 * rope_head_dim)
    return n_layers * 2 * n_kv_heads * stored(head_dim)
"""
MLA_REPEAT = """import numpy as np


def repeat_kv(k, n_heads):
    return np.repeat(k, n_heads // k.shape[1], axis=1)
"""
MLA_BOUND = """def decode_bound(config, tensor_parallel, peak_flops_per_s, peak_bytes_per_s):
    heads = config.n_heads / tensor_parallel
    if config.kind == "mla":
        width = config.kv_lora_rank + config.rope_head_dim
        flops, nbytes = 2 * heads * (width + config.kv_lora_rank), 2 * width
    else:
        kv_heads = max(1.0, config.n_kv_heads / tensor_parallel)
        flops, nbytes = 4 * heads * config.head_dim, 4 * kv_heads * config.head_dim
    return "compute" if flops / nbytes > peak_flops_per_s / peak_bytes_per_s else "memory"
"""


BENCH = CHAPTERS["bench"]
BENCH_PAIRWISE = """import numpy as np


def combine_splits(acc, m, l):
    out_m, out_l, out_acc = m[0], l[0], acc[0]
    for k in range(1, len(m)):
        new = np.maximum(out_m, m[k])
        a, b = np.exp(out_m - new), np.exp(m[k] - new)
        out_l, out_acc = a * out_l + b * l[k], a[:, None] * out_acc + b[:, None] * acc[k]
        out_m = new
    return out_acc / out_l[:, None]
"""
BENCH_ALWAYS_FP8 = """def choose_precision(m, k, n, peaks, weight_in_fp8):
    return "fp8"
"""
BENCH_COURSE = """import numpy as np
from labs.mla.pallas import _combine


def combine_splits(acc, m, l):
    return np.asarray(_combine(acc[None], m[None], l[None])[0])
"""


def mla(**answers) -> str:
    base = {"cache_bytes_per_token": MLA_KV, "repeat_kv": MLA_REPEAT, "decode_bound": MLA_BOUND}
    base.update(answers)
    return submission(MLA, base)


def big_outputs() -> str:
    nb = json.loads(mla())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x" * 2**20}]
    return json.dumps(nb)


def untagged() -> str:
    nb = json.loads(mla())
    for cell in nb["cells"]:
        cell["metadata"] = {}  # Colab may drop tags: the "# EXERCISE" line still marks the cell
    del nb["metadata"]["labs"]
    return json.dumps(nb)


def missing_exercise() -> str:
    nb = json.loads(mla())
    nb["cells"] = [c for c in nb["cells"] if "def repeat_kv(" not in "".join(c["source"])]
    return json.dumps(nb)


def submissions(folder: Path) -> dict[str, str]:
    hidden_file = default_hidden_dir() / "mla.py"
    other = folder / "mla_correct.ipynb"
    subs = {f"{topic}_correct": correct(ch) for topic, ch in CHAPTERS.items()}
    subs |= {f"{topic}_stub": submission(ch, {}) for topic, ch in CHAPTERS.items()}
    subs |= {
        # repeat_kv with np.tile: right when each KV head serves one query head or there is one.
        "mla_partial": mla(
            repeat_kv="import numpy as np\n\ndef repeat_kv(k, n_heads):\n"
            "    return np.tile(k, (1, n_heads // k.shape[1], 1))\n",
            decode_bound="def decode_bound(config, tensor_parallel, flops, nbytes):\n"
            "    raise NotImplementedError\n",
        ),
        "grpo_wrong": submission(
            GRPO,
            {
                "advantages_from_rewards": "def advantages_from_rewards(rewards, group_size):\n"
                "    return rewards - rewards.mean()\n",
                "k3_estimator": "def k3_estimator(logp, ref_logp):\n    return logp - ref_logp\n",
                "clipped_objective": "def clipped_objective(ratio, advantage, clip_eps):\n"
                "    return ratio * advantage\n",
            },
        ),
        # Exercise 3.1 answered in elements, a slip the chapter names: the message says so.
        "mla_elements": mla(
            cache_bytes_per_token="def cache_bytes_per_token(kind, n_layers, n_kv_heads, "
            "head_dim, kv_lora_rank=0, rope_head_dim=0, fp8_tile=0):\n"
            "    if kind == 'mla':\n        return n_layers * (kv_lora_rank + rope_head_dim)\n"
            "    return n_layers * 2 * n_kv_heads * head_dim\n"
        ),
        # An answer to an earlier edition's exercise 2.1, decode_e4m3(code), now decode_float.
        "fp8_old_name": submission(
            CHAPTERS["fp8"],
            {
                "decode_float": "def decode_e4m3(code):\n    e, m = (code >> 3) & 15, code & 7\n"
                "    return 2.0 ** (e - 7) * (1 + m / 8)\n"
            },
        ),
        "mla_exception": mla(
            cache_bytes_per_token="def cache_bytes_per_token(kind, n_layers, n_kv_heads, head_dim, "
            "kv_lora_rank=0, rope_head_dim=0, fp8_tile=0):\n    return 1 / 0\n"
        ),
        # The notebook tests/grading/test_hangs.py grades with otter: 3.2 loops forever, and a
        # top-level cell that never returns (the local grader runs only exercise cells).
        "mla_infinite_loop": with_hanging_cell(mla(repeat_kv=LOOPS)),
        "mla_loop_in_cell": mla(decode_bound="while True:\n    pass\n"),
        "mla_sys_exit": mla(
            repeat_kv="import sys\n\ndef repeat_kv(k, n_heads):\n    sys.exit(0)\n"
        ),
        "mla_os_exit": mla(repeat_kv="import os\n\ndef repeat_kv(k, n_heads):\n    os._exit(0)\n"),
        "mla_os_exit_in_cell": mla(decode_bound="import os\nos._exit(0)\n"),
        "mla_missing_exercise": missing_exercise(),
        "mla_big_outputs": big_outputs(),
        "mla_prints_megabytes": mla(
            repeat_kv="import numpy as np\n\ndef repeat_kv(k, n_heads):\n"
            "    print('y' * 5_000_000)\n    return np.repeat(k, n_heads // k.shape[1], axis=1)\n"
        ),
        "mla_untagged": untagged(),
        "mla_reads_hidden": mla(
            cache_bytes_per_token="def cache_bytes_per_token(kind, n_layers, n_kv_heads, head_dim, "
            "kv_lora_rank=0, rope_head_dim=0, fp8_tile=0):\n"
            f"    text = open({str(hidden_file)!r}).read()\n    return 0\n"
        ),
        "mla_reads_hidden_in_cell": mla(
            decode_bound=f"SECRET = open({str(hidden_file)!r}).read()\n" + MLA_BOUND
        ),
        "mla_deletes_files": mla(
            repeat_kv="import os\nimport numpy as np\n\ndef repeat_kv(k, n_heads):\n"
            f"    os.remove({str(other)!r})\n"
            "    return np.repeat(k, n_heads // k.shape[1], axis=1)\n"
        ),
        "mla_writes_outside": mla(
            repeat_kv="import numpy as np\n\ndef repeat_kv(k, n_heads):\n"
            f"    open({str(folder.parent / 'planted.txt')!r}, 'w').write('x')\n"
            "    return np.repeat(k, n_heads // k.shape[1], axis=1)\n"
        ),
        # Overwrite everything the instant checks and the comparison use, then answer wrongly.
        "mla_tampers": mla(
            cache_bytes_per_token="import numpy\nimport labs.common.exercises as E\n"
            "import labs.mla.exercises as X\n"
            "E.compare = lambda *a, **k: None\nE.check = lambda *a, **k: None\n"
            "X.check_cache_bytes_per_token = lambda fn: 'passed'\n"
            "X.CACHE_BYTES_PER_TOKEN.cases[0].__dict__['expected'] = 0\n"
            "numpy.isclose = lambda *a, **k: numpy.ones(1, bool)\n"
            "numpy.allclose = lambda *a, **k: True\n"
            "import builtins\nbuiltins.AssertionError = type('Never', (Exception,), {})\n"
            "def cache_bytes_per_token(kind, n_layers, n_kv_heads, head_dim, kv_lora_rank=0, "
            "rope_head_dim=0, fp8_tile=0):\n    return 0\n"
        ),
        "grpo_uses_course": submission(
            GRPO,
            {
                "advantages_from_rewards": "from labs.grpo import group_advantages\n\n"
                "def advantages_from_rewards(rewards, group_size):\n"
                "    return group_advantages(rewards, group_size)\n"
            },
        ),
        "grpo_course_in_thread": submission(
            GRPO,
            {
                "advantages_from_rewards": "import threading\n\n"
                "from labs.grpo.reference import group_advantages\n\n"
                "def advantages_from_rewards(rewards, group_size):\n"
                "    box = []\n"
                "    worker = threading.Thread(\n"
                "        target=lambda: box.append(group_advantages(rewards, group_size))\n"
                "    )\n"
                "    worker.start()\n"
                "    worker.join()\n"
                "    return box[0]\n"
            },
        ),
        # Answers as a NumPy scalar and as a float32 torch tensor: both read right.
        "tour_numpy_scalar": submission(
            CHAPTERS["tour"],
            {
                "log_sum_exp": "import numpy as np\n\ndef log_sum_exp(x, axis=-1):\n"
                "    x = np.asarray(x, dtype=np.float64)\n"
                "    m = np.max(x, axis=axis, keepdims=True)\n"
                "    m = np.where(np.isfinite(m), m, 0.0)\n"
                "    with np.errstate(divide='ignore'):\n"
                "        s = np.log(np.sum(np.exp(x - m), axis=axis))\n"
                "    out = s + np.squeeze(m, axis=axis)\n"
                "    return np.float64(out) if out.ndim == 0 else out\n"
            },
        ),
        "grpo_torch": submission(
            GRPO,
            {
                "k3_estimator": "import torch\n\ndef k3_estimator(logp, ref_logp):\n"
                "    r = torch.exp(torch.tensor(ref_logp - logp, dtype=torch.float32))\n"
                "    return r - torch.log(r) - 1\n"
            },
        ),
        "mla_removes_tracer": mla(
            repeat_kv="import sys\nimport numpy as np\n\ndef repeat_kv(k, n_heads):\n"
            "    sys.setprofile(None)\n"
            "    return np.repeat(k, n_heads // k.shape[1], axis=1)\n"
        ),
        # Chapter 8: a merge chunk by chunk (NaN where two empty chunks meet), a constant choice.
        "bench_partial": submission(
            BENCH, {"combine_splits": BENCH_PAIRWISE, "choose_precision": BENCH_ALWAYS_FP8}
        ),
        "bench_uses_course": submission(BENCH, {"combine_splits": BENCH_COURSE}),
    }
    return subs


def write_submissions(folder: Path) -> None:
    for name, text in submissions(folder).items():
        (folder / f"{name}.ipynb").write_text(text, encoding="utf-8")
    (folder / "not_json.ipynb").write_text('{"cells": [', encoding="utf-8")
    (folder / "empty.ipynb").write_bytes(b"")
    (folder / "no_chapter.ipynb").write_text(json.dumps({"cells": [], "metadata": {}}))
    (folder / "section_b").mkdir()
    (folder / "section_b" / "carol.ipynb").write_text(correct(CHAPTERS["tour"]))


def tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    out = tmp_path_factory.mktemp("results")
    write_submissions(folder)
    before = tree_hash(folder)
    start = time.perf_counter()
    gradebook = grade(folder, out, time_limit_s=TIME_LIMIT_S, workers=2)
    seconds = time.perf_counter() - start
    with gradebook.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {"folder": folder, "out": out, "rows": rows, "before": before, "seconds": seconds}


def table(rows, student: str) -> list[tuple]:
    return [
        (r["exercise"], r["points"], r["max_points"], r["status"])
        for r in rows
        if r["student"] == student
    ]


def message(rows, student: str, exercise: str) -> str:
    (row,) = [r for r in rows if r["student"] == student and r["exercise"] == exercise]
    return row["message"]


MLA_FULL = [
    ("cache_bytes_per_token", "13", "13", "passed"),
    ("repeat_kv", "6", "6", "passed"),
    ("decode_bound", "15", "15", "passed"),
]

EXPECTED = {
    "mla_partial": [
        ("cache_bytes_per_token", "13", "13", "passed"),
        ("repeat_kv", "2", "6", "failed"),  # public 3 (MQA) and 4 (MHA): tile == repeat there
        ("decode_bound", "0", "15", "not_attempted"),
    ],
    "grpo_wrong": [
        ("advantages_from_rewards", "0", "6", "failed"),
        ("k3_estimator", "2", "5", "failed"),  # policy == reference (twice): log ratio 0 is right
        ("clipped_objective", "2", "6", "failed"),  # ratios inside the clip range; zero advantages
        ("choose_group_size", "0", "11", "not_attempted"),
    ],
    "mla_exception": [("cache_bytes_per_token", "0", "13", "failed"), *MLA_FULL[1:]],
    "mla_infinite_loop": [MLA_FULL[0], ("repeat_kv", "0", "6", "timeout"), MLA_FULL[2]],
    # The cell is left out and the others still grade.
    "mla_loop_in_cell": [*MLA_FULL[:2], ("decode_bound", "0", "15", "timeout")],
    "mla_sys_exit": [MLA_FULL[0], ("repeat_kv", "0", "6", "failed"), MLA_FULL[2]],
    "mla_os_exit": [MLA_FULL[0], ("repeat_kv", "0", "6", "error"), MLA_FULL[2]],
    "mla_os_exit_in_cell": [*MLA_FULL[:2], ("decode_bound", "0", "15", "error")],
    "mla_missing_exercise": [MLA_FULL[0], ("repeat_kv", "0", "6", "not_attempted"), MLA_FULL[2]],
    "mla_big_outputs": MLA_FULL,
    "mla_prints_megabytes": MLA_FULL,
    "mla_untagged": MLA_FULL,
    "mla_reads_hidden": [("cache_bytes_per_token", "0", "13", "error"), *MLA_FULL[1:]],
    "mla_reads_hidden_in_cell": [*MLA_FULL[:2], ("decode_bound", "0", "15", "error")],
    "mla_deletes_files": [MLA_FULL[0], ("repeat_kv", "0", "6", "error"), MLA_FULL[2]],
    "mla_writes_outside": [MLA_FULL[0], ("repeat_kv", "0", "6", "error"), MLA_FULL[2]],
    "mla_tampers": [("cache_bytes_per_token", "0", "13", "failed"), *MLA_FULL[1:]],
    "grpo_uses_course": [
        ("advantages_from_rewards", "0", "6", "failed"),
        ("k3_estimator", "0", "5", "not_attempted"),
        ("clipped_objective", "0", "6", "not_attempted"),
        ("choose_group_size", "0", "11", "not_attempted"),
    ],
    "grpo_course_in_thread": [
        ("advantages_from_rewards", "0", "6", "failed"),
        ("k3_estimator", "0", "5", "not_attempted"),
        ("clipped_objective", "0", "6", "not_attempted"),
        ("choose_group_size", "0", "11", "not_attempted"),
    ],
    "mla_removes_tracer": [MLA_FULL[0], ("repeat_kv", "0", "6", "error"), MLA_FULL[2]],
    # public 5 of 6 (the two leading empty chunks give NaN) and hidden 4 of 4; "fp8" is right in
    # public cases 1, 4 and 6 and hidden cases 1 and 3
    "bench_partial": [
        ("combine_splits", "9", "10", "failed"),
        ("choose_precision", "5", "15", "failed"),
        ("cache_bound", "0", "10", "not_attempted"),
    ],
    "bench_uses_course": [
        ("combine_splits", "0", "10", "failed"),
        ("choose_precision", "0", "15", "not_attempted"),
        ("cache_bound", "0", "10", "not_attempted"),
    ],
    "tour_numpy_scalar": [("log_sum_exp", "4", "4", "passed")],
    "grpo_torch": [
        ("advantages_from_rewards", "0", "6", "not_attempted"),
        ("k3_estimator", "5", "5", "passed"),
        ("clipped_objective", "0", "6", "not_attempted"),
        ("choose_group_size", "0", "11", "not_attempted"),
    ],
    "mla_elements": [("cache_bytes_per_token", "0", "13", "failed"), *MLA_FULL[1:]],
    "fp8_old_name": [
        ("decode_float", "0", "28", "not_attempted"),
        ("choose_granularity", "0", "7", "not_attempted"),
        ("v3_accumulate", "0", "10", "not_attempted"),  # 8 public cases and 2 hidden, a point each
    ],
    "not_json": [("", "0", "0", "invalid_submission")],
    "empty": [("", "0", "0", "invalid_submission")],
    "no_chapter": [("", "0", "0", "invalid_submission")],
    "section_b/carol": [("log_sum_exp", "4", "4", "passed")],
}


def expected_rows() -> dict[str, list[tuple]]:
    rows = dict(EXPECTED)
    for topic, chapter in CHAPTERS.items():
        bank = load_hidden(chapter)
        full, stub = [], []
        for exercise in chapter.exercises:
            n = len(exercise.cases) + len(bank.hidden[exercise.name])
            points = f"{bank.points.get(exercise.name, n):g}"
            full.append((exercise.name, points, points, "passed"))
            stub.append((exercise.name, "0", points, "not_attempted"))
        rows[f"{topic}_correct"], rows[f"{topic}_stub"] = full, stub
    return rows


def test_the_gradebook_is_exactly_as_expected(graded):
    rows = graded["rows"]
    assert list(rows[0]) == ["student", "chapter", "exercise", "points", "max_points", "status",
                             "message"]  # fmt: skip
    got = {student: table(rows, student) for student in {r["student"] for r in rows}}
    expected = expected_rows()
    differ = sorted(s for s in got.keys() | expected.keys() if got.get(s) != expected.get(s))
    # The gradebook's messages say why a row differs (a grader failure names its exception).
    why = [
        (r["student"], r["exercise"], r["status"], r["message"])
        for r in rows
        if r["student"] in differ
    ]
    assert got == expected, f"students whose rows differ: {differ}; their messages: {why}"
    assert {r["status"] for r in rows} == set(STATUSES)
    for r in rows:  # the chapter column: the submission's chapter, or empty when invalid
        topic = "tour" if r["student"] == "section_b/carol" else r["student"].split("_")[0]
        assert r["chapter"] == (CHAPTERS[topic].name if r["exercise"] else "")


def test_every_chapter_with_exercises_is_covered():
    covered = {name.split("_")[0] for name in expected_rows()}
    assert set(CHAPTERS) <= covered


def test_the_messages_say_why(graded):
    rows = graded["rows"]
    assert "ZeroDivisionError" in message(rows, "mla_exception", "cache_bytes_per_token")
    assert "was stopped" in message(rows, "mla_infinite_loop", "repeat_kv")
    assert "sys.exit" in message(rows, "mla_sys_exit", "repeat_kv")
    assert "os._exit" in message(rows, "mla_os_exit", "repeat_kv")
    assert "os._exit" in message(rows, "mla_os_exit_in_cell", "decode_bound")
    assert "was stopped" in message(rows, "mla_loop_in_cell", "decode_bound")
    assert "not valid notebook JSON" in message(rows, "not_json", "")
    # A slip the exercise names is named in the gradebook (and the feedback), not only "wrong".
    assert "your count is half the bytes" in message(rows, "mla_elements", "cache_bytes_per_token")
    assert "your count is" not in message(rows, "mla_partial", "repeat_kv")  # control
    # An exercise renamed since an earlier edition: the row says so and gives the new name.
    renamed = message(rows, "fp8_old_name", "decode_float")
    assert "decode_e4m3" in renamed and "renamed" in renamed and "decode_float(code" in renamed
    assert "renamed" not in message(rows, "mla_missing_exercise", "repeat_kv")  # control
    assert "empty" in message(rows, "empty", "")
    assert "no function 'repeat_kv'" in message(rows, "mla_missing_exercise", "repeat_kv")
    assert "protects" in message(rows, "mla_reads_hidden", "cache_bytes_per_token")
    assert "protects" in message(rows, "mla_reads_hidden_in_cell", "decode_bound")
    assert "outside its scratch folder" in message(rows, "mla_deletes_files", "repeat_kv")
    assert "outside its scratch folder" in message(rows, "mla_writes_outside", "repeat_kv")
    assert "course's own implementation" in message(
        rows, "grpo_uses_course", "advantages_from_rewards"
    )
    assert "labs.grpo.reference.group_advantages" in message(
        rows, "grpo_uses_course", "advantages_from_rewards"
    )
    assert "expected" in message(rows, "mla_tampers", "cache_bytes_per_token")
    assert "course's own" in message(rows, "grpo_course_in_thread", "advantages_from_rewards")
    assert "call tracer" in message(rows, "mla_removes_tracer", "repeat_kv")
    assert "labs.mla.pallas._combine" in message(rows, "bench_uses_course", "combine_splits")


def test_the_submissions_folder_is_unchanged(graded):
    assert tree_hash(graded["folder"]) == graded["before"]
    assert not (graded["folder"].parent / "planted.txt").exists()


def test_grading_is_fast_enough(graded):
    assert graded["seconds"] < TIME_BOUND_S, f"graded in {graded['seconds']:.0f} s"


def test_feedback_per_student_hides_the_hidden_cases(graded):
    feedback = graded["out"] / "feedback"
    files = sorted(p.name for p in feedback.iterdir())
    assert len(files) == len({r["student"] for r in graded["rows"]})
    text = (feedback / "mla_partial.md").read_text()
    assert "repeat_kv public 1: failed: (2 KV heads for 4 query heads)" in text
    assert "repeat_kv hidden 1: failed\n" in text
    bank = load_hidden(MLA)
    for cases in bank.hidden.values():
        for case in cases:
            assert case.label not in text
    assert "section_b__carol.md" in files


def test_a_chapter_without_hidden_cases_fails(tmp_path):
    """A new chapter's exercises need a hidden-case file: loading the bank refuses without it."""
    with pytest.raises(ValueError, match="no hidden cases"):
        load_hidden(MLA, tmp_path)
    (tmp_path / "mla.py").write_text('HIDDEN = {"cache_bytes_per_token": ()}\n')
    with pytest.raises(ValueError, match="has no hidden case"):
        load_hidden(MLA, tmp_path)


@pytest.mark.parametrize("topic", sorted(CHAPTERS))
def test_every_chapter_has_hidden_cases_for_every_exercise(topic):
    bank = load_hidden(CHAPTERS[topic])
    assert {e.name for e in CHAPTERS[topic].exercises} == set(bank.hidden)


def test_release_notebook_helper_marks_the_chapter():
    assert release_notebook(MLA)["metadata"]["labs"]["topic"] == "mla"


def test_a_grader_failure_is_retried_and_then_named_never_dropped(tmp_path, monkeypatch):
    """The grader's own failure on a file: tried again after a pause; if it persists, the row says
    which exception, and the submission is still listed and unchanged."""
    grading = importlib.import_module("labs.grading.grade")  # the module, not the function

    folder, out = tmp_path / "subs", tmp_path / "out"
    folder.mkdir()
    tour = CHAPTERS["tour"]
    (folder / "flaky.ipynb").write_text(correct(tour), encoding="utf-8")
    (folder / "broken.ipynb").write_text(correct(tour), encoding="utf-8")
    before = tree_hash(folder)
    real, calls = grading._grade_notebook, []

    def failing(path, *, student, **kwargs):
        calls.append(student)
        if student == "broken" or calls.count(student) == 1:
            raise OSError(f"an injected failure for {student}")
        return real(path, student=student, **kwargs)

    monkeypatch.setattr(grading, "_grade_notebook", failing)
    monkeypatch.setattr(grading, "_RETRY_WAIT_S", 0.0)
    with open(grade(folder, out, time_limit_s=TIME_LIMIT_S, workers=1), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(calls) == ["broken"] * grading._ATTEMPTS + ["flaky"] * 2
    assert table(rows, "flaky") == expected_rows()["tour_correct"]
    assert table(rows, "broken") == [("", "0", "0", "invalid_submission")]
    # The message names the exception and where it was raised (the test's own function here).
    assert re.search(
        r"OSError at test_grading\.py:\d+ in failing: an injected failure for broken",
        message(rows, "broken", ""),
    )
    assert tree_hash(folder) == before


def _sandboxes_of_this_process() -> list[int]:
    """The grader's student processes still alive under this test process (from /proc)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if b"_sandbox.py" in cmdline and parent == os.getpid() and " Z " not in stat:
            alive.append(int(entry.name))
    return alive


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_a_grader_failure_leaves_no_student_process_running(tmp_path, monkeypatch):
    grading = importlib.import_module("labs.grading.grade")
    session = importlib.import_module("labs.grading.session")  # where _Child lives
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "one.ipynb").write_text(correct(CHAPTERS["tour"]), encoding="utf-8")

    def failing(*args, **kwargs):
        raise RuntimeError("an injected failure after the student's process started")

    monkeypatch.setattr(grading, "_exercise_rows", failing)
    monkeypatch.setattr(grading, "_RETRY_WAIT_S", 0.0)
    started = []
    real_child = session._Child

    def counting_child(*args, **kwargs):
        started.append(1)
        return real_child(*args, **kwargs)

    monkeypatch.setattr(session, "_Child", counting_child)
    with open(grade(folder, tmp_path / "out", time_limit_s=TIME_LIMIT_S), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(started) == grading._ATTEMPTS  # the control: a process was started each time
    assert table(rows, "one") == [("", "0", "0", "invalid_submission")]
    assert _sandboxes_of_this_process() == []


@pytest.mark.parametrize("topic", sorted(CHAPTERS))
def test_exercises_are_in_the_order_of_the_notebooks_cells(topic):
    """The grader gives the k-th marked cell to the k-th exercise (a cell that hangs or fails
    without defining its function is charged to its owner), so the orders must agree."""
    chapter = CHAPTERS[topic]
    nb = release_notebook(chapter)
    asked = [
        name
        for cell in nb["cells"]
        if is_exercise_cell(cell)
        for name in [e.name for e in chapter.exercises]
        if f"def {name}(" in "".join(cell["source"])
    ]
    assert asked == [e.name for e in chapter.exercises]
