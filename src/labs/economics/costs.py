"""What a training run costs, in GPU-hours, dollars and FLOPs, and what serving one costs.

Taught in chapter 7, "What the $5.576M covers" (eq. 1), "Counting the work: 6ND and MFU"
(eqs. 2-3) and "Self-host or call an API? The break-even" (eq. 4):

    cost   = GPU-hours x price per GPU-hour                                            (1)
    C      = 6 N D          (N active parameters, D tokens; Kaplan et al. §2.1)          (2)
    MFU    = C / (GPU-hours x 3600 x peak FLOP/s per GPU)                                 (3)
    T*     = F / (p_api - p_self)  tokens per month (F fixed cost per month, p per token)  (4)
    T*     = (F + n_units U) / p_api, n_units = max(1, ceil(F / (p_api C - U))) (priced)   (4')

Numbers for DeepSeek-V3 come from its report's Table 1 through the facts registry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

from labs.common.facts import fact
from labs.economics.checks import (
    check_attention_flops,
    check_breakeven,
    check_cost_row,
    check_mfu,
    check_per_trillion,
    check_price,
    check_serving,
    check_tokens_per_hour,
    check_training_cost,
    check_training_days,
    check_training_flops,
)

SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0


@dataclass(frozen=True, kw_only=True)
class TrainingStage:
    """One row of a training-cost table: a stage and the GPU-hours it used."""

    stage: str
    gpu_hours: float

    def __post_init__(self) -> None:
        check_cost_row(self)


@dataclass(frozen=True, kw_only=True)
class CostRow:
    """One row of `deepseek_v3_cost_table`: stage, H800 GPU-hours and dollars."""

    stage: str
    gpu_hours: float
    usd: float

    def __post_init__(self) -> None:
        check_cost_row(self)


# DeepSeek-V3 Table 1: GPU-hours per stage (the total row is recomputed, not stored).
DEEPSEEK_V3_TRAINING: tuple[TrainingStage, ...] = tuple(
    TrainingStage(stage=stage, gpu_hours=float(fact(key).value))
    for stage, key in (
        ("Pre-training", "econ_v3_pretraining_gpu_hours"),
        ("Context extension", "econ_v3_context_extension_gpu_hours"),
        ("Post-training", "econ_v3_post_training_gpu_hours"),
    )
)


def training_cost(gpu_hours: float, usd_per_gpu_hour: float) -> float:
    """Eq. (1): the rental cost in dollars of `gpu_hours` at `usd_per_gpu_hour`.

    Raises:
        ValueError: negative hours, or a price that is not > 0 (a price of zero is almost
            always a unit mistake, and it would make every run look free).
    """
    gpu_hours, usd_per_gpu_hour = check_training_cost(gpu_hours, usd_per_gpu_hour)
    return _training_cost(gpu_hours, usd_per_gpu_hour)


def _training_cost(gpu_hours: float, usd_per_gpu_hour: float) -> float:
    """Eq. (1)."""
    return gpu_hours * usd_per_gpu_hour  # eq. (1)


def deepseek_v3_cost_table(usd_per_gpu_hour: float = 2.0) -> tuple[CostRow, ...]:
    """DeepSeek-V3 Table 1 recomputed: one row per stage, then a "Total" row.

    At the report's assumed $2 per H800 GPU-hour this gives $5,328,000, $238,000, $10,000 and
    $5,576,000. The table covers the official training run only: not the research and ablations
    before it, the data, the salaries, or the cluster itself.
    """
    usd_per_gpu_hour = check_price(usd_per_gpu_hour)
    return _deepseek_v3_cost_table(usd_per_gpu_hour)


def _deepseek_v3_cost_table(usd_per_gpu_hour: float) -> tuple[CostRow, ...]:
    """Table 1: every stage at one price, then the total."""
    rows = [
        CostRow(
            stage=s.stage, gpu_hours=s.gpu_hours, usd=_training_cost(s.gpu_hours, usd_per_gpu_hour)
        )
        for s in DEEPSEEK_V3_TRAINING
    ]
    hours = sum(r.gpu_hours for r in rows)
    rows.append(
        CostRow(stage="Total", gpu_hours=hours, usd=_training_cost(hours, usd_per_gpu_hour))
    )
    return tuple(rows)


def training_flops(active_params: float, tokens: float) -> float:
    """Eq. (2): training compute C = 6 N D in FLOPs.

    2 N FLOPs per token for the forward pass (one multiply and one add per active weight), twice
    that for the backward pass. For a mixture-of-experts model N counts only the parameters a
    token activates. It leaves out attention over the context (see
    `attention_training_flops_per_token`), recomputation, and work outside the main model (the
    V3 multi-token-prediction module, evaluation runs).
    """
    active_params, tokens = check_training_flops(active_params, tokens)
    return _training_flops(active_params, tokens)


def _training_flops(active_params: float, tokens: float) -> float:
    """Eq. (2): 2 N forward + 4 N backward FLOPs per token."""
    return 6.0 * active_params * tokens  # eq. (2)


def attention_training_flops_per_token(
    n_layers: int, n_heads: int, qk_head_dim: int, v_head_dim: int, seq_len: int
) -> float:
    """Training FLOPs per token spent on attention scores and their weighted sum, which 6ND omits.

    Per layer and head, a token's query meets the keys before it (seq_len / 2 on average under a
    causal mask): 2 * qk_head_dim FLOPs per score and 2 * v_head_dim per weighted value. Forward
    plus backward is three times the forward pass:

        3 * 2 * n_layers * n_heads * (qk_head_dim + v_head_dim) * seq_len / 2
    """
    sizes = check_attention_flops(n_layers, n_heads, qk_head_dim, v_head_dim, seq_len)
    return _attention_training_flops_per_token(*sizes)


def _attention_training_flops_per_token(
    n_layers: int, n_heads: int, qk_head_dim: int, v_head_dim: int, seq_len: int
) -> float:
    """Forward + backward attention FLOPs per token under a causal mask (Python ints: exact)."""
    return 3 * 2 * n_layers * n_heads * (qk_head_dim + v_head_dim) * seq_len / 2


def model_flops_utilization(flops: float, gpu_hours: float, peak_flops_per_gpu: float) -> float:
    """Eq. (3): the fraction of the hardware's peak that the useful FLOPs `flops` represent.

    Args:
        flops: the model FLOPs of the run (e.g. `training_flops(...)`).
        gpu_hours: the GPU-hours the run took.
        peak_flops_per_gpu: the dense peak of one GPU in FLOP/s (not TFLOP/s).

    Returns:
        MFU as a fraction (0.35 means 35 %). A value above 1 means the inputs are inconsistent
        (wrong units, or a peak for the wrong precision), so it raises instead.
    """
    flops, gpu_hours, peak_flops_per_gpu = check_mfu(flops, gpu_hours, peak_flops_per_gpu)
    return _model_flops_utilization(flops, gpu_hours, peak_flops_per_gpu)


def _model_flops_utilization(flops: float, gpu_hours: float, peak_flops_per_gpu: float) -> float:
    """Eq. (3): useful FLOPs over the FLOPs the hours could have done at peak."""
    return flops / (gpu_hours * SECONDS_PER_HOUR * peak_flops_per_gpu)  # eq. (3)


def gpu_hours_per_trillion_tokens(gpu_hours: float, tokens: float) -> float:
    """GPU-hours spent per 10^12 training tokens (V3 reports 180K H800 GPU-hours)."""
    gpu_hours, tokens = check_per_trillion(gpu_hours, tokens)
    return _gpu_hours_per_trillion_tokens(gpu_hours, tokens)


def _gpu_hours_per_trillion_tokens(gpu_hours: float, tokens: float) -> float:
    """GPU-hours per 10^12 tokens."""
    return gpu_hours / (tokens / 1e12)


def tokens_per_gpu_hour(active_params: float, peak_flops_per_gpu: float, mfu: float) -> float:
    """Training tokens one GPU processes per hour at utilisation `mfu`, under C = 6 N D.

    The inverse view of eq. (3): a GPU delivering mfu * peak FLOP/s spends 6 N FLOPs per token.
    `mfu` is a fraction in (0, 1].
    """
    active_params, peak, mfu = check_tokens_per_hour(active_params, peak_flops_per_gpu, mfu)
    return _tokens_per_gpu_hour(active_params, peak, mfu)


def _tokens_per_gpu_hour(active_params: float, peak_flops_per_gpu: float, mfu: float) -> float:
    """Eq. (3) inverted: delivered FLOPs per hour over 6 N FLOPs per token."""
    return mfu * peak_flops_per_gpu * SECONDS_PER_HOUR / (6.0 * active_params)


def training_days(gpu_hours: float, n_gpus: int) -> float:
    """Wall-clock days for `gpu_hours` spread evenly over `n_gpus` GPUs."""
    gpu_hours, n_gpus = check_training_days(gpu_hours, n_gpus)
    return _training_days(gpu_hours, n_gpus)


def _training_days(gpu_hours: float, n_gpus: int) -> float:
    """The GPUs run at the same time: hours per GPU, in days."""
    return gpu_hours / n_gpus / HOURS_PER_DAY


def self_hosting_breakeven(
    monthly_fixed_usd: float,
    api_usd_per_million_tokens: float,
    self_host_usd_per_million_tokens: float,
) -> float:
    """Eq. (4): tokens per month above which hosting an open model yourself beats an API.

    Self-hosting costs `monthly_fixed_usd` (engineers, storage, idle machines) plus a marginal
    price per token; the API costs only its price per token. The two bills are equal at
    T* = F / (p_api - p_self) tokens per month.

    Returns:
        T* in tokens per month; `math.inf` when self-hosting's marginal price is not below the
        API's (no volume ever pays back the fixed cost).

    Raises:
        ValueError: a negative fixed cost or self-hosting price, or an API price that is not > 0.
    """
    fixed, api, own = check_breakeven(
        monthly_fixed_usd, api_usd_per_million_tokens, self_host_usd_per_million_tokens
    )
    return _self_hosting_breakeven(fixed, api, own)


def _self_hosting_breakeven(monthly_fixed_usd: float, api_usd: float, own_usd: float) -> float:
    """Eq. (4), with prices per million tokens."""
    if own_usd >= api_usd:
        return math.inf  # every token costs more at home: no volume pays back the fixed cost
    return monthly_fixed_usd / (api_usd - own_usd) * 1e6  # eq. (4), in tokens per month


def priced_self_hosting_breakeven(
    monthly_people_usd: float,
    api_usd_per_million_tokens: float,
    node_usd_per_hour: float,
    node_tokens_per_second: float,
    nodes_per_unit: int = 1,
    hours_per_month: float = 730.0,
) -> MappingProxyType:
    """Eq. (4'): the break-even of eq. (4) with the hardware priced instead of free.

    Self-hosting is bought in deployment units of `nodes_per_unit` nodes (the fewest that hold
    the model), rented by the hour or amortised to an hourly price, around the clock. A unit costs
    U = nodes_per_unit x node_usd_per_hour x hours_per_month a month and serves at most
    C = nodes_per_unit x node_tokens_per_second x 3600 x hours_per_month tokens. For T tokens a
    month the self-hosting bill is F + ceil(T / C) U (at least one unit), the API's p T. The first
    volume at which self-hosting is no dearer is T* = (F + n_units U) / p with n_units the fewest
    units for which that volume fits, n_units = max(1, ceil(F / (p C - U))); if p C <= U a unit
    costs more than the API would charge for everything it can serve, and no volume pays
    (T* = inf). Past T* each added unit briefly costs up to U more than the API before the volume
    catches up.

    Returns:
        {"tokens_per_month": T*, "units": n_units (0 when never), "unit_usd_per_month": U,
        "unit_tokens_per_month": C, "usd_per_million_at_capacity": U / C x 10^6, the marginal
        price of a token on a fully used unit}.
    """
    args = check_serving(
        monthly_people_usd,
        api_usd_per_million_tokens,
        node_usd_per_hour,
        node_tokens_per_second,
        nodes_per_unit,
        hours_per_month,
    )
    return _priced_self_hosting_breakeven(*args)


def _priced_self_hosting_breakeven(
    people: float, api: float, node_usd: float, node_tps: float, nodes: int, hours: float
) -> MappingProxyType:
    """Eq. (4'), prices per million tokens turned into prices per token."""
    p = api / 1e6
    unit_usd = nodes * node_usd * hours  # U
    unit_tokens = nodes * node_tps * SECONDS_PER_HOUR * hours  # C
    margin = p * unit_tokens - unit_usd  # what a full unit saves against the API, per month
    if margin <= 0:
        units, tokens = 0, math.inf
    else:
        units = max(1, math.ceil(people / margin))  # n_units
        tokens = (people + units * unit_usd) / p  # eq. (4')
    return MappingProxyType(
        {
            "tokens_per_month": tokens,
            "units": units,
            "unit_usd_per_month": unit_usd,
            "unit_tokens_per_month": unit_tokens,
            "usd_per_million_at_capacity": unit_usd / unit_tokens * 1e6,
        }
    )
