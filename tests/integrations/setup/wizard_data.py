"""An integration whose Xero and Salesforce settings are already in the panel's caches.

The wizard's tests need no network: both metadata caches hold a copy read "just now", and the
connections point at a port where nothing listens, so a refresh fails at once (as a real outage
would) and the panel carries on with the cached copy.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from accounts.models import Account
from integrations.connections.models import Connection, ProviderSettings
from integrations.connections.salesforce.metadata_types import (
    FieldInfo,
    ObjectInfo,
    SalesforceMetadata,
    StageInfo,
)
from integrations.connections.xero.metadata_types import (
    AccountInfo,
    OrganisationMetadata,
    TaxRateInfo,
    TrackingCategoryInfo,
    TrackingOptionInfo,
)
from integrations.core.models import Integration

DEAD = "http://127.0.0.1:9"
STANDARD_THEME = "5b8c3a4e-0000-4000-8000-000000000001"
PROJECTS_THEME = "5b8c3a4e-0000-4000-8000-000000000002"
PAYMENT_METHODS = ("Credit Card", "Bank Transfer", "Check", "PayPal")
REGIONS = ("North America", "EMEA", "APAC")
STAGES = (
    StageInfo("Prospecting", won=False, closed=False),
    StageInfo("Negotiation/Review", won=False, closed=False),
    StageInfo("Closed Won", won=True, closed=True),
    StageInfo("Closed Lost", won=False, closed=True),
)


def _rate(tax_type: str, name: str, rate: str, *, revenue: bool = True) -> TaxRateInfo:
    return TaxRateInfo(
        tax_type=tax_type,
        name=name,
        status="ACTIVE",
        can_apply_to_revenue=revenue,
        effective_rate=Decimal(rate),
    )


def _account(code: str, name: str, kind: str, currency: str = "", **extra: Any) -> AccountInfo:
    return AccountInfo(
        account_id=f"acc-{code}",
        code=code,
        name=name,
        type=kind,
        status=extra.pop("status", "ACTIVE"),
        currency_code=currency,
        **extra,
    )


def xero_metadata() -> OrganisationMetadata:
    region = TrackingCategoryInfo(
        category_id="cat-region",
        name="Region",
        status="ACTIVE",
        options={
            name: TrackingOptionInfo(option_id=f"opt-{name}", name=name, status="ACTIVE")
            for name in ("North", "South", "East", "West")
        },
    )
    return OrganisationMetadata(
        name="Demo Widgets Ltd",
        country_code="US",
        base_currency="USD",
        tax_rates={
            r.tax_type: r
            for r in (
                _rate("NONE", "Tax Exempt", "0"),
                _rate("TAX001", "California Sales Tax", "7.25"),
                _rate("TAX002", "New York City Sales Tax", "8.875"),
                _rate("INPUT", "Tax on Purchases", "0", revenue=False),
            )
        },
        currencies=frozenset({"USD", "EUR", "GBP"}),
        accounts=(
            _account("090", "Business Checking", "BANK", "USD"),
            _account("091", "EUR Account", "BANK", "EUR"),
            _account("200", "Sales", "REVENUE"),
            _account("260", "Other Revenue", "REVENUE"),
            _account("400", "Advertising", "EXPENSE"),
            _account("610", "Accounts Receivable", "CURRENT"),
            _account("855", "Card Clearing", "CURRENT", enable_payments_to_account=True),
        ),
        tracking_categories={"Region": region},
        branding_themes={STANDARD_THEME: "Standard", PROJECTS_THEME: "Special Projects"},
    )


def _field(
    name: str, label: str, kind: str, *values: str, custom: bool = False, updateable: bool = True
) -> FieldInfo:
    return FieldInfo(
        name=name,
        label=label,
        type=kind,
        custom=custom,
        picklist_values=values,
        updateable=updateable,
    )


def salesforce_metadata() -> SalesforceMetadata:
    opportunity = ObjectInfo(
        name="Opportunity",
        fields={
            f.name: f
            for f in (
                _field("Id", "Opportunity ID", "id"),
                _field("Name", "Name", "string"),
                _field("StageName", "Stage", "picklist", *(s.name for s in STAGES)),
                _field("Amount", "Amount", "currency"),
                _field("Type", "Type", "picklist", "New Customer", "Existing Customer"),
                _field(
                    "Payment_Method__c", "Payment Method", "picklist", *PAYMENT_METHODS, custom=True
                ),
                _field("Region__c", "Region", "picklist", *REGIONS, custom=True),
                _field("PO_Number__c", "PO Number", "string", custom=True),
                # Write-back targets; one the connected user may not edit.
                _field("Xero_Status__c", "Xero Status", "string", custom=True),
                _field("Xero_Amount_Due__c", "Xero Amount Due", "currency", custom=True),
                _field("Xero_Paid_Date__c", "Xero Paid Date", "date", custom=True),
                _field("Xero_Locked__c", "Xero Locked", "string", custom=True, updateable=False),
            )
        },
    )
    account = ObjectInfo(
        name="Account",
        fields={
            f.name: f
            for f in (
                _field("Name", "Account Name", "string"),
                _field("BillingCountry", "Billing Country", "string"),
                _field("Tax_Code__c", "Tax Code", "string", custom=True),
            )
        },
    )
    return SalesforceMetadata(
        opportunity=opportunity, account=account, multi_currency=False, stages=STAGES
    )


def connected_integration(account: Account, *, cached: bool = True, **fields: Any) -> Integration:
    """Both connections (to nowhere), and both caches filled unless ``cached`` is off."""
    expires = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    xero = Connection.objects.create(
        account=account,
        provider="xero",
        external_id="tenant-1",
        display_name="Demo Widgets Ltd",
        credentials={"access_token": "a", "refresh_token": "r", "expires_at": expires},
    )
    salesforce = Connection.objects.create(
        account=account,
        provider="salesforce",
        external_id="00D-1",
        display_name="Demo org",
        credentials={
            "access_token": "a",
            "refresh_token": "r",
            "instance_url": DEAD,
            "login_url": DEAD,
            "expires_at": expires,
        },
    )
    if cached:
        now = timezone.now()
        # Both were read just now: the connections are known to work (no live check needed).
        Connection.objects.filter(pk__in=[xero.pk, salesforce.pk]).update(checked_at=now)
        ProviderSettings.objects.create(
            connection=xero, data=xero_metadata().to_json(), fetched_at=now
        )
        ProviderSettings.objects.create(
            connection=salesforce, data=salesforce_metadata().to_json(), fetched_at=now
        )
    return Integration.objects.create(
        account=account,
        name="Main",
        xero_connection=xero,
        salesforce_connection=salesforce,
        **fields,
    )
