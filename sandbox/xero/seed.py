"""Wipes the simulated Xero and loads the demo organisations.

Deterministic: ids come from a seeded ``random.Random`` and dates from a fixed base date, so two
resets give the same data (tenant ids stay stable across demo resets).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from sandbox.db import atomic
from sandbox.xero import writes
from sandbox.xero.models import (
    AccessToken,
    Account,
    Allocation,
    AuthorizationCode,
    BrandingTheme,
    Connection,
    Contact,
    CreditNote,
    Currency,
    Grant,
    IdempotencyRecord,
    Invoice,
    Item,
    Payment,
    RefreshToken,
    TaxRate,
    TrackingCategory,
    TrackingOption,
    WebhookDelivery,
    XeroApp,
    XeroOrganisation,
)
from sandbox.xero.services import DEMO_APP_NAME, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

MAIN_ORG = "Demo Widgets Ltd"
ORG_NAMES = (MAIN_ORG, "Demo UK Ltd", "Demo Pty Ltd", "Demo NZ Ltd", "Demo Canada Inc")
# Names shared with the Salesforce seed's demo accounts, so that contact matching is exercised.
EXISTING_CONTACT_NAMES = (
    "Acme Corporation",
    "Globex Ltd",
    "Initech LLC",
    "Umbrella Pty Ltd",
    "Stark Industries",
)
# Product codes shared with the Salesforce seed's Product2 records.
EXISTING_ITEM_CODES = ("WIDGET-S", "WIDGET-M", "SVC-INSTALL")
BASE_DATE = dt.date(2026, 1, 5)
BASE_TIME = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)

CURRENCY_NAMES = {
    "USD": "United States Dollar",
    "GBP": "British Pound",
    "EUR": "Euro",
    "AUD": "Australian Dollar",
    "CAD": "Canadian Dollar",
    "NZD": "New Zealand Dollar",
}

# (TaxType, Name, revenue?, expenses?, [(component, rate)])
TaxSpec = tuple[str, str, bool, bool, list[tuple[str, str]]]
TAX_RATES: dict[str, list[TaxSpec]] = {
    "US": [
        ("NONE", "Tax Exempt", True, True, [("Tax Exempt", "0")]),
        (
            "TAX001",
            "California Sales Tax",
            True,
            False,
            [("State Tax", "6.0"), ("County Tax", "0.25"), ("District Tax", "1.0")],
        ),
        (
            "TAX002",
            "New York City Sales Tax",
            True,
            False,
            [("State Tax", "4.0"), ("City Tax", "4.5"), ("MCTD", "0.375")],
        ),
        ("TAX003", "Texas Sales Tax", True, False, [("State Tax", "6.25"), ("Local", "2.0")]),
        ("TAX004", "Washington Sales Tax", True, False, [("State Tax", "6.5"), ("Local", "3.75")]),
        ("TAX005", "Florida Sales Tax", True, False, [("State Tax", "6.0")]),
        ("INPUT", "Tax on Purchases", False, True, [("Purchases Tax", "0")]),
    ],
    "GB": [
        ("OUTPUT2", "20% (VAT on Income)", True, False, [("VAT", "20")]),
        ("INPUT2", "20% (VAT on Expenses)", False, True, [("VAT", "20")]),
        ("RROUTPUT", "5% (VAT on Income)", True, False, [("VAT", "5")]),
        ("RRINPUT", "5% (VAT on Expenses)", False, True, [("VAT", "5")]),
        ("ZERORATEDOUTPUT", "Zero Rated Income", True, False, [("VAT", "0")]),
        ("ZERORATEDINPUT", "Zero Rated Expenses", False, True, [("VAT", "0")]),
        ("EXEMPTOUTPUT", "Exempt Income", True, False, [("VAT", "0")]),
        ("EXEMPTINPUT", "Exempt Expenses", False, True, [("VAT", "0")]),
        ("NONE", "No VAT", True, True, [("VAT", "0")]),
    ],
    "AU": [
        ("OUTPUT", "GST on Income", True, False, [("GST", "10")]),
        ("INPUT", "GST on Expenses", False, True, [("GST", "10")]),
        ("EXEMPTOUTPUT", "GST Free Income", True, False, [("GST", "0")]),
        ("EXEMPTEXPENSES", "GST Free Expenses", False, True, [("GST", "0")]),
        ("BASEXCLUDED", "BAS Excluded", True, True, [("GST", "0")]),
    ],
    "NZ": [
        ("OUTPUT2", "15% GST on Income", True, False, [("GST", "15")]),
        ("INPUT2", "15% GST on Expenses", False, True, [("GST", "15")]),
        ("ZERORATED", "Zero Rated", True, True, [("GST", "0")]),
        ("NONE", "No GST", True, True, [("GST", "0")]),
    ],
    "CA": [
        ("OUTPUT", "GST on Sales", True, False, [("GST", "5")]),
        ("INPUT", "GST on Purchases", False, True, [("GST", "5")]),
        ("TAX001", "GST + PST (BC)", True, False, [("GST", "5"), ("PST", "7")]),
        ("TAX002", "HST (ON)", True, False, [("HST", "13")]),
        ("TAX003", "GST + QST (QC)", True, False, [("GST", "5"), ("QST", "9.975")]),
        ("NONE", "No Tax", True, True, [("Tax", "0")]),
    ],
}

# (country, version, base currency, default sales tax, enabled currencies)
ORGS: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    MAIN_ORG: ("US", "US", "USD", "TAX001", ("USD", "GBP", "EUR", "AUD", "CAD", "NZD")),
    "Demo UK Ltd": ("GB", "UK", "GBP", "OUTPUT2", ("GBP", "EUR", "USD")),
    "Demo Pty Ltd": ("AU", "AU", "AUD", "OUTPUT", ("AUD", "NZD", "USD")),
    "Demo NZ Ltd": ("NZ", "NZ", "NZD", "OUTPUT2", ("NZD", "AUD", "USD")),
    "Demo Canada Inc": ("CA", "GLOBAL", "CAD", "OUTPUT", ("CAD", "USD")),
}

MODELS_IN_DELETE_ORDER: tuple[Any, ...] = (
    Allocation,
    Payment,
    Invoice,
    CreditNote,
    Item,
    Contact,
    TrackingOption,
    TrackingCategory,
    BrandingTheme,
    Account,
    TaxRate,
    Currency,
    IdempotencyRecord,
    WebhookDelivery,
    AccessToken,
    RefreshToken,
    Connection,
    Grant,
    AuthorizationCode,
    XeroOrganisation,
    XeroApp,
)


def is_empty() -> bool:
    return not XeroOrganisation.objects.exists() and not XeroApp.objects.exists()


@atomic()
def reset(*, seed: str | None) -> None:
    """Wipe every sandbox Xero row; with ``seed="demo"`` load the demo data."""
    for model in MODELS_IN_DELETE_ORDER:
        model.objects.all().delete()
    if seed is None:
        return
    if seed != "demo":
        raise ValueError(f"unknown seed {seed!r}")
    _demo()


def _demo() -> None:
    rng = random.Random(20260105)  # noqa: S311 - reproducible demo data, not secrets

    def uid() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    XeroApp.objects.create(
        name=DEMO_APP_NAME,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        redirect_uris=[],
    )
    for name, (country, version, base, sales_tax, currencies) in ORGS.items():
        org = XeroOrganisation.objects.create(
            name=name,
            organisation_id=uid(),
            country_code=country,
            version=version,
            base_currency=base,
            short_code=f"!{rng.randrange(16**5):05x}",
        )
        XeroOrganisation.objects.filter(pk=org.pk).update(created_at=BASE_TIME)
        stamp = {"organisation": org, "updated_at": BASE_TIME}
        for code in currencies:
            Currency.objects.create(code=code, description=CURRENCY_NAMES[code], **stamp)
        for tax_type, tax_name, revenue, expenses, components in TAX_RATES[country]:
            TaxRate.objects.create(
                tax_type=tax_type,
                name=tax_name,
                can_apply_to_revenue=revenue,
                can_apply_to_expenses=expenses,
                report_tax_type="OUTPUT" if revenue else "INPUT",
                components=[
                    {"Name": c, "Rate": r, "IsCompound": False, "IsNonRecoverable": False}
                    for c, r in components
                ],
                **stamp,
            )
        _accounts(org, uid, sales_tax, currencies, stamp)
        BrandingTheme.objects.create(
            branding_theme_id=uid(), name="Standard", sort_order=0, **stamp
        )
        if name == MAIN_ORG:
            BrandingTheme.objects.create(
                branding_theme_id=uid(), name="Special Projects", sort_order=1, **stamp
            )
            _main_extras(org, uid, rng, stamp)


def _accounts(
    org: XeroOrganisation,
    uid: Any,
    sales_tax: str,
    currencies: tuple[str, ...],
    stamp: dict[str, Any],
) -> None:
    rows: list[tuple[str, str, str, str, str]] = [
        ("200", "Sales", "REVENUE", "REVENUE", sales_tax),
        ("260", "Other Revenue", "REVENUE", "REVENUE", sales_tax),
        ("270", "Interest Income", "REVENUE", "REVENUE", "NONE" if "NONE" in _types(org) else ""),
        ("310", "Cost of Goods Sold", "DIRECTCOSTS", "EXPENSE", ""),
        ("400", "Advertising", "EXPENSE", "EXPENSE", ""),
        ("429", "General Expenses", "EXPENSE", "EXPENSE", ""),
        ("610", "Accounts Receivable", "CURRENT", "ASSET", ""),
        ("620", "Prepayments", "CURRENT", "ASSET", ""),
        ("800", "Accounts Payable", "CURRLIAB", "LIABILITY", ""),
        ("820", "Sales Tax", "CURRLIAB", "LIABILITY", ""),
        ("960", "Retained Earnings", "EQUITY", "EQUITY", ""),
    ]
    for code, name, kind, klass, tax in rows:
        Account.objects.create(
            account_id=uid(),
            code=code,
            name=name,
            type=kind,
            account_class=klass,
            tax_type=tax,
            **stamp,
        )
    # A clearing account that takes payments without being a bank account.
    Account.objects.create(
        account_id=uid(),
        code="615",
        name="Payment Clearing",
        type="CURRENT",
        account_class="ASSET",
        enable_payments_to_account=True,
        **stamp,
    )
    for index, currency in enumerate(currencies):
        label = "Business Checking" if index == 0 else f"{currency} Account"
        Account.objects.create(
            account_id=uid(),
            code=f"09{index}",
            name=label,
            type="BANK",
            account_class="ASSET",
            currency_code=currency,
            bank_account_number=f"{1000 + index:04d}-{index:02d}",
            **stamp,
        )


def _types(org: XeroOrganisation) -> set[str]:
    return set(TaxRate.objects.filter(organisation=org).values_list("tax_type", flat=True))


def _main_extras(
    org: XeroOrganisation, uid: Any, rng: random.Random, stamp: dict[str, Any]
) -> None:
    for category, options in (
        ("Region", ("North", "South", "East", "West")),
        ("Sales Rep", ("Alice Smith", "Bob Jones", "Carol White")),
    ):
        cat = TrackingCategory.objects.create(tracking_category_id=uid(), name=category, **stamp)
        for option in options:
            TrackingOption.objects.create(tracking_option_id=uid(), category=cat, name=option)
    cities = ("Springfield", "Shelbyville", "Capital City", "Ogdenville")
    for index, name in enumerate(EXISTING_CONTACT_NAMES):
        slug = name.split()[0].lower()
        Contact.objects.create(
            contact_id=uid(),
            name=name,
            email_address=f"accounts@{slug}.example",
            extra={
                "Addresses": [
                    {
                        "AddressType": "POBOX",
                        "AddressLine1": f"{rng.randrange(1, 999)} Main Street",
                        "City": cities[index % len(cities)],
                        "PostalCode": f"{rng.randrange(10000, 99999)}",
                        "Country": "USA",
                    }
                ],
                "Phones": [],
                "IsCustomer": True,
            },
            **stamp,
        )
    Contact.objects.create(contact_id=uid(), name="Hooli Inc", status="ARCHIVED", **stamp)
    for code, name, price in (
        ("WIDGET-S", "Widget, small", "25.00"),
        ("WIDGET-M", "Widget, medium", "45.00"),
        ("SVC-INSTALL", "Installation service", "150.00"),
    ):
        Item.objects.create(
            item_id=uid(),
            code=code,
            name=name,
            description=name,
            sales_details={"UnitPrice": price, "AccountCode": "200"},
            purchase_details={},
            **stamp,
        )
    # Two invoices, one paid, so numbering continues at INV-0003 and reads return something.
    ctx = writes.Context(org=org)
    ctx.now = BASE_TIME
    acme = Contact.objects.get(organisation=org, name="Acme Corporation")
    first = writes.write_document(
        ctx,
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": str(acme.contact_id)},
            "Date": BASE_DATE.isoformat(),
            "DueDate": (BASE_DATE + dt.timedelta(30)).isoformat(),
            "Status": "AUTHORISED",
            "Reference": "Demo order 1",
            "LineItems": [
                {"ItemCode": "WIDGET-S", "Quantity": 4},
                {"ItemCode": "SVC-INSTALL", "Quantity": 1},
            ],
        },
        kind="invoice",
        create_only=True,
    )
    writes.write_document(
        ctx,
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": str(acme.contact_id)},
            "Date": BASE_DATE.isoformat(),
            "Status": "AUTHORISED",
            "Reference": "Demo order 2",
            "LineItems": [{"ItemCode": "WIDGET-M", "Quantity": 2}],
        },
        kind="invoice",
        create_only=True,
    )
    assert isinstance(first, Invoice)
    Invoice.objects.filter(pk=first.pk).update(invoice_id=uid())
    first.refresh_from_db()
    payment = writes.write_payment(
        ctx,
        {
            "Invoice": {"InvoiceID": str(first.invoice_id)},
            "Account": {"Code": "090"},
            "Date": BASE_DATE.isoformat(),
            "Amount": str(first.total),
            "Reference": "Wire",
        },
    )
    Payment.objects.filter(pk=payment.pk).update(payment_id=uid())
    for inv in Invoice.objects.filter(organisation=org).order_by("pk"):
        lines = [{**line, "LineItemID": str(uid())} for line in inv.lines]
        new_id = inv.invoice_id if inv.pk == first.pk else uid()
        Invoice.objects.filter(pk=inv.pk).update(
            invoice_id=new_id, lines=lines, created_at=BASE_TIME
        )
