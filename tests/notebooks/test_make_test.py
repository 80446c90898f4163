"""`make test`'s strands (tools/make_test.sh), run with a stand-in `make` and `python` that log when
each step begins and ends and fail where told: what runs beside what, what waits for what, and
which failures stop the run or only fail it at the end."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "make_test.sh"
STEP_S = 0.4  # how long each stand-in step takes: long enough for a neighbour to begin meanwhile

FAKE_MAKE = """#!/usr/bin/env bash
# make --no-print-directory TARGET...: log, take a while, fail if FAIL names a target.
shift
echo "begin $* venv=${LABS_COLAB_VENV:-}" >> "$EVENTS"
sleep $STEP_S
echo "output of $*"
echo "end $*" >> "$EVENTS"
for t in "$@"; do case " $FAIL " in *" $t "*) exit 3;; esac; done
exit 0
"""

FAKE_PYTHON = """#!/usr/bin/env bash
# python tools/colab_env.py FOLDER
echo "begin setup $2" >> "$EVENTS"
sleep $STEP_S
echo "end setup" >> "$EVENTS"
case " $FAIL " in *" setup "*) exit 4;; esac
exit 0
"""


def run(tmp_path: Path, fail: str = "") -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("make", FAKE_MAKE), ("python", FAKE_PYTHON)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    events = tmp_path / "events"
    events.unlink(missing_ok=True)
    env = {
        **os.environ,
        "MAKE": str(bin_dir / "make"),
        "PYTHON": str(bin_dir / "python"),
        "BUILD": str(tmp_path / "build"),
        "EVENTS": str(events),
        "FAIL": fail,
        "STEP_S": str(STEP_S),
    }
    env.pop("LABS_COLAB_VENV", None)
    done = subprocess.run(
        ["bash", str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    return done, events.read_text().splitlines() if events.exists() else []


def at(events: list[str], line_start: str) -> int:
    """The index of the first event that starts with `line_start`."""
    found = [i for i, e in enumerate(events) if e.startswith(line_start)]
    assert found, f"no event {line_start!r} in {events}"
    return found[0]


def side_by_side(events, a: str, b: str) -> bool:
    """Both began before either ended."""
    return max(at(events, f"begin {a}"), at(events, f"begin {b}")) < min(
        at(events, f"end {a}"), at(events, f"end {b}")
    )


def after(events, later: str, *earlier: str) -> bool:
    """`later` began after every one of `earlier` ended."""
    return all(at(events, f"begin {later}") > at(events, f"end {e}") for e in earlier)


def test_the_strands_in_order_and_side_by_side(tmp_path):
    done, events = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert side_by_side(events, "setup", "lint")
    assert after(events, "execute", "setup", "lint")
    assert side_by_side(events, "unit", "render test-site")
    assert after(events, "unit", "execute") and after(events, "render test-site", "execute")
    assert after(events, "test-colab", "unit", "render test-site")
    # the Colab chapters run in the venv the set-up made, and the folder is gone afterwards
    folder = events[at(events, "begin setup")].split()[-1]
    assert events[at(events, "begin test-colab")].endswith(f"venv={folder}")
    assert not Path(folder).exists()
    # the unit tests' output went to the log and was printed after them
    assert (tmp_path / "build" / "unit.log").read_text().strip() == "output of unit"
    assert "--- make unit" in done.stdout and "output of unit" in done.stdout
    # and each strand's end is marked, in order
    marks = [line for line in done.stdout.splitlines() if line.startswith("make test: ")]
    assert [m.split(" (")[0].removeprefix("make test: ") for m in marks] == [
        "set-up and lint done",
        "chapters done",
        "render and site test done",
        "unit tests done",
        "Colab chapters done",
    ]
    # Control: neither pair overlaps when each step must end before the next begins.
    serial = ["begin lint", "end lint", "begin setup", "end setup"]
    assert not side_by_side(serial, "setup", "lint")


@pytest.mark.parametrize("step", ["lint", "execute"])
def test_a_failing_lint_or_chapter_stops_the_run(tmp_path, step):
    done, events = run(tmp_path, fail=step)
    assert done.returncode != 0
    assert f"{step if step == 'lint' else 'a chapter'} failed" in done.stderr
    begun = {e.split(" venv=")[0].removeprefix("begin ") for e in events if e.startswith("begin")}
    assert "unit" not in begun and "test-colab" not in begun
    assert ("execute" in begun) == (step == "execute")


@pytest.mark.parametrize("step", ["unit", "test-site", "test-colab"])
def test_a_late_failure_fails_the_run_after_the_rest(tmp_path, step):
    done, events = run(tmp_path, fail=step)
    assert done.returncode != 0
    name = {"unit": "unit", "test-site": "site", "test-colab": "colab"}[step]
    assert f"make test: {name} failed (status 3)" in done.stderr
    # the others still ran, the Colab chapters last
    assert after(events, "test-colab", "unit", "render test-site")


def test_a_failed_colab_set_up_is_reported_and_the_rest_runs(tmp_path):
    done, events = run(tmp_path, fail="setup")
    assert done.returncode == 0  # the stand-in test-colab passes; the real one fails on no `ready`
    assert "the Colab path's set-up failed (status 4" in done.stderr
    assert at(events, "begin test-colab") > at(events, "end unit")
