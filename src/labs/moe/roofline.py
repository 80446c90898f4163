"""Chapter 4's accelerator model of one MoE layer against a dense one: the roofline of each GEMM.

Taught in chapter 4, "When does sparsity pay?" (b). Framework-free (NumPy). No per-expert
overhead enters: only each device's peak FLOP/s and memory bandwidth from the facts registry.

A GEMM (M, K) x (K, N) does 2 M K N FLOPs and moves b (M K + K N + M N) bytes (the input, the
weight, the output; b bytes per element, 2 for FP16/BF16). On a device with peak P FLOP/s and
bandwidth B bytes/s it cannot take less than

    t = max(2 M K N / P, b (M K + K N + M N) / B)                                        (M1)

A SwiGLU of width W on n tokens of width d is three GEMMs of the same FLOPs and bytes,
(n, d) x (d, W) twice (W1, W3) and (n, W) x (W, d) once (W2), so it takes 3 t(n, d, W). Its
backward is up to two more GEMMs of the same FLOPs and bytes per forward one (dX = dY W^T and
dW = X^T dY): 9 t(n, d, W) for forward + backward. Where the layer's input needs no gradient
(a layer timed on its own, as chapter 4's CPU check does), the first GEMMs' dX is skipped:
W1 and W3 take their forward and dW, W2 its forward, dW and the dX that carries the gradient
back to W1 and W3, 7 t(n, d, W) in all; the router (T, d) x (d, E) takes its forward and dW
(its scores feed the gates), 2 GEMMs instead of 3.

A DeepSeekMoE layer (S shared experts, E routed of width F, top-k) on a batch of T tokens:

    t_MoE = 3 t(T, d, S F)  +  t(T, d, E)  +  E_hit x 3 t(T k / E_hit, d, F)              (M2)
            shared experts     router          the routed experts the batch touches
    E_hit = E (1 - (1 - k / E)^T)                                                         (M3)

E_hit is the expected number of distinct experts hit: each token picks k distinct experts of E,
so it misses a given one with chance 1 - k / E, and T tokens miss it with (1 - k / E)^T. The
T k expert slots are spread evenly over the experts hit (balanced routing). Against it:

    t_dense(W) = 3 t(T, d, W),   same total: W = (S + E) F,   same active: W = (S + k) F     (M4)

An expert's GEMM on n tokens is memory-bound below the n where its intensity
2 n d F / (b (n d + d F + n F)) reaches the ridge r = P / B:

    n* = b r d F / (2 d F - b r (d + F))          (infinite if 2 d F <= b r (d + F))      (M5)

and the batch at which the experts' share T k / E_hit reaches n* is the *memory-bound batch*.
Below it each expert reads its 3 d F weights for too few tokens to hide them. Between the batch
where every expert is hit and the memory-bound batch the MoE reads as many weight bytes as the
dense layer of the same total size; its remaining speed-up there comes from the dense layer
still being compute-bound.

Left out: kernel launches (one per expert, or one grouped GEMM), the router's top-k, sorting
tokens by expert and scattering them back, the weighted combine, and the efficiency of small or
grouped GEMMs against one large one, all on the MoE's side; the SwiGLU's elementwise traffic
(read both hidden outputs, write their product: 3 T (S + E) F elements in the dense layer of the
same total size against 3 T (S + k) F in the MoE), which weighs more on the dense layer; and
the routing itself. The model assumes uniform, independent routing, evenly balanced over the
experts hit. A skewed or correlated router touches fewer experts on average (the sum over
experts of 1 - (1 - p_i)^T is concave in the routing probabilities p_i, largest when they are
uniform), so in the memory-bound window it reads fewer weights and can make the real MoE faster
than modelled; an uneven load over the experts hit adds time where they are compute-bound.
So the real layers' times are both above their rooflines, and we expect the model's crossovers
to be lower bounds on the real ones (more experts, larger batches) if the MoE's kernels fall
further short of their roofline than one large dense GEMM does. The large-batch speed-up (the
FLOP ratio) is, if anything, an upper bound.

`moe_efficiency` (eta, in (0, 1]) puts a number on that "if": the MoE layer's kernels reach eta
of the device's peak and bandwidth, the dense layers their full roofline, so

    t_MoE(eta) = t_MoE / eta                                                              (M6)

(dividing P and B by eta divides both terms of eq. M1 by eta, so the max too). eta = 1 is the
model above; how the crossovers move as eta falls is what chapter 4's "E* against eta" table
shows.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from labs.common.facts import fact
from labs.common.validate import boolean, one_of, real_number, size, text
from labs.moe.checks import MAX_EXPERTS, check_config
from labs.moe.config import MoEConfig

__all__ = [
    "DEVICES",
    "device_limits",
    "expert_crossover",
    "experts_hit",
    "layer_seconds",
    "memory_bound_batch",
    "registry_device",
    "ridge_tokens",
]

# name -> (16-bit dense peak TFLOP/s, memory GB/s) facts. The T4 has no BF16: FP16 is its format.
DEVICES = MappingProxyType(
    {
        "T4": ("econ_t4_fp16_tflops", "econ_t4_memory_gbs"),
        "H100 SXM": ("econ_h100_sxm_bf16_tflops", "econ_h100_sxm_memory_gbs"),
        "H800 SXM": ("econ_h800_sxm_bf16_tflops", "econ_h800_sxm_memory_gbs"),
        "H200 SXM": ("econ_h200_sxm_bf16_tflops", "econ_h200_sxm_memory_gbs"),
        "TPU v5e": ("econ_tpu_v5e_bf16_tflops", "econ_tpu_v5e_memory_gbs"),
    }
)
# (a whole word of the name torch reports, the registry's device): the SXM parts the registry
# describes; chapter 8's `labs.bench.roofline.device_peaks` matches names the same way.
_GPU_NAMES = (("T4", "T4"), ("H100", "H100 SXM"), ("H800", "H800 SXM"), ("H200", "H200 SXM"))
MAX_TOKENS = 2**24  # tokens through one layer on one device at once
_MAX_FLOPS = 1e18  # FLOP/s: a thousand times any chip built; more is a typo
_MAX_BANDWIDTH = 1e15  # bytes/s: likewise
_MIN_FLOPS = 1e3  # FLOP/s: a kiloFLOP per second; less is a typo (and overflows the seconds)
_MIN_BANDWIDTH = 1e3  # bytes/s: likewise
_MAX_ELEMENT_BYTES = 8.0  # float64
_MIN_ELEMENT_BYTES = 0.125  # one bit per element, less than any number format


def device_limits(device: str) -> tuple[float, float]:
    """(peak FLOP/s, memory bytes/s) of `device`, one of `DEVICES`, at its dense 16-bit peak
    (BF16; FP16 on the T4), from the facts registry."""
    device = one_of("device", device, DEVICES)
    flops_key, bandwidth_key = DEVICES[device]
    return fact(flops_key).value * 1e12, fact(bandwidth_key).value * 1e9


def registry_device(gpu_name: str) -> str | None:
    """The device of `DEVICES` that a GPU name as torch reports it describes ("Tesla T4" -> "T4",
    "NVIDIA H100 80GB HBM3" -> "H100 SXM"), or None: a GPU the registry lacks, or a PCIe or NVL
    part ("NVIDIA H100 PCIe", "NVIDIA H200 NVL": other clocks, power and memory than the SXM
    part whose peaks the registry holds)."""
    words = text("gpu_name", gpu_name).upper().replace("-", " ").split()
    if "PCIE" in words or "NVL" in words:
        return None
    return next((device for word, device in _GPU_NAMES if word in words), None)


def experts_hit(tokens: int, n_routed: int, k: int) -> float:
    """Expected distinct experts that `tokens` tokens touch when each picks `k` distinct experts
    of `n_routed` uniformly (eq. M3): n_routed (1 - (1 - k / n_routed)^tokens)."""
    tokens = size("tokens", tokens, maximum=MAX_TOKENS)
    n_routed = size("n_routed", n_routed, maximum=MAX_EXPERTS)
    k = size("k", k, maximum=n_routed, why="a token picks k distinct experts of n_routed")
    return float(_experts_hit(tokens, n_routed, k))


def ridge_tokens(
    config: MoEConfig, peak_flops: float, bandwidth: float, bytes_per_element: float = 2.0
) -> float:
    """Tokens n* below which one expert's GEMMs are memory-bound (eq. M5); `math.inf` where they
    are memory-bound at any n (the expert is too narrow for the device's ridge)."""
    config = check_config(config)
    peak, bandwidth, nbytes = _check_device(peak_flops, bandwidth, bytes_per_element)
    return float(_ridge_tokens(config.d_model, config.d_expert, peak / bandwidth, nbytes))


def layer_seconds(
    config: MoEConfig,
    tokens: int,
    peak_flops: float,
    bandwidth: float,
    *,
    bytes_per_element: float = 2.0,
    backward: bool = False,
    input_grad: bool = True,
    count_weights: bool = True,
    moe_efficiency: float = 1.0,
) -> MappingProxyType:
    """Roofline seconds of one DeepSeekMoE layer on a batch of `tokens` and of the dense SwiGLUs
    of the same total and the same active width (eqs. M1-M4), on a device of `peak_flops` FLOP/s
    and `bandwidth` bytes/s, with weights and activations of `bytes_per_element` bytes.

    `backward` adds the backward pass: two more GEMMs per forward one, 9 per SwiGLU and 3 for the
    router. With `input_grad=False` (the layer's input needs no gradient, as when a layer is
    timed on its own) it counts what PyTorch's autograd then runs: every matrix's forward and
    weight gradient, and the input gradient only where a weight lies upstream, which in a SwiGLU
    is W2's (it carries the gradient back to W1 and W3): 7 GEMMs per SwiGLU (shared, routed and
    dense alike) and 2 for the router (its scores feed the gates, so it gets a weight gradient
    but passes none on). `input_grad` changes nothing without `backward`. `count_weights=False`
    leaves every weight read out of the bytes (a FLOP-and-activation model: the negative control,
    which cannot see the expert weights that small batches must read). `moe_efficiency` (eta, in
    (0, 1]) is the share of the device's peak and bandwidth the MoE layer's kernels reach, the
    dense layers reaching their roofline: the MoE's time is divided by eta (eq. M6).

    Returns {"moe", "dense_total", "dense_active"} in seconds, with "experts_hit" (E_hit),
    "tokens_per_expert" (T k / E_hit) and "expert_bound": "memory" or "compute", whichever
    term of eq. M1 binds a routed expert's GEMMs.
    """
    config = check_config(config)
    tokens = size("tokens", tokens, maximum=MAX_TOKENS)
    peak, bandwidth, nbytes = _check_device(peak_flops, bandwidth, bytes_per_element)
    backward = boolean("backward", backward)
    input_grad = boolean("input_grad", input_grad)
    count_weights = boolean("count_weights", count_weights)
    efficiency = _check_efficiency(moe_efficiency)
    passes = _passes(backward, input_grad)
    t = _layer_seconds(config, tokens, peak, bandwidth, nbytes, passes, count_weights, efficiency)
    return MappingProxyType(
        {
            **{name: float(value) for name, value in t.items() if name != "expert_memory_bound"},
            "expert_bound": "memory" if t["expert_memory_bound"] else "compute",
        }
    )


def expert_crossover(
    config: MoEConfig,
    tokens: int,
    peak_flops: float,
    bandwidth: float,
    *,
    bytes_per_element: float = 2.0,
    count_weights: bool = True,
    max_experts: int = 4096,
    moe_efficiency: float = 1.0,
) -> int | None:
    """The crossover in the number of routed experts E: the smallest E (from config.k up to
    `max_experts`) from which on the MoE layer is faster than the dense layer of the same total
    width at every E up to `max_experts`, for a batch of `tokens` (eqs. M1-M4). None if the MoE
    is not faster at `max_experts`. The config gives d_model, d_expert, n_shared and k; its
    n_routed is the quantity swept (its value is not used). `moe_efficiency` as in
    `layer_seconds` (eq. M6: the MoE at eta of the roofline, the dense layer at all of it)."""
    config = check_config(config)
    tokens = size("tokens", tokens, maximum=MAX_TOKENS)
    peak, bandwidth, nbytes = _check_device(peak_flops, bandwidth, bytes_per_element)
    count_weights = boolean("count_weights", count_weights)
    efficiency = _check_efficiency(moe_efficiency)
    max_experts = size(
        "max_experts", max_experts, minimum=config.k, maximum=MAX_EXPERTS, why="config.k and up"
    )
    n_routed = np.arange(config.k, max_experts + 1)
    passes = _passes(backward=False, input_grad=True)
    t = _layer_seconds(
        config, tokens, peak, bandwidth, nbytes, passes, count_weights, efficiency, n_routed
    )
    loses = np.flatnonzero(t["moe"] >= t["dense_total"])  # E where the MoE is not faster
    if loses.size and loses[-1] == n_routed.size - 1:
        return None
    return int(n_routed[loses[-1] + 1]) if loses.size else int(n_routed[0])


def memory_bound_batch(
    config: MoEConfig, peak_flops: float, bandwidth: float, bytes_per_element: float = 2.0
) -> float:
    """The batch T below which the routed experts' GEMMs are memory-bound: where the tokens per
    expert hit, T k / E_hit(T), equal n* (eq. M5); about n* E / k once every expert is hit.
    1.0 if even one token keeps them compute-bound, `math.inf` if nothing does."""
    config = check_config(config)
    peak, bandwidth, nbytes = _check_device(peak_flops, bandwidth, bytes_per_element)
    n_star = _ridge_tokens(config.d_model, config.d_expert, peak / bandwidth, nbytes)
    return _memory_bound_batch(config.n_routed, config.k, n_star)


def _check_device(peak_flops, bandwidth, bytes_per_element) -> tuple[float, float, float]:
    return (
        real_number("peak_flops", peak_flops, minimum=_MIN_FLOPS, maximum=_MAX_FLOPS),
        real_number("bandwidth", bandwidth, minimum=_MIN_BANDWIDTH, maximum=_MAX_BANDWIDTH),
        real_number(
            "bytes_per_element",
            bytes_per_element,
            minimum=_MIN_ELEMENT_BYTES,
            maximum=_MAX_ELEMENT_BYTES,
        ),
    )


def _check_efficiency(moe_efficiency) -> float:
    """eta in (0, 1]: a kernel cannot beat its roofline, and eta = 0 would be infinite time."""
    return real_number("moe_efficiency", moe_efficiency, positive=True, maximum=1.0)


def _passes(backward, input_grad):
    """GEMMs per forward GEMM: (in a SwiGLU, in the router). Forward only: (1, 1). With the
    backward: (3, 3), or without the input's gradient (7 / 3, 2): W1 and W3 skip their dX."""
    if not backward:
        return 1.0, 1.0
    return (3.0, 3.0) if input_grad else (7.0 / 3.0, 2.0)


def _experts_hit(tokens, n_routed, k):
    """Eq. M3: E (1 - (1 - k / E)^T); broadcasts over arrays."""
    return n_routed * (1.0 - (1.0 - k / n_routed) ** tokens)


def _ridge_tokens(d, f, ridge, nbytes):
    """Eq. M5: n* = b r d F / (2 d F - b r (d + F)), inf where the denominator is not positive."""
    room = 2.0 * d * f - nbytes * ridge * (d + f)
    return nbytes * ridge * d * f / room if room > 0 else np.inf


def _gemm(m, k, n, peak, bandwidth, nbytes, weights=True):
    """Eq. M1 for (m, k) x (k, n); weights=False leaves the (k, n) weight out of the bytes."""
    moved = nbytes * (m * k + m * n + (k * n if weights else 0))
    return np.maximum(2.0 * m * k * n / peak, moved / bandwidth)


def _layer_seconds(
    config, tokens, peak, bandwidth, nbytes, passes, weights, efficiency=1.0, n_routed=None
):
    """Eqs. M2-M4 and M6; `passes` from `_passes`; `n_routed` (an array) overrides
    config.n_routed."""
    d, f, s, k = config.d_model, config.d_expert, config.n_shared, config.k
    e = config.n_routed if n_routed is None else n_routed
    ffn, router = passes  # GEMMs per forward GEMM: 1 forward; 3 (or 7/3 and 2) with backward
    hit = _experts_hit(tokens, e, k)  # eq. M3
    per_expert = tokens * k / hit  # the tokens each expert hit gets, balanced

    def gemm(m, width):  # eq. M1 for (m, d) x (d, width)
        return _gemm(m, d, width, peak, bandwidth, nbytes, weights)

    def swiglu(m, width):  # W1 and W3: (m, d) x (d, width); W2: (m, width) x (width, d)
        return 3 * gemm(m, width)

    experts = (swiglu(tokens, s * f) if s else 0.0) + hit * swiglu(per_expert, f)
    expert_flops = 2.0 * per_expert * d * f / peak  # one expert GEMM's compute term of eq. M1
    return {
        "moe": (ffn * experts + router * gemm(tokens, e)) / efficiency,  # eqs. M2, M6
        "dense_total": ffn * swiglu(tokens, (s + e) * f),  # eq. M4
        "dense_active": ffn * swiglu(tokens, (s + k) * f),
        "experts_hit": hit,
        "tokens_per_expert": per_expert,
        "expert_memory_bound": gemm(per_expert, f) > expert_flops,
    }


def _memory_bound_batch(n_routed, k, n_star, tol=1e-9):
    """Solves T k / E_hit(T) = n* for T >= 1 by bisection: the left side rises from 1 (T = 1)
    towards T k / E, so the root lies in [1, n* E / k + E / k]."""
    if n_star <= 1.0:
        return 1.0
    if not np.isfinite(n_star):
        return np.inf

    def share(t):
        return t * k / _experts_hit(t, n_routed, k)

    low, high = 1.0, n_star * n_routed / k + n_routed / k
    while high - low > tol * high:
        mid = 0.5 * (low + high)
        low, high = (mid, high) if share(mid) < n_star else (low, mid)
    return 0.5 * (low + high)
