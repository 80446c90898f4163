"""Rent or own (labs.economics.ownership): eqs. (10)-(12) against hand-worked arithmetic.

The inputs are chosen so that each term comes out a round number: a purchase of 35,040 dollars
over 4 years is 35,040 / (4 x 8,760) = 1 dollar an hour; 1,000 W at a PUE of 1.5 and 0.20 dollars
a kWh is 1 kW x 1.5 x 0.2 = 0.30 dollars an hour.
"""

import math

import numpy as np
import pytest

from labs.economics import (
    breakeven_purchase_usd,
    breakeven_utilisation,
    fleet_utilisation,
    owned_usd_per_hour,
    usd_per_useful_hour,
)

ROUND = dict(lifetime_years=4.0, power_w=1000.0, pue=1.5, usd_per_kwh=0.2, other_usd_per_hour=0.5)


def test_owned_cost_per_hour_sums_its_three_terms():
    # 1.00 (purchase) + 0.30 (power) + 0.50 (other) = 1.80 dollars per hour of life
    assert owned_usd_per_hour(purchase_usd=35_040.0, **ROUND) == pytest.approx(1.8, rel=1e-12)
    # Without power or other costs only the purchase is left: 70,080 over 2 years is 4 an hour.
    bare = owned_usd_per_hour(
        purchase_usd=70_080.0, lifetime_years=2.0, power_w=0.0, pue=1.0, usd_per_kwh=0.3
    )
    assert bare == pytest.approx(4.0, rel=1e-12)
    # A free GPU still costs its power: 700 W x 1.2 x 0.1 = 0.084 dollars an hour.
    free = owned_usd_per_hour(
        purchase_usd=0.0, lifetime_years=5.0, power_w=700.0, pue=1.2, usd_per_kwh=0.1
    )
    assert free == pytest.approx(0.084, rel=1e-12)


def test_useful_hour_divides_by_the_utilisation():
    assert usd_per_useful_hour(1.8, 0.9) == pytest.approx(2.0, rel=1e-12)
    assert usd_per_useful_hour(1.8, 1.0) == pytest.approx(1.8, rel=1e-12)
    assert usd_per_useful_hour(1.5, 0.25) == pytest.approx(6.0, rel=1e-12)


def test_breakeven_utilisation_and_never():
    assert breakeven_utilisation(1.8, 2.0) == pytest.approx(0.9, rel=1e-12)
    # Above 1: an owned hour costs more than a rented one even with the GPU always busy.
    assert breakeven_utilisation(3.0, 2.0) == pytest.approx(1.5, rel=1e-12)


def test_breakeven_purchase_price():
    # Renting 0.9 useful hours costs 1.80 an hour; running costs 0.80; the 1.00 left over 4 years
    # of 8,760 hours pays for 35,040 dollars of GPU.
    p = breakeven_purchase_usd(rent_usd_per_hour=2.0, utilisation=0.9, **ROUND)
    assert p == pytest.approx(35_040.0, rel=1e-12)
    # At full use 2.00 - 0.80 = 1.20 an hour: 1.2 x 35,040 = 42,048.
    full = breakeven_purchase_usd(rent_usd_per_hour=2.0, utilisation=1.0, **ROUND)
    assert full == pytest.approx(42_048.0, rel=1e-12)
    # Power alone (10 kW x 2 x 0.2 = 4.00 an hour) costs more than the rent: no price pays.
    never = breakeven_purchase_usd(
        rent_usd_per_hour=2.0, utilisation=1.0, lifetime_years=4.0, power_w=10_000.0,
        pue=2.0, usd_per_kwh=0.2,
    )  # fmt: skip
    assert never == 0.0


def test_owning_is_cheaper_exactly_above_the_breakeven():
    """For random parameters, owning beats renting at every utilisation above u* and loses below."""
    rng = np.random.default_rng(7)
    for _ in range(50):
        kw = dict(
            purchase_usd=float(rng.uniform(5e3, 8e4)),
            lifetime_years=float(rng.uniform(2, 7)),
            power_w=float(rng.uniform(300, 1500)),
            pue=float(rng.uniform(1.0, 2.0)),
            usd_per_kwh=float(rng.uniform(0.03, 0.3)),
            other_usd_per_hour=float(rng.uniform(0, 0.5)),
        )
        rent = float(rng.uniform(0.5, 4.0))
        own = owned_usd_per_hour(**kw)
        u_star = breakeven_utilisation(own, rent)
        for u in np.linspace(0.05, 1.0, 20):
            cheaper = usd_per_useful_hour(own, float(u)) < rent
            assert cheaper == (u > u_star), (kw, rent, u, u_star)
        # and the purchase price that breaks even at u = 1 gives u* = 1 when bought at it
        running = {k: v for k, v in kw.items() if k != "purchase_usd"}
        p_star = breakeven_purchase_usd(rent_usd_per_hour=rent, utilisation=1.0, **running)
        if p_star > 0:
            at = owned_usd_per_hour(**{**kw, "purchase_usd": p_star})
            assert breakeven_utilisation(at, rent) == pytest.approx(1.0, rel=1e-9)


def _yearly_charge(purchase, years, **capital):
    """The purchase's yearly charge alone: c_own x 8760 with power and other costs set to zero."""
    per_hour = owned_usd_per_hour(
        purchase_usd=purchase, lifetime_years=years, power_w=0.0, pue=1.0, usd_per_kwh=0.0,
        **capital,
    )  # fmt: skip
    return per_hour * 8760


def _balance_after(principal, rate, payment, years):
    """A loan run year by year: interest added, then the payment taken off; what is left."""
    balance = principal
    for _ in range(years):
        balance = balance * (1 + rate) - payment
    return balance


def test_capital_charge_by_hand_two_years_at_ten_percent():
    # Borrow 1,000 at 10 %: after a year 1,100 - A is owed, after two (1,100 - A) x 1.1 - A = 0,
    # so 1,210 = 2.1 A and A = 576.19 a year (against 500 in a straight line).
    assert _yearly_charge(1000.0, 2.0, interest_rate=0.1) == pytest.approx(1210 / 2.1, rel=1e-12)
    # With a resale of 21 % of the price at the end: (1,100 - A) x 1.1 - A = 210, so A = 476.19.
    resold = _yearly_charge(1000.0, 2.0, interest_rate=0.1, resale_share=0.21)
    assert resold == pytest.approx(1000 / 2.1, rel=1e-12)
    # No interest: the straight line, less the resale. 1,000 less 200 over 2 years is 400 a year.
    assert _yearly_charge(1000.0, 2.0, resale_share=0.2) == pytest.approx(400.0, rel=1e-12)


@pytest.mark.parametrize("years", [1, 4, 7])
@pytest.mark.parametrize("rate", [0.0, 0.03, 0.1, 0.5])
@pytest.mark.parametrize("share", [0.0, 0.2, 0.6])
def test_capital_charge_pays_off_a_loan_simulated_year_by_year(years, rate, share):
    """The yearly charge repays a loan of the purchase price exactly: after the last payment the
    balance left is the resale value, which the sale pays off. A straight-line charge, (P - S) /
    Y, leaves debt behind at any positive rate: the negative control."""
    price = 35_000.0
    payment = _yearly_charge(price, float(years), interest_rate=rate, resale_share=share)
    left = _balance_after(price, rate, payment, years)
    assert left == pytest.approx(share * price, abs=1e-6 * price)
    straight = price * (1 - share) / years
    if rate > 0:
        # 35,000 at 3 % for a year already leaves over 1,000 dollars owed: far above rounding.
        assert _balance_after(price, rate, straight, years) - share * price > 1000
        assert payment > straight
    else:
        assert payment == pytest.approx(straight, rel=1e-12)


def test_capital_charge_moves_the_right_way_and_a_tiny_rate_is_the_straight_line():
    kw = dict(purchase_usd=35_000.0, **ROUND)
    base = owned_usd_per_hour(**kw)
    costs = [owned_usd_per_hour(**kw, interest_rate=r) for r in (0.0, 0.02, 0.05, 0.1, 1.0)]
    assert costs[0] == base and bool(np.all(np.diff(costs) > 0))
    resold = [owned_usd_per_hour(**kw, resale_share=s) for s in (0.0, 0.2, 0.5, 0.9)]
    assert resold[0] == base and bool(np.all(np.diff(resold) < 0))
    # A rate of 1e-12 differs from none by about i (Y + 1) / 2 of the charge, not by cancellation
    # noise: the log1p/expm1 form keeps the digits that 1 - (1 + i)^-Y would lose.
    tiny = owned_usd_per_hour(**kw, interest_rate=1e-12)
    capital = 35_000.0 / (4 * 8760)
    assert (tiny - base) / capital == pytest.approx(1e-12 * 5 / 2, rel=1e-3)


@pytest.mark.parametrize(("rate", "share"), [(0.0, 0.0), (0.0, 0.2), (0.07, 0.0), (0.07, 0.25)])
def test_breakeven_purchase_with_capital_inverts_the_owned_cost(rate, share):
    capital = dict(interest_rate=rate, resale_share=share)
    p_star = breakeven_purchase_usd(rent_usd_per_hour=2.0, utilisation=0.9, **ROUND, **capital)
    own = owned_usd_per_hour(purchase_usd=p_star, **ROUND, **capital)
    assert usd_per_useful_hour(own, 0.9) == pytest.approx(2.0, rel=1e-12)
    # Dearer money lowers the price that pays; a resale alone raises it to plain / (1 - s).
    plain = breakeven_purchase_usd(rent_usd_per_hour=2.0, utilisation=0.9, **ROUND)
    if rate > 0 and share == 0:
        assert p_star < 0.9 * plain
    elif rate == 0:
        assert p_star == pytest.approx(plain / (1 - share), rel=1e-12)


def test_fleet_utilisation():
    # DeepSeek's day: 226.75 = 907 / 4 nodes on average, 278 at the peak: 907 / 1,112.
    assert fleet_utilisation(226.75, 278) == pytest.approx(907 / 1112, rel=1e-12)
    assert fleet_utilisation(0.0, 10) == 0.0
    assert fleet_utilisation(5, 5) == 1.0


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: owned_usd_per_hour(purchase_usd=-1.0, **ROUND), ValueError, "purchase_usd"),
        (lambda: owned_usd_per_hour(purchase_usd="30k", **ROUND), TypeError, "purchase_usd"),
        (lambda: owned_usd_per_hour(purchase_usd=1e4, **{**ROUND, "pue": 0.9}), ValueError, "pue"),
        (
            lambda: owned_usd_per_hour(purchase_usd=1e4, **{**ROUND, "lifetime_years": 0.0}),
            ValueError,
            "lifetime_years",
        ),
        (
            lambda: owned_usd_per_hour(purchase_usd=1e4, **{**ROUND, "power_w": math.nan}),
            ValueError,
            "power_w",
        ),
        (lambda: usd_per_useful_hour(1.8, 0.0), ValueError, "utilisation"),
        (lambda: usd_per_useful_hour(1.8, 1.2), ValueError, "utilisation"),
        (lambda: usd_per_useful_hour(-1.0, 0.5), ValueError, "owned_usd_per_hour"),
        (lambda: breakeven_utilisation(1.8, 0.0), ValueError, "rent_usd_per_hour"),
        (lambda: breakeven_utilisation(True, 2.0), TypeError, "owned_usd_per_hour"),
        (
            lambda: breakeven_purchase_usd(rent_usd_per_hour=2.0, utilisation=1.5, **ROUND),
            ValueError,
            "utilisation",
        ),
        (
            lambda: owned_usd_per_hour(purchase_usd=1e4, **ROUND, interest_rate=-0.01),
            ValueError,
            "interest_rate must be >= 0",
        ),
        (
            lambda: owned_usd_per_hour(purchase_usd=1e4, **ROUND, interest_rate=5.0),
            ValueError,
            "interest_rate must be <= 1",
        ),
        (
            lambda: owned_usd_per_hour(purchase_usd=1e4, **ROUND, interest_rate=math.inf),
            ValueError,
            "interest_rate must be finite",
        ),
        (
            lambda: owned_usd_per_hour(purchase_usd=1e4, **ROUND, interest_rate="5%"),
            TypeError,
            "interest_rate must be a real number",
        ),
        (
            lambda: owned_usd_per_hour(purchase_usd=1e4, **ROUND, resale_share=1.0),
            ValueError,
            "resale_share must be < 1",
        ),
        (
            lambda: owned_usd_per_hour(purchase_usd=1e4, **ROUND, resale_share=-0.2),
            ValueError,
            "resale_share must be >= 0",
        ),
        (
            lambda: breakeven_purchase_usd(
                rent_usd_per_hour=2.0, utilisation=0.8, **ROUND, resale_share=math.nan
            ),
            ValueError,
            "resale_share must be finite",
        ),
        (
            lambda: breakeven_purchase_usd(
                rent_usd_per_hour=2.0, utilisation=0.8, **ROUND, interest_rate=True
            ),
            TypeError,
            "interest_rate",
        ),
        (lambda: fleet_utilisation(300, 278), ValueError, "average_nodes must be <= peak_nodes"),
        (lambda: fleet_utilisation(100, 0), ValueError, "peak_nodes"),
        (lambda: fleet_utilisation("226.75", 278), TypeError, "average_nodes"),
    ],
)
def test_bad_input_names_the_parameter(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_rent_or_own_plot_marks_the_breakeven_and_the_widget_builds():
    import ipywidgets
    import matplotlib.pyplot as plt

    from labs.economics.widgets import plot_rent_or_own, rent_or_own

    # 1.80 an hour of life against a rent of 2.00: break-even at 90 % busy, marked by a line there.
    ax, u_star = plot_rent_or_own(purchase_usd=35_040.0, rent_usd_per_hour=2.0, **ROUND)
    assert u_star == pytest.approx(0.9, rel=1e-12)
    xs = [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert xs == [pytest.approx(0.9)]
    plt.close("all")
    # Owning that never pays draws no break-even line and says so in the title.
    ax, u_star = plot_rent_or_own(purchase_usd=35_040.0, rent_usd_per_hour=1.0, **ROUND)
    assert u_star > 1 and "never" in ax.get_title()
    assert not [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    plt.close("all")
    assert isinstance(rent_or_own(), ipywidgets.interactive)
    with pytest.raises(ValueError, match="purchase_usd"):
        rent_or_own(purchase_usd=500_000.0)  # outside the slider's range: refused, not clipped


def test_rent_or_own_explorer_moves_the_breakeven_with_the_cost_of_capital(monkeypatch):
    import matplotlib.pyplot as plt

    import labs.economics.widgets as economics_widgets

    real_plot = economics_widgets.plot_rent_or_own
    drawn = []  # (inputs, u*) of every redraw, through the real plot

    def record(**kwargs):
        ax, u_star = real_plot(**kwargs)
        drawn.append((kwargs, u_star, ax.get_lines()[0].get_ydata()))
        plt.close(ax.figure)
        return ax, u_star

    monkeypatch.setattr(economics_widgets, "plot_rent_or_own", record)
    busy = 226.75 / 278  # DeepSeek's average fleet over its peak fleet, 81.6 %
    widget = economics_widgets.rent_or_own(marked_utilisation=busy)
    controls = {c.description: c for c in widget.children if hasattr(c, "description")}
    capital = controls["assumed cost of capital, /year"]
    resale = controls["assumed resale, share of price"]
    assert (capital.value, capital.min, capital.max) == (0.0, 0.0, 0.15)
    assert (resale.value, resale.min, resale.max) == (0.0, 0.0, 0.5)
    assert all(label.startswith("assumed ") for label in controls if label)

    def by_hand(i, s, purchase=35_000.0, years=4.0):
        # eq. (10'), written out here with plain powers: the level payment on P less the
        # discounted resale; at i = 0 the straight line. Power 0.7 kW x 1.3 x $0.10, other $0.30.
        if i == 0:
            yearly = purchase * (1 - s) / years
        else:
            yearly = (purchase - s * purchase / (1 + i) ** years) * i / (1 - (1 + i) ** -years)
        return yearly / 8760 + 0.7 * 1.3 * 0.10 + 0.30

    # The opening draw is the chapter's: eq. (10), $1.39 an hour of life, break-even 69 % busy.
    kwargs, u_star, curve = drawn[-1]
    own = owned_usd_per_hour(purchase_usd=35_000.0, lifetime_years=4.0, power_w=700.0, pue=1.3,
                             usd_per_kwh=0.10, other_usd_per_hour=0.30)  # fmt: skip
    assert u_star == pytest.approx(own / 2.0, rel=1e-12)
    assert u_star == pytest.approx(by_hand(0.0, 0.0) / 2.0, rel=1e-12)
    assert round(own, 2) == 1.39 and round(u_star, 2) == 0.69 and curve[-1] == own
    # 10 % a year moves the break-even past 81.6 % (owning stops paying there above ~9.3 %) ...
    capital.value = 0.10
    kwargs, u_star, _ = drawn[-1]
    assert kwargs["interest_rate"] == 0.10 and kwargs["resale_share"] == 0.0
    assert u_star == pytest.approx(by_hand(0.10, 0.0) / 2.0, rel=1e-12)
    assert u_star > busy + 0.005  # 82.6 %: past the fleet's 81.6 % by a point
    # ... and 5 % does not (the negative control: the capital term moves it by degrees).
    capital.value = 0.05
    assert busy - 0.03 > drawn[-1][1] == pytest.approx(by_hand(0.05, 0.0) / 2.0, rel=1e-12)
    # A 20 % resale at 10 % a year pulls it back below the fleet's utilisation: 74.0 %.
    capital.value = 0.10
    resale.value = 0.2
    kwargs, u_star, _ = drawn[-1]
    assert (kwargs["interest_rate"], kwargs["resale_share"]) == (0.10, 0.2)
    assert u_star == pytest.approx(by_hand(0.10, 0.2) / 2.0, rel=1e-12)
    assert round(u_star, 3) == 0.740
    plt.close("all")


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(interest_rate=0.2), ValueError, "interest_rate must be <= 0.15"),
        (dict(interest_rate=-0.01), ValueError, "interest_rate must be >= 0"),
        (dict(interest_rate="5%"), TypeError, "interest_rate must be a real number"),
        (dict(resale_share=0.6), ValueError, "resale_share must be <= 0.5"),
        (dict(resale_share=math.nan), ValueError, "resale_share must be finite"),
    ],
)
def test_rent_or_own_refuses_capital_inputs_its_sliders_would_clip(kwargs, error, words):
    from labs.economics.widgets import rent_or_own

    with pytest.raises(error, match=words):
        rent_or_own(**kwargs)


def test_rent_or_own_plot_refuses_bad_capital_inputs():
    from labs.economics.widgets import plot_rent_or_own

    with pytest.raises(ValueError, match="resale_share must be < 1"):
        plot_rent_or_own(purchase_usd=35_040.0, rent_usd_per_hour=2.0, **ROUND, resale_share=1.0)
    with pytest.raises(ValueError, match="interest_rate must be <= 1"):
        plot_rent_or_own(purchase_usd=35_040.0, rent_usd_per_hour=2.0, **ROUND, interest_rate=5.0)


def test_rent_or_own_plot_reads_an_int_too_large_for_int64_as_a_number():
    """An int past int64 used to reach matplotlib as an object array ("ufunc 'isfinite' not
    supported"): the plot reads every number as a float, as the cost functions do."""
    import matplotlib.pyplot as plt

    from labs.economics.widgets import plot_rent_or_own

    ax, u_star = plot_rent_or_own(purchase_usd=35_040.0, rent_usd_per_hour=10**30, **ROUND)
    assert 0 < u_star < 1e-29 and ax.get_ylim()[1] == pytest.approx(3e30)
    plt.close("all")
    with pytest.raises(TypeError, match="rent_usd_per_hour"):
        plot_rent_or_own(purchase_usd=35_040.0, rent_usd_per_hour="2", **ROUND)
