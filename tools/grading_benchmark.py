"""Benchmark: grade 100 synthetic submissions of one chapter and report the time.

    python tools/grading_benchmark.py [--chapter mla] [--n 100] [--workers 2]

The submissions mix correct answers (60%), a wrong answer to one exercise (30%) and the stub as
released (10%). The target (issue 12): 100 submissions of one chapter in 10 minutes or less on
2 CPU cores. Prints the wall time, the time per submission and the status counts.
"""

from __future__ import annotations

import argparse
import collections
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("LABS_PROGRESS", "off")

from labs.grading import discover_chapters, grade  # noqa: E402
from tests.grading.synthetic import correct, solution_source, submission  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chapter", default="mla", help="topic (default mla)")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    chapter = {c.topic: c for c in discover_chapters()}[args.chapter]
    first = chapter.exercises[0].name
    wrong = {e.name: solution_source(chapter, e.name) for e in chapter.exercises}
    wrong[first] = f"def {first}(*args, **kwargs):\n    return 0\n"
    kinds = {"correct": correct(chapter), "one_wrong": submission(chapter, wrong)}
    kinds["stub"] = submission(chapter, {})
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "submissions", Path(tmp) / "results"
        folder.mkdir()
        for i in range(args.n):
            kind = "correct" if i % 10 < 6 else "one_wrong" if i % 10 < 9 else "stub"
            (folder / f"student_{i:03d}_{kind}.ipynb").write_text(kinds[kind])
        start = time.perf_counter()
        gradebook = grade(folder, out, workers=args.workers)
        seconds = time.perf_counter() - start
        with gradebook.open() as f:
            counts = collections.Counter(row["status"] for row in csv.DictReader(f))
    print(
        f"{args.n} submissions of {chapter.name} on {args.workers} workers "
        f"({os.cpu_count()} CPUs): {seconds:.0f} s, {seconds / args.n:.2f} s each; "
        f"statuses {dict(counts)}"
    )


if __name__ == "__main__":
    main()
