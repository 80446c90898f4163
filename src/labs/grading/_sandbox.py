"""The student's process: runs a submission's exercise cells and calls its functions on request.

Started by `labs.grading.session` as `python -m labs.grading._sandbox` in a fresh scratch folder,
one per submission. It never sees an expected value: the grader sends the inputs of a case, this
process calls the student's function and sends back the answer, encoded as plain JSON (never a
pickle, so nothing the student returns can run code in the grader). Before any student code runs:

* the pipes to the grader move to private file descriptors, and 0/1/2 go to /dev/null; Python's
  print goes to a sink that keeps the first 64 KB (megabytes of output cost nothing);
* an audit hook (which Python code cannot remove) refuses and records: writing, deleting or
  renaming outside the scratch folder, reading or listing the grader's protected folders (hidden
  cases, submissions, bundles, results), starting processes, loading native libraries through
  ctypes, and signalling other processes;
* limits: file size 16 MiB, address space 8 GiB.

A call into one of the course's own implementations of the exercise (FORBIDDEN in the hidden
bank) is recorded by a profile hook while the student's function runs.

Described in book/instructors.md, "Grading: what a submission cannot do".
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import struct
import sys
import threading

_MAX_ELEMENTS = 2_000_000  # 16 MB of float64: answers are small; a bigger one is refused
_SINK_CHARS = 65_536


class _Sink(io.TextIOBase):
    """Keeps the first 64 KB written to it and drops the rest."""

    def __init__(self) -> None:
        self.kept = 0

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        n = len(s) if isinstance(s, str) else 0
        self.kept = min(_SINK_CHARS, self.kept + n)
        return n


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _receive(fd: int):
    (n,) = struct.unpack("!Q", _read_exact(fd, 8))
    return pickle.loads(_read_exact(fd, n))  # from the grader, trusted


def _send(fd: int, message: dict) -> None:
    data = json.dumps(message).encode()
    os.write(fd, struct.pack("!Q", len(data)))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# --- The answer as plain JSON ----------------------------------------------------------------


def _type_name(value) -> str:
    try:
        return type(value).__name__
    except BaseException:  # noqa: BLE001
        return "object"


def _text(value, limit: int = 200) -> str:
    try:
        s = repr(value)
    except BaseException:  # noqa: BLE001
        s = f"<{_type_name(value)} that cannot be printed>"
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _array(arr) -> dict:
    import numpy as np

    if arr.size > _MAX_ELEMENTS:
        return {"t": "opaque", "v": f"an array of {arr.size} elements (too large to compare)"}
    kind = arr.dtype.kind
    if kind == "V" and arr.dtype.name.startswith(("bfloat", "float")):  # ml_dtypes
        data = np.array(arr.astype(np.float32), order="C")  # keeps 0-d shape
        return {
            "t": "array",
            "dtype": "float32",
            "own": arr.dtype.name,
            "shape": arr.shape,
            "b64": base64.b64encode(data.tobytes()).decode(),
        }
    if kind not in "biufcUS":
        return {"t": "opaque", "v": f"an array of dtype {arr.dtype}"}
    if kind in "US":
        return {"t": "str", "v": _text(arr.tolist() if arr.ndim == 0 else arr, 200)}
    data = np.array(arr, order="C")  # np.ascontiguousarray would make a 0-d answer 1-d
    return {
        "t": "array",
        "dtype": data.dtype.str,
        "shape": data.shape,
        "b64": base64.b64encode(data.tobytes()).decode(),
    }


def encode(value, depth: int = 0) -> dict:
    """`value` as JSON-able data the grader can rebuild without running any code."""
    import numpy as np

    if depth > 4:
        return {"t": "opaque", "v": "a structure nested too deeply"}
    if value is None:
        return {"t": "none"}
    if isinstance(value, (bool, np.bool_)):
        return {"t": "bool", "v": bool(value)}
    if type(value) is int:
        return {"t": "int", "v": str(value)}
    if type(value) is float:
        return {"t": "float", "v": repr(value)}
    if type(value) is complex:
        return {"t": "opaque", "v": f"a complex number {value!r}"}
    if type(value) is str:
        return {"t": "str", "v": value[:1000]}
    if type(value) in (tuple, list):
        if len(value) > 100_000:
            return {"t": "opaque", "v": f"a {type(value).__name__} of {len(value)} items"}
        if len(value) <= 64 and not all(
            type(v) in (int, float) for v in value
        ):  # a tuple of answers
            return {"t": type(value).__name__, "items": [encode(v, depth + 1) for v in value]}
    module = type(value).__module__.split(".")[0]
    try:
        if module == "torch" and hasattr(value, "detach"):
            import torch

            tensor = value.detach().cpu()
            if tensor.dtype == torch.bfloat16:
                import ml_dtypes

                return _array(tensor.float().numpy().astype(ml_dtypes.bfloat16))
            return _array(tensor.numpy())
        if isinstance(value, (np.ndarray, np.generic)) or module in ("jax", "jaxlib", "numpy"):
            return _array(np.asarray(value))
        if type(value) in (tuple, list):
            return _array(np.asarray(value))
    except BaseException as err:  # noqa: BLE001
        return {"t": "opaque", "v": f"{_type_name(value)} that cannot be read ({_type_name(err)})"}
    return {"t": "opaque", "v": f"{_type_name(value)}: {_text(value, 80)}"}


# --- Guards ----------------------------------------------------------------------------------

_VIOLATIONS: list[str] = []
_BLOCKED_EVENTS = {
    "os.system": "started a shell command",
    "subprocess.Popen": "started a process",
    "os.exec": "replaced the process",
    "os.posix_spawn": "started a process",
    "os.spawn": "started a process",
    "os.fork": "forked the process",
    "os.forkpty": "forked the process",
    "os.kill": "signalled another process",
    "os.killpg": "signalled other processes",
    "ctypes.call_function": "called native code through ctypes",
    "ctypes.cdata": "read raw memory through ctypes",
    "socket.connect": "opened a network connection",
}
_PATH_WRITE_EVENTS = {
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.truncate",
    "os.chmod",
    "os.chown",
    "os.utime",
    "os.symlink",
    "os.link",
    "shutil.rmtree",
    "shutil.move",
    "shutil.copyfile",
}


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _other_process(path: str) -> bool:
    """A path into another process's /proc entry (the grader's memory, for one)."""
    parts = path.split(os.sep)
    return (
        len(parts) > 2
        and parts[1] == "proc"
        and parts[2].isdigit()
        and (parts[2] != str(os.getpid()))
    )


def _install_guards(scratch: str, protected: list[str]) -> None:
    realpath = os.path.realpath
    scratch = realpath(scratch)
    protected = [realpath(p) for p in protected]

    def resolve(path) -> str | None:
        if isinstance(path, int):
            return None
        try:
            path = os.fsdecode(path)
        except (TypeError, ValueError):
            return None
        return realpath(os.path.join(scratch, path))

    def refuse(what: str) -> None:
        if len(_VIOLATIONS) < 20:
            _VIOLATIONS.append(what)
        raise PermissionError(f"the grader does not allow this: {what}")

    def hook(event: str, args: tuple) -> None:
        if event in _BLOCKED_EVENTS:
            refuse(_BLOCKED_EVENTS[event])
        elif event == "open":
            path, mode = args[0], args[1]
            full = resolve(path)
            if full is None:
                return
            if any(_inside(full, p) for p in protected) or _other_process(full):
                refuse(f"opened {full}, a file the grader protects")
            writing = isinstance(mode, str) and any(c in mode for c in "wax+")
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            writing = writing or bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if writing and not _inside(full, scratch) and full != os.devnull:
                refuse(f"wrote to {full}, outside its scratch folder")
        elif event in ("os.listdir", "os.scandir"):
            full = resolve(args[0]) if args and args[0] is not None else None
            if full is not None and any(_inside(full, p) for p in protected):
                refuse(f"listed {full}, a folder the grader protects")
        elif event in _PATH_WRITE_EVENTS:
            for path in args[:2]:
                full = resolve(path) if isinstance(path, (str, bytes, os.PathLike)) else None
                if full is not None and not _inside(full, scratch):
                    refuse(f"changed {full} ({event}), outside its scratch folder")

    sys.addaudithook(hook)


def _limit_resources() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 2**20, 16 * 2**20))
        resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))
    except (ImportError, ValueError, OSError):  # not POSIX, or a lower hard limit
        pass


# --- The course's own implementations --------------------------------------------------------


def _forbidden_keys(forbidden: dict) -> dict:
    """{(real file, function name): "module.function"} for the forbidden functions."""
    import importlib.util

    keys = {}
    for names in forbidden.values():
        for qualified in names:
            module, _, function = qualified.rpartition(".")
            try:
                spec = importlib.util.find_spec(module)
            except (ImportError, ValueError):
                spec = None
            if spec is None or not spec.origin:
                continue
            origin = os.path.realpath(spec.origin)
            keys[(origin, function)] = qualified
            keys[(origin, "_" + function)] = qualified  # its bare kernel
    return keys


def main() -> None:
    sys.dont_write_bytecode = True  # an import must not try to write next to the modules
    inbox, outbox = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    sys.stdout = sys.stderr = _Sink()
    sys.stdin = io.StringIO()
    setup = _receive(inbox)
    import numpy  # noqa: F401 - before the guards: NumPy loads native code as it imports

    scratch = setup["scratch"]
    os.chdir(scratch)
    keys = _forbidden_keys(setup["forbidden"])
    namespace: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    errors = []
    # The notebook's imports of trusted modules (NumPy, SciPy, math, labs: the grader picked
    # them), before the guards: importing them loads native code.
    label, imports = setup["imports"]
    _send(outbox, {"progress": label})
    try:
        exec(compile(imports, label, "exec"), namespace)  # noqa: S102
    except Exception as err:  # noqa: BLE001 - a misspelt module: the cells will say what fails
        errors.append(f"{label} raised {_type_name(err)}: {_text(err, 160)}")
    calls: set = set()  # the forbidden functions called since the last request
    cache: dict = {}

    def profiler(frame, event, arg):
        if event == "call":
            code = frame.f_code
            name = code.co_filename
            real = cache.get(name)
            if real is None:
                real = cache[name] = os.path.realpath(name)
            hit = keys.get((real, code.co_name))
            if hit:
                calls.add(hit)

    threading.setprofile(profiler)  # threads the cells start are watched too
    _limit_resources()
    _install_guards(scratch, setup["protected"])

    cell_violations = {}
    for label, source in setup["cells"]:
        _send(outbox, {"progress": label})  # the grader knows which cell a hang or a crash is in
        try:
            exec(compile(source, label, "exec"), namespace)  # noqa: S102 - the sandbox's job
        except BaseException as err:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
            errors.append(f"{label} raised {_type_name(err)}: {_text(err, 160)}")
        if _VIOLATIONS:
            cell_violations[label] = list(_VIOLATIONS)
            del _VIOLATIONS[:]
    defined = [n for n in setup["names"] if callable(namespace.get(n))]
    _send(outbox, {"defined": defined, "errors": errors, "cell_violations": cell_violations})

    while True:
        request = _receive(inbox)
        fn = namespace.get(request["name"])
        calls.clear()
        reply: dict = {}
        sys.setprofile(profiler)
        try:
            value = fn(*request["args"], **request["kwargs"])
            reply = {"state": "returned"}
        except BaseException as err:  # noqa: BLE001
            value = None
            reply = {"state": "raised", "type": _type_name(err), "text": _text(err, 300)}
            reply["not_implemented"] = isinstance(err, NotImplementedError)
            reply["exit"] = isinstance(err, SystemExit)
        tampered = sys.getprofile() is not profiler
        sys.setprofile(None)
        if reply["state"] == "returned":
            reply["value"] = encode(value)
        reply["course_calls"] = sorted(calls)
        reply["tampered"] = tampered
        reply["violations"] = list(_VIOLATIONS)
        del _VIOLATIONS[:]
        _send(outbox, reply)


if __name__ == "__main__":
    main()
