"""Chapter 7, the economics of constraint: what a training run costs, what export controls cut,
and whether scarcity or capital finds breakthroughs.

Framework-free (NumPy only). The pieces:

* `labs.economics.costs`: training cost, 6ND, MFU, GPU-hours per token, self-hosting break-even
  ("What the $5.576M covers", "Counting the work: 6ND and MFU", "Self-host or call an API? The
  break-even").
* `labs.economics.billing`: what an API bills per request with the prompt counted, and what a
  node serves when it reads the prompts too ("Self-host or call an API? The break-even").
* `labs.economics.ownership`: rent or own, the cost of an owned GPU per useful hour, the
  break-even utilisation, and a fleet's utilisation from its average and peak ("Rent or own? How
  busy the fleet is").
* `labs.economics.serving`: a roofline ceiling on one decoding unit's rate, with MLA's decode
  attention FLOPs ("A ceiling for the two-node unit").
* `labs.economics.hardware`: the hardware registry ("H800 versus H100: what the export rules cut").
* `labs.economics.reference`: the one kernel the chapter measures, a matrix multiply, with its
  FLOP count, a timer and its roofline crossover; `labs.economics.torch` and `labs.economics.jax`
  time the same product ("Measure it yourself: a matrix multiply against the peak", "When does it
  pay?").
* `labs.economics.steptime`: the training step-time model, compute against NVLink and InfiniBand
  ("The link that binds"), on the traffic model shared with chapter 4 (`labs.common.interconnect`).
* `labs.economics.research`: the shots simulator, with round-robin or adaptive re-tests ("The
  shots argument"); `labs.economics.rank_reversal`: what its noise means, the share of pairs of
  ideas that small runs put in the wrong order ("What is the noise?").
* `labs.economics.checks`: the argument checks every path shares (`matmul_checks`: the matrix
  multiply's arrays, dtypes and devices; `research_checks`: the shots simulator's).
"""

from __future__ import annotations

from labs.economics.billing import (
    DEEPSEEK_API_PRICES,
    MARGIN_DEFINITIONS,
    ApiPrices,
    margin,
    output_tokens_per_second_with_prefill,
)
from labs.economics.costs import (
    DEEPSEEK_V3_TRAINING,
    CostRow,
    TrainingStage,
    attention_training_flops_per_token,
    deepseek_v3_cost_table,
    gpu_hours_per_trillion_tokens,
    model_flops_utilization,
    priced_self_hosting_breakeven,
    self_hosting_breakeven,
    tokens_per_gpu_hour,
    training_cost,
    training_days,
    training_flops,
)
from labs.economics.hardware import HARDWARE, HardwareSpec, hardware, hardware_for_device_name
from labs.economics.ownership import (
    breakeven_purchase_usd,
    breakeven_utilisation,
    fleet_utilisation,
    owned_usd_per_hour,
    usd_per_useful_hour,
)
from labs.economics.reference import (
    matmul,
    matmul_flops,
    matmul_ridge_size,
    measure_matmul_tflops,
)
from labs.economics.research import (
    ALLOCATIONS,
    DEFAULT_IDEA_SPREAD,
    DEFAULT_PREDICTION_NOISE,
    ResearchProgramResult,
    Scenario,
    prediction_noise_for_rank_reversal,
    rank_reversal_probability,
    shots_affordable,
    simulate_research_program,
)
from labs.economics.serving import decode_ceiling, mla_decode_flops_per_cached_token
from labs.economics.steptime import TrainingStep, binding_bandwidth, step_time, v3_training_step

__all__ = [
    "ALLOCATIONS",
    "DEEPSEEK_API_PRICES",
    "DEEPSEEK_V3_TRAINING",
    "DEFAULT_IDEA_SPREAD",
    "DEFAULT_PREDICTION_NOISE",
    "HARDWARE",
    "MARGIN_DEFINITIONS",
    "CostRow",
    "HardwareSpec",
    "ApiPrices",
    "ResearchProgramResult",
    "Scenario",
    "TrainingStage",
    "TrainingStep",
    "attention_training_flops_per_token",
    "binding_bandwidth",
    "breakeven_purchase_usd",
    "breakeven_utilisation",
    "decode_ceiling",
    "deepseek_v3_cost_table",
    "fleet_utilisation",
    "gpu_hours_per_trillion_tokens",
    "hardware",
    "hardware_for_device_name",
    "margin",
    "matmul",
    "matmul_flops",
    "matmul_ridge_size",
    "mla_decode_flops_per_cached_token",
    "measure_matmul_tflops",
    "model_flops_utilization",
    "output_tokens_per_second_with_prefill",
    "owned_usd_per_hour",
    "prediction_noise_for_rank_reversal",
    "priced_self_hosting_breakeven",
    "rank_reversal_probability",
    "self_hosting_breakeven",
    "shots_affordable",
    "simulate_research_program",
    "step_time",
    "tokens_per_gpu_hour",
    "training_cost",
    "training_days",
    "training_flops",
    "usd_per_useful_hour",
    "v3_training_step",
]
