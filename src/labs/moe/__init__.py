"""Chapter 4, Mixture-of-Experts: fine-grained and shared experts, auxiliary-loss-free
balancing, expert parallelism, and when sparsity pays.

Framework-free: the configuration (`labs.moe.config`), the NumPy reference of V3's routing,
balancing and DeepSeekMoE layer (`labs.moe.reference`), the cost models of parameters, FLOPs and
expert-parallel traffic (`labs.moe.comm`), and the roofline of a MoE layer against a dense one on
one accelerator (`labs.moe.roofline`). `labs.moe.torch` and `labs.moe.jax` hold the same
layer in each framework (JAX also shards it over devices); `labs.moe.checks` the argument checks
all of them share.
"""

from labs.moe.comm import (
    GPUS,
    dispatch_bytes_per_token,
    moe_flops_per_token,
    moe_layer_time,
    v3_parameter_counts,
)
from labs.moe.config import DEEPSEEK_V3_MOE, MoEConfig
from labs.moe.reference import (
    aux_balance_loss,
    expert_load,
    init_params,
    load_imbalance,
    moe_forward,
    node_limited_route,
    route,
    sequence_balance_loss,
    update_bias,
)
from labs.moe.roofline import (
    DEVICES,
    device_limits,
    expert_crossover,
    experts_hit,
    layer_seconds,
    memory_bound_batch,
    registry_device,
    ridge_tokens,
)

__all__ = [
    "DEEPSEEK_V3_MOE",
    "DEVICES",
    "GPUS",
    "MoEConfig",
    "aux_balance_loss",
    "device_limits",
    "dispatch_bytes_per_token",
    "expert_crossover",
    "expert_load",
    "experts_hit",
    "init_params",
    "layer_seconds",
    "load_imbalance",
    "memory_bound_batch",
    "moe_flops_per_token",
    "moe_forward",
    "moe_layer_time",
    "node_limited_route",
    "registry_device",
    "ridge_tokens",
    "route",
    "sequence_balance_loss",
    "update_bias",
    "v3_parameter_counts",
]
