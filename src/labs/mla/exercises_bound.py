"""Chapter 3, exercise 3.3 `decode_bound`, with its instant check: a decision: is one decode step
memory- or compute-bound, given a configuration, a device and a tensor-parallel degree?

Its public names are re-exported from `labs.mla.exercises`, where the chapter and the grader look
for it. Expected values are worked by hand in the comment beside each case.
"""

from __future__ import annotations

from labs.common.exercises import Case, CheckReport, Exercise, check
from labs.mla.config import DEEPSEEK_67B, DEEPSEEK_V3

# --- 3.3, decode_bound ----------------------------------------------------------------------------
# Absorbed MLA decode at V3's shape with h heads on a device: 2 h S (576 + 512) FLOPs for 1,152 S
# bytes (BF16), i.e. 1.889 h FLOPs per byte; compute-bound when that exceeds peak FLOP/s / bytes/s.
H800 = (989.5e12, 3.35e12)  # BF16 dense, HBM3: ridge 295.4 FLOPs/byte
T4 = (65e12, 320e9)  # FP16 tensor cores, GDDR6: ridge 203.1 FLOPs/byte
TPU_V5E = (197e12, 819e9)  # BF16, HBM2: ridge 240.5 FLOPs/byte
SLOW_CPU = (50e9, 10e9)  # a CPU thread: ridge 5 FLOPs/byte

# One wrong answer per case, so each case's message names one slip. The cases run in this order,
# so that a solution making one slip first fails where its message is the diagnosis: a ridge point
# upside down (cases 1 and 2: two devices so lopsided that any sane count lands on one side), the
# naive path (case 5), tensor parallelism ignored or bytes split too (6), FlashMLA's rounded
# 2 n_h (7), GQA's KV heads not split (10) or split below one per device (11). Eleven cases, as
# before the probes came in (the grader's points count them): the probes replaced two cases whose
# lessons others teach, tensor parallelism 8 on an H800 (taught by case 6) and DeepSeek 67B on an
# H800 (the GQA count, taught by cases 9 to 11).
_INVERTED_RIDGE = (
    "your ridge point is upside down: a step is compute-bound when its FLOPs per byte exceed the "
    "device's peak FLOP/s divided by its peak bytes/s (not bytes/s over FLOP/s). On this device "
    "{device} no count of FLOPs per byte, absorbed or naive, lands on the other side."
)
_TP_MLA = (
    "your function calls it compute-bound as if each device kept all 128 heads' intensity: with "
    "tensor parallelism 2 each T4 runs 64 heads, but every device still reads the whole latent "
    "cache (the latent has no head index), so FLOPs per device halve and bytes do not: "
    "1.889 x 64 = 120.9 FLOPs per byte < 203.1. Divide the heads by tensor_parallel, not the bytes."
)
DECODE_BOUND = Exercise(
    name="decode_bound",
    signature=(
        "decode_bound(config, tensor_parallel, peak_flops_per_s, peak_bytes_per_s) -> str "
        "('memory' or 'compute')"
    ),
    cases=(
        Case(
            args=(DEEPSEEK_V3, 1, 1e18, 1.0),
            expected="memory",  # ridge 1e18 FLOPs/byte: no decode step reaches it
            label="a probe: DeepSeek-V3 on a device of 1e18 FLOP/s and 1 byte/s",
            hint="the ridge point is peak FLOP/s / peak bytes/s = 1e18 FLOPs per byte.",
            mistakes=(
                ("compute", _INVERTED_RIDGE.format(device="(ridge point 1e18 FLOPs per byte)")),
            ),
        ),
        Case(
            args=(DEEPSEEK_V3, 1, 1.0, 1e18),
            expected="compute",  # ridge 1e-18 FLOPs/byte: any step with arithmetic is above it
            label="a probe: DeepSeek-V3 on a device of 1 FLOP/s and 1e18 bytes/s",
            hint="the ridge point is peak FLOP/s / peak bytes/s = 1e-18 FLOPs per byte.",
            mistakes=(
                ("memory", _INVERTED_RIDGE.format(device="(ridge point 1e-18 FLOPs per byte)")),
            ),
        ),
        Case(
            args=(DEEPSEEK_V3, 1, *TPU_V5E),
            expected="compute",  # 1.889 x 128 = 241.8 > 240.5: over the ridge point by 0.5%
            label="DeepSeek-V3, all 128 heads on one TPU v5e (197 TFLOP/s, 819 GB/s)",
            hint="count exactly: FLOPs / bytes = 2 n_h (d_c + d_h^R + d_c) / ((d_c + d_h^R) x 2) = "
            "241.8, and the v5e's ridge point is 197e12 / 819e9 = 240.5: just over it.",
        ),
        Case(
            args=(DEEPSEEK_V3, 1, *T4),
            expected="compute",  # 241.8 > 203.1
            label="DeepSeek-V3's attention shape, 128 heads on a T4",
            hint="the same 241.8 FLOPs per byte; a T4 has far less bandwidth per FLOP than an H800 "
            "(295.4): its ridge point is 65e12 / 320e9 = 203.1.",
        ),
        Case(
            args=(DEEPSEEK_V3, 1, *H800),
            expected="memory",  # 241.8 < 295.4; the naive path: 228.1 x 128 FLOPs per byte
            label="DeepSeek-V3, all 128 heads on one H800 (989.5 TFLOP/s, 3.35 TB/s)",
            hint="absorbed MLA does 1.889 n_h = 241.8 FLOPs per byte of BF16 cache; the H800's "
            "ridge point is 989.5e12 / 3.35e12 = 295.4.",
            mistakes=(
                (
                    "compute",
                    "your count is compute-bound where the absorbed form is not (241.8 < 295.4 "
                    "FLOPs per byte). Three slips give this answer. The naive path "
                    "(absorbed=False) rebuilds every key and value from the latent at each step "
                    "(eq. C4), about 228 n_h FLOPs per byte: the exercise asks for the absorbed "
                    "form. A cache counted in FP8, one byte an element, doubles the intensity: "
                    "the cache here is BF16. A ridge point taken as bytes/s over FLOP/s is tiny, "
                    "so every step looks compute-bound (the two probe cases catch most of those).",
                ),
            ),
        ),
        Case(
            args=(DEEPSEEK_V3, 2, *T4),
            expected="memory",  # 64 heads: 1.889 x 64 = 120.9 < 203.1; all 128 would be 241.8
            label="DeepSeek-V3, tensor parallelism 2 (64 heads per T4)",
            hint="tensor parallelism splits the query heads; each device still reads the whole "
            "latent cache.",
            mistakes=(("compute", _TP_MLA),),
        ),
        Case(
            args=(DEEPSEEK_V3, 1, 250e12, 1e12),
            expected="memory",  # 241.8 < 250; FlashMLA's 2 x 128 = 256 > 250
            label="DeepSeek-V3, 128 heads on a device of 250 TFLOP/s and 1 TB/s (ridge 250)",
            hint="count exactly: (576 + 512) / 576 = 1.889 FLOPs per byte per head, not 2.",
            mistakes=(
                (
                    "compute",
                    "your intensity is FlashMLA's rounded 2 n_h = 256, over the ridge point "
                    "250; the exact count is 2 n_h (d_c + d_h^R + d_c) / (2 (d_c + d_h^R)) = "
                    "1.889 n_h = 241.8, under it. The value's share is d_c = 512 per 576 cached "
                    "elements, not all 576.",
                ),
            ),
        ),
        Case(
            args=(DEEPSEEK_V3, 16, *SLOW_CPU),
            expected="compute",  # 8 heads: 1.889 x 8 = 15.1 > 5
            label="DeepSeek-V3, 8 heads per device on a CPU thread (50 GFLOP/s, 10 GB/s)",
        ),
        Case(
            args=(DEEPSEEK_67B, 1, *SLOW_CPU),
            expected="compute",  # 8 FLOPs per byte > 5: a CPU thread has little arithmetic
            label="DeepSeek 67B (GQA, 8 query heads per KV head) on a CPU thread (50 GFLOP/s, "
            "10 GB/s)",
            hint="GQA: 4 n_h d_h S FLOPs for 2 n_g d_h S elements of 2 bytes: n_h / n_g = 8 "
            "FLOPs per byte (far below any GPU's ridge point), against a ridge point of "
            "50e9 / 10e9 = 5.",
        ),
        Case(
            args=(DEEPSEEK_67B, 4, *SLOW_CPU),
            expected="compute",  # 16 query heads over 2 KV heads per device: 8 > 5
            label="DeepSeek 67B (GQA), tensor parallelism 4, on CPU threads",
            hint="each device holds 64 / 4 = 16 query heads and 8 / 4 = 2 KV heads.",
            mistakes=(
                (
                    "memory",
                    "your count splits the query heads over the devices but keeps all 8 KV heads "
                    "on each: tensor parallelism splits the KV heads too (2 per device), so the "
                    "ratio stays 16 / 2 = 8 FLOPs per byte > 5.",
                ),
            ),
        ),
        Case(
            args=(DEEPSEEK_67B, 16, *SLOW_CPU),
            expected="memory",  # 4 query heads and one whole (replicated) KV head: 4 < 5
            label="DeepSeek 67B (GQA), tensor parallelism 16: more devices than KV heads",
            hint="8 KV heads over 16 devices cannot be split further: each device keeps one whole "
            "KV head (two devices hold a copy of each) for its 64 / 16 = 4 query heads.",
            mistakes=(
                (
                    "compute",
                    "your count keeps 8 FLOPs per byte: with 16 devices and 8 KV heads each "
                    "device still reads one whole KV head (a head cannot be split; it is "
                    "replicated), so its 4 query heads do 4 FLOPs per byte < 5. Use "
                    "max(1, n_kv_heads / tensor_parallel) KV heads per device.",
                ),
            ),
        ),
    ),
)


def check_decode_bound(fn) -> CheckReport:
    """Run the public cases of exercise 3.3 (`decode_bound`) against `fn`."""
    return check(fn, DECODE_BOUND)
