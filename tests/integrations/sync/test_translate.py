"""Translate: opportunity records become Xero contacts, items and invoices; totals as Xero's."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.connections.salesforce.records import (
    Address,
    ContactPerson,
    Customer,
    LineItem,
    Opportunity,
)
from integrations.core.config import SyncConfig
from integrations.sync.translate import (
    InvoiceDraft,
    TranslationError,
    contact_for,
    content_hash,
    idempotency_key,
    invoice_for,
    item_code_for,
    item_for,
)
from sandbox.xero import seed
from sandbox.xero import services as xero_sandbox
from sandbox.xero.totals import LineInput, compute

D = Decimal
CONFIG = SyncConfig()


def make_line(n: int = 1, **changes: Any) -> LineItem:
    line = LineItem(
        salesforce_id=f"00k00000000000{n:04d}",
        product_id=f"01t00000000000{n:04d}",
        product_code=f"WIDGET-{n}",
        product_name=f"Widget {n}",
        description="",
        quantity=D("2"),
        unit_price=D("10.00"),
        total_price=D("20.00"),
    )
    return replace(line, **changes)


def make_customer(**changes: Any) -> Customer:
    customer = Customer(
        salesforce_id="001000000000001AAA",
        name="  Acme Corporation ",
        billing_address=Address(
            street="1 Main St\nSuite 5",
            city="Springfield",
            region="IL",
            postal_code="62701",
            country="USA",
        ),
    )
    return replace(customer, **changes)


def make_opportunity(**changes: Any) -> Opportunity:
    opportunity = Opportunity(
        salesforce_id="006000000000001AAA",
        name="Acme - 200 widgets",
        stage="Closed Won",
        is_won=True,
        is_closed=True,
        is_deleted=False,
        amount=D("1500.00"),
        close_date=dt.date(2026, 3, 31),
        currency=None,
        system_modstamp=dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC),
        customer=make_customer(),
        primary_contact=ContactPerson(
            salesforce_id="003000000000001AAA",
            first_name="Wile",
            last_name="Coyote",
            email="wile@acme.example",
        ),
        lines=(make_line(1),),
    )
    return replace(opportunity, **changes)


# --- Contacts ------------------------------------------------------------------------------


def test_contact_from_account_and_primary_contact() -> None:
    """Name from the Account (trimmed), ContactNumber = Account Id, person from the contact."""
    assert contact_for(make_opportunity(), CONFIG).to_xero() == {
        "Name": "Acme Corporation",
        "ContactNumber": "001000000000001AAA",
        "EmailAddress": "wile@acme.example",
        "FirstName": "Wile",
        "LastName": "Coyote",
        "Addresses": [
            {
                "AddressType": "POBOX",
                "AddressLine1": "1 Main St",
                "AddressLine2": "Suite 5",
                "City": "Springfield",
                "Region": "IL",
                "PostalCode": "62701",
                "Country": "USA",
            }
        ],
    }


def test_contact_omits_empty_values() -> None:
    """No primary contact and no billing address: only Name and ContactNumber are sent."""
    opportunity = make_opportunity(
        primary_contact=None, customer=make_customer(billing_address=Address(city="  "))
    )
    assert contact_for(opportunity, CONFIG).to_xero() == {
        "Name": "Acme Corporation",
        "ContactNumber": "001000000000001AAA",
    }


def test_contact_limits() -> None:
    """Names are clipped to Xero's 255 characters, ContactNumber to 50; streets to 4 lines."""
    customer = make_customer(
        name="N" * 300,
        salesforce_id="X" * 60,
        billing_address=Address(street="a\nb\n\nc\nd\ne"),
    )
    data = contact_for(make_opportunity(customer=customer), CONFIG).to_xero()
    assert data["Name"] == "N" * 255
    assert data["ContactNumber"] == "X" * 50
    assert data["Addresses"] == [
        {
            "AddressType": "POBOX",
            "AddressLine1": "a",
            "AddressLine2": "b",
            "AddressLine3": "c",
            "AddressLine4": "d, e",
        }
    ]


def test_contact_needs_an_account() -> None:
    with pytest.raises(TranslationError, match="has no Account"):
        contact_for(make_opportunity(customer=None), CONFIG)


def test_contact_needs_an_account_name() -> None:
    with pytest.raises(TranslationError, match="has no name"):
        contact_for(make_opportunity(customer=make_customer(name="   ")), CONFIG)


# --- Items ---------------------------------------------------------------------------------


def test_item_code_up_to_30_is_kept() -> None:
    assert item_code_for(" WIDGET-S ", "01t000000000001") == "WIDGET-S"
    assert item_code_for("C" * 30, "01t") == "C" * 30


def test_long_item_code_gets_a_deterministic_short_form() -> None:
    """First 21 characters, "-", 8 hex digits of the SHA-256 of the whole code: 30 in all."""
    code = "ENTERPRISE-LICENCE-ANNUAL-2026-EU-WEST"
    short = item_code_for(code, "01t000000000001")
    assert short == code[:21] + "-" + hashlib.sha256(code.encode()).hexdigest()[:8]
    assert len(short) == 30
    assert item_code_for(code, "other") == short
    assert item_code_for(code + "X", "01t000000000001") != short


def test_empty_item_code_uses_the_product_id() -> None:
    assert item_code_for("  ", "01t000000000001AAA") == "01t000000000001AAA"
    long_id = "P" * 40
    assert item_code_for("", long_id) == "P" * 21 + "-" + hashlib.sha256(b"P" * 40).hexdigest()[:8]


def test_item_code_needs_something() -> None:
    with pytest.raises(TranslationError, match="neither a Product Code nor an Id"):
        item_code_for("", " ")


def test_item_for_a_product() -> None:
    """Code, Name, Description, IsSold and SalesDetails with the configured account and tax."""
    config = SyncConfig(sales_account_code="260", default_tax_type="TAX001")
    line = make_line(description="Blue, large", unit_price=D("12.345678"))
    item = item_for(line, config)
    assert item.shortened_from == ""
    assert item.to_xero() == {
        "Code": "WIDGET-1",
        "Name": "Widget 1",
        "Description": "Blue, large",
        "IsSold": True,
        "SalesDetails": {"UnitPrice": D("12.3457"), "AccountCode": "260", "TaxType": "TAX001"},
    }


def test_item_for_long_code_and_name() -> None:
    """Names over 50 keep 47 (trimmed) and end in "..."; a shortened code keeps its original."""
    code = "X" * 31
    name = "A very long product name that goes well beyond fifty characters"
    item = item_for(make_line(product_code=code, product_name=name), CONFIG)
    assert item.code == item_code_for(code, "")
    assert item.shortened_from == code
    assert item.name == name[:47].rstrip() + "..."
    assert len(item.name) <= 50
    data = item.to_xero()
    assert data["Description"] == name
    assert data["SalesDetails"] == {"UnitPrice": D("10.0000"), "AccountCode": "200"}


# --- Invoices ------------------------------------------------------------------------------


def test_invoice_defaults() -> None:
    """ACCREC dated the Close Date, due 30 days later, Reference = name, Xero numbers it."""
    line = make_line(
        description="Custom description",
        quantity=D("3"),
        unit_price=D("19.99"),
        discount_percent=D("10"),
    )
    draft = invoice_for(make_opportunity(lines=(line,)), CONFIG)
    assert draft.to_xero() == {
        "Type": "ACCREC",
        "Contact": {"ContactNumber": "001000000000001AAA"},
        "Date": "2026-03-31",
        "DueDate": "2026-04-30",
        "Status": "AUTHORISED",
        "LineAmountTypes": "Exclusive",
        "Reference": "Acme - 200 widgets",
        "LineItems": [
            {
                "Description": "Custom description",
                "Quantity": D("3.0000"),
                "UnitAmount": D("19.9900"),
                "DiscountRate": D("10.00"),
                "ItemCode": "WIDGET-1",
                "AccountCode": "200",
            }
        ],
    }


def test_invoice_configured() -> None:
    """Status, line amount types, terms, tax type, theme, currency and number from config."""
    config = SyncConfig(
        invoice_status="DRAFT",
        line_amount_types="Inclusive",
        payment_terms_days=14,
        invoice_number_pattern="SF-{close_date:%Y}-{opportunity_id}",
        sales_account_code="260",
        default_tax_type="TAX002",
        branding_theme_id="5d4c8f1e-0000-4000-8000-000000000001",
        default_currency="USD",
    )
    draft = invoice_for(make_opportunity(currency="EUR"), config, contact_id="abc-123")
    data = draft.to_xero()
    assert data["Contact"] == {"ContactID": "abc-123"}
    assert data["Status"] == "DRAFT"
    assert data["LineAmountTypes"] == "Inclusive"
    assert data["DueDate"] == "2026-04-14"
    assert data["InvoiceNumber"] == "SF-2026-006000000000001AAA"
    assert data["CurrencyCode"] == "EUR"
    assert data["BrandingThemeID"] == "5d4c8f1e-0000-4000-8000-000000000001"
    (line,) = data["LineItems"]
    assert line["AccountCode"] == "260"
    assert line["TaxType"] == "TAX002"
    assert line["Description"] == "Widget 1"
    assert "DiscountRate" not in line


def test_invoice_currency_falls_back_to_the_org_currency() -> None:
    config = SyncConfig(default_currency="GBP")
    assert invoice_for(make_opportunity(), config).to_xero()["CurrencyCode"] == "GBP"
    assert "CurrencyCode" not in invoice_for(make_opportunity(), CONFIG).to_xero()


def test_no_tax_invoice_sends_no_tax_types() -> None:
    config = SyncConfig(line_amount_types="NoTax", default_tax_type="TAX001")
    (line,) = invoice_for(make_opportunity(), config).to_xero()["LineItems"]
    assert "TaxType" not in line


def test_invoice_number_from_name() -> None:
    config = SyncConfig(invoice_number_pattern="{close_date:%y%m}/{name}")
    draft = invoice_for(make_opportunity(), config)
    assert draft.invoice_number == "2603/Acme - 200 widgets"


def test_invoice_number_too_long_is_an_error() -> None:
    config = SyncConfig(invoice_number_pattern="{name}")
    with pytest.raises(TranslationError, match="longer than Xero's 255"):
        invoice_for(make_opportunity(name="n" * 256), config)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PO-7781", "PO-7781"),
        (D("1234.50"), "1234.50"),
        (42, "42"),
        (True, "Yes"),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (None, None),
        ("r" * 300, "r" * 255),
    ],
)
def test_reference_from_a_configured_field(value: Any, expected: str | None) -> None:
    """Any field's value, as text, at most 255 characters; None gives no Reference."""
    config = SyncConfig(reference_field="PO_Number__c")
    draft = invoice_for(make_opportunity(fields={"PO_Number__c": value}), config)
    assert draft.to_xero().get("Reference") == expected


def test_reference_field_not_read_is_an_error() -> None:
    config = SyncConfig(reference_field="PO_Number__c")
    with pytest.raises(TranslationError, match="'PO_Number__c' was not read"):
        invoice_for(make_opportunity(), config)


def test_opportunity_without_products_is_one_line_for_its_amount() -> None:
    config = SyncConfig(default_tax_type="TAX001")
    draft = invoice_for(make_opportunity(lines=(), amount=D("1500.123456")), config)
    assert draft.to_xero()["LineItems"] == [
        {
            "Description": "Acme - 200 widgets",
            "Quantity": D(1),
            "UnitAmount": D("1500.1235"),
            "AccountCode": "200",
            "TaxType": "TAX001",
        }
    ]


@pytest.mark.parametrize("amount", [None, D(0), D("0.00")])
def test_opportunity_without_products_or_amount_is_an_error(amount: Decimal | None) -> None:
    """A person reads why: there is nothing to invoice, and where to fix it."""
    with pytest.raises(TranslationError) as info:
        invoice_for(make_opportunity(lines=(), amount=amount), CONFIG)
    assert str(info.value) == (
        "Opportunity 'Acme - 200 widgets' (006000000000001AAA) has no products and no Amount, "
        "so there is nothing to invoice: add products or an Amount in Salesforce."
    )


def test_negative_amount_is_an_error() -> None:
    with pytest.raises(TranslationError, match="negative Amount"):
        invoice_for(make_opportunity(lines=(), amount=D("-5")), CONFIG)


def test_invoice_needs_a_close_date() -> None:
    with pytest.raises(TranslationError, match="has no Close Date"):
        invoice_for(make_opportunity(close_date=None), CONFIG)


def test_invoice_needs_an_account_unless_the_contact_is_known() -> None:
    with pytest.raises(TranslationError, match="has no Account"):
        invoice_for(make_opportunity(customer=None), CONFIG)
    draft = invoice_for(make_opportunity(customer=None), CONFIG, contact_id="c-1")
    assert draft.to_xero()["Contact"] == {"ContactID": "c-1"}


@pytest.mark.parametrize("discount", [D("-1"), D("100.01")])
def test_discount_out_of_range_is_an_error(discount: Decimal) -> None:
    line = make_line(discount_percent=discount)
    with pytest.raises(TranslationError, match="not between 0 and 100"):
        invoice_for(make_opportunity(lines=(line,)), CONFIG)


def test_line_item_codes_are_shortened_like_items() -> None:
    line = make_line(product_code="L" * 40)
    (data,) = invoice_for(make_opportunity(lines=(line,)), CONFIG).to_xero()["LineItems"]
    assert data["ItemCode"] == item_code_for("L" * 40, "")


# --- Totals --------------------------------------------------------------------------------


def _draft(line_amount_types: str, *lines: LineItem, tax: str = "T") -> InvoiceDraft:
    config = SyncConfig(line_amount_types=line_amount_types, default_tax_type=tax)
    return invoice_for(make_opportunity(lines=lines), config)


def test_totals_exclusive_round_each_line_half_up() -> None:
    """3 x 0.335 = 1.005 -> 1.01 (half-up); tax per line at 10 %: 0.101 -> 0.10, summed."""
    line = make_line(quantity=D(3), unit_price=D("0.335"))
    totals = _draft("Exclusive", line, line).expected_totals({"T": D(10)})
    assert totals.line_amounts == (D("1.01"), D("1.01"))
    assert totals.tax_amounts == (D("0.10"), D("0.10"))
    assert (totals.sub_total, totals.total_tax, totals.total) == (D("2.02"), D("0.20"), D("2.22"))


def test_totals_inclusive_take_the_tax_out_of_the_line() -> None:
    """115.00 at 15 % inclusive holds 15.00 of tax; subtotal is the rest."""
    line = make_line(quantity=D(1), unit_price=D(115))
    totals = _draft("Inclusive", line).expected_totals({"T": D(15)})
    assert (totals.sub_total, totals.total_tax, totals.total) == (D("100.00"), D("15.00"), D(115))


def test_totals_discount_and_no_tax() -> None:
    """10 x 9.99 less 12.5 % = 87.4125 -> 87.41; NoTax ignores rates."""
    line = make_line(quantity=D(10), unit_price=D("9.99"), discount_percent=D("12.5"))
    totals = _draft("NoTax", line).expected_totals({"": D(20), "T": D(20)})
    assert (totals.sub_total, totals.total_tax, totals.total) == (D("87.41"), D(0), D("87.41"))


def test_totals_without_rates_have_no_tax_and_default_key() -> None:
    """Without rates tax is 0; a line without TaxType takes the rate under "" (account default)."""
    draft = _draft("Exclusive", make_line(), tax="")
    assert draft.expected_totals().total_tax == 0
    assert draft.expected_totals({"": D("7.25")}).total_tax == D("1.45")


RATES = [D(0), D(5), D("8.875"), D(10), D("12.5"), D(15), D(20)]
quantities = st.integers(1, 100_000_000).map(lambda n: D(n).scaleb(-4))
prices = st.integers(0, 1_000_000_000).map(lambda n: D(n).scaleb(-4))
discounts = st.integers(0, 10_000).map(lambda n: D(n).scaleb(-2))
lines_strategy = st.lists(
    st.tuples(quantities, prices, discounts, st.sampled_from(RATES)), min_size=1, max_size=10
)


@settings(max_examples=200, deadline=None)
@given(lines=lines_strategy, line_amount_types=st.sampled_from(["Exclusive", "Inclusive", "NoTax"]))
def test_expected_totals_equal_the_sandbox(
    lines: list[tuple[Decimal, Decimal, Decimal, Decimal]], line_amount_types: str
) -> None:
    """Our totals match the simulator's own totals code (Xero's rules) line by line."""
    rates = {f"R{rate}": rate for rate in RATES}
    items = tuple(
        make_line(i, quantity=q, unit_price=u, discount_percent=d)
        for i, (q, u, d, _rate) in enumerate(lines)
    )
    draft = invoice_for(
        make_opportunity(lines=items), SyncConfig(line_amount_types=line_amount_types)
    )
    draft = replace(
        draft,
        lines=tuple(
            replace(line, tax_type=f"R{rate}")
            for line, (_q, _u, _d, rate) in zip(draft.lines, lines, strict=True)
        ),
    )
    ours = draft.expected_totals(rates)
    oracle = compute(
        [
            LineInput(line.quantity, line.unit_amount, line.discount_rate, rates[line.tax_type])
            for line in draft.lines
        ],
        line_amount_types,
    )
    assert ours.line_amounts == tuple(r.line_amount for r in oracle.lines)
    assert ours.tax_amounts == tuple(r.tax_amount for r in oracle.lines)
    assert (ours.sub_total, ours.total_tax, ours.total) == (
        oracle.sub_total,
        oracle.total_tax,
        oracle.total,
    )


# --- Hashes and keys -----------------------------------------------------------------------


def test_content_hash_is_canonical() -> None:
    """Key order and trailing zeros do not change the hash; a changed amount does."""
    a = {"Total": D("1.50"), "Date": "2026-01-01", "Lines": [{"Q": D(1)}]}
    b = {"Lines": [{"Q": D("1.0000")}], "Date": "2026-01-01", "Total": D("1.5")}
    assert content_hash(a) == content_hash(b)
    assert re.fullmatch(r"[0-9a-f]{64}", content_hash(a))
    assert content_hash({**a, "Total": D("1.51")}) != content_hash(a)
    assert content_hash({"Q": D("0.00")}) == content_hash({"Q": D(0)})


def test_content_hash_of_an_invoice_is_stable() -> None:
    data = invoice_for(make_opportunity(), CONFIG).to_xero()
    assert content_hash(data) == content_hash(invoice_for(make_opportunity(), CONFIG).to_xero())


def test_content_hash_rejects_floats_in_disguise() -> None:
    with pytest.raises(TypeError, match="cannot hash a set"):
        content_hash({"x": {1}})


def test_idempotency_key() -> None:
    """Deterministic, at most 128 characters, readable when it fits."""
    digest = "a" * 64
    key = idempotency_key(
        integration_id=7, kind="invoice", salesforce_id="006000000000001AAA", content_hash=digest
    )
    assert key == f"cto:7:invoice:006000000000001AAA:{digest}"
    assert key == idempotency_key(
        integration_id=7, kind="invoice", salesforce_id="006000000000001AAA", content_hash=digest
    )
    assert key != idempotency_key(
        integration_id=8, kind="invoice", salesforce_id="006000000000001AAA", content_hash=digest
    )
    long_key = idempotency_key(
        integration_id=7, kind="item", salesforce_id="x" * 100, content_hash=digest
    )
    odd_key = idempotency_key(integration_id=7, kind="it em", salesforce_id="é", content_hash="h")
    for value in (long_key, odd_key):
        assert len(value) <= 128
        assert re.fullmatch(r"cto:7:[0-9a-f]{64}", value)


# --- End to end against the sandbox Xero ---------------------------------------------------


def _dumps(data: Any) -> str:
    """JSON with Decimals written as exact numbers, the way Xero takes them."""
    marker = "\x00decimal:"

    def mark(value: Any) -> Any:
        if isinstance(value, Decimal):
            return f"{marker}{value}"
        raise TypeError(type(value).__name__)

    text = json.dumps(data, default=mark)
    return re.sub(r'"\\u0000decimal:([-0-9.E+]+)"', r"\1", text)


@pytest.mark.django_db(transaction=True)
def test_sandbox_accepts_contact_items_and_invoice_with_our_totals(sandbox_url: str) -> None:
    """The US org takes our contact, items and invoice; its totals equal expected_totals()."""
    seed.reset(seed="demo")
    token = xero_sandbox.issue_token(org_name=None)
    api = f"{sandbox_url}/sandbox/xero/api.xro/2.0"
    headers = {
        "Authorization": f"Bearer {token['access_token']}",
        "xero-tenant-id": token["tenant_id"],
        "Accept": "application/json",
        "Content-Type": "application/json",
    }

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = requests.request(
            method,
            f"{api}{path}",
            headers=headers,
            data=_dumps(body) if body is not None else None,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return json.loads(response.text, parse_float=Decimal)

    revenue = {
        rate["TaxType"]: Decimal(str(rate["EffectiveRate"]))
        for rate in call("GET", "/TaxRates")["TaxRates"]
        if rate["CanApplyToRevenue"] and rate["Status"] == "ACTIVE"
    }
    assert revenue["TAX001"] == D("7.25")

    lines = (
        make_line(1, product_code="E2E-WIDGET", quantity=D(3), unit_price=D("19.995")),
        make_line(
            2,
            product_code="E2E-A-PRODUCT-CODE-LONGER-THAN-THIRTY",
            quantity=D("2.5"),
            unit_price=D("100.1234"),
            discount_percent=D("12.5"),
        ),
        make_line(3, product_code="E2E-SERVICE", quantity=D(1), unit_price=D("0.335")),
    )
    opportunity = make_opportunity(
        lines=lines,
        customer=make_customer(name="Translate End To End Inc"),
    )
    config = SyncConfig(default_tax_type="TAX001", default_currency="USD")

    contacts = call("PUT", "/Contacts", {"Contacts": [contact_for(opportunity, config).to_xero()]})
    (contact,) = contacts["Contacts"]
    assert contact["ContactNumber"] == "001000000000001AAA"

    items = [item_for(line, config).to_xero() for line in lines]
    assert items[1]["Code"] == item_code_for(lines[1].product_code, "")
    call("PUT", "/Items?unitdp=4", {"Items": items})

    draft = invoice_for(opportunity, config, contact_id=contact["ContactID"])
    (invoice,) = call("PUT", "/Invoices?unitdp=4", {"Invoices": [draft.to_xero()]})["Invoices"]
    expected = draft.expected_totals(revenue)
    assert expected.total_tax > 0
    assert (invoice["SubTotal"], invoice["TotalTax"], invoice["Total"]) == (
        expected.sub_total,
        expected.total_tax,
        expected.total,
    )
    assert [line["LineAmount"] for line in invoice["LineItems"]] == list(expected.line_amounts)
    assert invoice["Reference"] == opportunity.name
    assert invoice["Status"] == "AUTHORISED"
