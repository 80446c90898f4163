"""A fuzz of labs' public API that goes past tests/hostile (the second hostile-input audit).

    PYTHONPATH=src OMP_NUM_THREADS=1 python tools/hostile_fuzz.py run --out DIR [--shard I/N]
        [--only labs.topic]
    python tools/hostile_fuzz_report.py DIR        # counts, and DIR/problems.tsv ranked
    PYTHONPATH=src python tools/hostile_fuzz.py repro KEY PARAM MUTATION

The harness in tests/hostile runs in CI and holds every public callable to its rules. This tool is
an audit, not a test: it changes ONE argument of each example in tests/hostile/examples_*.py at a
time, in ways the harness does not (NaN or inf in the LAST element, shapes that disagree with the
other arguments by one, a `meta` tensor standing in for another device, a 0-d array, 10**30 for an
int, the other float width, config fields set through `dataclasses.replace`), and records the
outcome of each call as a JSON line in DIR/results_<shard>.jsonl. Its verdicts follow the harness:
*clear* is a ValueError/TypeError raised inside labs whose text names the parameter (for a shape,
device or dtype mismatch, any parameter of the call); *unclear* is any other error; *silent* is a
return, judged further by the report (a silent acceptance is often legitimate, e.g. a 0-d array).

A per-call SIGALRM (CALL_LIMIT_S) catches Python-level hangs; the driver's watchdog kills a worker
stuck in C code (or over RSS_LIMIT_KB) and restarts it past the call that hung. Nothing in the
repository is written: the worker runs with DIR/scratch_<shard> as its working directory and HOME.
The December 2026 run (20,898 calls on 496 callables, about 6 minutes on one core) found 72 unclear
errors; the fixes it led to are pinned by tests, and a rerun after them left 6, all accepted.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import math
import os
import pkgutil
import signal
import subprocess
import sys
import time
import traceback
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CALL_LIMIT_S = 2.0
VALID_LIMIT_S = 20.0
WATCHDOG_S = 12.0  # no progress for this long: the worker is stuck in C code
RSS_LIMIT_KB = 6 * 1024 * 1024

SIZE_WORDS = (
    "n_",
    "num_",
    "d_",
    "dim",
    "size",
    "batch",
    "steps",
    "len",
    "heads",
    "layers",
    "rank",
    "tokens",
    "width",
    "depth",
    "count",
    "repeats",
    "group",
    "block",
    "tile",
    "experts",
    "k",
    "vocab",
    "hidden",
    "chunks",
    "problems",
    "samples",
    "epochs",
    "max_",
    "context",
    "bits",
    "features",
    "tensor_parallel",
    "threads",
    "every",
    "top",
)


# ------------------------------------------------------------------------------------------------
# mutations: (label, value, harmless) — harmless means a reasonable caller would expect it to work
# (or be refused clearly); acceptance of a harmless variant is not a problem.
# ------------------------------------------------------------------------------------------------


def _np():
    import numpy as np

    return np


def _is_torch(v):
    return type(v).__module__.split(".")[0] == "torch" and type(v).__name__ in (
        "Tensor",
        "Parameter",
    )


def _is_jax(v):
    mod = type(v).__module__.split(".")[0]
    if mod not in ("jax", "jaxlib"):
        return False
    import jax

    return isinstance(v, jax.Array)


def _kind(v):
    np = _np()
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (int, np.integer)):
        return "int"
    if isinstance(v, (float, np.floating)):
        return "float"
    if isinstance(v, str):
        return "str"
    if _is_torch(v):
        return (
            "torch-float"
            if v.is_floating_point()
            else ("torch-int" if v.dtype.is_signed or "int" in str(v.dtype) else "other")
        )
    if _is_jax(v):
        try:
            k = np.dtype(v.dtype).kind
        except TypeError:
            return "other"
        return (
            "jax-float"
            if k == "f" or "float" in str(v.dtype)
            else ("jax-int" if k in "iu" else "other")
        )
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "f" or "float" in v.dtype.name:
            return "np-float"
        if v.dtype.kind in "iu":
            return "np-int"
        return "other"
    if (
        isinstance(v, (list, tuple))
        and v
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
    ):
        return "numseq"
    if isinstance(v, dict) and v:
        return "dict"
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return "dataclass"
    return "other"


def scalar_mutations(v, kind):
    np = _np()
    if kind == "int":
        iv = int(v)
        yield "zero", 0, False
        yield "neg-one", -1, False
        yield "float-integral", float(iv), False
        yield "float-frac", iv + 0.5, False
        yield "bool", True, False
        yield "string", str(iv), False
        yield "int-overflow-1e30", 10**30, False
        yield "nan", math.nan, False
        yield "np-int64", np.int64(iv), True
        yield "np-float64", np.float64(iv), False
        yield "0d-array", np.array(iv), False
        yield "list", [iv], False
    elif kind == "float":
        fv = float(v)
        yield "zero", 0.0, False
        yield "negative", -abs(fv) if fv != 0 else -1.0, False
        yield "nan", math.nan, False
        yield "inf", math.inf, False
        yield "minus-inf", -math.inf, False
        yield "string", repr(fv), False
        yield "bool", True, False
        yield "np-float64", np.float64(fv), True
        yield "np-float32", np.float32(fv), True
        if fv == int(fv) if math.isfinite(fv) else False:
            yield "int-for-float", int(fv), True
        yield "int-overflow-1e30", 10**30, False
        yield "0d-array", np.array(fv), False
        yield "list", [fv], False
    elif kind == "str":
        yield "empty-string", "", False
        yield "int-for-str", 3, False
        if v != v.upper():
            yield "upper-case", v.upper(), False
        yield "whitespace", " " + v + " ", False


def _host(v):
    np = _np()
    if _is_torch(v):
        import torch

        return (
            v.detach().cpu().to(torch.float64).numpy()
            if v.is_floating_point()
            else v.detach().cpu().numpy()
        )
    return np.asarray(v)


def _like(v, host, dtype=None):
    """host (numpy) rewrapped in v's framework (and v's dtype unless dtype given)."""
    np = _np()
    if _is_torch(v):
        import torch

        t = torch.from_numpy(np.ascontiguousarray(host))
        return t.to(dtype if dtype is not None else v.dtype)
    if _is_jax(v):
        import jax.numpy as jnp

        return jnp.asarray(host, dtype=dtype if dtype is not None else v.dtype)
    return np.asarray(host, dtype=dtype if dtype is not None else v.dtype)


def array_mutations(v, kind, others_torch):
    np = _np()
    host = _host(v)
    isfloat = kind.endswith("float")
    shape = tuple(host.shape)
    if host.ndim == 0:
        return
    if isfloat:
        for label, bad in (
            ("array-nan", np.nan),
            ("array-inf", np.inf),
            ("array-minus-inf", -np.inf),
        ):
            h = host.astype(np.float64).copy().reshape(-1)
            if h.size:
                h[-1] = bad  # the LAST element (the harness poisons the first)
                yield label, _like(v, h.reshape(shape)), False
        yield "array-all-zero", _like(v, np.zeros(shape)), False
    # emptiness and zero sizes
    yield "array-empty-leading", _like(v, host[:0]), False
    if host.ndim >= 2:
        yield "array-empty-last", _like(v, host[..., :0]), False
    # rank / shape
    yield "rank-minus-one", _like(v, host[0]), False
    yield "rank-plus-trailing", _like(v, host[..., None]), False
    if shape[-1] > 1:
        yield "shape-last-minus-one", _like(v, host[..., :-1]), False
    yield "shape-last-plus-one", _like(v, np.concatenate([host, host[..., :1]], axis=-1)), False
    if host.ndim >= 2 and shape[0] > 1:
        yield "shape-first-minus-one", _like(v, host[:-1]), False
    # type
    yield "python-list", host.tolist(), False
    yield "0d-array", _like(v, host.reshape(-1)[:1].reshape(())), False
    if _is_torch(v) or _is_jax(v):
        yield "numpy-instead", host.copy(), True
    if isfloat:
        yield "bool-dtype", _like(v, host != 0, dtype=_dtype(v, "bool")), False
        if not _is_jax(v):
            yield "complex-dtype", _complex(v, host), False
        # the other float width (good unusual input: work or refuse clearly)
        other = _other_float(v)
        if other is not None:
            yield "float-width-swap", _like(v, host, dtype=other), True
        yield "float16", _like(v, host, dtype=_dtype(v, "float16")), False
        if _is_torch(v):
            import torch

            yield (
                "noncontiguous",
                torch.from_numpy(np.asfortranarray(host)).to(v.dtype)
                if host.ndim >= 2
                else _like(v, host),
                True,
            )
            yield "requires-grad", v.detach().clone().requires_grad_(True), True
            if others_torch:
                yield "device-meta", v.detach().to("meta"), False
    else:
        yield (
            "ids-float-integral",
            _like(v, host.astype(np.float64), dtype=_dtype(v, "float64")),
            False,
        )
        yield "ids-int32", _like(v, host.astype(np.int32), dtype=_dtype(v, "int32")), True
        yield (
            "ids-2pow40",
            _like(v, np.full(shape, 2**40, dtype=np.int64), dtype=_dtype(v, "int64")),
            False,
        )
        if _is_torch(v) and others_torch:
            yield "device-meta", v.detach().to("meta"), False


def _dtype(v, name):
    """The dtype called `name` in v's framework (JAX, with x64 off, keeps 32 bits)."""
    if _is_torch(v):
        import torch

        return getattr(torch, name)
    if _is_jax(v) and name.endswith("64"):
        return name.replace("64", "32")
    return name


def _other_float(v):
    if _is_torch(v):
        import torch

        return torch.float32 if v.dtype == torch.float64 else torch.float64
    if _is_jax(v):
        return None  # x64 off: float64 silently becomes float32
    return "float32" if str(v.dtype) == "float64" else "float64"


def _complex(v, host):
    np = _np()
    if _is_torch(v):
        import torch

        return torch.from_numpy(host.astype(np.complex128))
    return host.astype(np.complex128)


def numseq_mutations(v):
    np = _np()
    t = type(v)
    first = v[0]
    yield "seq-empty", t(), False
    yield "seq-inf", t([math.inf, *v[1:]]), False
    yield "seq-negative", t([-abs(first) if first != 0 else -1, *v[1:]]), False
    yield "seq-zero", t([type(first)(0), *v[1:]]), False
    yield "seq-bool", t([True, *v[1:]]), False
    yield "seq-overflow-1e30", t([10**30, *v[1:]]), False
    yield "seq-nested", t([list(v)]), False
    yield "seq-as-numpy", np.asarray(v), True
    yield "seq-other-container", (tuple(v) if t is list else list(v)), True
    yield (
        "seq-np-scalars",
        t([np.float32(x) if isinstance(x, float) else np.int64(x) for x in v]),
        True,
    )


def dict_mutations(v):
    np = _np()
    keys = list(v)
    yield "dict-missing-key", {k: v[k] for k in keys[1:]}, False
    yield "dict-extra-key", {**v, "no_such_key": v[keys[0]]}, False
    for k in keys:
        e = v[k]
        kd = _kind(e)
        if kd in ("np-float", "torch-float", "jax-float"):
            host = _host(e)
            if host.ndim >= 1:
                yield (
                    "dict-entry-shape",
                    {**v, k: _like(e, np.concatenate([host, host[..., :1]], axis=-1))},
                    False,
                )
                yield "dict-entry-rank", {**v, k: _like(e, host[0])}, False
                h = host.astype(np.float64).copy().reshape(-1)
                h[-1] = np.inf
                yield "dict-entry-inf", {**v, k: _like(e, h.reshape(host.shape))}, False
                yield "dict-entry-list", {**v, k: host.tolist()}, False
            break
        if kd == "float":
            yield "dict-entry-nan", {**v, k: math.nan}, False
            yield "dict-entry-negative", {**v, k: -abs(float(e)) - 1.0}, False
            yield "dict-entry-string", {**v, k: "x"}, False
            break
        if kd == "int":
            yield "dict-entry-negative", {**v, k: -1}, False
            yield "dict-entry-string", {**v, k: "x"}, False
            break


def dataclass_mutations(v):
    """Field-level mutations through dataclasses.replace (runs the class's own checks)."""
    for f in dataclasses.fields(v):
        if not f.init:
            continue
        cur = getattr(v, f.name, None)
        kd = _kind(cur)
        muts = []
        if kd == "int":
            muts = [
                ("zero", 0),
                ("neg-one", -1),
                ("float-frac", int(cur) + 0.5),
                ("overflow-1e30", 10**30),
                ("string", str(cur)),
            ]
        elif kd == "float":
            muts = [
                ("nan", math.nan),
                ("inf", math.inf),
                ("negative", -abs(float(cur)) - 1.0),
                ("string", repr(cur)),
            ]
        elif kd == "str":
            muts = [("empty-string", "")]
        for label, bad in muts:
            try:
                new = dataclasses.replace(v, **{f.name: bad})
            except Exception as err:  # noqa: BLE001 - the config refused it: judge the refusal
                yield f"field:{f.name}:{label}", _Refused(err, f.name), False
                continue
            yield f"field:{f.name}:{label}", new, False


class _Refused:
    """A dataclass.replace that raised: the config's own constructor judged the field."""

    def __init__(self, err, field):
        self.err = err
        self.field = field


def mutations_for(value, others_torch):
    kind = _kind(value)
    if kind in ("int", "float", "str"):
        yield from scalar_mutations(value, kind)
    elif kind in ("np-float", "np-int", "torch-float", "torch-int", "jax-float", "jax-int"):
        yield from array_mutations(value, kind, others_torch)
    elif kind == "numseq":
        yield from numseq_mutations(value)
    elif kind == "dict":
        yield from dict_mutations(value)
    elif kind == "dataclass":
        yield from dataclass_mutations(value)


# ------------------------------------------------------------------------------------------------
# judging
# ------------------------------------------------------------------------------------------------


class _Alarm(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Alarm


def _last_frame(err):
    tb = err.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    return last


def _where(err):
    last = _last_frame(err)
    if last is None:
        return "?"
    return f"{last.tb_frame.f_code.co_filename}:{last.tb_lineno}"


def _labs_frames(err):
    out = []
    tb = err.__traceback__
    while tb is not None:
        fn = tb.tb_frame.f_code.co_filename
        if "/src/labs/" in fn:
            out.append(f"{fn.split('/src/')[-1]}:{tb.tb_frame.f_code.co_name}:{tb.tb_lineno}")
        tb = tb.tb_next
    return out


def _summary(result):
    np = _np()
    try:
        if _is_torch(result) or _is_jax(result) or isinstance(result, np.ndarray):
            return f"{type(result).__name__}{tuple(result.shape)} {result.dtype}"
        r = repr(result)
        return r[:160]
    except Exception:  # noqa: BLE001
        return type(result).__name__


def _is_empty(result):
    np = _np()
    try:
        if _is_torch(result) or _is_jax(result) or isinstance(result, np.ndarray):
            return int(np.prod(result.shape)) == 0
        if isinstance(result, (list, tuple, dict, str)):
            return len(result) == 0
    except Exception:  # noqa: BLE001
        pass
    return False


def _same(a, b, depth=0):
    """True / False / None (unknown) whether two results are equal."""
    np = _np()
    if depth > 6:
        return None
    try:
        if _is_torch(a) or _is_jax(a) or isinstance(a, np.ndarray):
            ha, hb = _host(a), _host(b)
            if ha.shape != hb.shape:
                return False
            if ha.dtype.kind in "fc" or hb.dtype.kind in "fc":
                return bool(
                    np.allclose(
                        ha.astype(np.complex128),
                        hb.astype(np.complex128),
                        equal_nan=True,
                        rtol=1e-9,
                        atol=0,
                    )
                )
            return bool(np.array_equal(ha, hb))
        if isinstance(a, (float, np.floating)) and isinstance(b, (int, float, np.number)):
            return (math.isnan(a) and math.isnan(float(b))) or float(a) == float(b)
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            if len(a) != len(b):
                return False
            rs = [_same(x, y, depth + 1) for x, y in zip(a, b, strict=True)]
            return None if None in rs else all(rs)
        if isinstance(a, dict) and isinstance(b, dict):
            if set(a) != set(b):
                return False
            rs = [_same(a[k], b[k], depth + 1) for k in a]
            return None if None in rs else all(rs)
        if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b) and type(a) is type(b):
            rs = [
                _same(getattr(a, f.name), getattr(b, f.name), depth + 1)
                for f in dataclasses.fields(a)
            ]
            return None if None in rs else all(rs)
        if isinstance(a, (int, str, bool, type(None))):
            return a == b
    except Exception:  # noqa: BLE001
        return None
    return None


def judge(key, param, label, harmless, result, err, names, valid_result, valid_nonfinite, harness):
    base = dict(key=key, param=param, mutation=label, harmless=harmless)
    field = label.split(":")[1] if label.startswith("field:") else None
    if err == "hang":
        return {**base, "verdict": "hang", "detail": f"over {CALL_LIMIT_S} s"}
    if err is None:
        try:
            found = harness.nonfinite_values(result)
        except Exception as why:  # noqa: BLE001 - e.g. a meta-device result has no values
            return {
                **base,
                "verdict": "silent-harmless" if harmless else "silent",
                "flavour": "uninspectable",
                "detail": f"{_summary(result)} ({why})"[:300],
            }
        bad = [
            f"{p}: {n} NaN, {i} inf"
            for p, (n, i) in found.items()
            if n > valid_nonfinite.get(p, (0, 0))[0] or i > valid_nonfinite.get(p, (0, 0))[1]
        ]
        same = _same(result, valid_result)
        if bad:
            flavour = "nonfinite"
        elif _is_empty(result) and not _is_empty(valid_result):
            flavour = "empty"
        elif same is True:
            flavour = "same-as-valid"
        elif same is False:
            flavour = "different"
        else:
            flavour = "unknown"
        return {
            **base,
            "verdict": "silent-harmless" if harmless else "silent",
            "flavour": flavour,
            "detail": ("; ".join(bad[:3]) + " | " if bad else "") + _summary(result),
        }
    msg = f"{type(err).__name__}: {err}"
    where = _where(err)
    frames = _labs_frames(err)
    info = {"detail": msg[:400], "where": where, "labs_frames": frames[-3:]}
    if not isinstance(err, (ValueError, TypeError)):
        return {**base, "verdict": "unclear", "why": "other-type", **info}
    if "/src/labs/" not in where.replace("\\", "/"):
        return {**base, "verdict": "unclear", "why": "deep", **info}
    text = str(err)
    wanted = [param] + ([field] if field else [])
    if label.startswith(("shape-", "rank-", "dict-entry", "device-", "float-width", "float16")):
        wanted = list(names) + ([field] if field else [])
    if not any(w in text for w in wanted):
        return {**base, "verdict": "unclear", "why": "unnamed", **info}
    return {**base, "verdict": "clear", **info}


# ------------------------------------------------------------------------------------------------
# worker
# ------------------------------------------------------------------------------------------------


def load():
    sys.path.insert(0, REPO)
    from tests.hostile import harness

    callables = harness.public_callables()
    examples, accepted = {}, {}
    for info in pkgutil.iter_modules([os.path.join(REPO, "tests", "hostile")]):
        if info.name.startswith("examples_"):
            m = importlib.import_module(f"tests.hostile.{info.name}")
            examples.update(m.EXAMPLES)
            accepted.update(getattr(m, "ACCEPTED", {}))
    return harness, callables, examples, accepted


def _timed(fn, kwargs, seconds):
    import numpy as np

    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(**kwargs), None
    except _Alarm:
        return None, "hang"
    except Exception as err:  # noqa: BLE001
        return None, err
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            plt.close("all")


def worker(keys_file, out_file, progress_file, skip_file):
    harness, callables, examples, accepted = load()
    keys = [k for k in open(keys_file).read().split() if k]
    skip = set()
    if os.path.exists(skip_file):
        skip = set(line.strip() for line in open(skip_file) if line.strip())
    out = open(out_file, "a")
    prog = open(progress_file, "a")
    devnull = open(os.devnull, "w")
    for key in keys:
        if f"{key}|*" in skip:
            continue
        try:
            example = examples[key]()
            fn = harness.resolve(key, example, callables)
        except Exception as err:  # noqa: BLE001
            out.write(
                json.dumps({"key": key, "verdict": "broken-example", "detail": repr(err)[:300]})
                + "\n"
            )
            out.flush()
            continue
        so = sys.stdout
        sys.stdout = devnull
        try:
            valid_result, err = _timed(
                fn, {n: harness._copy(v) for n, v in example.kwargs.items()}, VALID_LIMIT_S
            )
        finally:
            sys.stdout = so
        if err is not None:
            out.write(
                json.dumps({"key": key, "verdict": "broken-example", "detail": repr(err)[:300]})
                + "\n"
            )
            out.flush()
            continue
        valid_nonfinite = harness.nonfinite_values(valid_result)
        try:
            sig = inspect.signature(fn)
            defaults = {n: p.default for n, p in sig.parameters.items()}
        except (TypeError, ValueError):
            defaults = {}
        names = tuple(dict.fromkeys([*example.kwargs, *defaults]))
        others_torch_any = any(_is_torch(v) for v in example.kwargs.values()) or (
            type(getattr(fn, "__self__", None)).__module__.startswith("labs")
            and hasattr(getattr(fn, "__self__", None), "state_dict")
        )
        for param, value in example.kwargs.items():
            if param in example.fixed:
                continue
            others_torch = others_torch_any and (
                any(_is_torch(v) for n, v in example.kwargs.items() if n != param)
                or hasattr(getattr(fn, "__self__", None), "state_dict")
            )
            try:
                muts = list(mutations_for(value, others_torch))
            except Exception as err:  # noqa: BLE001
                out.write(
                    json.dumps(
                        {
                            "key": key,
                            "param": param,
                            "verdict": "fuzz-error",
                            "detail": repr(err)[:300],
                        }
                    )
                    + "\n"
                )
                continue
            for label, bad, harmless in muts:
                tag = f"{key}|{param}|{label}"
                if tag in skip:
                    continue
                prog.write(tag + "\n")
                prog.flush()
                accepted_reason = None
                for hl in _harness_labels(label):
                    accepted_reason = accepted_reason or accepted.get((key, param, hl))
                if isinstance(bad, _Refused):  # the config constructor already judged it
                    rec = judge(
                        key,
                        param,
                        label,
                        harmless,
                        None,
                        bad.err,
                        names,
                        valid_result,
                        valid_nonfinite,
                        harness,
                    )
                    rec["stage"] = "config-constructor"
                else:
                    kwargs = {n: harness._copy(v) for n, v in example.kwargs.items() if n != param}
                    kwargs[param] = bad
                    t0 = time.time()
                    sys.stdout = devnull
                    try:
                        result, err = _timed(fn, kwargs, CALL_LIMIT_S)
                    finally:
                        sys.stdout = so
                    rec = judge(
                        key,
                        param,
                        label,
                        harmless,
                        result,
                        err,
                        names,
                        valid_result,
                        valid_nonfinite,
                        harness,
                    )
                    rec["seconds"] = round(time.time() - t0, 3)
                if accepted_reason:
                    rec["accepted_by_repo"] = accepted_reason[:200]
                out.write(json.dumps(rec, default=str) + "\n")
                out.flush()
        prog.write(f"{key}|*\n")
        prog.flush()


def _harness_labels(label):
    """The harness's labels for the same family of mutation (for its ACCEPTED reasons)."""
    return {
        "zero": [],
        "neg-one": ["negative-int"],
        "float-frac": ["float-for-int"],
        "float-integral": ["float-for-int"],
        "bool": ["bool-for-int"],
        "string": ["string"],
        "int-overflow-1e30": ["huge-int", "huge"],
        "nan": ["nan"],
        "inf": ["inf"],
        "minus-inf": ["minus-inf"],
        "array-nan": ["array-nan"],
        "array-inf": ["array-inf"],
        "array-empty-leading": ["array-empty", "ids-empty"],
        "ids-2pow40": ["ids-huge"],
        "seq-empty": ["sequence-empty"],
        "dict-missing-key": ["dict-empty"],
        "rank-plus-trailing": ["extra-leading-dim"],
        "empty-string": ["unknown-text"],
        "upper-case": ["unknown-text"],
        "whitespace": ["unknown-text"],
        "ids-float-integral": ["ids-float-dtype"],
    }.get(label, [])


# ------------------------------------------------------------------------------------------------
# driver
# ------------------------------------------------------------------------------------------------


def _rss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def driver(out_dir, shard, only):
    i, n = (int(x) for x in shard.split("/"))
    harness, callables, examples, accepted = load()
    keys = [k for k in sorted(examples) if not only or k.startswith(only)][i::n]
    tag = f"{i}of{n}" + (f"_{only}" if only else "")
    keys_file = f"{out_dir}/keys_{tag}.txt"
    out_file = f"{out_dir}/results_{tag}.jsonl"
    prog_file = f"{out_dir}/progress_{tag}.txt"
    skip_file = prog_file  # a restarted worker skips everything already started
    open(keys_file, "w").write("\n".join(keys))
    scratch = f"{out_dir}/scratch_{tag}"
    os.makedirs(scratch, exist_ok=True)
    env = dict(os.environ)
    env.update(HOME=scratch, MPLCONFIGDIR=scratch, XDG_CACHE_HOME=scratch, MPLBACKEND="Agg")
    src = os.path.join(REPO, "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH", "")]))
    while True:
        before = open(prog_file).read().splitlines() if os.path.exists(prog_file) else []
        if before and before[-1] == f"{keys[-1]}|*":
            break
        proc = subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                "worker",
                keys_file,
                out_file,
                prog_file,
                skip_file,
            ],
            cwd=scratch,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(f"{out_dir}/worker_{tag}.err", "a"),
        )
        last_size, last_change = -1, time.time()
        killed = None
        while proc.poll() is None:
            time.sleep(0.5)
            size = os.path.getsize(out_file) if os.path.exists(out_file) else 0
            psize = os.path.getsize(prog_file) if os.path.exists(prog_file) else 0
            if (size, psize) != last_size:
                last_size, last_change = (size, psize), time.time()
            if _rss_kb(proc.pid) > RSS_LIMIT_KB:
                killed = "memory"
            elif time.time() - last_change > WATCHDOG_S:
                killed = "stuck"
            if killed:
                proc.kill()
                proc.wait()
                break
        lines = open(prog_file).read().splitlines() if os.path.exists(prog_file) else []
        if proc.returncode == 0 and not killed:
            break
        # the worker died or was killed in the middle of the last started call
        last = lines[-1] if lines else None
        how = killed or f"died rc={proc.returncode}"
        if last and not last.endswith("|*"):
            k, p, m = last.split("|", 2)
            with open(out_file, "a") as out:
                out.write(
                    json.dumps(
                        {
                            "key": k,
                            "param": p,
                            "mutation": m,
                            "harmless": False,
                            "verdict": "hang" if killed != "memory" else "memory-blowup",
                            "detail": f"worker {how} (uninterruptible)",
                        }
                    )
                    + "\n"
                )
        else:
            # died outside a call (building the example, the valid call): skip that key
            done = {l[:-2] for l in lines if l.endswith("|*")}
            nxt = next((k for k in keys if k not in done), None)
            if nxt is None:
                break
            with open(out_file, "a") as out:
                out.write(
                    json.dumps(
                        {
                            "key": nxt,
                            "verdict": "broken-example",
                            "detail": f"worker {killed or 'died'} outside a call",
                        }
                    )
                    + "\n"
                )
            with open(prog_file, "a") as pf:
                pf.write(f"{nxt}|*\n")


def repro(key, param, label):
    """Rebuild one example, apply one named mutation, and print what the call does."""
    harness, callables, examples, _ = load()
    example = examples[key]()
    fn = harness.resolve(key, example, callables)
    others = any(_is_torch(v) for n, v in example.kwargs.items() if n != param) or hasattr(
        getattr(fn, "__self__", None), "state_dict"
    )
    bad = {m: b for m, b, _ in mutations_for(example.kwargs[param], others)}[label]
    if isinstance(bad, _Refused):
        print("the config's constructor raised:", repr(bad.err))
        return
    print("valid :", _summary(fn(**example.kwargs)))
    print("bad", param, "=", _summary(bad))
    try:
        print("result:", _summary(fn(**{**example.kwargs, param: bad})))
    except Exception:  # noqa: BLE001 - show whatever the call raised, with its traceback
        traceback.print_exc()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="fuzz every example (or those under --only)")
    run.add_argument("--out", required=True, help="folder for results, progress and scratch")
    run.add_argument("--shard", default="0/1", help="I/N: run every N-th example from the I-th")
    run.add_argument("--only", default="", help="a key prefix, e.g. labs.mla")
    one = sub.add_parser("repro", help="reproduce one row of the results")
    one.add_argument("key")
    one.add_argument("param")
    one.add_argument("mutation")
    work = sub.add_parser("worker", help=argparse.SUPPRESS)
    work.add_argument("files", nargs=4)
    args = parser.parse_args(argv)
    if args.command == "worker":
        worker(*args.files)
    elif args.command == "repro":
        repro(args.key, args.param, args.mutation)
    else:
        out_dir = os.path.abspath(args.out)
        os.makedirs(out_dir, exist_ok=True)
        driver(out_dir, args.shard, args.only)


if __name__ == "__main__":
    main(sys.argv[1:])
