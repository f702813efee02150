"""The price of a month, from the reference plan seeded by billing's data migration."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import Plan
from billing.pricing import BandPrice, PlanPrices, PricingError, TierPrice, breakdown

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan() -> PlanPrices:
    return Plan.objects.get(code="standard").prices()


def _lines(price):
    return [(line.label, line.quantity, line.unit, line.amount) for line in price.lines]


def test_one_integration_costs_the_first_tier(plan):
    price = breakdown(plan, integrations=1, invoices_30d=0)
    assert _lines(price) == [("Integration 1", 1, Decimal("29.99"), Decimal("29.99"))]
    assert price.total == Decimal("29.99")
    assert price.currency == "GBP"


def test_three_integrations_use_the_second_tier_for_two_of_them(plan):
    price = breakdown(plan, integrations=3, invoices_30d=0)
    assert _lines(price) == [
        ("Integration 1", 1, Decimal("29.99"), Decimal("29.99")),
        ("Integrations 2\N{EN DASH}3", 2, Decimal("23.99"), Decimal("47.98")),
    ]
    assert price.total == Decimal("77.97")


def test_six_integrations_reach_the_open_ended_tier(plan):
    price = breakdown(plan, integrations=6, invoices_30d=0)
    assert [line.quantity for line in price.lines] == [1, 2, 2, 1]
    assert price.lines[-1].label == "Integrations 6 and up"
    # 29.99 + 2 x 23.99 + 2 x 20.99 + 17.99
    assert price.total == Decimal("137.94")


def test_no_integration_switched_on_still_bills_one(plan):
    price = breakdown(plan, integrations=0, invoices_30d=0)
    assert price.integrations == 1
    assert price.total == Decimal("29.99")


@pytest.mark.parametrize(
    ("invoices", "premium"),
    [
        (500, None),  # "over 500": 500 itself is not over
        (501, Decimal("10.00")),
        (2000, Decimal("10.00")),
        (2001, Decimal("30.00")),
        (5001, Decimal("60.00")),  # only the highest band reached applies
    ],
)
def test_volume_bands_add_the_highest_premium_reached(plan, invoices, premium):
    price = breakdown(plan, integrations=1, invoices_30d=invoices)
    volume = [line for line in price.lines if line.label.startswith("Volume")]
    if premium is None:
        assert volume == []
        assert price.total == Decimal("29.99")
    else:
        assert [line.amount for line in volume] == [premium]
        assert price.total == Decimal("29.99") + premium


def test_a_gap_in_the_tiers_is_an_error_not_a_free_integration():
    plan = PlanPrices(
        name="Gappy",
        currency="GBP",
        tiers=(TierPrice(first=1, last=1, unit_amount=Decimal("10")),),
        bands=(BandPrice(above=10, monthly_amount=Decimal("1")),),
    )
    with pytest.raises(PricingError):
        breakdown(plan, integrations=2, invoices_30d=0)
