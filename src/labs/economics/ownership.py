"""Rent or own: what an owned GPU costs per hour of useful work, against renting by the hour.

Taught in chapter 7, "Self-host or call an API? The break-even" ("Rent or own? How busy the fleet
is").

An owned GPU costs money every hour of its life, busy or idle: its purchase price spread over its
lifetime, the power it draws (times the data centre's PUE) and whatever else it needs (space,
repairs, people). A rented GPU, billed by the hour used, costs nothing while it is not needed. So
the owner's price of a *useful* hour is the hourly cost divided by the share of hours that do
work, and owning is cheaper only above a break-even utilisation:

    c_own = P / (Y x 8760) + W / 1000 x PUE x e + o          (10)   USD per hour of life
    c_useful(u) = c_own / u                                  (11)   USD per useful hour
    u* = c_own / r                                           (12)   owning is cheaper above u*

with P the purchase price, Y the lifetime in years, W the power in watts, e the price of a kWh, o
the other costs per hour, u the utilisation and r the rent per hour used. Where u* > 1 owning
never pays within the lifetime, however busy the GPU.

Eq. (10) spreads the purchase in a straight line and ignores what the money could have earned
and what the GPU fetches when sold. With an interest rate i a year (the cost of capital) and a
resale value s x P at the end of the life, the purchase term becomes the level annual payment
that repays P over Y years, less the present value of the resale, per hour:

    A = (P - s P (1+i)^-Y) x i / (1 - (1+i)^-Y),   purchase term A / 8760   (10')

the capital recovery factor i / (1 - (1+i)^-Y). At i = 0 it is (P - s P) / Y, so with i = 0 and
s = 0 (the defaults) eq. (10') is eq. (10).
"""

from __future__ import annotations

import math

from labs.common.validate import finite_result, real_number

__all__ = [
    "breakeven_purchase_usd",
    "breakeven_utilisation",
    "fleet_utilisation",
    "owned_usd_per_hour",
    "usd_per_useful_hour",
]

HOURS_PER_YEAR = 8760.0  # 365 days x 24 hours

# The largest lifetime the model accepts: a GPU is not amortised over more than a century.
MAX_LIFETIME_YEARS = 100.0

# The largest cost of capital accepted, per year: 100 %. Rates of a few per cent are usual; a
# value such as 5 (meant as 5 %) is a unit mistake and is refused rather than read as 500 %.
MAX_INTEREST_RATE = 1.0


def _running(power_w: float, pue: float, usd_per_kwh: float, other_usd_per_hour: float) -> float:
    """The hourly cost of an owned GPU other than its purchase: power at the wall, and the rest."""
    return power_w / 1000.0 * pue * usd_per_kwh + other_usd_per_hour


def _check_running(power_w, pue, usd_per_kwh, other_usd_per_hour) -> tuple[float, ...]:
    """Power >= 0 W, a PUE >= 1 (a data centre cannot use less than its IT load), prices >= 0."""
    return (
        real_number("power_w", power_w, nonnegative=True),
        real_number("pue", pue, minimum=1.0),
        real_number("usd_per_kwh", usd_per_kwh, nonnegative=True),
        real_number("other_usd_per_hour", other_usd_per_hour, nonnegative=True),
    )


def _lifetime(lifetime_years) -> float:
    return real_number("lifetime_years", lifetime_years, positive=True, maximum=MAX_LIFETIME_YEARS)


def _check_capital(interest_rate, resale_share) -> tuple[float, float]:
    """A yearly rate in [0, MAX_INTEREST_RATE] and a resale share of the price in [0, 1)."""
    rate = real_number("interest_rate", interest_rate, nonnegative=True, maximum=MAX_INTEREST_RATE)
    share = real_number("resale_share", resale_share, nonnegative=True)
    if share >= 1.0:
        raise ValueError(
            "resale_share must be < 1 (the resale value as a share of the purchase price; a GPU "
            f"sold for its full price or more costs nothing to own), got {share}"
        )
    return rate, share


def _capital_per_year(purchase: float, years: float, rate: float, share: float) -> float:
    """Eq. (10'): the level yearly payment that repays the purchase less its discounted resale.

    (P - sP (1+i)^-Y) x i / (1 - (1+i)^-Y), computed with log1p/expm1 so that a tiny rate does not
    lose its digits to cancellation; at i = 0 the straight line (P - sP) / Y.
    """
    if rate == 0.0:
        return purchase * (1.0 - share) / years
    log_growth = math.log1p(rate) * years  # ln (1+i)^Y
    discount = math.exp(-log_growth)  # (1+i)^-Y, the present value of a dollar at the end
    recovery = rate / -math.expm1(-log_growth)  # i / (1 - (1+i)^-Y)
    return purchase * (1.0 - share * discount) * recovery


def owned_usd_per_hour(
    *,
    purchase_usd: float,
    lifetime_years: float,
    power_w: float,
    pue: float,
    usd_per_kwh: float,
    other_usd_per_hour: float = 0.0,
    interest_rate: float = 0.0,
    resale_share: float = 0.0,
) -> float:
    """Eq. (10), or (10') with a cost of capital: one owned GPU's cost per hour of its life.

    Args:
        purchase_usd: price of the GPU with its share of the server and network (>= 0).
        lifetime_years: years over which the purchase is spread (> 0, <= 100); in a straight
            line at interest 0.
        power_w: the power the GPU draws in watts, board or all-in (>= 0).
        pue: power usage effectiveness of the data centre, facility over IT power (>= 1).
        usd_per_kwh: the price of electricity (>= 0).
        other_usd_per_hour: space, repairs, staff and the rest, per GPU-hour (>= 0).
        interest_rate: the cost of capital per year, a fraction (0.05 is 5 %; 0 to 1). 0, the
            default, spreads the purchase in a straight line as eq. (10) does.
        resale_share: what the GPU sells for at the end of its life, as a share of the purchase
            price (>= 0, < 1). 0, the default, is no resale.

    Returns:
        c_own in USD per GPU-hour of wall clock.
    """
    purchase = real_number("purchase_usd", purchase_usd, nonnegative=True)
    years = _lifetime(lifetime_years)
    running = _check_running(power_w, pue, usd_per_kwh, other_usd_per_hour)
    rate, share = _check_capital(interest_rate, resale_share)
    result = _owned_usd_per_hour(purchase, years, *running, rate=rate, share=share)
    return finite_result(
        "owned_usd_per_hour",
        result,
        inputs={"purchase_usd": purchase, "power_w": running[0], "usd_per_kwh": running[2]},
    )


def _owned_usd_per_hour(
    purchase: float,
    years: float,
    power_w: float,
    pue: float,
    kwh: float,
    other: float,
    *,
    rate: float = 0.0,
    share: float = 0.0,
) -> float:
    """Eqs. (10, 10'): the purchase's charge per hour plus the running costs, per hour of life."""
    if rate == 0.0:  # eq. (10)'s straight line, written as eq. (10) writes it
        capital = purchase * (1.0 - share) / (years * HOURS_PER_YEAR)
    else:
        capital = _capital_per_year(purchase, years, rate, share) / HOURS_PER_YEAR
    return capital + _running(power_w, pue, kwh, other)


def usd_per_useful_hour(owned_usd_per_hour: float, utilisation: float) -> float:
    """Eq. (11): the owner's price of one hour of work, c_own / u.

    Args:
        owned_usd_per_hour: c_own of eq. (10), per hour of life (>= 0).
        utilisation: the share of the hours that do useful work, in (0, 1].
    """
    own = real_number("owned_usd_per_hour", owned_usd_per_hour, nonnegative=True)
    u = real_number("utilisation", utilisation, positive=True, maximum=1.0)
    return finite_result(
        "usd_per_useful_hour",
        own / u,
        inputs={"owned_usd_per_hour": own, "utilisation": u},
    )


def breakeven_utilisation(owned_usd_per_hour: float, rent_usd_per_hour: float) -> float:
    """Eq. (12): the utilisation u* = c_own / r above which owning costs less per useful hour.

    Renting is billed per hour used, so its price per useful hour is r at any utilisation. A
    result above 1 means owning never pays within the lifetime, however busy the GPU.

    Args:
        owned_usd_per_hour: c_own of eq. (10) (>= 0).
        rent_usd_per_hour: the rent per GPU-hour used (> 0).
    """
    own = real_number("owned_usd_per_hour", owned_usd_per_hour, nonnegative=True)
    rent = real_number("rent_usd_per_hour", rent_usd_per_hour, positive=True)
    return finite_result(
        "breakeven_utilisation",
        own / rent,
        inputs={"owned_usd_per_hour": own, "rent_usd_per_hour": rent},
    )


def breakeven_purchase_usd(
    *,
    rent_usd_per_hour: float,
    utilisation: float,
    lifetime_years: float,
    power_w: float,
    pue: float,
    usd_per_kwh: float,
    other_usd_per_hour: float = 0.0,
    interest_rate: float = 0.0,
    resale_share: float = 0.0,
) -> float:
    """The purchase price at which owning costs as much per useful hour as renting.

    Eq. (11) set equal to r and solved for P: P* = (r u - running) x Y x 8760, with the running
    cost of eq. (10); with a cost of capital and a resale share (eq. 10'), the hourly margin
    r u - running pays the yearly charge of P* instead. Any price below P* makes owning cheaper at
    utilisation u. Returns 0.0 when the running costs alone exceed what the useful hours would cost
    to rent: then no price pays. `interest_rate` and `resale_share` as in `owned_usd_per_hour`.
    """
    rent = real_number("rent_usd_per_hour", rent_usd_per_hour, positive=True)
    u = real_number("utilisation", utilisation, positive=True, maximum=1.0)
    years = _lifetime(lifetime_years)
    running = _check_running(power_w, pue, usd_per_kwh, other_usd_per_hour)
    rate, share = _check_capital(interest_rate, resale_share)
    result = _breakeven_purchase_usd(rent, u, years, _running(*running), rate=rate, share=share)
    return finite_result(
        "breakeven_purchase_usd",
        result,
        inputs={"rent_usd_per_hour": rent, "lifetime_years": years, "power_w": running[0]},
    )


def _breakeven_purchase_usd(
    rent: float, u: float, years: float, running: float, *, rate: float = 0.0, share: float = 0.0
) -> float:
    """Eq. (11) = r, solved for the purchase price; none pays when running alone costs more.

    The yearly charge of eq. (10') is linear in P, so P* is the yearly margin over the charge of
    one dollar of purchase.
    """
    if rate == 0.0:  # the straight line: the margin over the life buys (1 - s) of the price
        return max(0.0, (rent * u - running) * years * HOURS_PER_YEAR / (1.0 - share))
    margin_per_year = (rent * u - running) * HOURS_PER_YEAR
    return max(0.0, margin_per_year / _capital_per_year(1.0, years, rate, share))


def fleet_utilisation(average_nodes: float, peak_nodes: float) -> float:
    """The share of a peak-sized fleet's node-hours that serve: average over peak occupancy.

    A fleet must be as large as its busiest hour; over a day it is busy average / peak of the
    time, and idle the rest unless the idle nodes are given other work.

    Args:
        average_nodes: nodes in use, averaged over the period (>= 0, <= peak_nodes).
        peak_nodes: nodes in use at the busiest moment (> 0).
    """
    peak = real_number("peak_nodes", peak_nodes, positive=True)
    average = real_number("average_nodes", average_nodes, nonnegative=True)
    if average > peak:
        raise ValueError(
            f"average_nodes must be <= peak_nodes (an average cannot pass its peak), got "
            f"average_nodes={average} and peak_nodes={peak}"
        )
    return average / peak
