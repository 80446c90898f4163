#!/usr/bin/env bash
# The one script a session with an NVIDIA GPU runs for the kernels of chapter 8 (issue 14):
# the GPU-only tests of both Pallas kernels, then the benchmark, all written under $OUT.
#
#   OUT=/tmp/out bash tools/gpu_check.sh          # from the repository root
#
# Budget: under 8 minutes on an H200 (each step has its own time limit, below; the benchmark
# saves its JSON after every problem size, so a step cut short still leaves what it measured).
# Afterwards, copy $OUT/bench_gpu.json to src/labs/bench/results/<device>.json (e.g. h200.json),
# commit it, and quote its figures and device in the issue. Needs python3 with torch (CUDA),
# Triton, jax with its CUDA plugin, numpy, jaxtyping, pytest, matplotlib and hypothesis (the
# tests' conftest imports the last two); the package is taken from src/. Where JAX has no CUDA
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

echo "== the shared timing loop on the GPU: CUDA events against the wall clock (30 s at most)"
timeout 30 "$PY" -m pytest -q -p no:cacheprovider -rs tests/common/test_ceilings.py \
  -k "cuda_events" 2>&1 | tee "$OUT/timing_tests.txt"

echo "== benchmark (300 s at most)"
timeout 300 "$PY" -m labs.bench --out "$OUT/bench_gpu.json" --sizes gpu --repeats 5 2>&1 \
  | tee "$OUT/bench_log.txt"
echo "bench exit: ${PIPESTATUS[0]}" | tee -a "$OUT/bench_log.txt"
echo "== done in $(( $(date +%s) - start )) s; files in $OUT:"
ls -l "$OUT"
