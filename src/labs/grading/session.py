"""One student's sandboxed process: start it, send it calls, read its answers, stop it.

The second step of grading (`labs.grading.grade`). `_Child` is one process running
`labs.grading._sandbox` in a scratch folder, spoken to by length-prefixed messages (pickle in,
JSON out). `_Session` starts it on a submission's cells, restarts it without a cell that ran past
the time limit or ended the process, and gives otter a stand-in for each exercise function that
forwards the call: the expected values stay in the grader's process. `_decode` turns the reply
back into numbers (an answer it cannot read becomes a `StudentAnswer`, shown by its
description). Every way a case can go wrong (time limit, crash, forbidden act, the course's own
function called) is logged for the gradebook row and raised as `CaseFailed`.

Described in book/instructors.md, "Grading".
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from labs.grading.bundle import CaseFailed

# The grader's own machinery; labs.grading.grade re-exports StudentAnswer.
__all__: list[str] = []

_MAX_MESSAGE = 64 * 2**20  # a reply larger than this is not an answer


class _Stop(CaseFailed):
    """The case could not be run (time limit, process ended, sandbox violation)."""


class _Child:
    """One sandboxed process running a submission's cells."""

    def __init__(self, setup: dict, scratch: Path):
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        # Temporary files, caches and bytecode stay in (or out of) the scratch folder.
        env.update(TMPDIR=str(scratch), MPLCONFIGDIR=str(scratch), PYTHONDONTWRITEBYTECODE="1")
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")]
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-s", str(Path(__file__).with_name("_sandbox.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=scratch,
            env=env,
            start_new_session=True,
        )
        self.send(setup)

    def send(self, message) -> None:
        data = pickle.dumps(message)
        try:
            self.proc.stdin.write(struct.pack("!Q", len(data)) + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the process has ended: the reply read says so

    def _read(self, n: int, deadline: float) -> bytes:
        fd, chunks, left = self.proc.stdout.fileno(), [], n
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, min(left, 2**20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def receive(self, seconds: float) -> dict:
        """The next reply; TimeoutError past `seconds`, EOFError if the process ended."""
        deadline = time.monotonic() + seconds
        (n,) = struct.unpack("!Q", self._read(8, deadline))
        if n > _MAX_MESSAGE:
            raise EOFError
        try:
            reply = json.loads(self._read(n, deadline))
        except (ValueError, UnicodeDecodeError):  # a garbled reply: the process did not finish it
            raise EOFError from None
        if not isinstance(reply, dict):
            raise EOFError
        return reply

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class StudentAnswer:
    """An answer the sandbox could not send as numbers (its description stands in for it)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


_OWN_DTYPES = ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float16", "float32")


def _decode(d):
    kind = d.get("t") if isinstance(d, dict) else None
    if kind == "none":
        return None
    if kind == "bool":
        return bool(d["v"])
    if kind == "int":
        return int(d["v"])
    if kind == "float":
        return float(d["v"])
    if kind == "str":
        return str(d["v"])
    if kind in ("list", "tuple"):
        items = [_decode(v) for v in d["items"]]
        return items if kind == "list" else tuple(items)
    if kind == "array":
        dtype = np.dtype(str(d["dtype"]))
        if dtype.kind not in "biufc":
            return StudentAnswer(f"an array of dtype {dtype}")
        shape = tuple(int(s) for s in d["shape"])
        arr = np.frombuffer(base64.b64decode(d["b64"]), dtype=dtype).reshape(shape).copy()
        own = d.get("own")
        if own in _OWN_DTYPES:
            import ml_dtypes

            arr = arr.astype(getattr(ml_dtypes, own, None) or np.dtype(own))
        return arr[()] if arr.ndim == 0 and dtype.kind in "fiu" and own is None else arr
    return StudentAnswer(str(d.get("v", "an answer that cannot be read")))


class _Session:
    """A submission's sandboxed process, restarted after it ends or is stopped."""

    def __init__(self, setup: dict, scratch: Path, time_limit_s: float, load_limit_s: float):
        self.setup, self.scratch = setup, scratch
        self.time_limit_s, self.load_limit_s = time_limit_s, load_limit_s
        self.case_limit_s = time_limit_s
        self.child: _Child | None = None
        self.loaded: dict | None = None
        self.log: list[dict] = []
        self.stopped = False  # this exercise's remaining cases are skipped
        self.excluded: dict[str, tuple[str, str]] = {}  # cell label -> (status, why)

    def start(self) -> dict:
        """Start (or restart) the process and run the cells; the load reply.

        A cell that runs past the time limit or ends the process is left out and the process
        started again without it (`self.excluded` says why), so the other exercises still grade.
        A failure in the imports fails the whole notebook: {"failure": status, "why": ...}.
        """
        while True:
            self.close()
            cells = [c for c in self.setup["cells"] if c[0] not in self.excluded]
            self.child = _Child({**self.setup, "cells": cells}, self.scratch)
            current, limit = None, self.load_limit_s
            try:
                while True:
                    reply = self.child.receive(limit)
                    if "progress" not in reply:
                        self.loaded = reply
                        return reply
                    current = reply["progress"]
                    limit = self.load_limit_s if current == "<imports>" else self.time_limit_s
            except TimeoutError:
                failure = ("timeout", f"{current} ran for more than {limit:g} s and was stopped")
            except (EOFError, ValueError, struct.error):
                failure = (
                    "error",
                    f"{current} ended the grading process (os._exit, a crash, or too much memory)",
                )
            self.close()
            if current in (None, "<imports>"):
                self.loaded = {"failure": failure[0], "why": failure[1]}
                return self.loaded
            self.excluded[current] = failure

    def close(self) -> None:
        if self.child is not None:
            self.child.kill()
            self.child = None

    def function(self, name: str):
        def stand_in(*args, **kwargs):
            return self.call(name, args, kwargs)

        stand_in.__name__ = name
        stand_in.labs_sandboxed = True  # bounded by this session's time limit, not run_case's
        return stand_in

    def call(self, name: str, args: tuple, kwargs: dict):
        if self.stopped:
            self.log.append({"kind": "skipped"})
            raise _Stop("not run: an earlier case of this exercise stopped the process")
        if self.child is None:
            loaded = self.start()
            if "failure" in loaded:
                self.stopped = True
                self.log.append({"kind": loaded["failure"], "why": loaded["why"]})
                raise _Stop(loaded["why"])
        self.child.send({"name": name, "args": args, "kwargs": kwargs})
        try:
            reply = self.child.receive(self.case_limit_s)
        except TimeoutError:
            self.close()
            self.stopped = True
            why = f"ran for more than {self.case_limit_s:g} s and was stopped"
            self.log.append({"kind": "timeout", "why": why})
            raise _Stop(why) from None
        except (EOFError, ValueError, struct.error):
            self.close()
            self.stopped = True
            why = "ended the grading process (os._exit, a crash, or too much memory)"
            self.log.append({"kind": "error", "why": why})
            raise _Stop(why) from None
        if reply.get("violations"):
            why = f"did what the grader forbids: {reply['violations'][0]}"
            self.log.append({"kind": "violation", "why": why})
            self.stopped = True
            raise _Stop(why)
        if reply.get("tampered"):
            why = "removed the grader's call tracer (sys.setprofile)"
            self.log.append({"kind": "violation", "why": why})
            self.stopped = True
            raise _Stop(why)
        if reply.get("course_calls"):
            why = (
                f"calls the course's own implementation ({', '.join(reply['course_calls'])}) "
                "instead of writing it: the exercise scores 0"
            )
            self.log.append({"kind": "course", "why": why})
            raise CaseFailed(why)
        if reply.get("state") == "raised":
            if reply.get("exit"):
                why = "called sys.exit() (or exit()); return a value instead"
            else:
                why = f"raised {reply.get('type')}: {reply.get('text')}"
            self.log.append({"kind": "raised", "not_implemented": reply.get("not_implemented")})
            raise CaseFailed(why)
        self.log.append({"kind": "returned"})
        return _decode(reply.get("value"))
