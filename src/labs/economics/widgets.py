"""Chapter 7 explorers: a training-cost calculator, the shots simulator and rent or own
(ipywidgets, lazy).

Taught in chapter 7, "Explore" (the calculator sums up "What the $5.576M covers" and "Counting the
work: 6ND and MFU"; the simulator is the model of "The shots argument"; rent or own plots eqs.
(10)-(12) of "Rent or own? How busy the fleet is", with eq. (10')'s cost of capital and resale).
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from labs.common.explorer import explorer
from labs.common.plotting import PALETTE, new_figure
from labs.common.validate import describe_value, one_of, real_number, size
from labs.economics.checks import (
    MAX_WIDGET_IDEAS,
    check_calculator,
    check_hardware_name,
    check_precision,
)
from labs.economics.costs import (
    model_flops_utilization,
    training_cost,
    training_days,
    training_flops,
)
from labs.economics.hardware import HARDWARE
from labs.economics.ownership import (
    breakeven_utilisation,
    owned_usd_per_hour,
    usd_per_useful_hour,
)
from labs.economics.research import (
    ALLOCATIONS,
    DEFAULT_IDEA_SPREAD,
    UPPER_CONFIDENCE_SDS,
    Scenario,
)
from labs.economics.research_checks import check_budgets, check_shots


def training_cost_report(
    gpu_hours: float,
    usd_per_gpu_hour: float,
    n_gpus: int,
    active_params: float,
    tokens: float,
    chip: str = "H800 SXM",
    precision: str = "bf16",
) -> str:
    """A few lines: the bill, the wall-clock days, and the MFU those numbers imply on `chip`."""
    spec = HARDWARE[check_hardware_name(chip, HARDWARE, parameter="chip")]
    precision = check_precision(precision)
    cost = training_cost(gpu_hours, usd_per_gpu_hour)
    days = training_days(gpu_hours, n_gpus)
    flops = training_flops(active_params, tokens)
    lines = [
        f"cost: ${cost:,.0f} ({gpu_hours:,.0f} GPU-hours at ${usd_per_gpu_hour:.2f})",
        f"wall clock: {days:.1f} days on {n_gpus:,} GPUs",
        f"compute (6ND): {flops:.3g} FLOPs",
    ]
    try:
        peak = spec.peak_flops(precision)
        mfu = model_flops_utilization(flops, gpu_hours, peak)
        lines.append(f"MFU on {chip} ({precision}, {peak / 1e12:,.1f} TFLOP/s): {mfu:.1%}")
    except ValueError as err:
        lines.append(f"MFU on {chip}: not computable ({err})")
    return "\n".join(lines)


def training_cost_calculator(
    gpu_hours: float = 2_788_000,
    usd_per_gpu_hour: float = 2.0,
    n_gpus: int = 2048,
    active_params: float = 37e9,
    tokens: float = 14.8e12,
):
    """Sliders over GPU-hours, price, GPU count, model size and tokens; prints the report.

    The defaults are DeepSeek-V3's (Table 1 and §1 of its report). Each must lie in its slider's
    range (GPU-hours 1e3..1e8, $0.1..$10, 1..32,768 GPUs, 1e8..1e12 parameters, 1e9..1e14
    tokens): a slider would clip a value outside it without a word.
    """
    import ipywidgets as widgets

    check_calculator(
        gpu_hours=gpu_hours,
        usd_per_gpu_hour=usd_per_gpu_hour,
        n_gpus=n_gpus,
        active_params=active_params,
        tokens=tokens,
    )

    style = {"description_width": "150px"}
    layout = widgets.Layout(width="520px")

    def log_slider(value, lo, hi, description):  # a slider over 10**lo .. 10**hi
        return widgets.FloatLogSlider(
            value=value, base=10, min=lo, max=hi, description=description, style=style,
            layout=layout, readout_format=".3s", continuous_update=False,
        )  # fmt: skip

    controls = {
        "gpu_hours": log_slider(gpu_hours, 3, 8, "GPU-hours"),
        "usd_per_gpu_hour": widgets.FloatSlider(
            value=usd_per_gpu_hour,
            min=0.1,
            max=10.0,
            step=0.05,
            description="$ per GPU-hour",
            style=style,
            layout=layout,
            continuous_update=False,
        ),
        "n_gpus": widgets.IntSlider(
            value=n_gpus,
            min=1,
            max=32768,
            description="GPUs",
            style=style,
            layout=layout,
            continuous_update=False,
        ),
        "active_params": log_slider(active_params, 8, 12, "active parameters"),
        "tokens": log_slider(tokens, 9, 14, "tokens"),
        "chip": widgets.Dropdown(
            options=list(HARDWARE), value="H800 SXM", description="chip", style=style
        ),
        "precision": widgets.Dropdown(
            options=["bf16", "fp8", "fp16"], value="bf16", description="peak of", style=style
        ),
    }

    def show(**kwargs) -> None:
        print(training_cost_report(**kwargs))

    return explorer(show, controls)


def plot_scenarios(
    scenarios, budgets_usd, *, n_trials: int = 1000, seed: int = 0, ax=None, measure="success"
):
    """P(find the best idea) (`measure="success"`) or expected regret in units of the ideas'
    spread (`measure="regret"`) against budget for each `Scenario`, on one set of axes.

    Shaded bands are +- 2 standard errors of the Monte Carlo estimate. Returns (ax, results).
    At most as many scenarios as the palette has colours.
    """
    measure = one_of("measure", measure, ("success", "regret"))
    scenarios = _check_scenarios(scenarios)
    budgets = check_budgets("budgets_usd", budgets_usd)
    if ax is None:
        _, ax = new_figure()
    elif not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {describe_value(ax)}")
    for scenario in scenarios:  # each scenario's price per shot caps the budgets it can count
        check_shots(budgets, scenario.cost_per_shot * scenario.hardware_cost_factor, "budgets_usd")
    results = [scenario.simulate(budgets, n_trials=n_trials, seed=seed) for scenario in scenarios]
    _draw_scenarios(ax, scenarios, budgets, results, measure)
    return ax, results


def _draw_scenarios(ax, scenarios, budgets, results, measure: str) -> None:
    """Draw `plot_scenarios`'s curves from simulated `results`, one per scenario."""
    for colour, scenario, res in zip(PALETTE, scenarios, results, strict=False):
        if measure == "success":
            value, error = res.success_probability, res.standard_error
        else:
            value = res.expected_regret / scenario.idea_spread
            error = res.regret_standard_error / scenario.idea_spread
        ax.plot(budgets, value, color=colour, label=scenario.name)
        ax.fill_between(budgets, value - 2 * error, value + 2 * error, color=colour, alpha=0.2,
                        linewidth=0)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("research budget (USD)")
    if measure == "success":
        ax.set_ylim(0, 1)
        ax.set_ylabel("P(find the best idea)")
    else:
        ax.set_ylim(bottom=0)
        ax.set_ylabel("expected regret / spread of ideas")
    ax.legend(loc="upper left")


def _check_scenarios(scenarios) -> list[Scenario]:
    """A non-empty list or tuple of Scenario objects, one per palette colour at most."""
    if not isinstance(scenarios, (list, tuple)):
        raise TypeError(
            f"scenarios must be a list of Scenario objects, got {describe_value(scenarios)}"
        )
    if not 1 <= len(scenarios) <= len(PALETTE):
        raise ValueError(
            f"scenarios must hold 1 to {len(PALETTE)} Scenario objects, got {len(scenarios)}"
        )
    for scenario in scenarios:
        if not isinstance(scenario, Scenario):
            raise TypeError(f"scenarios must hold Scenario objects, got {type(scenario).__name__}")
    return list(scenarios)


def shots_simulator(cost_per_shot: float = 1000.0, n_ideas: int = 100):
    """Two labs side by side: move each one's hardware cost factor, judgement and rule for its
    spare shots (one of `ALLOCATIONS`), the shared prediction noise, and the width of the
    "upper-confidence" rule (posterior sds; 0 is the leader rule); watch the curves cross.

    `n_ideas` is capped at 1,000: every slider move simulates 2 labs x 25 budgets x 400 worlds.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    cost_per_shot = real_number("cost_per_shot", cost_per_shot, positive=True)
    n_ideas = size("n_ideas", n_ideas, minimum=2, maximum=MAX_WIDGET_IDEAS, why="redraw time")

    style = {"description_width": "190px"}
    layout = widgets.Layout(width="520px")

    def slider(value, lo, hi, step, text):
        return widgets.FloatSlider(
            value=value,
            min=lo,
            max=hi,
            step=step,
            description=text,
            style=style,
            layout=layout,
            continuous_update=False,
        )

    def rule(text):
        return widgets.Dropdown(options=ALLOCATIONS, value="round-robin", description=text,
                                style=style, layout=layout)  # fmt: skip

    def draw(factor_a, skill_a, rule_a, factor_b, skill_b, rule_b, noise_ratio, width) -> None:
        noise = DEFAULT_IDEA_SPREAD * noise_ratio  # the slider is noise / spread of the ideas
        labs_ = [
            Scenario(name=name, cost_per_shot=cost_per_shot, hardware_cost_factor=factor,
                     prior_skill=skill, n_ideas=n_ideas, prediction_noise=noise, allocation=spare,
                     # the width reaches only a lab that re-tests by upper confidence
                     confidence_sds=width if spare == "upper-confidence" else UPPER_CONFIDENCE_SDS)
            for name, factor, skill, spare in (("lab A", factor_a, skill_a, rule_a),
                                               ("lab B", factor_b, skill_b, rule_b))
        ]  # fmt: skip
        budgets = np.geomspace(cost_per_shot, cost_per_shot * 100 * n_ideas, 25)
        fig, (ax1, ax2) = new_figure(2)
        # one simulation of each lab (2 x 25 budgets x 400 worlds) drawn as both measures
        _, results = plot_scenarios(labs_, budgets, n_trials=400, ax=ax1, measure="regret")
        _draw_scenarios(ax2, labs_, budgets, results, "success")
        # the settings in the title, so that a static rendering says which labs it shows
        fig.suptitle(_shots_title(labs_, cost_per_shot, n_ideas, noise_ratio), fontsize=9)
        plt.show()

    return explorer(
        draw,
        {
            "factor_a": slider(1.0, 0.5, 4.0, 0.05, "lab A: hardware cost factor"),
            "skill_a": slider(0.6, 0.0, 0.95, 0.05, "lab A: judgement (prior skill)"),
            "rule_a": rule("lab A: spare shots re-test"),
            "factor_b": slider(1.0, 0.5, 4.0, 0.05, "lab B: hardware cost factor"),
            "skill_b": slider(0.3, 0.0, 0.95, 0.05, "lab B: judgement (prior skill)"),
            "rule_b": rule("lab B: spare shots re-test"),
            "noise_ratio": slider(1.0, 0.0, 4.0, 0.1, "prediction noise / idea spread"),
            "width": slider(UPPER_CONFIDENCE_SDS, 0.0, 4.0, 0.5, "upper-confidence width (sds)"),
        },
    )


def _shots_title(labs_, cost_per_shot: float, n_ideas: int, noise_ratio: float) -> str:
    """The shots simulator's settings in two lines: each lab's factor, judgement and rule (the
    dollar sign escaped, so that matplotlib does not read it as mathtext)."""

    def one(lab) -> str:
        width = f" ({lab.confidence_sds:g} sd)" if lab.allocation == "upper-confidence" else ""
        return (
            f"{lab.name}: judgement {lab.prior_skill:.2f}, cost factor "
            f"{lab.hardware_cost_factor:.2f}, {lab.allocation}{width}"
        )

    return (
        "; ".join(one(lab) for lab in labs_)
        + f"\n\\${cost_per_shot:,.0f} a shot, {n_ideas} ideas, noise / spread {noise_ratio:.1f}"
    )


def plot_rent_or_own(
    *,
    purchase_usd: float,
    lifetime_years: float,
    power_w: float,
    pue: float,
    usd_per_kwh: float,
    rent_usd_per_hour: float,
    other_usd_per_hour: float = 0.0,
    interest_rate: float = 0.0,
    resale_share: float = 0.0,
    marked_utilisation: float | None = None,
    ax=None,
):
    """Cost per useful GPU-hour against utilisation: rent flat, owning falling as c_own / u (eq.
    11), the break-even u* of eq. (12) marked where it lies in (0, 1]. Returns (ax, u*).

    `interest_rate` (a fraction a year) and `resale_share` (of the purchase price) put eq. (10')'s
    capital charge in place of eq. (10)'s straight line, as in `owned_usd_per_hour`; at 0, the
    defaults, the plot is eq. (10)'s.
    """
    own = owned_usd_per_hour(
        purchase_usd=purchase_usd, lifetime_years=lifetime_years, power_w=power_w, pue=pue,
        usd_per_kwh=usd_per_kwh, other_usd_per_hour=other_usd_per_hour,
        interest_rate=interest_rate, resale_share=resale_share,
    )  # fmt: skip
    u_star = breakeven_utilisation(own, rent_usd_per_hour)
    # as floats: matplotlib cannot draw an int past int64 (10**30 becomes an object array)
    rent_usd_per_hour = real_number("rent_usd_per_hour", rent_usd_per_hour, positive=True)
    interest_rate = real_number("interest_rate", interest_rate)
    resale_share = real_number("resale_share", resale_share)
    if marked_utilisation is not None:
        marked_utilisation = real_number(
            "marked_utilisation", marked_utilisation, positive=True, maximum=1.0
        )
    if ax is None:
        _, ax = new_figure()
    elif not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {describe_value(ax)}")
    # the capital terms are named on the curve only when they move it off eq. (10)
    capital = ""
    if interest_rate or resale_share:
        capital = f" ({interest_rate:.1%} a year, {resale_share:.0%} resale)"
    u = np.linspace(0.1, 1.0, 91)
    ax.plot(u, [usd_per_useful_hour(own, float(x)) for x in u], color=PALETTE[0],
            label=f"own{capital}: ${own:.2f} per hour of life / utilisation")  # fmt: skip
    ax.axhline(rent_usd_per_hour, color=PALETTE[1], label=f"rent: ${rent_usd_per_hour:.2f}")
    if u_star <= 1.0:
        ax.axvline(u_star, color="0.4", linestyle="--", linewidth=1,
                   label=f"break-even: {u_star:.1%} busy")  # fmt: skip
    else:
        ax.set_title(f"owning never pays: break-even at {u_star:.0%} busy", fontsize=10)
    if marked_utilisation is not None:
        ax.axvline(marked_utilisation, color="0.4", linestyle=":", linewidth=1,
                   label=f"{marked_utilisation:.1%} busy")  # fmt: skip
    ax.set_ylim(0, max(3 * rent_usd_per_hour, 1.2 * own))
    ax.set_xlabel("utilisation (share of the hours that do work)")
    ax.set_ylabel("USD per useful GPU-hour")
    ax.legend(fontsize=8)
    return ax, u_star


def rent_or_own(
    purchase_usd: float = 35_000.0,
    lifetime_years: float = 4.0,
    rent_usd_per_hour: float = 2.0,
    usd_per_kwh: float = 0.10,
    other_usd_per_hour: float = 0.30,
    power_w: float = 700.0,
    pue: float = 1.3,
    marked_utilisation: float | None = None,
    *,
    interest_rate: float = 0.0,
    resale_share: float = 0.0,
):
    """Sliders over the assumed purchase price, lifetime, rent, electricity, other costs, cost of
    capital and resale share; plots `plot_rent_or_own`. Power and PUE stay fixed at the values
    given.

    Each slider's default must lie in its range ($5K..$100K, 1..8 years, $0.5..$5 an hour,
    $0.02..$0.40 a kWh, $0..$1 an hour, a cost of capital of 0..15 % a year as a fraction, a
    resale share of 0..50 % of the price as a fraction): a slider would clip a value outside it
    without a word. The cost of capital and the resale share default to 0, eq. (10)'s straight
    line, so the explorer opens on the chapter's figures.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    ranges = {  # name: (low, high, step, label, readout)
        "purchase_usd": (5_000.0, 100_000.0, 1_000.0, "purchase, USD", ".0f"),
        "lifetime_years": (1.0, 8.0, 0.5, "lifetime, years", ".1f"),
        "rent_usd_per_hour": (0.5, 5.0, 0.05, "rent, $/GPU-hour", ".2f"),
        "usd_per_kwh": (0.02, 0.40, 0.01, "power, $/kWh", ".2f"),
        "other_usd_per_hour": (0.0, 1.0, 0.05, "other, $/GPU-hour", ".2f"),
        "interest_rate": (0.0, 0.15, 0.005, "cost of capital, /year", ".1%"),
        "resale_share": (0.0, 0.5, 0.05, "resale, share of price", ".0%"),
    }
    given = dict(purchase_usd=purchase_usd, lifetime_years=lifetime_years,
                 rent_usd_per_hour=rent_usd_per_hour, usd_per_kwh=usd_per_kwh,
                 other_usd_per_hour=other_usd_per_hour, interest_rate=interest_rate,
                 resale_share=resale_share)  # fmt: skip
    values = {k: real_number(k, v, minimum=ranges[k][0], maximum=ranges[k][1])
              for k, v in given.items()}  # fmt: skip
    # the fixed inputs and the marked utilisation are checked by a first, static drawing
    plot_rent_or_own(**values, power_w=power_w, pue=pue, marked_utilisation=marked_utilisation)
    plt.close()
    style = {"description_width": "170px"}
    layout = widgets.Layout(width="540px")
    # every input is an assumption of the course, not a published figure: the labels say so
    controls = {
        k: widgets.FloatSlider(value=values[k], min=lo, max=hi, step=step,
                               description=f"assumed {label}", style=style, layout=layout,
                               readout_format=readout, continuous_update=False)
        for k, (lo, hi, step, label, readout) in ranges.items()
    }  # fmt: skip

    def draw(**kwargs) -> None:
        ax, _ = plot_rent_or_own(**kwargs, power_w=power_w, pue=pue,
                                 marked_utilisation=marked_utilisation)  # fmt: skip
        # the settings in the title, so that a static rendering says what it shows
        k = kwargs
        ax.figure.suptitle(
            f"Rent or own at the sliders' assumptions: \\${k['purchase_usd']:,.0f} a GPU, "
            f"{k['lifetime_years']:g} years, rent \\${k['rent_usd_per_hour']:.2f}/h,\n"
            f"power \\${k['usd_per_kwh']:.2f}/kWh, other \\${k['other_usd_per_hour']:.2f}/h, "
            f"capital {k['interest_rate']:.1%} a year, resale {k['resale_share']:.0%}",
            fontsize=9,
        )
        plt.show()

    return explorer(draw, controls)
