"""The Accounting API through the official SDK and plain HTTP: semantics Xero enforces."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from xero_python.accounting import (
    Contact,
    Contacts,
    CurrencyCode,
    Invoice,
    Invoices,
    LineAmountTypes,
    LineItem,
    LineItemTracking,
)
from xero_python.exceptions import AccountingBadRequestException

from sandbox.xero.models import Invoice as InvoiceRow

pytestmark = pytest.mark.django_db(transaction=True)


def _invoice(n: int = 0, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Type": "ACCREC",
        "Contact": {"Name": "Acme Corporation"},
        "Date": "2026-02-01",
        "DueDate": "2026-03-01",
        "Status": "AUTHORISED",
        "Reference": f"OPP-{n:04d}",
        "LineItems": [
            {
                "Description": "Widgets",
                "Quantity": 2,
                "UnitAmount": 10,
                "AccountCode": "200",
                "TaxType": "NONE",
            }
        ],
    }
    data.update(extra)
    return data


def test_sdk_creates_an_invoice_with_read_only_flags_and_enums(api, tenant):
    """The SDK sends HasErrors/HasAttachments defaults; they are ignored like Xero does."""
    invoice = Invoice(
        type="ACCREC",
        contact=Contact(name="Globex Ltd"),
        status="AUTHORISED",
        line_amount_types=LineAmountTypes.EXCLUSIVE,
        reference="SDK-1",
        line_items=[
            LineItem(
                description="Medium",
                quantity=Decimal(3),
                unit_amount=Decimal("45"),
                account_code="200",
                tax_type="TAX001",
                tracking=[LineItemTracking(name="Region", option="North")],
            )
        ],
    )
    created = api.create_invoices(
        tenant, Invoices(invoices=[invoice]), idempotency_key="k-sdk-1"
    ).invoices[0]
    assert created.invoice_number == "INV-0003"
    assert created.sub_total == Decimal("135")
    assert created.total_tax == Decimal("9.79")  # 135 * 7.25 % = 9.7875
    assert created.contact.name == "Globex Ltd"
    contacts = api.get_contacts(tenant, where='Name=="Globex Ltd"').contacts
    assert len(contacts) == 1


@pytest.mark.parametrize(
    ("types", "sub", "tax", "total"),
    [
        ("Exclusive", "244.29", "17.71", "262.00"),
        ("Inclusive", "227.78", "16.51", "244.29"),
        ("NoTax", "244.29", "0", "244.29"),
    ],
)
def test_totals_round_each_line_with_discounts_and_unitdp(raw, types, sub, tax, total):
    """Lines 90.00 (3 * 33.3333 less 10 %), 149.99 (1.5 * 99.995), 4.30; tax 7.25 % per line."""
    lines = [
        {
            "Description": "a",
            "Quantity": 3,
            "UnitAmount": 33.3333,
            "DiscountRate": 10,
            "AccountCode": "200",
            "TaxType": "TAX001",
        },
        {
            "Description": "b",
            "Quantity": 1.5,
            "UnitAmount": 99.995,
            "AccountCode": "200",
            "TaxType": "TAX001",
        },
        {
            "Description": "c",
            "Quantity": 1,
            "UnitAmount": 4.3,
            "AccountCode": "200",
            "TaxType": "TAX001",
        },
    ]
    answer = raw.call(
        "PUT",
        "Invoices",
        params={"unitdp": "4"},
        body={"Invoices": [_invoice(LineItems=lines, LineAmountTypes=types)]},
    )
    assert answer.status_code == 200, answer.text
    doc = answer.json()["Invoices"][0]
    assert [Decimal(str(x["LineAmount"])) for x in doc["LineItems"]] == [
        Decimal("90.00"),
        Decimal("149.99"),
        Decimal("4.30"),
    ]
    assert doc["LineItems"][0]["UnitAmount"] == 33.3333
    assert Decimal(str(doc["SubTotal"])) == Decimal(sub)
    assert Decimal(str(doc["TotalTax"])) == Decimal(tax)
    assert Decimal(str(doc["Total"])) == Decimal(total)
    assert Decimal(str(doc["AmountDue"])) == Decimal(total)
    without = raw.call("PUT", "Invoices", body={"Invoices": [_invoice(1, LineItems=lines[:1])]})
    assert without.json()["Invoices"][0]["LineItems"][0]["UnitAmount"] == 33.33


def test_exact_totals_exclusive_inclusive_notax(raw):
    line = {
        "Description": "x",
        "Quantity": 3,
        "UnitAmount": "19.99",
        "DiscountRate": 15,
        "AccountCode": "200",
        "TaxType": "TAX002",
    }  # 8.875 %
    results = {}
    for kind in ("Exclusive", "Inclusive", "NoTax"):
        doc = raw.call(
            "PUT",
            "Invoices",
            body={
                "Invoices": [
                    _invoice(LineItems=[dict(line, UnitAmount=19.99)], LineAmountTypes=kind)
                ]
            },
        ).json()["Invoices"][0]
        results[kind] = (doc["SubTotal"], doc["TotalTax"], doc["Total"])
    # 3 * 19.99 * 0.85 = 50.9745 → 50.97
    assert results["Exclusive"] == (50.97, 4.52, 55.49)  # 50.97 * 8.875 % = 4.5236
    assert results["Inclusive"] == (46.82, 4.15, 50.97)  # 50.97 * 8.875/108.875 = 4.1548
    assert results["NoTax"] == (50.97, 0.0, 50.97)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"CurrencyCode": "JPY"}, "not enabled"),
        (
            {
                "LineItems": [
                    {
                        "Description": "x",
                        "Quantity": 1,
                        "UnitAmount": 1,
                        "AccountCode": "200",
                        "TaxType": "INPUT",
                    }
                ]
            },
            "TaxType code 'INPUT'",
        ),
        (
            {
                "LineItems": [
                    {
                        "Description": "x",
                        "Quantity": 1,
                        "UnitAmount": 1,
                        "AccountCode": "200",
                        "Tracking": [{"Name": "Region", "Option": "Atlantis"}],
                    }
                ]
            },
            "Atlantis",
        ),
        (
            {
                "LineItems": [
                    {"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "999"}
                ]
            },
            "Account code '999'",
        ),
        ({"LineItems": [{"ItemCode": "NOPE", "Quantity": 1}]}, "Item code 'NOPE'"),
    ],
)
def test_invalid_invoice_is_a_validation_exception(raw, change, message):
    answer = raw.call("PUT", "Invoices", body={"Invoices": [_invoice(**change)]})
    assert answer.status_code == 400
    body = answer.json()
    assert body["ErrorNumber"] == 10
    assert body["Type"] == "ValidationException"
    errors = [e["Message"] for e in body["Elements"][0]["ValidationErrors"]]
    assert any(message in e for e in errors), errors
    assert InvoiceRow.objects.count() == 2  # only the seed's


def test_batch_of_50_with_3_bad_saves_47_when_summarize_errors_false(raw):
    batch = [_invoice(i) for i in range(50)]
    for i in (5, 17, 33):
        batch[i]["CurrencyCode"] = "JPY"
    answer = raw.call(
        "PUT",
        "Invoices",
        params={"summarizeErrors": "false"},
        body={"Invoices": batch},
        headers={"Idempotency-Key": "batch-50"},
    )
    assert answer.status_code == 200
    docs = answer.json()["Invoices"]
    assert [d["StatusAttributeString"] for d in docs].count("OK") == 47
    bad = [d for d in docs if d["StatusAttributeString"] == "ERROR"]
    assert [d["Reference"] for d in bad] == ["OPP-0005", "OPP-0017", "OPP-0033"]
    assert all(d["HasErrors"] for d in bad)
    assert all(d["ValidationErrors"] for d in bad)
    assert InvoiceRow.objects.count() == 2 + 47


def test_batch_with_summarize_errors_saves_nothing(raw):
    batch = [_invoice(i) for i in range(5)]
    batch[2]["CurrencyCode"] = "JPY"
    answer = raw.call("PUT", "Invoices", body={"Invoices": batch})
    assert answer.status_code == 400
    assert answer.json()["Type"] == "ValidationException"
    assert len(answer.json()["Elements"]) == 1
    assert InvoiceRow.objects.count() == 2


def test_idempotency_replays_and_rejects_a_different_body(raw):
    body = {"Invoices": [_invoice(7)]}
    first = raw.call("PUT", "Invoices", body=body, headers={"Idempotency-Key": "inv-7"})
    second = raw.call("PUT", "Invoices", body=body, headers={"Idempotency-Key": "inv-7"})
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert InvoiceRow.objects.filter(reference="OPP-0007").count() == 1
    other = raw.call(
        "PUT", "Invoices", body={"Invoices": [_invoice(8)]}, headers={"Idempotency-Key": "inv-7"}
    )
    assert other.status_code == 400
    assert "Idempotency-Key" in other.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    too_long = raw.call("PUT", "Invoices", body=body, headers={"Idempotency-Key": "k" * 129})
    assert too_long.status_code == 400


def test_unique_invoice_numbers_and_contact_names(raw, api, tenant):
    taken = raw.call("PUT", "Invoices", body={"Invoices": [_invoice(InvoiceNumber="INV-0001")]})
    assert "Invoice # must be unique." in taken.text
    dup = raw.call("PUT", "Contacts", body={"Contacts": [{"Name": "acme corporation"}]})
    assert dup.status_code == 400
    assert "must be unique across all active contacts" in dup.text
    archived_name = raw.call("PUT", "Contacts", body={"Contacts": [{"Name": "Hooli Inc"}]})
    assert archived_name.status_code == 200  # only active names must be unique
    long_number = raw.call(
        "PUT",
        "Contacts",
        body={"Contacts": [{"Name": "Long Number Co", "ContactNumber": "9" * 51}]},
    )
    assert long_number.status_code == 400
    with pytest.raises(AccountingBadRequestException) as exc:
        api.create_contacts(tenant, Contacts(contacts=[Contact(name="Globex Ltd")]))
    assert exc.value.status == 400
    assert b"must be unique across all active contacts" in exc.value.body


def test_sdk_batch_with_summarize_errors_false_reports_each_element(api, tenant):
    good = Invoice(
        type="ACCREC",
        contact=Contact(name="Stark Industries"),
        line_items=[
            LineItem(
                description="ok", quantity=Decimal(1), unit_amount=Decimal(5), account_code="200"
            )
        ],
    )
    bad = Invoice(
        type="ACCREC",
        contact=Contact(name="Stark Industries"),
        currency_code=CurrencyCode.JPY,
        line_items=[
            LineItem(
                description="yen", quantity=Decimal(1), unit_amount=Decimal(5), account_code="200"
            )
        ],
    )
    result = api.create_invoices(
        tenant, Invoices(invoices=[good, bad]), summarize_errors=False, idempotency_key="sdk-b"
    ).invoices
    assert [r.status_attribute_string for r in result] == ["OK", "ERROR"]
    assert result[1].has_errors is True
    assert "not enabled" in result[1].validation_errors[0].message
    assert result[0].invoice_id is not None
    bad_email = api.create_contacts(
        tenant,
        Contacts(contacts=[Contact(name="Mail Co", email_address="not-an-email")]),
        summarize_errors=False,
    ).contacts[0]
    assert bad_email.has_validation_errors is True


def test_post_contact_updates_by_name_and_contact_number(raw):
    answer = raw.call(
        "POST",
        "Contacts",
        body={
            "Contacts": [
                {
                    "Name": "Initech LLC",
                    "EmailAddress": "ap@initech.example",
                    "ContactNumber": "SF-001",
                }
            ]
        },
    )
    assert answer.status_code == 200
    contact_id = answer.json()["Contacts"][0]["ContactID"]
    again = raw.call(
        "POST", "Contacts", body={"Contacts": [{"ContactNumber": "SF-001", "Name": "Initech Inc"}]}
    ).json()["Contacts"][0]
    assert again["ContactID"] == contact_id
    assert again["Name"] == "Initech Inc"


def test_items_codes_unique_and_limited(raw):
    dup = raw.call("PUT", "Items", body={"Items": [{"Code": "WIDGET-S", "Name": "x"}]})
    assert dup.status_code == 400
    long = raw.call("PUT", "Items", body={"Items": [{"Code": "C" * 31, "Name": "x"}]})
    assert long.status_code == 400
    ok = raw.call(
        "POST",
        "Items",
        body={
            "Items": [{"Code": "WIDGET-S", "Name": "Widget S", "SalesDetails": {"UnitPrice": 26}}]
        },
    )
    assert ok.json()["Items"][0]["SalesDetails"]["UnitPrice"] == 26


def test_where_filters_paging_and_order(raw):
    raw.call("PUT", "Invoices", body={"Invoices": [_invoice(i) for i in range(120)]})
    page1 = raw.call("GET", "Invoices", params={"page": "1"}).json()
    assert len(page1["Invoices"]) == 100
    assert page1["pagination"] == {"page": 1, "pageSize": 100, "pageCount": 2, "itemCount": 122}
    assert "LineItems" in page1["Invoices"][0]
    page2 = raw.call("GET", "Invoices", params={"page": "2"}).json()["Invoices"]
    assert len(page2) == 22
    small = raw.call("GET", "Invoices", params={"page": "3", "pageSize": "50"}).json()
    assert len(small["Invoices"]) == 22
    everything = raw.call("GET", "Invoices").json()["Invoices"]
    assert len(everything) == 122
    assert "LineItems" not in everything[0]

    def count(where: str, path: str = "Invoices") -> int:
        answer = raw.call("GET", path, params={"where": where})
        assert answer.status_code == 200, answer.text
        return len(answer.json()[path])

    assert count('Reference=="OPP-0007"') == 1
    assert count('Reference == "OPP-0007" OR Reference=="OPP-0008"') == 2
    assert count('Status=="AUTHORISED" AND Type=="ACCREC"') == 121
    assert count('Reference.StartsWith("OPP-001")') == 10
    assert count('Reference.Contains("-011")') == 10
    assert count("Date >= DateTime(2026,02,01) AND Date < DateTime(2026, 02, 02)") == 120
    acme = raw.call("GET", "Contacts", params={"where": 'Name=="Acme Corporation"'}).json()
    contact_id = acme["Contacts"][0]["ContactID"]
    assert count(f'Contact.ContactID==guid("{contact_id}")') == 122
    assert (
        count('ContactStatus=="ACTIVE" AND EmailAddress=="accounts@globex.example"', "Contacts")
        == 1
    )
    assert count('Name!="Acme Corporation"', "Contacts") == 4
    assert count('Code=="WIDGET-M"', "Items") == 1
    ordered = raw.call("GET", "Contacts", params={"order": "Name DESC"}).json()["Contacts"]
    assert ordered[0]["Name"] == "Umbrella Pty Ltd"
    by_number = raw.call("GET", "Invoices", params={"InvoiceNumbers": "INV-0001,INV-0002"})
    assert len(by_number.json()["Invoices"]) == 2
    bad = raw.call("GET", "Invoices", params={"where": 'Reference=="x" AND'})
    assert bad.status_code == 400
    assert bad.json()["Type"] == "QueryParseException"
    assert raw.call("GET", "Invoices", params={"where": "Nope==1"}).status_code == 400


def test_if_modified_since(raw):
    everything = raw.call("GET", "Contacts").json()["Contacts"]
    assert len(everything) == 5
    newer = raw.call("GET", "Contacts", headers={"If-Modified-Since": "2026-01-06T00:00:00"})
    assert newer.json()["Contacts"] == []


def test_payments_bank_vs_non_bank_overpayment_and_paid(raw):
    inv = raw.call("PUT", "Invoices", body={"Invoices": [_invoice()]}).json()["Invoices"][0]
    ref = {"InvoiceID": inv["InvoiceID"]}

    def pay(code: str, amount: float) -> Any:
        return raw.call(
            "PUT",
            "Payments",
            body={
                "Payments": [
                    {
                        "Invoice": ref,
                        "Account": {"Code": code},
                        "Amount": amount,
                        "Date": "2026-02-02",
                    }
                ]
            },
        )

    assert "BANK accounts" in pay("200", 5).text
    assert "exceeds the amount outstanding" in pay("090", 20.01).text
    assert pay("615", 5).status_code == 200  # EnablePaymentsToAccount
    assert pay("090", 15).status_code == 200
    after = raw.call("GET", f"Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert after["Status"] == "PAID"
    assert after["AmountDue"] == 0
    assert after["AmountPaid"] == 20
    edit = raw.call(
        "POST",
        f"Invoices/{inv['InvoiceID']}",
        body={
            "Invoices": [
                {
                    "LineItems": [
                        {"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "200"}
                    ]
                }
            ]
        },
    )
    assert edit.status_code == 400


def test_credit_note_allocation_reduces_amount_due(raw):
    inv = raw.call("PUT", "Invoices", body={"Invoices": [_invoice()]}).json()["Invoices"][0]
    cn = raw.call(
        "PUT",
        "CreditNotes",
        body={
            "CreditNotes": [
                {
                    "Type": "ACCRECCREDIT",
                    "Contact": {"Name": "Acme Corporation"},
                    "Status": "AUTHORISED",
                    "Date": "2026-02-03",
                    "LineItems": [
                        {
                            "Description": "refund",
                            "Quantity": 1,
                            "UnitAmount": 8,
                            "AccountCode": "200",
                            "TaxType": "NONE",
                        }
                    ],
                }
            ]
        },
    )
    assert cn.status_code == 200, cn.text
    note = cn.json()["CreditNotes"][0]
    assert note["CreditNoteNumber"] == "CN-0001"
    alloc = raw.call(
        "PUT",
        f"CreditNotes/{note['CreditNoteID']}/Allocations",
        body={
            "Allocations": [
                {"Amount": 8, "Date": "2026-02-03", "Invoice": {"InvoiceID": inv["InvoiceID"]}}
            ]
        },
    )
    assert alloc.status_code == 200, alloc.text
    after = raw.call("GET", f"Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert after["AmountCredited"] == 8
    assert after["AmountDue"] == 12
    note_after = raw.call("GET", f"CreditNotes/{note['CreditNoteID']}").json()["CreditNotes"][0]
    assert note_after["RemainingCredit"] == 0
    assert note_after["Status"] == "PAID"


def test_void_an_authorised_invoice(raw):
    inv = raw.call("PUT", "Invoices", body={"Invoices": [_invoice()]}).json()["Invoices"][0]
    voided = raw.call(
        "POST", f"Invoices/{inv['InvoiceID']}", body={"Invoices": [{"Status": "VOIDED"}]}
    )
    assert voided.json()["Invoices"][0]["Status"] == "VOIDED"
    back = raw.call(
        "POST", f"Invoices/{inv['InvoiceID']}", body={"Invoices": [{"Status": "AUTHORISED"}]}
    )
    assert back.status_code == 400


def test_reads_of_settings(raw):
    rates = raw.call("GET", "TaxRates").json()["TaxRates"]
    ca = next(r for r in rates if r["TaxType"] == "TAX001")
    assert ca["EffectiveRate"] == 7.25
    assert len(ca["TaxComponents"]) == 3
    banks = raw.call("GET", "Accounts", params={"where": 'Type=="BANK"'}).json()["Accounts"]
    assert {a["CurrencyCode"] for a in banks} == {"USD", "GBP", "EUR", "AUD", "CAD", "NZD"}
    tracking = raw.call("GET", "TrackingCategories").json()["TrackingCategories"]
    assert [t["Name"] for t in tracking] == ["Region", "Sales Rep"]
    assert len(raw.call("GET", "Currencies").json()["Currencies"]) == 6
    assert len(raw.call("GET", "BrandingThemes").json()["BrandingThemes"]) == 2


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error_number"),
    [
        ("PUT", "Invoices", {"Invoices": [{"Type": "BOGUS"}]}, 400, 14),
        (
            "PUT",
            "Invoices",
            {"Invoices": [{"Type": "ACCREC", "LineItems": [{"Quantity": "three"}]}]},
            400,
            14,
        ),
        ("PUT", "Invoices", {"Invoices": [{"LineAmountTypes": "Sometimes"}]}, 400, 14),
        ("PUT", "Items", {"Items": [{"Name": "no code"}]}, 400, 10),
        ("PUT", "Invoices", b"{not json", 400, 14),
        ("GET", "Widgets", None, 404, None),
        ("GET", "Invoices/not-a-guid", None, 400, 14),
    ],
)
def test_conformance_spec_violations_get_xero_shaped_errors(
    raw, method, path, body, status, error_number
):
    answer = raw.call(method, path, body=body)
    assert answer.status_code == status, answer.text
    if error_number is not None:
        data = answer.json()
        assert data["ErrorNumber"] == error_number
        assert (
            data["Type"]
            == {10: "ValidationException", 14: "PostDataInvalidException"}[error_number]
        )
        assert data["Message"]
        if error_number == 10:
            assert data["Elements"][0]["ValidationErrors"][0]["Message"]


def test_sdk_reads_with_filters_paging_and_if_modified_since(api, tenant, raw):
    import datetime as dt

    raw.call("PUT", "Invoices", body={"Invoices": [_invoice(i) for i in range(3)]})
    page = api.get_invoices(
        tenant,
        where='Type=="ACCREC"',
        statuses=["AUTHORISED"],
        page=1,
        order="Reference DESC",
        unitdp=4,
    )
    assert page.invoices[0].reference == "OPP-0002"
    assert page.invoices[0].line_items
    assert page.pagination.item_count == 4  # the seed's INV-0001 is PAID
    since = api.get_invoices(tenant, if_modified_since=dt.datetime(2030, 1, 1))
    assert since.invoices == []
    one = api.get_invoice(tenant, page.invoices[0].invoice_id)
    assert one.invoices[0].invoice_number == page.invoices[0].invoice_number
    rates = api.get_tax_rates(tenant, where='CanApplyToRevenue==true AND Status=="ACTIVE"')
    assert "INPUT" not in {r.tax_type for r in rates.tax_rates}
    assert api.get_items(tenant, where='Code=="SVC-INSTALL"').items[0].name
