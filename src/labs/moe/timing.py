"""Chapter 4's measurements of a MoE layer's parts: one routed expert's share of the layer on
this CPU, and the whole layer against a dense one on any PyTorch device.

Taught in chapter 4, "When does sparsity pay?": (a) times `routed_expert_seconds` apart from the
layer, the per-expert cost c of the CPU's cost model, so that the layer's time and its crossover
are built from parts measured apart from the sweep they are checked against, and times one
expert as the layer's loop ran it before (`select="index"`), when each expert's backward grew
with the number of experts; (b) runs `measured_layer_seconds` on the GPU when one is present, to
set the roofline model beside a measurement on the device it models.
(`labs.moe.training.layer_throughput` times the whole layer on the CPU, forward and backward.)
"""

from __future__ import annotations

import math
from types import MappingProxyType

import torch
from torch import nn

from labs.common import validate
from labs.common.ceilings import _best_seconds, best_seconds, timing_device
from labs.common.validate import instance, one_of, size
from labs.moe.checks import check_config
from labs.moe.config import MoEConfig
from labs.moe.roofline import MAX_TOKENS
from labs.moe.torch import DeepSeekMoE, _swiglu
from labs.moe.training import _layer_config, _one_thread

__all__ = ["DTYPES", "SELECTS", "measured_layer_seconds", "routed_expert_seconds"]

DTYPES = (torch.float32, torch.bfloat16, torch.float16)
SELECTS = ("unbind", "index")  # how the expert loop takes one expert's weights: now, and before


def routed_expert_seconds(
    d_model: int = 64,
    n_experts: int = 8,
    k: int = 2,
    d_expert: int = 32,
    tokens: int = 1024,
    repeats: int = 5,
    seed: int = 0,
    select: str = "unbind",
) -> float:
    """CPU seconds of ONE routed expert's share of a DeepSeekMoE layer's forward and backward on
    `tokens` tokens (1 shared + `n_experts` routed experts of width `d_expert`, top-`k`): its
    tokens * k // n_experts slots (balanced routing) gathered from the input, its SwiGLU, its
    part of the slot output, and the backward of all of it. Best of `repeats` in CPU time on one
    thread.

    `select` (one of `SELECTS`) picks how the loop over experts handles the stacked
    (n_experts, d_model, d_expert) weights and the slot output:
    - "unbind", as `labs.moe.torch.DeepSeekMoE` runs now: the weights split into views once per
      forward, the outputs joined by one `cat`. One expert's share is its own views, its rows of
      the `cat`, and its slice of the stacked weights' gradient, which `unbind`'s backward
      assembles once for all experts; none of it grows with n_experts.
    - "index", as the layer ran before: `w[e]` per expert and an in-place write into the expert's
      rows of the slot output. Autograd then gives every expert's backward a zero tensor of all
      n_experts experts' weights (the gradient of `w[e]`) and a copy of the whole slot output's
      gradient (of the write), so one expert's cost grows with n_experts.

    With "unbind", n_experts times this is the routed experts' part of `layer_throughput`'s MoE
    time; what it leaves out (the shared expert, the router, sorting the slots, the weighted
    combine) does not grow with the number of experts."""
    config = _layer_config(d_model, d_expert, n_experts, k)
    tokens = size("tokens", tokens, maximum=2**16)
    if tokens * config.k < config.n_routed:
        raise ValueError(
            f"tokens * k must be at least n_experts, so that an expert gets a slot: got "
            f"tokens={tokens}, k={config.k}, n_experts={config.n_routed}"
        )
    repeats = size("repeats", repeats, maximum=100)
    seed = validate.seed("seed", seed)
    instance("select", select, str, "a string")
    select = one_of("select", select, SELECTS)
    with _one_thread():
        return _routed_expert_seconds(config, tokens, repeats, seed, select)


def _routed_expert_seconds(
    config: MoEConfig, tokens: int, repeats: int, seed: int, select: str
) -> float:
    """The lines of `DeepSeekMoE._forward`'s loop for one expert, then the backward from the slot
    output (whose gradient the layer's weighted combine would pass down)."""
    torch.manual_seed(seed)
    moe = DeepSeekMoE(config)  # the stacked weights the layer takes one expert's from
    slots = tokens * config.k
    count = slots // config.n_routed  # this expert's share of the slots, balanced
    x = torch.randn(tokens, config.d_model)  # the layer's input, no gradient (as timed in (a))
    token = torch.randperm(slots)[:count] // config.k  # the tokens of its slots
    grad = torch.ones(slots, config.d_model)  # the slot output's gradient
    # "unbind": one expert's share of `w.unbind(0)` is its own slice of the stacked gradient,
    # which a (1, d_model, d_expert) stack of its own gives (unbinding all n_experts here would
    # charge one expert with the zero gradients of the n_experts - 1 that did not run).
    own = [nn.Parameter(w[0:1].detach().clone()) for w in (moe.w1, moe.w3, moe.w2)]

    def one_expert_unbind():  # the layer's loop now
        weights = [w.unbind(0)[0] for w in own]
        y = torch.cat([_swiglu(x[token[0:count]], *weights)])  # its rows of the layer's `cat`
        y.backward(grad[0:count])  # `cat`'s backward hands each expert a view of its rows

    def one_expert_index():  # the layer's loop before: w[e] and a write into the slot output
        y = torch.empty(slots, config.d_model)
        y[0:count] = _swiglu(x[token[0:count]], moe.w1[0], moe.w3[0], moe.w2[0])
        y.backward(grad)

    one_expert = one_expert_unbind if select == "unbind" else one_expert_index
    return best_seconds(one_expert, repeats=repeats, clock="cpu")  # after one untimed call


def measured_layer_seconds(
    config: MoEConfig,
    tokens: int,
    device="cpu",
    dtype: torch.dtype = torch.float32,
    repeats: int = 5,
    seed: int = 0,
) -> MappingProxyType:
    """Forward seconds of the DeepSeekMoE layer (`labs.moe.torch`) and of the dense SwiGLU of
    the same total width (S + E) x F on `tokens` tokens, on `device` (a CPU or a CUDA GPU) in
    `dtype` (one of `DTYPES`), best of `repeats` after a warm-up, without gradients. The measured
    counterpart of `labs.moe.layer_seconds(config, tokens, ...)`, the roofline of the same two
    layers' forward.

    One code path on every device; only the clock differs: CUDA events on a GPU (they time the
    GPU's own work, including any wait for the host, such as the layer's expert loop reading its
    token counts), `time.perf_counter` on a CPU.

    Returns {"moe": s, "dense_total": s, "device": the device's name}."""
    config = check_config(config)
    tokens = size("tokens", tokens, maximum=MAX_TOKENS)
    device = timing_device(device)
    instance("dtype", dtype, torch.dtype, "a torch.dtype")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype}")
    repeats = size("repeats", repeats, maximum=100)
    seed = validate.seed("seed", seed)
    with torch.no_grad():
        return _measured_layer_seconds(config, tokens, device, dtype, repeats, seed)


def _measured_layer_seconds(config, tokens, device, dtype, repeats, seed):
    torch.manual_seed(seed)
    with device:  # built on the device: a V3-sized layer's weights need no trip through the CPU
        moe = DeepSeekMoE(config).to(dtype=dtype)
    d, width = config.d_model, (config.n_shared + config.n_routed) * config.d_expert
    dense = [  # W1, W3 (d, width) and W2 (width, d) of the dense layer of the same total width
        torch.randn(shape, device=device, dtype=dtype) / math.sqrt(shape[0])
        for shape in ((d, width), (d, width), (width, d))
    ]
    x = torch.randn(tokens, d, device=device, dtype=dtype)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    clock = "events" if device.type == "cuda" else "wall"
    return MappingProxyType(
        {
            "moe": _best_seconds(lambda: moe._forward(x), device, repeats, clock),
            "dense_total": _best_seconds(lambda: _swiglu(x, *dense), device, repeats, clock),
            "device": name,
        }
    )
