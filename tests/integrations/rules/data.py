"""Records and organisation metadata for the rule functions' tests (no database)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Any

from integrations.connections.salesforce.records import Address, Customer, LineItem, Opportunity
from integrations.connections.xero.metadata_types import (
    AccountInfo,
    OrganisationMetadata,
    TaxRateInfo,
    TrackingCategoryInfo,
    TrackingOptionInfo,
)

D = Decimal
ORG = "Demo Widgets Ltd"


def rate(
    tax_type: str, name: str, percent: str, *, status: str = "ACTIVE", revenue: bool = True
) -> TaxRateInfo:
    return TaxRateInfo(
        tax_type=tax_type,
        name=name,
        status=status,
        can_apply_to_revenue=revenue,
        effective_rate=D(percent),
    )


def category(name: str, *options: str, status: str = "ACTIVE", archived: tuple[str, ...] = ()):
    return TrackingCategoryInfo(
        category_id=f"cat-{name}",
        name=name,
        status=status,
        options={
            **{o: TrackingOptionInfo(f"opt-{o}", o, "ACTIVE") for o in options},
            **{o: TrackingOptionInfo(f"opt-{o}", o, "ARCHIVED") for o in archived},
        },
    )


def account(
    code: str, name: str, type_: str = "BANK", *, status: str = "ACTIVE", **changes: Any
) -> AccountInfo:
    return AccountInfo(
        account_id=f"acc-{code}", code=code, name=name, type=type_, status=status, **changes
    )


US_METADATA = OrganisationMetadata(
    name=ORG,
    country_code="US",
    base_currency="USD",
    tax_rates={
        r.tax_type: r
        for r in (
            rate("NONE", "Tax Exempt", "0"),
            rate("TAX001", "California Sales Tax", "7.25"),
            rate("TAX002", "New York City Sales Tax", "8.875"),
            rate("TAX003", "Texas Sales Tax", "8.25"),
            rate("TAX008", "Old Oregon Tax", "1", status="ARCHIVED"),
            rate("INPUT", "Tax on Purchases", "0", revenue=False),
            rate("EXPORT", "Zero Rated Exports", "0"),
        )
    },
    currencies=frozenset({"USD", "EUR", "GBP"}),
    accounts=(
        account("090", "Business Checking", currency_code="USD"),
        account("091", "EUR Account", currency_code="EUR"),
        account("092", "Old Savings", status="ARCHIVED", currency_code="USD"),
        account("093", "No Currency Bank"),
        account("200", "Sales", "REVENUE"),
        account("615", "Payment Clearing", "CURRENT", enable_payments_to_account=True),
    ),
    tracking_categories={
        c.name: c
        for c in (
            category("Region", "North", "South", "East", "West", archived=("Central",)),
            category("Sales Rep", "Alice Smith", "Bob Jones"),
            category("Old Projects", "Alpha", status="ARCHIVED"),
        )
    },
)


def customer(country: str = "United States", region: str = "California", **fields: Any) -> Customer:
    return Customer(
        salesforce_id="001000000000001AAA",
        name="Acme Corporation",
        billing_address=Address(city="Springfield", region=region, country=country),
        fields=fields,
    )


def opportunity(**changes: Any) -> Opportunity:
    base = Opportunity(
        salesforce_id="006000000000001AAA",
        name="Big Deal",
        stage="Closed Won",
        is_won=True,
        is_closed=True,
        is_deleted=False,
        amount=D("100.00"),
        close_date=dt.date(2026, 3, 2),
        currency="USD",
        system_modstamp=dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC),
        customer=customer(),
        primary_contact=None,
        lines=(
            LineItem(
                salesforce_id="00k000000000001AAA",
                product_id="01t000000000001AAA",
                product_code="WIDGET",
                product_name="Widget",
                description="",
                quantity=D(1),
                unit_price=D(100),
                total_price=D(100),
            ),
        ),
    )
    return replace(base, **changes)
