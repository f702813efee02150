"""POST /Invoices naming an invoice by its number, and the full model Xero answers for a refused
element (a zero GUID where no id was given out) — as xero-node and the other SDKs read them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from xero_python.accounting import Contact, CurrencyCode, Invoice, Invoices, LineItem

from sandbox.xero.models import Invoice as InvoiceRow

pytestmark = pytest.mark.django_db(transaction=True)

ZERO_ID = "00000000-0000-0000-0000-000000000000"


def _invoice(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Type": "ACCREC",
        "Contact": {"Name": "Acme Corporation"},
        "Date": "2026-02-01",
        "DueDate": "2026-03-01",
        "Status": "AUTHORISED",
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


def test_post_with_an_existing_invoice_number_updates_that_invoice(raw):
    created = raw.call("PUT", "Invoices", body={"Invoices": [_invoice(InvoiceNumber="SO-100")]})
    assert created.status_code == 200, created.text
    invoice_id = created.json()["Invoices"][0]["InvoiceID"]
    before = InvoiceRow.objects.count()
    answer = raw.call(
        "POST",
        "Invoices",
        body={"Invoices": [{"InvoiceNumber": "SO-100", "Reference": "Changed by number"}]},
    )
    assert answer.status_code == 200, answer.text
    updated = answer.json()["Invoices"][0]
    assert (updated["InvoiceID"], updated["InvoiceNumber"]) == (invoice_id, "SO-100")
    assert updated["Reference"] == "Changed by number"
    assert updated["Total"] == 20
    assert InvoiceRow.objects.count() == before
    # PUT only creates: the number is taken.
    taken = raw.call("PUT", "Invoices", body={"Invoices": [_invoice(InvoiceNumber="SO-100")]})
    assert "Invoice # must be unique." in taken.text
    # A number nobody has yet is a new invoice; a bill's number is the supplier's, never matched.
    fresh = raw.call("POST", "Invoices", body={"Invoices": [_invoice(InvoiceNumber="SO-101")]})
    bill = raw.call(
        "POST", "Invoices", body={"Invoices": [_invoice(Type="ACCPAY", InvoiceNumber="SO-100")]}
    )
    assert fresh.status_code == bill.status_code == 200, (fresh.text, bill.text)
    assert bill.json()["Invoices"][0]["InvoiceID"] != invoice_id
    assert InvoiceRow.objects.count() == before + 2


def test_post_by_number_of_a_voided_invoice_is_refused_with_that_invoice(raw):
    created = raw.call("PUT", "Invoices", body={"Invoices": [_invoice(InvoiceNumber="SO-200")]})
    invoice_id = created.json()["Invoices"][0]["InvoiceID"]
    voided = raw.call(
        "POST", "Invoices", body={"Invoices": [{"InvoiceID": invoice_id, "Status": "VOIDED"}]}
    )
    assert voided.status_code == 200, voided.text
    answer = raw.call(
        "POST",
        "Invoices",
        params={"summarizeErrors": "false"},
        body={"Invoices": [{"InvoiceNumber": "SO-200", "Reference": "too late"}]},
    )
    assert answer.status_code == 200, answer.text
    refused = answer.json()["Invoices"][0]
    assert refused["StatusAttributeString"] == "ERROR"
    assert refused["InvoiceID"] == invoice_id  # the invoice it named, unchanged
    assert refused["Status"] == "VOIDED"
    assert InvoiceRow.objects.get(invoice_id=invoice_id).reference == ""


def test_a_refused_new_invoice_is_the_full_model_with_a_zero_guid(raw):
    answer = raw.call(
        "PUT",
        "Invoices",
        params={"summarizeErrors": "false"},
        body={
            "Invoices": [_invoice(Reference="ok"), _invoice(Reference="yen", CurrencyCode="JPY")]
        },
    )
    assert answer.status_code == 200, answer.text
    good, bad = answer.json()["Invoices"]
    assert good["StatusAttributeString"] == "OK"
    assert bad["StatusAttributeString"] == "ERROR"
    assert bad["HasErrors"] is True
    assert "not enabled" in bad["ValidationErrors"][0]["Message"]
    assert bad["InvoiceID"] == ZERO_ID
    # Every property an accepted invoice has (but the time of a save that never happened),
    # with the refused one's own values.
    assert set(good) - set(bad) == {"UpdatedDateUTC"}
    assert bad["Reference"] == "yen"
    assert bad["CurrencyCode"] == "JPY"
    assert bad["Contact"]["ContactID"] == good["Contact"]["ContactID"]  # the existing contact
    assert bad["Date"] == good["Date"]
    assert (bad["Total"], bad["AmountDue"], bad["AmountPaid"]) == (20, 20, 0)
    assert bad["LineItems"][0]["LineAmount"] == 20
    assert bad["LineItems"][0]["LineItemID"] == ZERO_ID
    assert (bad["Payments"], bad["CreditNotes"], bad["Prepayments"]) == ([], [], [])


def test_a_refused_element_of_a_400_is_the_full_model_too(raw):
    answer = raw.call("PUT", "Invoices", body={"Invoices": [_invoice(CurrencyCode="JPY")]})
    assert answer.status_code == 400
    (element,) = answer.json()["Elements"]
    assert element["InvoiceID"] == ZERO_ID
    assert element["HasErrors"] is True
    assert element["Overpayments"] == []
    assert element["Total"] == 20


def test_refused_contacts_and_payments_are_full_models(raw):
    contacts = raw.call(
        "PUT",
        "Contacts",
        params={"summarizeErrors": "false"},
        body={"Contacts": [{"Name": "Mail Co", "EmailAddress": "not-an-email"}]},
    ).json()["Contacts"]
    assert contacts[0]["ContactID"] == ZERO_ID
    assert contacts[0]["HasValidationErrors"] is True
    assert contacts[0]["StatusAttributeString"] == "ERROR"
    assert (contacts[0]["Addresses"], contacts[0]["ContactStatus"]) == ([], "ACTIVE")
    invoice = raw.call("PUT", "Invoices", body={"Invoices": [_invoice()]}).json()["Invoices"][0]
    payments = raw.call(
        "PUT",
        "Payments",
        params={"summarizeErrors": "false"},
        body={
            "Payments": [
                {
                    "Invoice": {"InvoiceID": invoice["InvoiceID"]},
                    "Account": {"Code": "090"},
                    "Amount": 999,
                    "Date": "2026-02-02",
                }
            ]
        },
    ).json()["Payments"]
    assert payments[0]["PaymentID"] == ZERO_ID
    assert payments[0]["HasValidationErrors"] is True
    assert payments[0]["Invoice"]["InvoiceNumber"] == invoice["InvoiceNumber"]
    assert payments[0]["Amount"] == 999


def test_the_sdk_reads_a_refused_element_as_a_whole_invoice(api, tenant):
    line = LineItem(
        description="x", quantity=Decimal(1), unit_amount=Decimal(5), account_code="200"
    )
    bad = Invoice(
        type="ACCREC",
        contact=Contact(name="Stark Industries"),
        currency_code=CurrencyCode.JPY,
        line_items=[line],
    )
    (result,) = api.create_invoices(
        tenant, Invoices(invoices=[bad]), summarize_errors=False, idempotency_key="sdk-refused"
    ).invoices
    assert result.has_errors is True
    assert str(result.invoice_id) == ZERO_ID
    assert result.contact.name == "Stark Industries"
    assert result.line_items[0].line_amount == Decimal(5)
