#!/usr/bin/env bash
# `make test`, the command CI runs (.ci/run), as strands side by side where one of them would leave
# one of CI's two cores idle (times on the family-23 EPYC CI ran on in December 2026):
#   1. the Colab path's set-up (tools/colab_env.py: a wheel, a fresh venv, the newest
#      dependencies, with the machine's own python; about 40 s) beside the creation of .venv
#      (about 45 s), then lint (both install with uv, tools/uv_pip.py; with pip they took 110 and
#      90 s);
#   2. the chapters (make execute): nothing beside them, since their timed cells pause the other
#      chapter's kernel and nothing else (tools/quiet_lock.py), so the set-up is waited for first;
#   3. the unit tests (make unit; their output is kept in _build/unit.log and printed when they
#      end) beside the render, the screenshots and the site test (a browser, waiting on pages
#      half of the time); none of those times anything;
#   4. the Colab path's chapters with the machine to themselves, since they assert live timings.
#      (Run beside the book's chapters in one quiet lock instead, the two took 515 s against 411 +
#      78 = 489 s one after the other, measured back to back on that processor in December 2026:
#      three notebooks on two cores cost more than the idle core they would fill.)
# A failing lint or chapter stops the run there; a failing unit, site or Colab test fails it at
# the end, after the others have run, so that one run reports them all.
#
# Written as a script rather than in the Makefile's recipe so that `make -n test` prints what it
# would run instead of running it (make runs any recipe line that names $(MAKE), even under -n),
# and so that tests/notebooks/test_make_test.py can run it with a stand-in `make`.
#
#   tools/make_test.sh      MAKE: the make to call (default make); PYTHON: the python that sets up
#                           the Colab path (default python3); BUILD: the log folder (default _build)
set -u
MAKE=${MAKE:-make}
PYTHON=${PYTHON:-python3}
BUILD=${BUILD:-_build}
sub() { $MAKE --no-print-directory "$@"; }
mark() { echo "make test: $* (${SECONDS} s since the start)"; }

mkdir -p "$BUILD/colab"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$PYTHON" tools/colab_env.py "$dir" >"$BUILD/colab/setup.out" 2>&1 &
setup=$!
sub lint
lint=$?
wait $setup
set_up=$?
cat "$BUILD/colab/setup.out"
mark "set-up and lint done"
if [ $lint -ne 0 ]; then
  echo "make test: lint failed (status $lint); nothing else run" >&2
  exit 1
fi
if [ $set_up -ne 0 ]; then
  echo "make test: the Colab path's set-up failed (status $set_up, its log above);" \
    "test-colab will report it" >&2
fi

sub execute || {
  echo "make test: a chapter failed (above); nothing else run" >&2
  exit 1
}
mark "chapters done"

echo "unit tests beside the render and the site test; their log: $BUILD/unit.log"
sub unit >"$BUILD/unit.log" 2>&1 &
unit_job=$!
sub render test-site
site=$?
mark "render and site test done"
wait $unit_job
unit=$?
mark "unit tests done"
echo "--- make unit ($BUILD/unit.log)"
cat "$BUILD/unit.log"

LABS_COLAB_VENV="$dir" sub test-colab
colab=$?
mark "Colab chapters done"

status=0
for step in unit site colab; do
  if [ "${!step}" -ne 0 ]; then
    echo "make test: $step failed (status ${!step})" >&2
    status=1
  fi
done
exit $status
