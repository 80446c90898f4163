"""Chapter 4's cost models: parameters and FLOPs per token, and the traffic and time of expert
parallelism (dispatch and combine over NVLink and InfiniBand).

Taught in chapter 4, "Dense and sparse" (`v3_parameter_counts`, `moe_flops_per_token`) and
"When does sparsity pay?" (`dispatch_bytes_per_token`, `moe_layer_time`).

The traffic model (remote nodes, NVLink copies, bytes per link) is the one shared with chapter 7:
`labs.common.interconnect`, where its equations are written out; `moe_layer_time` passes it the
config's routed experts, so that a token's k experts are distinct, and under a node limit takes
the nodes as the node-limited router picks them (eqs. 4-6 there; for V3 nearly every one of the
4 nodes it may use receives an expert).
Link speeds come from the facts registry.
"""

from __future__ import annotations

from types import MappingProxyType

from labs.common.facts import fact
from labs.common.interconnect import (  # chapter 7's too
    _dispatch_bytes,
    check_expert_spread,
    dispatch_bytes_per_token,
)
from labs.common.validate import instance, integer, one_of, real_number, size
from labs.moe.checks import MAX_NODES, check_config
from labs.moe.config import DEEPSEEK_V3_MOE, MoEConfig

__all__ = [
    "GPUS",
    "dispatch_bytes_per_token",
    "moe_flops_per_token",
    "moe_layer_time",
    "v3_parameter_counts",
]

GPUS = ("h800", "h100")


def v3_parameter_counts() -> MappingProxyType:
    """DeepSeek-V3's parameters recomputed from its configuration (§4.2): total and activated per
    token, with the parts (attention, dense FFNs, routed and shared experts, router, embeddings)."""
    c = fact("moe_v3_config").value
    a = fact("deepseekv3_attention").value
    d, h, dh, dr = c["d_model"], a["n_heads"], a["head_dim"], a["rope_head_dim"]
    # MLA (V2 eqs. 9-19): W^DQ, W^UQ (+ RoPE), W^DKV + W^KR, W^UK and W^UV, W^O, two norms
    attention = (
        d * a["q_lora_rank"]
        + a["q_lora_rank"] * h * (dh + dr)
        + d * (a["kv_lora_rank"] + dr)
        + a["kv_lora_rank"] * h * 2 * dh
        + h * dh * d
        + a["q_lora_rank"]
        + a["kv_lora_rank"]
    )
    expert = 3 * d * c["d_expert"]  # SwiGLU: W1, W3 (D x F) and W2 (F x D)
    n_moe = c["n_layers"] - c["n_dense_layers"]
    parts = {
        "attention": c["n_layers"] * attention,
        "dense_ffn": c["n_dense_layers"] * 3 * d * c["d_ffn_dense"],
        "routed_experts": n_moe * c["n_routed"] * expert,
        "shared_experts": n_moe * c["n_shared"] * expert,
        "router": n_moe * c["n_routed"] * d,
        "norms": c["n_layers"] * 2 * d + d,
        "embeddings": 2 * c["vocab"] * d,  # input embedding and output head, not tied
    }
    total = sum(parts.values())
    inactive = n_moe * (c["n_routed"] - c["k"]) * expert
    return MappingProxyType({**parts, "total": total, "active": total - inactive})


def moe_flops_per_token(config: MoEConfig) -> int:
    """Forward FLOPs per token of one MoE layer: 2 per multiply-add of the router and of the
    S + k SwiGLU experts a token passes through (3 matrices of D x F each)."""
    c = check_config(config)
    return 2 * c.d_model * c.n_routed + 2 * 3 * c.d_model * c.d_expert * (c.n_shared + c.k)


def _link_speeds(
    gpu: str, nvlink: float | None = None, ib: float | None = None
) -> tuple[float, float]:
    """(NVLink, IB) achieved GB/s per GPU. The H100's NVLink is the H800's achieved figure (V3's
    160 GB/s unless `nvlink` says otherwise) scaled by the datasheet ratio 900 / 400 (the same
    share of peak); both use the same 400 Gb/s NICs (V3's 50 GB/s unless `ib` says otherwise)."""
    nvlink = fact("moe_v3_nvlink_gbs").value if nvlink is None else nvlink
    if gpu == "h100":
        nvlink *= (
            fact("econ_h100_sxm_interconnect_gbs").value
            / fact("econ_h800_sxm_interconnect_gbs").value
        )
    return nvlink, fact("moe_v3_ib_gbs").value if ib is None else ib


def moe_layer_time(
    gpu: str = "h800",
    n_nodes: int = 8,
    max_nodes: int | None = None,
    config: MoEConfig = DEEPSEEK_V3_MOE,
    tokens_per_gpu: int = 4096,
    mfu: float = 0.4,
    nvlink_gbs: float | None = None,
    ib_gbs: float | None = None,
) -> MappingProxyType:
    """Seconds one GPU spends on one MoE layer's forward for `tokens_per_gpu` tokens: expert
    compute (FP8 peak of the registry times `mfu`), IB time and NVLink time of dispatch + combine.
    `mfu` is the expert-GEMM efficiency, the share of the FP8 peak the expert GEMMs reach; it is
    not chapter 7's MFU (V3's delivered FLOP/s over all of a step's work, 38.94% of the BF16
    peak): V3's delivered 385 TFLOP/s is about 19.5% of the FP8 peak.
    `bottleneck` names the slowest of the three (they overlap in V3's DualPipe, so the layer takes
    about the slowest one). `nvlink_gbs` is the H800's achieved NVLink bandwidth per GPU (None:
    V3's 160 GB/s); an H100 gets it times 900 / 400. `ib_gbs` is the InfiniBand bandwidth per GPU
    on both chips (None: V3's 50 GB/s; Zhao et al. §4.3 count 40 as effective). The config's
    `n_routed` experts spread evenly over the n_nodes x 8 GPUs (V3's 256: 1, 2, 4, 8, 16 or 32
    nodes), and a token picks `k` distinct ones.

    The model is pessimistic about overlap: it counts only the forward expert FLOPs, while
    DualPipe also hides communication behind attention and the backward chunks (V3 §3.2.1)."""
    gpu = one_of("gpu", gpu, GPUS)
    n_nodes = size("n_nodes", n_nodes, maximum=MAX_NODES)
    if max_nodes is not None:
        max_nodes = integer("max_nodes", max_nodes, minimum=1, maximum=n_nodes)
    config = instance("config", config, MoEConfig, "an MoEConfig")
    check_expert_spread(
        config.n_routed,
        config.k,
        n_nodes,
        max_nodes,
        fact("moe_v3_gpus_per_node").value,
        experts_name="config.n_routed",
        k_name="config.k",
        gpus_name="GPUs per node",
    )
    tokens_per_gpu = size("tokens_per_gpu", tokens_per_gpu, maximum=2**24)
    mfu = real_number("mfu", mfu, positive=True, maximum=1.0)
    if nvlink_gbs is not None:
        nvlink_gbs = real_number("nvlink_gbs", nvlink_gbs, positive=True, maximum=10_000.0)
    if ib_gbs is not None:
        ib_gbs = real_number("ib_gbs", ib_gbs, positive=True, maximum=10_000.0)
    return _moe_layer_time(gpu, n_nodes, max_nodes, config, tokens_per_gpu, mfu, nvlink_gbs, ib_gbs)


def _moe_layer_time(gpu, n_nodes, max_nodes, config, tokens, mfu, nvlink_gbs=None, ib_gbs=None):
    """compute = FLOPs / (FP8 peak x mfu, the expert-GEMM efficiency); link time = bytes /
    achieved bandwidth."""
    peak = fact(f"econ_{gpu}_sxm_fp8_tflops").value * 1e12
    nvlink, ib = _link_speeds(gpu, nvlink_gbs, ib_gbs)
    traffic = _dispatch_bytes(
        config.d_model,
        config.k,
        n_nodes,
        max_nodes,
        fact("moe_v3_gpus_per_node").value,
        fact("moe_v3_dispatch_bytes").value + fact("moe_v3_combine_bytes").value,
        config.n_routed,
    )
    times = {
        "compute": tokens * moe_flops_per_token(config) / (peak * mfu),
        "inter_node": tokens * traffic["inter_node"] / (ib * 1e9),
        "intra_node": tokens * traffic["intra_node"] / (nvlink * 1e9),
    }
    return MappingProxyType({**times, "bottleneck": max(times, key=times.get)})
