"""labs.bench.aot's compiler process: started once and kept for the next request, restarted after
it dies, stopped when it hangs. Stand-in children (a few lines of Python) play the compiler here;
the real one is tested in test_aot.py."""

import os
import sys

import pytest

from labs.bench.aot import _Compiler

SERVE = """
import json, os, sys, time
for line in sys.stdin:
    request = json.loads(line)
    if request["arch"] == 0:
        print("the compiler fell over", file=sys.stderr, flush=True)
        os._exit(3)
    if request["arch"] == 1:
        time.sleep(60)
    sys.stdout.write(json.dumps({"rows": [os.getpid()]}) + "\\n")
    sys.stdout.flush()
"""


@pytest.fixture
def compiler():
    c = _Compiler(command=[sys.executable, "-c", SERVE])
    yield c
    c._stop()


def ask(compiler, arch=90):
    return compiler.ask({"kernel": "mla_decode", "arch": arch, "variants": []})["rows"][0]


def test_one_process_answers_every_request(compiler):
    first = ask(compiler)
    assert ask(compiler) == ask(compiler) == first
    compiler._stop()  # the control: a stopped child is replaced by another process
    assert ask(compiler) != first


def test_a_child_that_dies_is_said_and_replaced(compiler):
    first = ask(compiler)
    with pytest.raises(RuntimeError, match="sm_0 failed: the compiler's process exited: the "
                       "compiler fell over"):  # fmt: skip
        ask(compiler, arch=0)
    assert compiler.proc is None
    assert ask(compiler) != first  # the next request gets a new child


def test_a_child_that_hangs_is_stopped(compiler, monkeypatch):
    monkeypatch.setattr(compiler, "TIMEOUT_S", 0.5)
    first = ask(compiler)
    proc = compiler.proc
    with pytest.raises(RuntimeError, match="sm_1 failed: the compiler's process took longer "
                       "than 0.5 s"):  # fmt: skip
        ask(compiler, arch=1)
    assert proc.poll() is not None  # killed, not left running
    assert ask(compiler) not in (first, os.getpid())
