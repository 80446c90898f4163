"""A step-time model of expert-parallel MoE training: which link binds, NVLink or InfiniBand?

Taught in chapter 7, "The link that binds".

One training step of a model with `n_moe_layers` MoE layers on `n_gpus` GPUs, per GPU:

    compute    = flops_per_token x tokens_per_step / (n_gpus x peak x compute_efficiency)   (5)
    link time  = (tokens_per_step x n_moe_layers / n_gpus) x bytes per token-layer / bandwidth (6)
    busy       = max(compute, IB time, NVLink time)   if communication overlaps computation
               = compute + IB time + NVLink time      otherwise                               (7)
    step       = busy x (1 + bubble_fraction)          (pipeline bubbles)
                 + optimizer_seconds                   (the weight update, after the last
                                                         micro-batch)                         (8)

The bytes per token-layer on each link come from the shared traffic model of
`labs.common.interconnect` (remote nodes under node-limited routing, NVLink copies inside a
node, for k distinct experts of `n_experts`), with the nodes a token reaches as V3's node-limited
router picks them: with `max_nodes` = 4 nearly all 4, not the 3.6 of uniform draws. A training
step moves every token's hidden state `bytes_per_element` bytes per element per MoE layer, 6 in
all, as V3 §3.3.3 states the precisions: the forward dispatch in FP8 (1 byte, "the activation
before MoE up-projections"), the backward dispatch of "the activation gradient before MoE
down-projections" in FP8 as well (1 byte), and "both the forward and backward combine components"
in BF16 (2 + 2 bytes). Chapter 7 shows what 7 or 8 bytes would change.
Token-layers spread evenly over the GPUs: the pipeline puts different layers on different GPUs,
but every GPU carries the same share of (token, MoE layer) pairs when the load is balanced.

`compute_efficiency` is the share of the peak the GPU delivers while it computes (not while it
waits in a bubble); chapter 7 derives it from the step-time breakdown of Zhao et al. Table 4,
which also gives the optimizer's seconds per step, a fixed time that neither link nor the bubble
moves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType

from labs.common.facts import fact
from labs.common.interconnect import _dispatch_bytes
from labs.economics.checks import check_link, check_step_times, check_training_step
from labs.economics.costs import _attention_training_flops_per_token, _training_flops

__all__ = ["TrainingStep", "binding_bandwidth", "step_time", "v3_training_step"]


@dataclass(frozen=True, kw_only=True)
class TrainingStep:
    """One training step of an expert-parallel MoE model (the inputs of eqs. 5-8).

    Attributes:
        flops_per_token: training FLOPs per token (6N plus attention).
        tokens_per_step: the global batch, in tokens.
        n_gpus: GPUs sharing the step.
        peak_flops: dense peak of one GPU in FLOP/s.
        compute_efficiency: share of the peak delivered while computing, in (0, 1].
        n_moe_layers: MoE layers (each dispatches and combines every token).
        d_model: hidden size sent per copy.
        k: routed experts per token.
        ep_nodes: nodes the experts of one layer are spread over.
        max_nodes: node-limited routing, at most this many nodes per token, as V3's router
            picks them (None: no limit; `labs.common.interconnect`, eqs. 4-6).
        gpus_per_node: GPUs joined by NVLink in one node.
        n_experts: routed experts per MoE layer, spread evenly over the ep_nodes x gpus_per_node
            GPUs; a token picks k distinct ones (None: the limit of infinitely many, where the k
            draws are independent; see `labs.common.interconnect`).
        nvlink_gbs: achieved NVLink bandwidth per GPU, GB/s.
        ib_gbs: achieved InfiniBand bandwidth per GPU, GB/s.
        bytes_per_element: bytes moved per hidden-state element per MoE layer in a step (6: see
            the module docstring).
        bubble_fraction: pipeline bubble as a fraction of the busy time (>= 0).
        optimizer_seconds: seconds per step of the optimizer's update, added once (>= 0).
        overlap: whether communication overlaps computation (V3's DualPipe: True).
    """

    flops_per_token: float
    tokens_per_step: float
    n_gpus: int
    peak_flops: float
    compute_efficiency: float
    n_moe_layers: int
    d_model: int
    k: int
    ep_nodes: int
    max_nodes: int | None = None
    gpus_per_node: int = 8
    n_experts: int | None = None
    nvlink_gbs: float
    ib_gbs: float
    bytes_per_element: float = 6.0
    bubble_fraction: float = 0.0
    optimizer_seconds: float = 0.0
    overlap: bool = True

    def __post_init__(self) -> None:
        check_training_step(self)
        check_step_times(_step_time(self))  # fields in range, and so are their products


def step_time(step: TrainingStep) -> MappingProxyType:
    """Seconds of one training step (eqs. 5-8), with its parts.

    Returns:
        {"compute", "inter_node", "intra_node", "busy", "bubble", "optimizer", "total"} in
        seconds, and
        "bottleneck": the largest of compute, inter_node (InfiniBand) and intra_node (NVLink).
    """
    if not isinstance(step, TrainingStep):
        raise TypeError(f"step must be a TrainingStep, got {type(step).__name__}")
    return _step_time(step)


def _step_time(s: TrainingStep) -> MappingProxyType:
    """Eqs. (5)-(8)."""
    traffic = _dispatch_bytes(
        s.d_model, s.k, s.ep_nodes, s.max_nodes, s.gpus_per_node, s.bytes_per_element, s.n_experts
    )
    token_layers = s.tokens_per_step * s.n_moe_layers / s.n_gpus  # per GPU
    flops_per_gpu = s.flops_per_token * s.tokens_per_step / s.n_gpus
    times = {
        "compute": flops_per_gpu / (s.peak_flops * s.compute_efficiency),  # eq. (5)
        "inter_node": token_layers * traffic["inter_node"] / (s.ib_gbs * 1e9),  # eq. (6)
        "intra_node": token_layers * traffic["intra_node"] / (s.nvlink_gbs * 1e9),  # eq. (6)
    }
    busy = max(times.values()) if s.overlap else sum(times.values())  # eq. (7)
    bubble = busy * s.bubble_fraction  # eq. (8)
    return MappingProxyType(
        {
            **times,
            "busy": busy,
            "bubble": bubble,
            "optimizer": s.optimizer_seconds,
            "total": busy + bubble + s.optimizer_seconds,  # eq. (8)
            "bottleneck": max(times, key=times.get),
        }
    )


def binding_bandwidth(step: TrainingStep, link: str) -> float:
    """The bandwidth (GB/s) of `link` ("inter_node" or "intra_node") below which that link takes
    longer than the computation: with overlap, the point where it starts to set the step time."""
    if not isinstance(step, TrainingStep):
        raise TypeError(f"step must be a TrainingStep, got {type(step).__name__}")
    return _binding_bandwidth(step, check_link(link))


def _binding_bandwidth(s: TrainingStep, link: str) -> float:
    """Link bytes per step over the compute time: the bandwidth at which the two are equal."""
    t = _step_time(s)
    gbs = s.ib_gbs if link == "inter_node" else s.nvlink_gbs
    return gbs * t[link] / t["compute"]  # time scales as 1 / bandwidth


def v3_training_step(compute_efficiency: float, **changes) -> TrainingStep:
    """DeepSeek-V3's pre-training step from the facts registry, with `changes` applied.

    V3 §4.2: 61 layers of which the first 3 are dense, width 7168, 8 of 256 routed experts per
    token, at most 4 nodes per token, batch 15,360 sequences of 4,096 tokens; §3.2: experts of a
    layer on 64 GPUs of 8 nodes; §3.2.2: 160 GB/s NVLink and 50 GB/s InfiniBand per GPU; 2,048
    H800s at the BF16 dense peak. FLOPs per token: 6N plus causal attention (chapter 7, eq. 2 and
    after).
    `changes` are TrainingStep fields (e.g. ib_gbs=25.0, max_nodes=None, overlap=False).
    """
    c = fact("moe_v3_config").value
    attention = _attention_training_flops_per_token(
        fact("econ_v3_layers").value,
        fact("econ_v3_attention_heads").value,
        fact("econ_v3_qk_head_dim").value,
        fact("econ_v3_v_head_dim").value,
        fact("econ_v3_pretraining_seq_len").value,
    )
    base = TrainingStep(
        flops_per_token=_training_flops(fact("econ_v3_active_params").value, 1.0) + attention,
        tokens_per_step=float(
            fact("econ_v3_batch_sequences").value * fact("econ_v3_pretraining_seq_len").value
        ),
        n_gpus=fact("econ_v3_cluster_gpus").value,
        peak_flops=fact("econ_h800_sxm_bf16_tflops").value * 1e12,
        compute_efficiency=compute_efficiency,
        n_moe_layers=c["n_layers"] - c["n_dense_layers"],
        d_model=c["d_model"],
        k=c["k"],
        ep_nodes=fact("econ_v3_ep_nodes").value,
        max_nodes=c["max_nodes"],
        gpus_per_node=fact("moe_v3_gpus_per_node").value,
        n_experts=c["n_routed"],
        nvlink_gbs=fact("moe_v3_nvlink_gbs").value,
        ib_gbs=fact("moe_v3_ib_gbs").value,
    )
    return replace(base, **changes)
