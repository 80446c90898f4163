"""Compile the course's Triton kernels for an NVIDIA GPU on a machine that has none.

Triton compiles ahead of time for a target it is told about (`GPUTarget("cuda", 90, 32)`: a
Hopper GPU, H100/H200/H800), down to PTX and the GPU binary (cubin), with the assembler it ships
(ptxas). ptxas reports what each program needs: registers per thread (at most 255; beyond that
values spill to slow local memory) and shared memory (at most 227 KB per program on Hopper).
This is as far as a CPU can take a GPU kernel: it does not say how fast the kernel runs.

The compile runs in a child process: in this one Triton may have been imported as an
interpreter (`labs.common.triton_setup`), and it cannot be both. `python -m labs.bench.aot
--serve` is that child: `compile_for_gpu` starts it once and keeps it (one JSON request per
line). Taught in chapter 8, "What a CPU can check of a GPU kernel".
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import threading

from labs.common import validate
from labs.common.facts import fact

__all__ = [
    "HOPPER_SHARED_BYTES",
    "MAX_REGISTERS",
    "T4_SHARED_BYTES",
    "TESTED_TRITON",
    "compile_for_gpu",
]

TESTED_TRITON = "3.8.0"  # the version requirements.txt pins: its compiler API is the one used here

# shared memory one thread block can address on sm_90; 32-bit registers per thread
HOPPER_SHARED_BYTES = int(fact("hopper_max_shared_per_block_kb").value) * 1024
T4_SHARED_BYTES = int(fact("turing_max_shared_per_block_kb").value) * 1024  # sm_75, Turing
MAX_REGISTERS = int(fact("cuda_max_registers_per_thread").value)
ARCHES = (75, 80, 89, 90)  # T4; A100; L4 and other Ada GPUs (FP8); H100, H200, H800
DECODE_DEFAULTS = {"heads": 128, "heads_per_block": 16, "latent": 512, "rope": 64, "block": 64}
GEMM_DEFAULTS = {"block": 128, "block_m": 64, "max_num_imprecise_acc": None}
DTYPES = {"bfloat16": "bf16", "float32": "fp32"}
FP8_MMA = re.compile(r"\b(?:wgmma|mma)\.[\w.]*e4m3")  # a tensor-core instruction on E4M3
WGMMA = re.compile(r"\bwgmma\.mma_async\b")  # Hopper's warpgroup MMA (Ampere's is mma.sync)
F32_ADD = re.compile(r"\badd\.(?:rn\.)?f32\b")  # an FP32 addition on the CUDA cores


def compile_for_gpu(kernel: str, variants: list[dict], arch: int = 90) -> list[dict]:
    """Compile `kernel` ("mla_decode" or "fp8_gemm") once per variant for sm_`arch`.

    Args:
        kernel: "mla_decode" (labs.mla.triton) or "fp8_gemm" (labs.fp8.triton).
        variants: dicts of `num_warps` (a power of two, 1 ... 32) and the kernel's compile-time
            sizes, any of {heads, heads_per_block, latent, rope, block, dtype ("bfloat16" or
            "float32")} for decoding (V3's 128 heads, d_c = 512, d_h^R = 64, pages of 64 rows,
            16 heads per program, bfloat16 by default) or {block, block_m,
            max_num_imprecise_acc} for the GEMM (128, 64 and None: see
            `labs.fp8.triton.block_scaled_matmul`); at most 16 variants.
        arch: the GPU's compute capability x 10: 90 (Hopper), 89 (Ada), 80 (A100) or 75
            (Turing: the T4).

    Returns:
        One dict per variant: its sizes, `shared_bytes`, `registers`, `spill_stores` and
        `spill_loads` (bytes per thread), `fp8_mma` (whether the PTX multiplies E4M3 on the
        tensor cores), `wgmma` (whether it uses Hopper's warpgroup MMA, `wgmma.mma_async`,
        rather than only the older `mma.sync`) and `wgmma_count` (how many the PTX holds),
        `f32_adds` (FP32 additions on the CUDA cores, where a GEMM promotes the tensor cores'
        partial sums), `ptx_lines`, `triton` (its version).
    """
    validate.one_of("kernel", kernel, ("mla_decode", "fp8_gemm"))
    validate.one_of("arch", arch, ARCHES)
    if not isinstance(variants, list) or not variants or len(variants) > 16:
        raise ValueError(f"variants must be a list of 1 to 16 dicts, got {variants!r}")
    defaults = DECODE_DEFAULTS | {"dtype": "bfloat16"} if kernel == "mla_decode" else GEMM_DEFAULTS
    requests = []
    for i, variant in enumerate(variants):
        if not isinstance(variant, dict):
            raise TypeError(f"variants[{i}] must be a dict, got {type(variant).__name__}")
        unknown = set(variant) - set(defaults) - {"num_warps"}
        if unknown:
            raise ValueError(f"variants[{i}] has unknown keys {sorted(unknown)}; known: "
                             f"{sorted(defaults) + ['num_warps']}")  # fmt: skip
        sizes = defaults | variant
        warps = validate.power_of_two(
            f"variants[{i}]['num_warps']", sizes.get("num_warps", 4), maximum=32
        )
        for name, value in sizes.items():
            if name == "dtype":
                validate.one_of(f"variants[{i}]['dtype']", value, tuple(DTYPES))
            elif name == "max_num_imprecise_acc":  # Triton's tl.dot takes at most its K
                if value is not None:
                    validate.integer(
                        f"variants[{i}][{name!r}]", value, minimum=0, maximum=sizes["block"]
                    )
            elif name != "num_warps":
                validate.power_of_two(f"variants[{i}][{name!r}]", value, maximum=4096)
        if kernel == "mla_decode" and sizes["heads"] % sizes["heads_per_block"]:
            raise ValueError(f"variants[{i}]: heads_per_block must divide heads, got {sizes}")
        requests.append({**sizes, "num_warps": warps})
    if importlib.util.find_spec("triton") is None:  # the child would fail to import it
        raise ImportError(
            "compile_for_gpu needs Triton (Linux; it comes with PyTorch's CUDA builds), and it is "
            "not installed here"
        )
    reply = _COMPILER.ask({"kernel": kernel, "arch": arch, "variants": requests})
    if "error" in reply:
        raise RuntimeError(f"compiling {kernel} for sm_{arch} failed: {reply['error']}")
    return reply["rows"]


class _Compiler:
    """The child process that compiles, started on the first request and kept for the next.

    Starting it costs about 4 CPU-s (Python, PyTorch, Triton and the kernels' modules imported),
    the compiles themselves a fraction of that; the unit tests and chapter 8 ask for about 16
    compiles, so one child per process instead of one per call saves about a minute of CPU. It
    reads one JSON request per line and answers each with one JSON line on a descriptor of its
    own (what Triton or ptxas print goes to its stderr, kept in a file for the error message).
    It exits when this process closes its stdin, at exit at the latest.
    """

    TIMEOUT_S = 600

    def __init__(self, command=None):
        self.command = command  # the child's command line: by default this module, serving
        self.proc = None
        self.stderr = None
        self.lock = threading.Lock()

    def _start(self):
        env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            self.command or [sys.executable, "-m", "labs.bench.aot", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
        )

    def _stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdin.close()
            self.proc.stdout.close()
        if self.stderr is not None:
            self.stderr.close()
        self.proc = self.stderr = None

    def _last_error_line(self) -> str:
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(no output)"

    def ask(self, request: dict) -> dict:
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            try:
                self.proc.stdin.write((json.dumps(request) + "\n").encode())
                self.proc.stdin.flush()
            except OSError:
                pass  # it died: said below
            ready, _, _ = select.select([self.proc.stdout], [], [], self.TIMEOUT_S)
            line = self.proc.stdout.readline() if ready else b""
            if not line:  # it died, or hangs: stopped, and the next request starts another
                detail = self._last_error_line()
                self._stop()
                why = "exited" if ready else f"took longer than {self.TIMEOUT_S} s"
                raise RuntimeError(
                    f"compiling {request['kernel']} for sm_{request['arch']} failed: the "
                    f"compiler's process {why}: {detail}"
                )
            return json.loads(line)


_COMPILER = _Compiler()
atexit.register(_COMPILER._stop)


def _serve() -> None:
    """In the child: answer each request line of stdin with one line on the original stdout."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else printed, by Python or by C, goes to stderr
    sys.stdout = sys.stderr
    for line in sys.stdin:
        try:
            reply = {"rows": _compile(json.loads(line))}
        except Exception as error:  # one request's failure is its answer; the child goes on
            message = f"{type(error).__name__}: {error}".strip().splitlines()
            reply = {"error": message[-1] if message else type(error).__name__}
        answers.write(json.dumps(reply) + "\n")
        answers.flush()


def _compile(request: dict) -> list[dict]:
    """In the child: Triton in compile mode, then each variant through Triton and ptxas."""
    import tempfile

    import triton  # before labs.*: triton_setup then leaves it in compile mode
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.runtime.jit import JITFunction

    kernel, arch = request["kernel"], request["arch"]
    if kernel == "mla_decode":
        from labs.mla.triton import _mla_decode_kernel as fn
    else:
        from labs.fp8.triton import _fp8_gemm_kernel as fn
    ptxas = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")
    target = GPUTarget("cuda", arch, 32)
    results = []
    for variant in request["variants"]:
        signature, constants = _signature(kernel, variant)
        names = list(signature)
        source = ASTSource(
            fn=JITFunction(fn),
            signature=signature,
            constexprs={(names.index(k),): v for k, v in constants.items()},
        )
        compiled = triton.compile(
            source, target=target, options={"num_warps": variant["num_warps"]}
        )
        ptx = compiled.asm["ptx"]
        with tempfile.NamedTemporaryFile("w", suffix=".ptx", delete=False) as f:
            f.write(ptx)
        gpu = f"sm_{arch}a" if arch == 90 else f"sm_{arch}"
        report = subprocess.run(
            [ptxas, "-v", f"--gpu-name={gpu}", f.name, "-o", os.devnull],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        os.unlink(f.name)
        results.append(
            {
                **variant,
                "arch": arch,
                "shared_bytes": int(compiled.metadata.shared),
                "registers": _number(r"Used (\d+) registers", report),
                "spill_stores": _number(r"(\d+) bytes spill stores", report),
                "spill_loads": _number(r"(\d+) bytes spill loads", report),
                "fp8_mma": bool(FP8_MMA.search(ptx)),
                "wgmma": bool(WGMMA.search(ptx)),
                "wgmma_count": len(WGMMA.findall(ptx)),
                "f32_adds": len(F32_ADD.findall(ptx)),
                "ptx_lines": ptx.count("\n"),
                "triton": triton.__version__,
            }
        )
    return results


def _number(pattern: str, report: str) -> int:
    """The first number that `pattern` finds in ptxas's report."""
    return int(re.findall(pattern, report)[0])


def _signature(kernel: str, v: dict) -> tuple[dict, dict]:
    """Triton's argument types for the kernel's parameters, and its compile-time constants."""
    if kernel == "mla_decode":
        t = DTYPES[v["dtype"]]
        signature = {
            **dict.fromkeys(("q_ptr", "qr_ptr", "c_ptr", "kr_ptr"), f"*{t}"),
            **dict.fromkeys(("table_ptr", "lengths_ptr"), "*i32"),
            **dict.fromkeys(("acc_ptr", "m_ptr", "l_ptr"), "*fp32"),
            "scale": "fp32",
            "pages_per_seq": "i32",
            "per_split": "i32",
            **dict.fromkeys(("HEADS", "HB", "C", "R", "L", "HEAD_FIRST"), "constexpr"),
        }
        constants = {"HEADS": v["heads"], "HB": v["heads_per_block"], "C": v["latent"],
                     "R": v["rope"], "L": v["block"], "HEAD_FIRST": True}  # fmt: skip
    else:
        signature = {
            "a_ptr": "*fp8e4nv",
            "a_scale_ptr": "*fp32",
            "b_ptr": "*fp8e4nv",
            "b_scale_ptr": "*fp32",
            "out_ptr": "*fp32",
            **dict.fromkeys(("m", "n", "k"), "i32"),
            **dict.fromkeys(("BLOCK", "BLOCK_M", "IMPRECISE_ACC"), "constexpr"),
        }
        constants = {
            "BLOCK": v["block"],
            "BLOCK_M": v["block_m"],
            "IMPRECISE_ACC": v["max_num_imprecise_acc"],
        }
    return signature, constants


if __name__ == "__main__":
    if sys.argv[1:] != ["--serve"]:
        sys.exit("usage: python -m labs.bench.aot --serve (compile_for_gpu starts it)")
    _serve()
