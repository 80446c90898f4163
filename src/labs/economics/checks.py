"""Argument checks for chapter 7, written once and shared by every entry point of the chapter.

The checks of plain numbers live here: costs, hardware specs, the widgets' defaults, the
step-time and serving models. Two modules beside it hold the rest, by idea:
`labs.economics.matmul_checks` checks the arrays, dtypes, devices and keys of the matrix multiply
and its timers (the NumPy, PyTorch and JAX paths call the same functions, so a rule is stated once
and holds on every path), and `labs.economics.research_checks` the shots simulator's arguments and
caps. Every name of `matmul_checks` is re-exported here, so `labs.economics.checks.check_timer`
still works. Each check raises a `ValueError` or `TypeError` that names the parameter, says what
was expected and what came.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from labs.common.interconnect import check_expert_spread
from labs.common.validate import describe_value, instance, integer, one_of, real_number, size, text

# Re-exported (the `as` form marks them as such): the matrix multiply's checks and caps.
from labs.economics.matmul_checks import MAX_MATMUL_N as MAX_MATMUL_N
from labs.economics.matmul_checks import MAX_REPEATS as MAX_REPEATS
from labs.economics.matmul_checks import MAX_SEED as MAX_SEED
from labs.economics.matmul_checks import check_float_dtype as check_float_dtype
from labs.economics.matmul_checks import check_flop_sizes as check_flop_sizes
from labs.economics.matmul_checks import check_init as check_init
from labs.economics.matmul_checks import check_jax_device as check_jax_device
from labs.economics.matmul_checks import check_jax_key as check_jax_key
from labs.economics.matmul_checks import check_matmul as check_matmul
from labs.economics.matmul_checks import check_matrix as check_matrix
from labs.economics.matmul_checks import check_matrix_size as check_matrix_size
from labs.economics.matmul_checks import check_params as check_params
from labs.economics.matmul_checks import check_timer as check_timer
from labs.economics.matmul_checks import check_torch_device as check_torch_device

# Internal helpers: the hostile-input walker reaches them through the public functions they guard.
__all__: list[str] = []

# --- Ranges and choices -------------------------------------------------------------------------

# The widgets' sliders: a default outside a slider's range would be clipped without a word.
CALCULATOR_RANGES = {
    "gpu_hours": (1e3, 1e8),
    "usd_per_gpu_hour": (0.1, 10.0),
    "n_gpus": (1, 32_768),
    "active_params": (1e8, 1e12),
    "tokens": (1e9, 1e14),
}
# The shots simulator widget redraws 2 labs x 25 budgets x 400 worlds on every slider move.
MAX_WIDGET_IDEAS = 1_000
PRECISIONS = ("bf16", "fp8", "fp16")


# --- Costs (costs.py) ----------------------------------------------------------------------------


def _finite_result(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{what} overflows a float64; check the units")
    return value


def check_price(usd_per_gpu_hour) -> float:
    """A price per GPU-hour > 0 (a price of zero is almost always a unit mistake)."""
    return real_number("usd_per_gpu_hour", usd_per_gpu_hour, positive=True)


def check_training_cost(gpu_hours, usd_per_gpu_hour) -> tuple[float, float]:
    """Hours >= 0 and a price > 0."""
    gpu_hours = real_number("gpu_hours", gpu_hours, nonnegative=True)
    price = check_price(usd_per_gpu_hour)
    _finite_result(gpu_hours * price, "gpu_hours * usd_per_gpu_hour")
    return gpu_hours, price


def check_training_flops(active_params, tokens) -> tuple[float, float]:
    active_params = real_number("active_params", active_params, positive=True)
    tokens = real_number("tokens", tokens, nonnegative=True)
    _finite_result(6.0 * active_params * tokens, "6 * active_params * tokens")
    return active_params, tokens


def check_attention_flops(n_layers, n_heads, qk_head_dim, v_head_dim, seq_len) -> tuple[int, ...]:
    names = ("n_layers", "n_heads", "qk_head_dim", "v_head_dim", "seq_len")
    values = (n_layers, n_heads, qk_head_dim, v_head_dim, seq_len)
    return tuple(integer(name, value, minimum=1) for name, value in zip(names, values, strict=True))


def check_mfu(flops, gpu_hours, peak_flops_per_gpu) -> tuple[float, float, float]:
    """Also refuses inputs that imply a utilisation above 1 (wrong units, wrong precision)."""
    flops = real_number("flops", flops, nonnegative=True)
    gpu_hours = real_number("gpu_hours", gpu_hours, positive=True)
    peak = real_number("peak_flops_per_gpu", peak_flops_per_gpu, positive=True)
    possible = _finite_result(gpu_hours * 3600.0 * peak, "gpu_hours * 3600 * peak_flops_per_gpu")
    if flops > possible:
        raise ValueError(
            f"the implied utilisation is {flops / possible:.3g} > 1: flops={flops:.4g} cannot be "
            f"done in gpu_hours={gpu_hours:.4g} at peak_flops_per_gpu={peak:.4g} FLOP/s "
            "(check the units: the peak is in FLOP/s, not TFLOP/s)"
        )
    return flops, gpu_hours, peak


def check_ridge(peak_tflops, memory_gbs, bytes_per_element) -> tuple[float, float, float]:
    peak = real_number("peak_tflops", peak_tflops, positive=True)
    bandwidth = real_number("memory_gbs", memory_gbs, positive=True)
    nbytes = real_number("bytes_per_element", bytes_per_element, positive=True, maximum=64.0)
    _finite_result(
        1.5 * nbytes * peak * 1e12 / (bandwidth * 1e9),
        "1.5 * bytes_per_element * peak_tflops / memory_gbs (the ridge size)",
    )
    return peak, bandwidth, nbytes


def check_per_trillion(gpu_hours, tokens) -> tuple[float, float]:
    return (
        real_number("gpu_hours", gpu_hours, nonnegative=True),
        real_number("tokens", tokens, positive=True),
    )


def check_tokens_per_hour(active_params, peak_flops_per_gpu, mfu) -> tuple[float, float, float]:
    active_params = real_number("active_params", active_params, positive=True)
    peak = real_number("peak_flops_per_gpu", peak_flops_per_gpu, positive=True)
    mfu = real_number("mfu", mfu, positive=True)
    if mfu > 1.0:
        raise ValueError(f"mfu must be a fraction in (0, 1], got {mfu}")
    _finite_result(mfu * peak * 3600.0, "mfu * peak_flops_per_gpu * 3600")
    return active_params, peak, mfu


def check_training_days(gpu_hours, n_gpus) -> tuple[float, int]:
    return (
        real_number("gpu_hours", gpu_hours, nonnegative=True),
        integer("n_gpus", n_gpus, minimum=1),
    )


def check_breakeven(monthly_fixed_usd, api_usd, own_usd) -> tuple[float, float, float]:
    """A fixed cost >= 0, an API price > 0 and a self-hosting price >= 0 (per million tokens).

    Where self-hosting is cheaper per token, the break-even must be a finite number: an overflow
    would return inf, which the function reserves for "no volume ever pays".
    """
    fixed = real_number("monthly_fixed_usd", monthly_fixed_usd, nonnegative=True)
    api = real_number("api_usd_per_million_tokens", api_usd, positive=True)
    own = real_number("self_host_usd_per_million_tokens", own_usd, nonnegative=True)
    if own < api:
        _finite_result(fixed / (api - own) * 1e6, "monthly_fixed_usd / (api - self-host price)")
    return fixed, api, own


def check_cost_row(row) -> None:
    """The fields of a TrainingStage or a CostRow: a stage name and non-negative amounts."""
    text("stage", row.stage)
    real_number("gpu_hours", row.gpu_hours, nonnegative=True)
    if hasattr(row, "usd"):
        real_number("usd", row.usd, nonnegative=True)


# --- Hardware (hardware.py) ----------------------------------------------------------------------


def check_hardware_spec(spec) -> None:
    """Text fields non-empty; peaks None (no such tensor units) or > 0; rates and prices > 0."""
    for name in ("name", "interconnect", "key"):
        text(name, getattr(spec, name))
    for name in ("bf16_tflops", "fp8_tflops", "fp16_tflops"):
        if getattr(spec, name) is not None:
            real_number(name, getattr(spec, name), positive=True)
    for name in ("memory_gbs", "interconnect_gbs", "usd_per_hour"):
        real_number(name, getattr(spec, name), positive=True)


def check_precision(precision) -> str:
    if not isinstance(precision, str):
        raise TypeError(f"precision must be one of {PRECISIONS}, got {describe_value(precision)}")
    return one_of("precision", precision, PRECISIONS)


def check_hardware_name(name, registry: Mapping, parameter: str = "name") -> str:
    """`name` if it is a key of `registry`; the error lists the known names."""
    if not isinstance(name, str):
        raise TypeError(
            f"{parameter} must be a string such as 'H800 SXM', got {describe_value(name)}"
        )
    if name not in registry:
        known = ", ".join(map(repr, registry))
        raise ValueError(f"{parameter} must be one of {known}; got {name!r}")
    return name


# --- The widgets (widgets.py) --------------------------------------------------------------------


def check_calculator(**values) -> dict:
    """The cost calculator's defaults, each inside its slider's range (CALCULATOR_RANGES)."""
    for name, value in values.items():
        low, high = CALCULATOR_RANGES[name]
        if name == "n_gpus":
            integer(name, value, minimum=low, maximum=high)
        else:
            real_number(name, value, minimum=low, maximum=high)
    return values


# --- The training step-time model (steptime.py) --------------------------------------------------

# Bandwidths in GB/s: 10**6 GB/s (a petabyte per second per GPU) is far above any link; a value
# beyond it is a unit mistake (bytes per second passed as GB/s).
MAX_LINK_GBS = 1e6
LINKS = ("inter_node", "intra_node")


def check_training_step(step) -> None:
    """A TrainingStep's fields: positive sizes, fractions in range, node limits that fit, experts
    that spread evenly over the GPUs with at least k on the nodes a token may use."""
    for name in ("flops_per_token", "tokens_per_step", "peak_flops"):
        real_number(name, getattr(step, name), positive=True)
    for name in ("nvlink_gbs", "ib_gbs"):
        real_number(name, getattr(step, name), positive=True, maximum=MAX_LINK_GBS)
    efficiency = real_number("compute_efficiency", step.compute_efficiency, positive=True)
    if efficiency > 1.0:
        raise ValueError(f"compute_efficiency must be a fraction in (0, 1], got {efficiency}")
    real_number("bubble_fraction", step.bubble_fraction, nonnegative=True, maximum=10.0)
    # A day per step is far beyond any optimizer update; more is a unit mistake (ms passed as s).
    real_number("optimizer_seconds", step.optimizer_seconds, nonnegative=True, maximum=86_400.0)
    real_number("bytes_per_element", step.bytes_per_element, positive=True, maximum=64.0)
    integer("n_gpus", step.n_gpus, minimum=1, maximum=10**7)
    integer("n_moe_layers", step.n_moe_layers, minimum=0, maximum=10**4)
    size("d_model", step.d_model, maximum=2**16)
    k = size("k", step.k, maximum=2**16)
    ep_nodes = size("ep_nodes", step.ep_nodes, maximum=2**16)
    if step.max_nodes is not None:
        integer("max_nodes", step.max_nodes, minimum=1, maximum=ep_nodes)
    gpus_per_node = size("gpus_per_node", step.gpus_per_node, maximum=1024)
    if step.n_experts is not None:
        check_expert_spread(
            step.n_experts, k, ep_nodes, step.max_nodes, gpus_per_node, nodes_name="ep_nodes"
        )
    instance("overlap", step.overlap, bool, "True or False")


def check_step_times(times) -> None:
    """The times a valid TrainingStep gives (labs.economics.steptime's eqs. 5-6): every field may
    be in range while a product is not. The compute time divides the links' (binding_bandwidth),
    so it must be a positive, finite number of seconds, and the link times must be finite."""
    compute = times["compute"]
    if not (math.isfinite(compute) and compute > 0):
        raise ValueError(
            "the step's compute time, flops_per_token x tokens_per_step / (n_gpus x peak_flops x "
            f"compute_efficiency), must be a positive finite number of seconds, got {compute}; "
            "check the units"
        )
    for link in ("inter_node", "intra_node"):
        _finite_result(times[link], "the step's link time")


def check_link(link) -> str:
    return one_of("link", link, LINKS)


def check_serving(monthly_people_usd, api_usd, node_usd_per_hour, node_tokens_per_second,
                  nodes_per_unit, hours_per_month) -> tuple:  # fmt: skip
    """Priced self-hosting: costs >= 0, prices and throughputs > 0, whole nodes; and a unit's
    monthly price U, capacity C, price per token U / C, the units needed and the break-even volume
    all finite (an overflow would read as "never pays" or as a free token)."""
    args = (
        real_number("monthly_people_usd", monthly_people_usd, nonnegative=True),
        real_number("api_usd_per_million_tokens", api_usd, positive=True),
        real_number("node_usd_per_hour", node_usd_per_hour, positive=True),
        real_number("node_tokens_per_second", node_tokens_per_second, positive=True),
        integer("nodes_per_unit", nodes_per_unit, minimum=1, maximum=10**5),
        real_number("hours_per_month", hours_per_month, positive=True, maximum=744.0),
    )
    people, api, node_usd, node_tps, nodes, hours = args
    unit_usd = _finite_result(nodes * node_usd * hours, "the unit's monthly price")
    unit_tokens = nodes * node_tps * 3600.0 * hours
    if not (math.isfinite(unit_tokens) and unit_tokens > 0):
        raise ValueError(f"the unit's monthly capacity must be a positive finite number of tokens, "
                         f"got {unit_tokens}; check node_tokens_per_second")  # fmt: skip
    _finite_result(unit_usd / unit_tokens * 1e6, "the unit's price per million tokens")
    margin = api / 1e6 * unit_tokens - unit_usd  # what a full unit saves against the API
    if margin > 0:
        units = math.ceil(max(1.0, _finite_result(people / margin, "the units needed")))
        _finite_result((people + units * unit_usd) / api * 1e6, "the break-even volume")
    return args
