"""Voiding and deleting invoices, credit notes and their allocations, payments in batches, and
the money fields (AmountDue, AmountPaid, CurrencyRate) Xero returns on reads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from xero_python.accounting import (
    Account,
    Allocation,
    Allocations,
    Contact,
    CreditNote,
    CreditNotes,
    Invoice,
    LineItem,
    Payment,
    Payments,
)
from xero_python.exceptions import AccountingBadRequestException

from sandbox.xero.models import Invoice as InvoiceRow
from sandbox.xero.models import Payment as PaymentRow

pytestmark = pytest.mark.django_db(transaction=True)

FEB_2 = dt.date(2026, 2, 2)
FEB_5 = dt.date(2026, 2, 5)


def _invoice(status: str = "AUTHORISED", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Type": "ACCREC",
        "Contact": {"Name": "Acme Corporation"},
        "Date": "2026-02-01",
        "DueDate": "2026-03-01",
        "Status": status,
        "LineItems": [
            {
                "Description": "Widgets",
                "Quantity": 2,
                "UnitAmount": 50,
                "AccountCode": "200",
                "TaxType": "NONE",
            }
        ],
    }
    data.update(extra)
    return data


def _put_invoice(raw: Any, **kwargs: Any) -> dict[str, Any]:
    answer = raw.call("PUT", "Invoices", body={"Invoices": [_invoice(**kwargs)]})
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()["Invoices"][0]
    return created


def _status_via_batch(raw: Any, invoice_id: str, status: str) -> Any:
    """POST /Invoices (no id in the path), naming the invoice by InvoiceID in the body."""
    return raw.call(
        "POST", "Invoices", body={"Invoices": [{"InvoiceID": invoice_id, "Status": status}]}
    )


def _pay(raw: Any, invoice_id: str, amount: float, code: str = "090", **extra: Any) -> Any:
    payment = {
        "Invoice": {"InvoiceID": invoice_id},
        "Account": {"Code": code},
        "Amount": amount,
        "Date": "2026-02-02",
        **extra,
    }
    return raw.call("PUT", "Payments", body={"Payments": [payment]})


def test_post_invoices_voids_an_authorised_unpaid_invoice(raw):
    inv = _put_invoice(raw)
    answer = _status_via_batch(raw, inv["InvoiceID"], "VOIDED")
    assert answer.status_code == 200, answer.text
    voided = answer.json()["Invoices"][0]
    assert voided["Status"] == "VOIDED"
    assert voided["AmountDue"] == 0
    listed = raw.call("GET", "Invoices", params={"Statuses": "VOIDED"}).json()["Invoices"]
    assert [i["InvoiceID"] for i in listed] == [inv["InvoiceID"]]


def test_an_invoice_with_a_payment_cannot_be_voided(raw):
    inv = _put_invoice(raw)
    assert _pay(raw, inv["InvoiceID"], 10).status_code == 200
    answer = _status_via_batch(raw, inv["InvoiceID"], "VOIDED")
    assert answer.status_code == 400
    assert "cannot be voided" in answer.text
    assert InvoiceRow.objects.get(invoice_id=inv["InvoiceID"]).status == "AUTHORISED"


@pytest.mark.parametrize("start", ["DRAFT", "SUBMITTED"])
def test_post_invoices_deletes_a_draft_or_submitted_invoice(raw, start):
    inv = _put_invoice(raw, status=start)
    answer = _status_via_batch(raw, inv["InvoiceID"], "DELETED")
    assert answer.status_code == 200, answer.text
    assert answer.json()["Invoices"][0]["Status"] == "DELETED"
    assert answer.json()["Invoices"][0]["AmountDue"] == 0


@pytest.mark.parametrize(("start", "target"), [("AUTHORISED", "DELETED"), ("DRAFT", "VOIDED")])
def test_authorised_invoices_are_voided_not_deleted_and_drafts_the_reverse(raw, start, target):
    inv = _put_invoice(raw, status=start)
    answer = _status_via_batch(raw, inv["InvoiceID"], target)
    assert answer.status_code == 400
    assert answer.json()["Type"] == "ValidationException"
    assert InvoiceRow.objects.get(invoice_id=inv["InvoiceID"]).status == start


def _credit_note(amount: str, contact: str = "Acme Corporation") -> CreditNote:
    return CreditNote(
        type="ACCRECCREDIT",
        contact=Contact(name=contact),
        status="AUTHORISED",
        line_items=[
            LineItem(
                description="refund",
                quantity=Decimal(1),
                unit_amount=Decimal(amount),
                account_code="200",
                tax_type="NONE",
            )
        ],
    )


def test_sdk_credit_note_allocated_to_an_invoice(api, tenant, raw):
    """ACCRECCREDIT through the SDK, then an allocation: AmountDue and RemainingCredit drop."""
    inv = _put_invoice(raw)
    note = api.create_credit_notes(
        tenant, CreditNotes(credit_notes=[_credit_note("30")]), idempotency_key="cn-30"
    ).credit_notes[0]
    assert note.type == "ACCRECCREDIT"
    assert note.remaining_credit == Decimal(30)
    allocated = api.create_credit_note_allocation(
        tenant,
        note.credit_note_id,
        Allocations(
            allocations=[
                Allocation(
                    amount=Decimal(25),
                    date=FEB_5,
                    invoice=Invoice(invoice_id=inv["InvoiceID"]),
                )
            ]
        ),
        idempotency_key="alloc-25",
    ).allocations
    assert allocated[0].amount == Decimal(25)
    after = api.get_invoice(tenant, inv["InvoiceID"]).invoices[0]
    assert (after.amount_due, after.amount_credited) == (Decimal(75), Decimal(25))
    assert api.get_credit_note(tenant, note.credit_note_id).credit_notes[0].remaining_credit == 5


@pytest.mark.parametrize(
    ("credit", "amount", "message"),
    [
        ("500", "101", "exceeds the amount outstanding on the invoice"),
        ("20", "21", "exceeds the remaining credit"),
    ],
)
def test_allocation_above_amount_due_or_remaining_credit_is_refused(
    api, tenant, raw, credit, amount, message
):
    inv = _put_invoice(raw)  # 100.00 due
    note = api.create_credit_notes(
        tenant, CreditNotes(credit_notes=[_credit_note(credit)])
    ).credit_notes[0]
    with pytest.raises(AccountingBadRequestException) as refused:
        api.create_credit_note_allocation(
            tenant,
            note.credit_note_id,
            Allocations(
                allocations=[
                    Allocation(
                        amount=Decimal(amount),
                        date=FEB_5,
                        invoice=Invoice(invoice_id=inv["InvoiceID"]),
                    )
                ]
            ),
        )
    assert message.encode() in refused.value.body
    assert api.get_invoice(tenant, inv["InvoiceID"]).invoices[0].amount_due == 100


def test_allocation_to_a_voided_invoice_is_refused(raw):
    inv = _put_invoice(raw)
    _status_via_batch(raw, inv["InvoiceID"], "VOIDED")
    note = raw.call(
        "PUT",
        "CreditNotes",
        body={
            "CreditNotes": [
                {
                    "Type": "ACCRECCREDIT",
                    "Contact": {"Name": "Acme Corporation"},
                    "Status": "AUTHORISED",
                    "LineItems": [
                        {"Description": "r", "Quantity": 1, "UnitAmount": 5, "AccountCode": "200"}
                    ],
                }
            ]
        },
    ).json()["CreditNotes"][0]
    answer = raw.call(
        "PUT",
        f"CreditNotes/{note['CreditNoteID']}/Allocations",
        body={
            "Allocations": [
                {"Amount": 5, "Date": "2026-02-03", "Invoice": {"InvoiceID": inv["InvoiceID"]}}
            ]
        },
    )
    assert answer.status_code == 400
    assert "Authorised documents" in answer.text


def test_sdk_payment_batch_with_summarize_errors_false(api, tenant, raw):
    """One good payment, one above the amount due, one to an account that takes no payments:
    200, each element judged on its own, and only the good one recorded."""
    inv = _put_invoice(raw)  # 100.00 due
    target = Invoice(invoice_id=inv["InvoiceID"])
    batch = Payments(
        payments=[
            Payment(invoice=target, account=Account(code="090"), amount=Decimal(40), date=FEB_2),
            Payment(invoice=target, account=Account(code="090"), amount=Decimal(61), date=FEB_2),
            Payment(invoice=target, account=Account(code="200"), amount=Decimal(5), date=FEB_2),
        ]
    )
    result = api.create_payments(
        tenant, batch, summarize_errors=False, idempotency_key="pay-batch"
    ).payments
    assert [p.status_attribute_string for p in result] == ["OK", "ERROR", "ERROR"]
    assert [bool(p.has_validation_errors) for p in result] == [False, True, True]
    assert "exceeds the amount outstanding" in result[1].validation_errors[0].message
    assert "BANK accounts" in result[2].validation_errors[0].message
    after = api.get_invoice(tenant, inv["InvoiceID"]).invoices[0]
    assert (after.amount_paid, after.amount_due) == (Decimal(40), Decimal(60))
    assert PaymentRow.objects.filter(invoice__invoice_id=inv["InvoiceID"]).count() == 1


def test_payment_batch_with_summarize_errors_records_nothing(raw):
    inv = _put_invoice(raw)
    payments = [
        {"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Account": {"Code": "090"}, "Amount": a}
        for a in (40, 61)
    ]
    answer = raw.call("PUT", "Payments", body={"Payments": payments})
    assert answer.status_code == 400
    assert answer.json()["Elements"][0]["HasValidationErrors"] is True
    assert PaymentRow.objects.filter(invoice__invoice_id=inv["InvoiceID"]).count() == 0


def test_foreign_currency_invoice_keeps_its_rate_and_reads_return_the_money_fields(raw):
    """An EUR invoice with CurrencyRate 0.9 keeps it; a payment brings its own rate; reads (with
    and without paging) return AmountDue, AmountPaid and CurrencyRate."""
    inv = _put_invoice(raw, CurrencyCode="EUR", CurrencyRate=0.9)
    assert inv["CurrencyRate"] == 0.9
    paid = _pay(raw, inv["InvoiceID"], 30, code="092", CurrencyRate=0.95)  # the EUR account
    assert paid.status_code == 200, paid.text
    assert paid.json()["Payments"][0]["CurrencyRate"] == 0.95
    listed = raw.call("GET", "Invoices", params={"IDs": inv["InvoiceID"]}).json()["Invoices"][0]
    paged = raw.call("GET", "Invoices", params={"IDs": inv["InvoiceID"], "page": "1"}).json()
    for read in (listed, paged["Invoices"][0]):
        assert (read["AmountDue"], read["AmountPaid"], read["CurrencyRate"]) == (70, 30, 0.9)
        assert read["CurrencyCode"] == "EUR"
    one = raw.call("GET", f"Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert one["Payments"][0]["CurrencyRate"] == 0.95


def test_foreign_currency_documents_without_a_rate_get_the_day_rate(raw):
    """No CurrencyRate: Xero applies its day rate (the sandbox's fixed table: 0.92 EUR a USD);
    a payment without one too."""
    inv = _put_invoice(raw, CurrencyCode="EUR")
    assert inv["CurrencyRate"] == 0.92
    paid = _pay(raw, inv["InvoiceID"], 10)  # from the USD account
    assert paid.json()["Payments"][0]["CurrencyRate"] == 0.92


def test_base_currency_documents_ignore_a_currency_rate(raw):
    inv = _put_invoice(raw, CurrencyRate=1.7)
    assert inv["CurrencyRate"] == 1
    paid = _pay(raw, inv["InvoiceID"], 10, CurrencyRate=1.3)
    assert paid.json()["Payments"][0]["CurrencyRate"] == 1


def test_a_non_positive_currency_rate_is_refused(raw):
    answer = raw.call(
        "PUT", "Invoices", body={"Invoices": [_invoice(CurrencyCode="EUR", CurrencyRate=0)]}
    )
    assert answer.status_code == 400
    assert "CurrencyRate must be greater than zero" in answer.text
