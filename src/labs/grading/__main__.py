"""The grading command line: `python -m labs.grading {release,autograder,grade,check-html}`.

    python -m labs.grading release OUT                  student notebooks, checked
    python -m labs.grading autograder OUT [--hidden D] [--time-limit S] [--cell-time-limit S]
                                                        one otter autograder zip per chapter
    python -m labs.grading grade SUBMISSIONS OUT [--hidden D] [--time-limit S] [--workers N]
    python -m labs.grading check-html DIR [--hidden D]  a built book holds no solution/hidden case

Described in book/instructors.md, "Grading".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labs.grading", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    hidden_help = "folder of hidden-case files <topic>.py (default: tests/grading/hidden)"

    p = sub.add_parser("release", help="write the student notebooks of every chapter")
    p.add_argument("out", type=Path)
    p.add_argument("--hidden", type=Path, default=None, help=hidden_help)

    p = sub.add_parser("autograder", help="write one otter autograder zip per chapter")
    p.add_argument("out", type=Path)
    p.add_argument("--hidden", type=Path, default=None, help=hidden_help)
    p.add_argument("--time-limit", type=float, default=10.0, help="seconds per case (default 10)")
    p.add_argument(
        "--cell-time-limit", type=float, default=300.0, help="seconds per cell (default 300)"
    )

    p = sub.add_parser("grade", help="grade every *.ipynb under SUBMISSIONS")
    p.add_argument("submissions", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--hidden", type=Path, default=None, help=hidden_help)
    p.add_argument("--time-limit", type=float, default=10.0, help="seconds per case (default 10)")
    p.add_argument("--workers", type=int, default=2, help="submissions at a time (default 2)")

    p = sub.add_parser("check-html", help="scan a built book for solutions and hidden cases")
    p.add_argument("folder", type=Path)
    p.add_argument("--hidden", type=Path, default=None, help=hidden_help)

    args = parser.parse_args(argv)
    from labs.grading import build_autograders, discover_chapters, grade, release
    from labs.grading.release import check_text, secrets

    if args.command == "release":
        for path in release(args.out, args.hidden):
            print(f"released {path} (no solution, no hidden case)")
    elif args.command == "autograder":
        for path in build_autograders(
            args.out,
            args.hidden,
            time_limit_s=args.time_limit,
            cell_time_limit_s=args.cell_time_limit,
        ):
            print(f"wrote {path}")
    elif args.command == "grade":
        gradebook = grade(
            args.submissions,
            args.out,
            hidden=args.hidden,
            time_limit_s=args.time_limit,
            workers=args.workers,
        )
        print(f"wrote {gradebook} and {gradebook.parent / 'feedback'}/")
    else:
        pages = sorted(args.folder.rglob("*.html"))
        if not pages:
            print(f"no HTML under {args.folder}", file=sys.stderr)
            return 1
        forbidden = tuple(sorted({s for c in discover_chapters() for s in secrets(c, args.hidden)}))
        for page in pages:
            check_text(page.read_text(encoding="utf-8", errors="replace"), forbidden, str(page))
        print(f"{len(pages)} pages hold no solution and no hidden case")
    return 0


if __name__ == "__main__":
    sys.exit(main())
