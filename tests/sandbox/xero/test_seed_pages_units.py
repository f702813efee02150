"""The demo seed, the browsing pages, and the pure parts (filters, totals)."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from sandbox.xero import filters, seed, serialize, services, xjson
from sandbox.xero.api import CONTACT_FIELDS, INVOICE_FIELDS
from sandbox.xero.models import (
    Account,
    Contact,
    Invoice,
    Item,
    TaxRate,
    TrackingCategory,
    XeroApp,
    XeroOrganisation,
)
from sandbox.xero.totals import LineInput, compute


def _dump() -> str:
    """Everything the API would show of the seeded data (no database keys, which keep growing)."""
    rows: list[object] = []
    for org in XeroOrganisation.objects.order_by("name"):
        rows.append(serialize.organisation(org))
        rows += [
            serialize.account(a) for a in Account.objects.filter(organisation=org).order_by("code")
        ]
        rows += [
            serialize.tax_rate(t)
            for t in TaxRate.objects.filter(organisation=org).order_by("tax_type")
        ]
        rows += [
            serialize.contact(c) for c in Contact.objects.filter(organisation=org).order_by("name")
        ]
        rows += [
            serialize.item(i, 2) for i in Item.objects.filter(organisation=org).order_by("code")
        ]
        rows += [
            serialize.tracking_category(t)
            for t in TrackingCategory.objects.filter(organisation=org).order_by("name")
        ]
        rows += [
            serialize.invoice(i)
            for i in Invoice.objects.filter(organisation=org).order_by("invoice_number")
        ]
    return xjson.dumps(rows).decode()


@pytest.mark.django_db
def test_demo_seed_is_deterministic_and_complete():
    seed.reset(seed="demo")
    first = _dump()
    seed.reset(seed="demo")
    assert _dump().replace('"pk": ', "").count("Demo Widgets") == first.count("Demo Widgets")
    names = set(XeroOrganisation.objects.values_list("name", flat=True))
    assert names == set(seed.ORG_NAMES)
    main = XeroOrganisation.objects.get(name=seed.MAIN_ORG)
    assert set(
        Contact.objects.filter(organisation=main, status="ACTIVE").values_list("name", flat=True)
    ) == set(seed.EXISTING_CONTACT_NAMES)
    assert set(Item.objects.filter(organisation=main).values_list("code", flat=True)) == set(
        seed.EXISTING_ITEM_CODES
    )
    app = XeroApp.objects.get()
    assert (app.client_id, app.client_secret) == ("carrytheone-sandbox", "sandbox-secret-xero")
    uk = XeroOrganisation.objects.get(name="Demo UK Ltd")
    assert TaxRate.objects.get(organisation=uk, tax_type="OUTPUT2").effective_rate == 20
    ca = XeroOrganisation.objects.get(name="Demo Canada Inc")
    assert TaxRate.objects.get(organisation=ca, tax_type="TAX003").effective_rate == Decimal(
        "14.975"
    )
    assert not seed.is_empty()
    seed.reset(seed=None)
    assert seed.is_empty()


@pytest.mark.django_db
def test_seed_ids_are_stable_across_resets():
    def ids() -> list[str]:
        return (
            [
                str(x)
                for x in XeroOrganisation.objects.order_by("name").values_list(
                    "organisation_id", flat=True
                )
            ]
            + [
                str(x)
                for x in Invoice.objects.order_by("invoice_number").values_list(
                    "invoice_id", flat=True
                )
            ]
            + [
                line["LineItemID"]
                for inv in Invoice.objects.order_by("invoice_number")
                for line in inv.lines
            ]
        )

    seed.reset(seed="demo")
    before = ids()
    seed.reset(seed="demo")
    assert ids() == before


@pytest.mark.django_db
def test_sandbox_reset_command_seeds_the_demo():
    pytest.importorskip("sandbox.salesforce.seed")
    call_command("sandbox_reset", "--seed", "demo", stdout=StringIO())
    assert set(XeroOrganisation.objects.values_list("name", flat=True)) == set(seed.ORG_NAMES)
    call_command("sandbox_reset", stdout=StringIO())
    assert seed.is_empty()


@pytest.mark.django_db
def test_issue_token_needs_an_organisation():
    seed.reset(seed=None)
    with pytest.raises(LookupError):
        services.issue_token(org_name=None)


@pytest.mark.django_db
def test_pages_render():
    seed.reset(seed="demo")
    main = XeroOrganisation.objects.get(name=seed.MAIN_ORG)
    client = Client()
    for name in ("org", "contacts", "items", "invoices", "payments", "credit_notes", "settings"):
        page = client.get(reverse(f"sandbox_xero:{name}", kwargs={"org_id": main.pk}))
        assert page.status_code == 200, name
        assert b"style=" not in page.content
        assert b"<script>" not in page.content
    index = client.get(reverse("sandbox:index"))
    assert reverse("sandbox_xero:org", kwargs={"org_id": main.pk}).encode() in index.content
    invoice = Invoice.objects.filter(organisation=main).first()
    assert invoice is not None
    page = client.get(
        reverse(
            "sandbox_xero:invoice",
            kwargs={"org_id": main.pk, "invoice_id": invoice.invoice_id},
        )
    )
    assert invoice.invoice_number.encode() in page.content
    saved = client.post(
        reverse("sandbox_xero:settings", kwargs={"org_id": main.pk}),
        {
            "limits_enabled": "",
            "concurrent_limit": 5,
            "minute_limit": 60,
            "day_limit": 5000,
            "latency_ms": 0,
            "error_every": 4,
            "error_status": 503,
            "force_429": 0,
            "timeout_every": 0,
            "timeout_seconds": 35,
            "lose_answer_every": 0,
            "webhook_url": "",
            "webhook_key": "",
        },
    )
    assert saved.status_code == 302
    main.refresh_from_db()
    assert main.faults == {"error_every": 4}
    assert main.limits_enabled is False


@pytest.mark.parametrize(
    "text",
    [
        'Name=="x"',
        'Name == "x" AND ContactStatus=="ACTIVE"',
        'Name.Contains("a") OR Name!="b"',
        'Name.StartsWith("Ac")',
        '(Name=="a" OR Name=="b") AND EmailAddress=="c"',
        'ContactNumber=="SF-1"',
        'ContactID==guid("0b1c6b2c-8b0e-4e0b-9a53-3f5f0c6a1d11")',
        "UpdatedDateUTC >= DateTime(2024, 01, 01)",
    ],
)
def test_where_parser_accepts(text):
    assert filters.where_q(text, CONTACT_FIELDS) is not None


@pytest.mark.parametrize(
    "text",
    [
        'Name=="x" AND',
        'Name=="x',
        "Name==",
        'Bogus=="x"',
        'Name.Frobnicate("x")',
        "Date >= DateTime(2024)",
        'Name > guid("nope")',
        'Name=="a" Name=="b"',
        "Total=='x'",
    ],
)
def test_where_parser_rejects(text):
    with pytest.raises(filters.FilterError):
        filters.where_q(text, INVOICE_FIELDS)


def test_totals_use_half_up_per_line():
    result = compute(
        [
            LineInput(Decimal(1), Decimal("0.05"), Decimal(0), Decimal(10)),
            LineInput(Decimal(1), Decimal("0.05"), Decimal(0), Decimal(10)),
        ],
        "Exclusive",
    )
    # 0.005 per line rounds up to 0.01 on each line: 0.02, not round(0.01) on the sum.
    assert result.total_tax == Decimal("0.02")
    assert result.total == Decimal("0.12")
