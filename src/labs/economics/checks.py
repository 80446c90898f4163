"""Argument checks for chapter 7, written once and shared by every entry point of the chapter.

The NumPy reference, the PyTorch and the JAX paths call the same functions here (array checks
take anything with `.shape` and `.dtype`), so a rule is stated once and holds on every path.
Each raises a `ValueError` or `TypeError` that names the parameter, says what was expected and
what came. torch and JAX are imported inside the functions that need them, so that importing
`labs.economics` stays framework-free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from labs.common.interconnect import check_expert_spread
from labs.common.validate import (
    MAX_ELEMENTS,
    array,
    describe_value,
    float_dtype,
    instance,
    integer,
    jax_key,
    one_of,
    real_number,
    size,
    text,
    torch_device_arg,
)

# Internal helpers: the hostile-input walker reaches them through the public functions they guard.
__all__: list[str] = []

# --- Caps on sizes a typo could blow up ----------------------------------------------------------

# The timers multiply two n x n matrices: n = 16,384 is 2**28 elements per matrix (1 GiB in
# float32, validate.MAX_ELEMENTS), already minutes on a CPU; beyond it a typo would exhaust memory.
MAX_MATMUL_N = 16_384
# Best-of-`repeats` settles after a handful of runs; 1,000 keeps a mistyped count from hanging.
MAX_REPEATS = 1_000
# Seeds every framework's generator takes alike (NumPy, torch.Generator, jax.random.key).
MAX_SEED = 2**32 - 1
# Shots are counted in float64 before they become int64: past 10**15 the count is no longer
# exact, and far past it (2**63) it would wrap to a negative number.
MAX_SHOTS = 10**15
# The shots simulator keeps a call to seconds and its memory to megabytes: past 10,000 runs of
# every idea the noise of each estimate has fallen a hundredfold; 20 million (trial, idea) pairs
# is 160 MB per array; and 2 * 10**8 (trial, idea) visits, counting one visit per round of shots
# and four per budget, is about five seconds of work.
MAX_ROUNDS = 10_000
MAX_TRIAL_IDEAS = 20_000_000
MAX_WORK = 2 * 10**8
# The ideas' spread and the shots' noise are squared and divided by each other in float64: a
# spread outside [1e-100, 1e100], or a noise over a million spreads (a rank reversal within 3e-7
# of a half: the shots say nothing), would underflow or overflow.
MIN_SPREAD, MAX_SPREAD, MAX_NOISE_RATIO = 1e-100, 1e100, 1e6
# How a lab spends the shots left after testing every idea once (labs.economics.research).
ALLOCATIONS = ("round-robin", "leader", "upper-confidence")
# "upper-confidence" re-tests the highest posterior mean plus this many posterior standard
# deviations by default ("leader": none).
UPPER_CONFIDENCE_SDS = 2.0
# An adaptive lab spends those shots one at a time: each scans the (trial, idea) table for its
# argmax (about a fiftieth of a round's visit per entry), updates one idea per trial (about 8
# visits per trial) and pays Python's loop (about 2,000 visits, 25 us); measured on a CPU.
RETEST_LOOP_VISITS, RETEST_TRIAL_VISITS, RETEST_SCANS_PER_VISIT = 2_000, 8, 50
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


# --- The shots simulator (research.py) -----------------------------------------------------------


def check_budgets(name: str, value) -> np.ndarray:
    """A budget >= 0 or a 1-D array of them, as float64 (whole-dollar integer arrays welcome)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number or an array of numbers, got bool")
    if np.isscalar(value):
        budgets = np.array([real_number(name, value)], dtype=np.float64)
    else:
        budgets = array(name, value, dtype=("float", "int"), min_ndim=1)
        if budgets.ndim != 1:
            raise ValueError(f"{name} must be a number or a 1-D array, got shape {budgets.shape}")
        budgets = budgets.astype(np.float64)
    if np.any(budgets < 0):
        raise ValueError(f"{name} must be >= 0, got {budgets[budgets < 0][0]}")
    return budgets


def check_shot_cost(cost_per_shot, hardware_cost_factor) -> float:
    """The price of one shot, cost_per_shot * hardware_cost_factor: both > 0, the product finite."""
    cost = real_number("cost_per_shot", cost_per_shot, positive=True)
    factor = real_number("hardware_cost_factor", hardware_cost_factor, positive=True)
    if not 0.0 < cost * factor < math.inf:
        raise ValueError(
            f"cost_per_shot * hardware_cost_factor must be a positive finite price, got "
            f"{cost!r} * {factor!r}"
        )
    return cost * factor


def check_shots(budgets: np.ndarray, cost: float) -> None:
    """Refuse budgets that buy more than MAX_SHOTS shots (not exact in float64)."""
    most = float(budgets.max()) / cost if budgets.size else 0.0
    if most > MAX_SHOTS:
        raise ValueError(
            f"budget_usd / (cost_per_shot * hardware_cost_factor) must be <= {MAX_SHOTS:.0e} "
            f"shots (a count beyond it is not exact in float64), got {most:.3g}"
        )


def check_world(n_ideas, prediction_noise, idea_spread, prior_skill) -> tuple:
    """The world of the shots simulator: n_ideas >= 2, noise >= 0, spread > 0, skill in [0, 1)."""
    n_ideas = size(
        "n_ideas", n_ideas, minimum=2, maximum=MAX_TRIAL_IDEAS, why="160 MB per array of ideas"
    )
    noise = real_number("prediction_noise", prediction_noise, nonnegative=True)
    spread = real_number("idea_spread", idea_spread, positive=True)
    # The simulator squares both and divides one by the other: keep them where float64 can.
    if not MIN_SPREAD <= spread <= MAX_SPREAD:
        raise ValueError(f"idea_spread must be in [{MIN_SPREAD:g}, {MAX_SPREAD:g}], got {spread}")
    if noise > MAX_NOISE_RATIO * spread:
        raise ValueError(
            f"prediction_noise must be at most {MAX_NOISE_RATIO:g} x idea_spread "
            f"({MAX_NOISE_RATIO * spread:g}), got {noise}: shots that noisy carry no information"
        )
    rho = real_number("prior_skill", prior_skill, nonnegative=True)
    if rho >= 1.0:
        raise ValueError(f"prior_skill must be in [0, 1), got {rho} (1 would be foresight)")
    return n_ideas, noise, spread, rho


def check_trials(n_trials, seed) -> tuple[int, int]:
    n_trials = size(
        "n_trials", n_trials, maximum=MAX_TRIAL_IDEAS // 2, why="n_trials * n_ideas is capped"
    )
    return n_trials, integer("seed", seed, minimum=0, maximum=MAX_SEED)


def check_confidence_sds(confidence_sds, allocation: str, default: float) -> float:
    """A finite width >= 0 in posterior standard deviations, set only with "upper-confidence"
    (any other allocation would ignore it)."""
    confidence_sds = real_number("confidence_sds", confidence_sds, nonnegative=True)
    if allocation != "upper-confidence" and confidence_sds != default:
        raise ValueError(
            f"confidence_sds is used only by allocation='upper-confidence', got "
            f"confidence_sds={confidence_sds!r} with allocation={allocation!r}"
        )
    return confidence_sds


def check_allocation(allocation) -> str:
    """One of ALLOCATIONS: how the shots past the first pass are spent."""
    if not isinstance(allocation, str):
        raise TypeError(
            f"allocation must be one of {ALLOCATIONS} (a string), got {describe_value(allocation)}"
        )
    return one_of("allocation", allocation, ALLOCATIONS)


def check_research_program(
    budget_usd, cost_per_shot, hardware_cost_factor, n_ideas, prediction_noise, idea_spread,
    prior_skill, n_trials, seed,
) -> tuple:  # fmt: skip
    """Every argument of `simulate_research_program` but the allocation (`check_allocation`; the
    work cap follows in `check_work`).

    Returns (budgets, cost per shot, n_ideas, noise, spread, prior skill, n_trials, seed).
    """
    budgets = check_budgets("budget_usd", budget_usd)
    cost = check_shot_cost(cost_per_shot, hardware_cost_factor)
    check_shots(budgets, cost)
    world = check_world(n_ideas, prediction_noise, idea_spread, prior_skill)
    n_ideas = world[0]
    n_trials, seed = check_trials(n_trials, seed)
    if n_trials * n_ideas > MAX_TRIAL_IDEAS:
        raise ValueError(
            f"n_trials * n_ideas must be <= {MAX_TRIAL_IDEAS:,}, got {n_trials:,} * {n_ideas:,}"
        )
    return (budgets, cost, *world, n_trials, seed)


def check_work(
    shots: np.ndarray, n_ideas: int, n_trials: int, allocation: str = "round-robin"
) -> None:
    """Caps on the work the simulator would actually do for these shots (one count per budget),
    counting an adaptive lab's re-tests one at a time."""
    most = int(shots.max()) if shots.size else 0  # <= MAX_SHOTS (check_shots): exact
    if most // n_ideas > MAX_ROUNDS:
        raise ValueError(
            f"budget_usd buys up to {most:,} shots, more than {MAX_ROUNDS:,} per idea; "
            "lower the budget or raise cost_per_shot (by then every estimate is exact enough)"
        )
    # One pass over the (trial, idea) table per round of shots, and per budget that buys any a
    # pass that costs about four (the posterior and the bets; measured). Python ints: no overflow.
    visits = n_trials * n_ideas * (most // n_ideas + 1 + 4 * int(np.count_nonzero(shots)))
    if visits > MAX_WORK:
        raise ValueError(
            f"n_trials * n_ideas * (rounds of shots + 4 x budgets) must be <= {MAX_WORK:,} (a few "
            f"seconds of work), got {visits:,}; lower n_trials, n_ideas, the number of budgets "
            "in budget_usd or the largest budget"
        )
    retests = max(most - n_ideas, 0) if allocation != "round-robin" else 0
    per_retest = RETEST_LOOP_VISITS + n_trials * (
        RETEST_TRIAL_VISITS + n_ideas // RETEST_SCANS_PER_VISIT
    )
    total = visits + retests * per_retest
    if total > MAX_WORK:
        raise ValueError(
            f"allocation={allocation!r} spends {retests:,} re-tests one at a time; with "
            f"n_trials={n_trials:,} and n_ideas={n_ideas:,} that is {total:,} visits, more than "
            f"{MAX_WORK:,} (a few seconds of work); lower n_trials, n_ideas or the largest budget "
            "in budget_usd"
        )


def check_scenario(scenario) -> None:
    """A Scenario's fields, by the same rules as `simulate_research_program`'s arguments."""
    text("name", scenario.name)
    text("description", scenario.description, nonempty=False)
    check_shot_cost(scenario.cost_per_shot, scenario.hardware_cost_factor)
    check_world(scenario.n_ideas, scenario.prediction_noise, scenario.idea_spread,
                scenario.prior_skill)  # fmt: skip
    allocation = check_allocation(scenario.allocation)
    check_confidence_sds(scenario.confidence_sds, allocation, UPPER_CONFIDENCE_SDS)


def check_result(result) -> None:
    """A ResearchProgramResult: four 1-D arrays of one length, probabilities in [0, 1]."""
    budgets = array("budgets_usd", result.budgets_usd, ndim=1)
    if np.any(budgets < 0):
        raise ValueError("budgets_usd must be >= 0")
    shots = array("shots", result.shots, dtype="int", ndim=1)
    if np.any(shots < 0):
        raise ValueError(f"shots must be >= 0, got {int(shots.min())}")
    p = array("success_probability", result.success_probability, ndim=1)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("success_probability must lie in [0, 1]")
    se = array("standard_error", result.standard_error, ndim=1)
    if np.any(se < 0):
        raise ValueError("standard_error must be >= 0")
    regret = array("expected_regret", result.expected_regret, ndim=1)
    regret_se = array("regret_standard_error", result.regret_standard_error, ndim=1)
    if np.any(regret_se < 0):
        raise ValueError("regret_standard_error must be >= 0")
    named = (("shots", shots), ("success_probability", p), ("standard_error", se),
             ("expected_regret", regret), ("regret_standard_error", regret_se))  # fmt: skip
    for name, values in named:
        if len(values) != len(budgets):
            raise ValueError(
                f"{name} must have one entry per budget ({len(budgets)}), got {len(values)}"
            )
    size("n_trials", result.n_trials, maximum=MAX_TRIAL_IDEAS // 2, why="as the simulator's cap")


def check_rank_reversal_args(prediction_noise, idea_spread) -> tuple[float, float]:
    return (
        real_number("prediction_noise", prediction_noise, nonnegative=True),
        real_number("idea_spread", idea_spread, positive=True),
    )


def check_reversal_args(reversal_probability, idea_spread) -> tuple[float, float]:
    p = real_number("reversal_probability", reversal_probability, nonnegative=True)
    if p >= 0.5:
        raise ValueError(
            f"reversal_probability must be in [0, 0.5) (a half is pure noise), got {p}"
        )
    return p, real_number("idea_spread", idea_spread, positive=True)


# --- The matrix multiply and its timers (reference.py, torch.py, jax.py) -------------------------


def check_matrix(name: str, value, framework: str):
    """A finite, non-empty, 2-D floating array of `framework` (NaN/inf read on the host only)."""
    value = array(name, value, framework=framework)
    if value.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {tuple(value.shape)}")
    return value


def check_matmul(x, w, *, framework: str, w_name: str = "w") -> tuple:
    """x (m, k) and w (k, n): 2-D floating arrays whose inner sizes match."""
    x = check_matrix("x", x, framework)
    w = check_matrix(w_name, w, framework)
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"x has {x.shape[1]} columns but {w_name} has {w.shape[0]} rows; they must match "
            f"(x must have shape (m, {w.shape[0]}), got {tuple(x.shape)})"
        )
    if framework == "torch" and (x.dtype != w.dtype or x.device != w.device):
        raise TypeError(
            f"x must have the dtype and device of {w_name} ({w.dtype} on {w.device}), "
            f"got {x.dtype} on {x.device}"
        )
    return x, w


def check_params(params):
    """The JAX parameters {"w": (k, n) array}; returns the weight."""
    if not isinstance(params, Mapping):
        raise TypeError(
            f'params must be a dict {{"w": (k, n) array}}, got {describe_value(params)}'
        )
    if "w" not in params:
        raise ValueError(f"params must hold the weight 'w', got keys {[str(k) for k in params]}")
    return params["w"]


def check_matrix_size(k, n) -> tuple[int, int]:
    """Two sizes of a (k, n) matrix, its elements capped at validate.MAX_ELEMENTS."""
    k = size("k", k, maximum=MAX_ELEMENTS, why="2**28 elements, 1 GiB in float32")
    n = size("n", n, maximum=MAX_ELEMENTS, why="2**28 elements, 1 GiB in float32")
    if k * n > MAX_ELEMENTS:
        raise ValueError(f"k * n must be <= {MAX_ELEMENTS:,} (1 GiB in float32), got {k * n:,}")
    return k, n


def check_flop_sizes(m, k, n) -> tuple[int, int, int]:
    """The sizes of an (m, k) @ (k, n) product, each >= 1 (Python ints: no cap needed)."""
    return integer("m", m, minimum=1), integer("k", k, minimum=1), integer("n", n, minimum=1)


def check_init(key, k, n, dtype) -> tuple:
    """`init_matmul`'s arguments: a JAX key, a (k, n) shape of at most 2**28 elements, a float
    dtype."""
    return check_jax_key(key), *check_matrix_size(k, n), check_float_dtype(dtype, "jax")


def check_timer(n, dtype, repeats, seed, *, framework: str, device=None) -> tuple:
    """The timers' arguments on every framework: n <= MAX_MATMUL_N, repeats <= MAX_REPEATS, a
    floating dtype of `framework`, a seed in [0, 2**32) and (torch, JAX) a device.

    Returns (n, dtype, repeats, seed), then the device for torch and JAX.
    """
    n = size("n", n, maximum=MAX_MATMUL_N, why="two n x n matrices of 2**28 elements each")
    dtype = check_float_dtype(dtype, framework)
    repeats = size("repeats", repeats, maximum=MAX_REPEATS, why="best-of settles in a few runs")
    seed = integer("seed", seed, minimum=0, maximum=MAX_SEED)
    if framework == "numpy":
        return n, dtype, repeats, seed
    if framework == "torch":
        return n, dtype, repeats, seed, check_torch_device(device)
    return n, dtype, repeats, seed, check_jax_device(device)


def check_float_dtype(dtype, framework: str):
    """A floating dtype of `framework` ("numpy", "torch" or "jax"), never None or an int dtype."""
    return float_dtype("dtype", dtype, framework=framework)


def check_torch_device(device):
    """None (the CPU), a torch.device or a string naming one that exists here."""
    import torch

    device = torch_device_arg("device", device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} but torch sees no CUDA GPU here")
    return device


def check_jax_device(device):
    """None (JAX's default device) or a jax.Device."""
    import jax

    if device is None:
        return jax.devices()[0]
    return instance("device", device, jax.Device, "a jax.Device such as jax.devices()[0]")


def check_jax_key(key):
    """A JAX PRNG key: a typed key (jax.random.key) or a raw uint32 pair (jax.random.PRNGKey)."""
    return jax_key("key", key)


def check_calculator(**values) -> dict:
    """The cost calculator's defaults, each inside its slider's range (CALCULATOR_RANGES)."""
    for name, value in values.items():
        low, high = CALCULATOR_RANGES[name]
        if name == "n_gpus":
            integer(name, value, minimum=low, maximum=high)
        else:
            real_number(name, value, minimum=low, maximum=high)
    return values


def _short(value) -> str:
    """repr(value) cut to 80 characters (a dtype class has no usable .shape to describe)."""
    try:
        text_ = repr(value)
    except Exception:  # a hostile __repr__ must not hide the real error
        return f"<unprintable {type(value).__name__}>"
    return text_ if len(text_) <= 80 else text_[:77] + "..."


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
