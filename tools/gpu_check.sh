#!/usr/bin/env bash
# The one script a session with an NVIDIA GPU runs for the kernels of chapter 8 (issue 14):
# the GPU-only tests of both Pallas kernels, then the benchmark, all written under $OUT.
#
#   OUT=/tmp/out bash tools/gpu_check.sh          # from the repository root
#
# Budget: under 8 minutes on an H200 (each step has its own time limit, below; the benchmark
# saves its JSON after every problem size, so a step cut short still leaves what it measured).
# Afterwards, copy $OUT/bench_gpu.json to src/labs/bench/results/<device>.json (e.g. h200.json),
# commit it, and quote its figures and device in the issue, with the three side measurements:
# fp8_accumulation.txt (Triton's promotion), fast_accum.txt (cuBLAS's, against chapter 2's two
# readings of V3's accumulator) and grid_order.txt (chapter 8's model of L2 reuse).
# Read the benchmark's decode rows for the instruction as well as the bytes: its 16- and 32-head
# variants compile to mma.sync, not Hopper's wgmma (chapter 8, "What a CPU can check of a GPU
# kernel"), and FlashAttention-3 measured its mma.sync predecessor at about 35% of the H100's
# peak. A run that misses the roofline target where the decode is compute-bound (an H200) but
# meets it where it is memory-bound (an H100) points at the instruction, not at the bytes.
# Needs python3 with torch (CUDA), Triton, jax with its CUDA plugin, numpy, jaxtyping, pytest,
# matplotlib and hypothesis (the tests' conftest imports the last two); the package is taken from
# src/. Where JAX has no CUDA
# plugin (the environment step prints its backend), the JAX tests skip and the benchmark times
# PyTorch and Triton alone, its JAX rows saying why. A run cut short by its limit leaves
# "complete": false in the JSON, and the log says how many sizes were saved.
set -u
OUT=${OUT:-/tmp/gpu_check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # JAX would take 75% of the GPU from torch
start=$(date +%s)

echo "== environment (40 s at most)" | tee "$OUT/env.txt"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  timeout 40 "$PY" - <<'PY'
import jax, torch, numpy
print("python", __import__("sys").version.split()[0], "torch", torch.__version__,
      "cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")
print("jax", jax.__version__, "backend", jax.default_backend(), jax.devices())
print("numpy", numpy.__version__)
try:
    import triton; print("triton", triton.__version__)
except ImportError:
    print("triton: not installed")
PY
} 2>&1 | tee -a "$OUT/env.txt"

echo "== GPU tests of the kernels (110 s at most)"
timeout 110 "$PY" -m pytest -q -p no:cacheprovider -rs \
  tests/mla/test_pallas.py tests/fp8/test_pallas.py tests/mla/test_triton.py \
  tests/fp8/test_triton.py -m gpu 2>&1 | tee "$OUT/gpu_tests.txt"
echo "tests exit: ${PIPESTATUS[0]}" | tee -a "$OUT/gpu_tests.txt"

echo "== FP8 accumulation: the GEMM's error by max_num_imprecise_acc (40 s at most)"
# Triton's default on sm_90 adds a whole K-block of FP8 products in the tensor cores' reduced
# precision; 32 promotes to FP32 after every WGMMA. Chapter 8's check case, its tolerance and the
# per-tensor control's miss, so a failing tolerance above can be read against both settings.
timeout 40 "$PY" - <<'PY' 2>&1 | tee "$OUT/fp8_accumulation.txt"
import numpy as np, torch
from labs.bench.cases import GEMM_TOL, control_bar, gemm_case
from labs.fp8 import triton as fp8_triton
from labs.fp8.reference import fp8_matmul
a, b = gemm_case(0)
want = fp8_matmul(a, b, "tile", "block", "fp32", block=128)
control = fp8_matmul(a, b, "tensor", "tensor", "fp32", block=128)
scale = np.abs(want).max()
ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
for acc in (None, 128, 64, 32):
    got = fp8_triton.block_scaled_matmul(ta, tb, 128, 64, max_num_imprecise_acc=acc).cpu().numpy()
    err = float(np.abs(got - want).max() / scale)
    miss = float(np.abs(got - control).max() / scale)
    tol = GEMM_TOL["fp8_units"]
    print(f"max_num_imprecise_acc={acc}: error {err:.2e} (tolerance {tol:.0e}), control misses "
          f"by {miss:.3f} (bar {control_bar([err], tol):.3f})")
PY

echo "== cuBLAS's FP8 accumulation: use_fast_accum on chapter 2's claim-check inputs (20 s at most)"
# Chapter 2 models V3's 14-bit accumulator two ways and finds V3's "nearly 2%" at K = 4096 between
# them: (4a), the running sum in each group's alignment, 8.1-8.2%; (4b), 0.30-0.32%. cuBLAS's fast
# accumulation skips the periodic promotion to FP32 that its default does: on Hopper its error on
# positive E4M3 entries says which reading the tensor cores follow (mixed signs: the control).
timeout 20 "$PY" - <<'PY' 2>&1 | tee "$OUT/fast_accum.txt"
import torch
g = torch.Generator(device="cuda").manual_seed(0)
one = torch.ones((), device="cuda")
print(torch.cuda.get_device_name(), "torch", torch.__version__)
for signs in ("positive", "mixed"):
    for k in (1024, 4096, 16384):
        a = torch.rand(64, k, device="cuda", generator=g)
        b = torch.rand(16, k, device="cuda", generator=g)  # (N, K): its transpose is column-major
        if signs == "mixed":
            a, b = 2 * a - 1, 2 * b - 1
        qa, qb = a.to(torch.float8_e4m3fn), b.to(torch.float8_e4m3fn)
        exact = qa.double() @ qb.double().T  # the same E4M3 values, summed in float64
        errors = []
        for fast in (False, True):
            out = torch._scaled_mm(qa, qb.T, scale_a=one, scale_b=one, out_dtype=torch.float32,
                                   use_fast_accum=fast)
            errors.append(((out.double() - exact).abs() / exact.abs()).max().item())
        print(f"{signs:>8} entries, K = {k:>5}: max relative error {errors[0]:.2e} (default), "
              f"{errors[1]:.2e} (use_fast_accum=True)")
PY

echo "== MLA decode's grid order: head block first against sequence first (45 s at most)"
# Chapter 8 models the order (labs.bench.splitk.cache_read_waves): at batch 128 with the sequence
# first, a sequence's pages are read in 7.8 waves (16 heads a program) or 3.9 (32), so mostly from
# HBM; with the head block first, in one. The Triton twin at batch 128 x 32K tokens, both orders.
timeout 45 "$PY" - <<'PY' 2>&1 | tee "$OUT/grid_order.txt"
import torch
from labs.mla.triton import _as_pages, _launch
B, S, H, C, R, block = 128, 32768, 128, 512, 64, 64
g = torch.Generator(device="cuda").manual_seed(0)
def rand(*shape):
    return torch.randn(*shape, device="cuda", generator=g).to(torch.bfloat16)
q, qr = rand(B, H, C), rand(B, H, R)
c_pages, kr_pages, table = _as_pages(rand(B, S, C), rand(B, S, R), block)
lengths = torch.full((B,), S, dtype=torch.int32, device="cuda")
cache = B * S * (C + R) * 2  # bytes of the cache, read once at best
for hb in (16, 32):
    for first in (True, False):
        run = lambda: _launch(q, qr, c_pages, kr_pages, table, lengths, 0.07, 1, hb, 8, first)
        run(); torch.cuda.synchronize()
        times = []
        for _ in range(5):
            t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            t0.record(); run(); t1.record(); torch.cuda.synchronize()
            times.append(t0.elapsed_time(t1) / 1e3)
        best = min(times)
        order = "head block first" if first else "sequence first"
        print(f"{torch.cuda.get_device_name()}: {hb} heads a program, {order}: {best * 1e3:.2f} ms, "
              f"the cache at {cache / best / 1e9:.0f} GB/s (read once)")
PY

echo "== the shared timing loop on the GPU: CUDA events against the wall clock (30 s at most)"
timeout 30 "$PY" -m pytest -q -p no:cacheprovider -rs tests/common/test_ceilings.py \
  -k "cuda_events" 2>&1 | tee "$OUT/timing_tests.txt"

echo "== benchmark (195 s at most)"
timeout 195 "$PY" -m labs.bench --out "$OUT/bench_gpu.json" --sizes gpu --repeats 5 2>&1 \
  | tee "$OUT/bench_log.txt"
echo "bench exit: ${PIPESTATUS[0]}" | tee -a "$OUT/bench_log.txt"
echo "== done in $(( $(date +%s) - start )) s; files in $OUT:"
ls -l "$OUT"
