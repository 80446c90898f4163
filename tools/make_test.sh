#!/usr/bin/env bash
# `make test`, the command CI runs (.ci/run), as strands side by side where one of them would leave
# one of CI's two cores idle (times on the family-23 EPYC CI ran on in December 2026):
#   1. the Colab path's set-up (tools/colab_env.py: a wheel, a fresh venv, the newest
#      dependencies; about 110 s of pip on one core, with the machine's own python) beside the
#      creation of .venv (pip, on one core too), then lint;
#   2. the chapters (make execute) and, beside them, the Colab path's chapters (make test-colab,
#      run in the fresh venv; its output is kept in _build/colab/test.log and printed after the
#      chapters), all in one quiet lock (LABS_QUIET_LOCK, tools/quiet_lock.py): a cell that times
#      the machine pauses every other notebook's kernel, and nothing else runs beside them, so the
#      set-up is waited for first;
#   3. the unit tests (make unit; their output is kept in _build/unit.log and printed when they
#      end) beside the render, the screenshots and the site test (a browser, waiting on pages
#      half of the time); none of those times anything.
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
lock=$(mktemp -d)
trap 'rm -rf "$dir" "$lock"' EXIT
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

echo "the Colab path's chapters beside the book's; their log: $BUILD/colab/test.log"
LABS_COLAB_VENV="$dir" LABS_QUIET_LOCK="$lock" sub test-colab >"$BUILD/colab/test.log" 2>&1 &
colab_job=$!
LABS_QUIET_LOCK="$lock" sub execute
execute=$?
mark "chapters done"
wait $colab_job
colab=$?
mark "Colab chapters done"
echo "--- make test-colab ($BUILD/colab/test.log)"
cat "$BUILD/colab/test.log"
if [ $execute -ne 0 ]; then
  echo "make test: a chapter failed (above); nothing else run" >&2
  exit 1
fi

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

status=0
for step in unit site colab; do
  if [ "${!step}" -ne 0 ]; then
    echo "make test: $step failed (status ${!step})" >&2
    status=1
  fi
done
exit $status
