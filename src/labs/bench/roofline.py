"""The roofline of the two kernels: FLOPs and bytes of one call, and the device's two limits.

Taught in chapter 8, "Bytes or FLOPs: the roofline". Framework-free: counts are Python ints.

A kernel that does F FLOPs and moves Q bytes between memory and the chip cannot take less than

    t_min = max(F / peak FLOP/s, Q / peak bytes/s)                                      (R1)

and it is *memory-bound* when its arithmetic intensity I = F / Q is below the device's ridge
point peak FLOP/s / peak bytes/s, *compute-bound* above it. A measured time t reaches
t_min / t of the roofline.

Absorbed MLA decode (B sequences, one query each, H heads, latent d_c, RoPE d_h^R, S cached
tokens; `labs.mla.cost` eq. C1 with the absorbed widths) does

    F = 2 B H S (d_c + d_h^R)  +  2 B H S d_c           (scores, then the weighted latent)  (R2)
    Q = B S (d_c + d_h^R) b_cache + B H (d_c + d_h^R) b_q + B H d_c b_out                   (R3)

(the cache read once for all heads, the queries read, the output written), so
I is about 2 H (2 d_c + d_h^R) / ((d_c + d_h^R) b_cache): independent of B and S, and for
V3 (H = 128, BF16 cache) about 242 FLOPs per byte. A GEMM (M, K) x (K, N) does 2 M N K FLOPs
and moves M K + K N input elements and M N outputs, plus one FP32 scale per 1 x block tile of
the activation and per block x block block of the weight when it is block-scaled (R4).

The einsum baseline reads c^KV twice and passes its scores through memory; `einsum_decode_bytes`
counts its bytes per cached token step by step, for the benchmark's eager PyTorch code and for an
ideal three-pass einsum (taught in chapter 8, "When does it pay?").
"""

from __future__ import annotations

from dataclasses import dataclass

from labs.bench.checks import (
    check_decode_shape,
    check_device_name,
    check_device_peaks,
    check_element_bytes,
    check_gemm_shape,
    check_roofline,
    check_roofline_fields,
)
from labs.common.facts import FACTS, fact
from labs.common.validate import finite_result, one_of, read_only, size

__all__ = [
    "EINSUM_DECODE_STEPS",
    "DevicePeaks",
    "Roofline",
    "device_peaks",
    "einsum_decode_bytes",
    "gemm_work",
    "mla_decode_work",
    "roofline",
]


@dataclass(frozen=True)
class DevicePeaks:
    """One device's limits, dense, from the facts registry.

    Attributes:
        name: the registry name ("H200 SXM").
        memory_gbs: memory bandwidth, GB/s.
        bf16_tflops: dense BF16 tensor peak, TFLOP/s (None: no BF16 units, e.g. the T4).
        fp8_tflops: dense FP8 tensor peak, TFLOP/s (None: no FP8 units).
    """

    name: str
    memory_gbs: float
    bf16_tflops: float | None = None
    fp8_tflops: float | None = None

    def __post_init__(self) -> None:
        check_device_peaks(self)


@dataclass(frozen=True)
class Roofline:
    """The roofline bound of one piece of work on one device (eq. R1)."""

    seconds: float  # t_min
    bound: str  # "memory" or "compute"
    intensity: float  # FLOPs per byte of the work
    ridge: float  # FLOPs per byte where the device's two limits meet

    def __post_init__(self) -> None:
        check_roofline_fields(self)


# (a whole word of the reported device name, registry name, prefix of its facts)
_DEVICES = (
    ("H200", "H200 SXM", "econ_h200_sxm"),
    ("H100", "H100 SXM", "econ_h100_sxm"),
    ("H800", "H800 SXM", "econ_h800_sxm"),
    ("A100", "A100 SXM", "econ_a100_sxm"),
    ("L4", "L4", "econ_l4"),
    ("T4", "T4", "econ_t4"),
)


def device_peaks(device_name: str) -> DevicePeaks | None:
    """The registry's peaks for a device name as torch or JAX reports it, or None if unknown.

    "NVIDIA H200" and "NVIDIA H100 80GB HBM3" match the SXM parts; "NVIDIA A100-SXM4-40GB"
    matches the 40 GB A100, whose HBM2 is slower than the 80 GB part's; a name with "PCIe" or
    "NVL" in it (a different clock, power and memory: "NVIDIA H100 PCIe", "NVIDIA H200 NVL")
    matches nothing, nor does a CPU.
    """
    return _device_peaks(check_device_name(device_name))


def _device_peaks(device_name: str) -> DevicePeaks | None:
    """Match a whole word of the name against the table of devices."""
    words = device_name.upper().replace("-", " ").split()
    if "PCIE" in words or "NVL" in words:  # not the SXM part the registry describes
        return None
    for token, name, key in _DEVICES:
        if token in words:
            memory = float(fact(f"{key}_memory_gbs").value)
            if token == "A100" and "40GB" in words:  # the same chip with HBM2, not HBM2e
                name, memory = "A100 SXM 40GB", float(fact("a100_sxm_40gb_memory_gbs").value)
            return DevicePeaks(
                name, memory, _optional(f"{key}_bf16_tflops"), _optional(f"{key}_fp8_tflops")
            )
    return None


def _optional(key: str) -> float | None:
    """The fact `key` as a float, or None where the device has no such figure."""
    return float(FACTS[key].value) if key in FACTS else None


def mla_decode_work(
    batch: int,
    context: int,
    heads: int = 128,
    latent: int = 512,
    rope: int = 64,
    cache_bytes: float = 2,
    query_bytes: float = 2,
    out_bytes: float = 4,
) -> tuple[int, float]:
    """(FLOPs, bytes) of one absorbed MLA decode step, eqs. (R2) and (R3); V3's widths by default.

    Args:
        batch, context: sequences B and cached tokens S of each (at most 2**16 and 2**24).
        heads, latent, rope: H, d_c and d_h^R (V3: 128, 512, 64; each at most 2**16).
        cache_bytes, query_bytes, out_bytes: bytes of one element of the cache, the queries and
            the output (BF16 cache and queries, FP32 output by default).
    """
    batch, context, heads, latent, rope = check_decode_shape(batch, context, heads, latent, rope)
    b_cache, b_q, b_out = check_element_bytes(
        cache_bytes=cache_bytes, query_bytes=query_bytes, out_bytes=out_bytes
    )
    return _mla_decode_work(batch, context, heads, latent, rope, b_cache, b_q, b_out)


def _mla_decode_work(b, s, h, c, r, b_cache, b_q, b_out) -> tuple[int, float]:
    """Eqs. (R2) and (R3)."""
    flops = 2 * b * h * s * (c + r) + 2 * b * h * s * c  # (R2): scores, then the weighted latent
    nbytes = b * s * (c + r) * b_cache + b * h * (c + r) * b_q + b * h * c * b_out  # (R3)
    return flops, nbytes


def gemm_work(
    m: int, n: int, k: int, in_bytes: float = 1, out_bytes: float = 2, block: int | None = None
) -> tuple[int, float]:
    """(FLOPs, bytes) of (M, K) x (K, N), eq. (R4).

    Args:
        m, n, k: the GEMM's axes, each at most 2**16.
        in_bytes, out_bytes: bytes of an input and an output element (FP8 in, BF16 out default).
        block: None for an unscaled GEMM, or V3's scaling group (128): one FP32 scale per
            1 x block tile of the activation and per block x block block of the weight.
    """
    m, n, k = check_gemm_shape(m, n, k)
    in_bytes, out_bytes = check_element_bytes(in_bytes=in_bytes, out_bytes=out_bytes)
    if block is not None:
        block = size("block", block, maximum=k, why="a scaling group longer than K")
    return _gemm_work(m, n, k, in_bytes, out_bytes, block)


def _gemm_work(m, n, k, in_bytes, out_bytes, block) -> tuple[int, float]:
    """Eq. (R4)."""
    nbytes = (m * k + k * n) * in_bytes + m * n * out_bytes
    if block is not None:
        k_blocks = -(-k // block)
        nbytes += 4 * (m * k_blocks + k_blocks * -(-n // block))  # FP32 scales
    return 2 * m * n * k, nbytes


def roofline(flops: float, nbytes: float, peak_tflops: float, memory_gbs: float) -> Roofline:
    """The roofline bound (eq. R1) of `flops` FLOPs and `nbytes` bytes on a device whose peaks
    are `peak_tflops` TFLOP/s and `memory_gbs` GB/s."""
    flops, nbytes, peak_tflops, memory_gbs = check_roofline(flops, nbytes, peak_tflops, memory_gbs)
    peaks = (peak_tflops * 1e12, memory_gbs * 1e9)  # FLOP/s and B/s
    peaks = finite_result(
        "the peaks in FLOP/s and B/s",
        peaks,
        inputs={"peak_tflops": peak_tflops, "memory_gbs": memory_gbs},
    )
    return _roofline(flops, nbytes, *peaks)


def _roofline(flops: float, nbytes: float, peak_flops: float, peak_bytes: float) -> Roofline:
    """Eq. (R1): the slower of the two limits binds."""
    compute_s, memory_s = flops / peak_flops, nbytes / peak_bytes
    intensity = flops / nbytes
    bound = "compute" if compute_s >= memory_s else "memory"
    return Roofline(max(compute_s, memory_s), bound, intensity, peak_flops / peak_bytes)


# The score traffic of an einsum decode, call by call: each step's (B, H, S) tensors read and
# written, by dtype ("cache": the cache's own, "fp32"). "eager" is `_naive_decode_torch` of
# `labs.bench.decode` as PyTorch runs it op by op (tests/bench/test_roofline.py traces it);
# "ideal" is an einsum whose softmax is one kernel: FP32 scores written and read, then the
# probabilities in the cache's dtype. A cast (a name starting with ".") to the dtype a tensor has
# already moves nothing: PyTorch returns the same tensor.
EINSUM_DECODE_STEPS = read_only(
    {
        "eager": (
            ("scores of c^KV (einsum)", (), ("cache",)),
            ("scores of k^R (einsum)", (), ("cache",)),
            ("their sum", ("cache", "cache"), ("cache",)),
            (".float()", ("cache",), ("fp32",)),  # a cast: nothing where the cache is FP32
            ("* scale", ("fp32",), ("fp32",)),
            ("softmax", ("fp32",), ("fp32",)),
            (".to(the cache's dtype)", ("fp32",), ("cache",)),  # a cast too
            ("weighted sum (einsum)", ("cache",), ()),
        ),
        "ideal": (
            ("scores (FP32)", (), ("fp32",)),
            ("softmax (FP32 in, the cache's dtype out)", ("fp32",), ("cache",)),
            ("weighted sum", ("cache",), ()),
        ),
    }
)


def einsum_decode_bytes(
    heads: int = 128,
    latent: int = 512,
    rope: int = 64,
    cache_bytes: int = 2,
    baseline: str = "eager",
) -> int:
    """Bytes an einsum decode moves per cached token of one sequence: c^KV and k^R read for the
    scores, c^KV read again for the weighted sum, and per head the score traffic of
    `EINSUM_DECODE_STEPS[baseline]`, each call reading its inputs and writing its output once (a
    lower bound where a kernel reads a tensor twice, as a GPU softmax over a long row may).

    Args:
        heads, latent, rope: H, d_c and d_h^R (V3: 128, 512, 64; each at most 2**16).
        cache_bytes: 2 (a BF16 cache, as on a GPU) or 4 (float32, as on a CPU).
        baseline: "eager" (the benchmark's `_naive_decode_torch`, one PyTorch call per step) or
            "ideal" (the softmax fused: FP32 scores, probabilities in the cache's dtype).
    """
    _, _, heads, latent, rope = check_decode_shape(1, 1, heads, latent, rope)
    cache_bytes = one_of("cache_bytes", cache_bytes, (2, 4))
    baseline = one_of("baseline", baseline, tuple(EINSUM_DECODE_STEPS))
    return _einsum_decode_bytes(heads, latent, rope, cache_bytes, EINSUM_DECODE_STEPS[baseline])


def _einsum_decode_bytes(h, c, r, b_cache, steps) -> int:
    """The cache's two reads, then each step's score bytes for every head."""
    size_of = {"cache": b_cache, "fp32": 4}
    per_head = 0
    for name, reads, writes in steps:
        if name.startswith(".") and size_of[reads[0]] == size_of[writes[0]]:
            continue  # a cast to the dtype the tensor has already: PyTorch returns it as it is
        per_head += sum(size_of[t] for t in reads) + sum(size_of[t] for t in writes)
    return (c + r) * b_cache + c * b_cache + h * per_head
