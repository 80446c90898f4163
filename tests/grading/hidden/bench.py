"""Hidden cases of chapter 8: the brute-force softmax of the public cases (8.2) and hand
arithmetic (8.3, in microseconds, eqs. 6 and 7 of labs.fp8.cost with the pass before the GEMM;
8.4, FLOPs and bytes of eqs. R2 and R3)."""

from labs.bench.exercises import A100, H100, H200, _split_case
from labs.bench.roofline import DevicePeaks
from labs.common.exercises import Case

V5E = DevicePeaks("TPU v5e", 819.0, 197.0, None)  # ridge 197 / 0.819 = 240.54

HIDDEN = {
    "combine_splits": (
        _split_case(
            (0, 3, 7, 7, 12, 12, 12, 12, 12),
            5,
            6,
            "eight chunks, the last four empty",
            seed=41,
        ),
        _split_case(
            (0, 4, 8), 2, 3, "scores near -1000: exp(m) alone underflows", seed=42, offset=-1000.0
        ),
        _split_case(
            (0, 1, 2, 3), 3, 2, "one token per chunk, scores far apart", seed=43, spread=30.0
        ),
        _split_case((0, 2, 5), 1, 1, "a single head whose latent has width 1", seed=44),
    ),
    "choose_precision": (
        # M = 1, K = N = 7168: bf16 102,789,120 B / 4.8e12 = 21.41; fp8 21,504 + 51,401,728 B
        # = 10.71 (compute 0.05 hides).
        Case((1, 7168, 7168, H200, True), "fp8", label="one token through a 7168 x 7168 weight"),
        # n = 600: bf16 max(0.44, 2,160,000 B = 0.45) = 0.45; fp8 7 n^2 = 2,520,000 B = 0.525.
        Case((600, 600, 600, H200, True), "bf16", label="square 600 on an H200, below 722"),
        # n = 8192, chapter 2's layout: bf16 1111.2; fp8 6 n^2 B = 120.2 + max(555.6, 80.1).
        Case((8192, 8192, 8192, H100, False), "fp8", label="square 8192, both operands quantised"),
        # n = 1500, chapter 2's layout: bf16 max(6.82, 4.03) = 6.82; fp8 4.03 + max(3.41, 2.69)
        # = 7.44 (a pass overlapped with the GEMM would make it 6.72: fp8).
        Case((1500, 1500, 1500, H100, False), "bf16", label="square 1500 below 1772, pass first"),
        # no FP8 tensor cores: never.
        Case((1, 7168, 7168, A100, True), "bf16", label="decode on an A100 with an FP8 weight"),
        # M = 1, K = 7168, N = 1536: the pass alone, 3 x 11,017,216 B = 9.87, exceeds bf16's
        # 2 x 11,018,752 B = 6.58.
        Case((1, 7168, 1536, H100, False), "bf16", label="V3's q_a projection, weight converted"),
    ),
    "cache_bound": (
        # F = 2176 * 32 * 128 * 4096 = 36,507,222,016; Q = 32 * 4096 * 656 + 3200 * 32 * 128
        # = 99,090,432: 368.4 > 240.54.
        Case((32, 4096, 128, 512, 64, 656.0, V5E), "compute", label="FP8 cache on a TPU v5e"),
        # Q = 32 * 4096 * 1152 + 13,107,200 = 164,102,144: 222.5 < 240.54.
        Case((32, 4096, 128, 512, 64, 1152.0, V5E), "memory", label="BF16 cache on a TPU v5e"),
        # F = 2176 * 16 * 32 * 8192 = 9,126,805,504; Q = 16 * 8192 * 656 + 3200 * 16 * 32 =
        # 87,621,632: 104.2 < 206.15.
        Case((16, 8192, 32, 512, 64, 656.0, H200), "memory", label="32 heads, FP8 cache, H200"),
        # F = 2176 * 128 * 256 = 71,303,168; Q = 256 * 656 + 409,600 = 577,536: 123.5 < 295.37.
        Case((1, 256, 128, 512, 64, 656.0, H100), "memory", label="one sequence of 256 tokens"),
    ),
}
FORBIDDEN = {
    "combine_splits": ("labs.mla.pallas._combine",),
    "choose_precision": (),
    "cache_bound": (),
}
