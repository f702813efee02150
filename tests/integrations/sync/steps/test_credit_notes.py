"""``steps.credit_notes``: news recorded once, then acted on every run — drafts deleted,
untouched approved invoices voided when configured, credit notes repeating the invoice's lines
otherwise, a person told when nothing can be credited; held back while credit notes are paused;
allocations planned with the credit note's outcome and sent; refunds logged; a lost answer found
by lookup among this integration's credit notes only."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from integrations.connections.xero.client import XeroRateLimited, XeroUnavailable
from integrations.sync import protocol
from integrations.sync.context import RunContext
from integrations.sync.models import CreditNoteEntry, LedgerEntry, PaymentEntry, XeroOperation
from integrations.sync.protocol import Stop
from integrations.sync.steps import credit_notes
from integrations.sync.translate import InvoiceLineDraft
from tests.integrations.sync.steps.fakes import FakeXero
from tests.integrations.sync.steps.rows import entries, invoiced, news, payment

pytestmark = pytest.mark.django_db

D = Decimal
State = LedgerEntry.State
Entry = CreditNoteEntry.State


def _on(ctx: RunContext, *, void: bool = False) -> None:
    ctx.config = replace(ctx.config, credit_note_on_withdrawal=True, void_unpaid_instead=void)


def _withdrawn(ctx: RunContext, xero: FakeXero, invoice_id: str) -> LedgerEntry:
    return invoiced(ctx, xero, invoice_id, withdrawn="lost")


# --- news ----------------------------------------------------------------------------------------


def test_the_same_news_is_recorded_once(ctx: RunContext, xero: FakeXero) -> None:
    row = invoiced(ctx, xero, xero.add_invoice())
    line = InvoiceLineDraft(
        description="Widget", quantity=D(1), unit_amount=D("30.00"), account_code="200"
    )
    first = credit_notes.record_news(ctx, row, reason="amount_drop", news="drop:1", lines=[line])
    again = credit_notes.record_news(ctx, row, reason="amount_drop", news="drop:1", lines=[line])
    assert first is not None
    assert again is None
    (entry,) = CreditNoteEntry.objects.filter(ledger=row)
    assert (entry.state, entry.action) == (Entry.PENDING, "credit_note")
    assert [(raw["unit_amount"], raw["account_code"]) for raw in entry.lines] == [("30.00", "200")]
    other = credit_notes.record_news(ctx, row, reason="withdrawn", news="drop:2")
    # A withdrawal's action is decided once its invoice is read.
    assert other is not None
    assert other.action == ""


# --- withdrawals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "expected"), [("DRAFT", "DELETED"), ("SUBMITTED", "DELETED")])
def test_a_withdrawn_draft_is_deleted(
    ctx: RunContext, xero: FakeXero, status: str, expected: str
) -> None:
    _on(ctx)
    row = _withdrawn(ctx, xero, xero.add_invoice(status=status))
    entry = news(ctx, row)
    credit_notes.act(ctx)
    (body,) = xero.sent("write_invoices")
    assert body == {"InvoiceID": row.xero_invoice_id, "Status": expected}
    assert xero.invoices[row.xero_invoice_id]["Status"] == expected
    assert xero.sent("create_credit_notes") == []
    entry.refresh_from_db()
    assert (entry.state, entry.action) == (Entry.DONE, "deleted")


def test_an_untouched_approved_invoice_is_voided_when_configured(
    ctx: RunContext, xero: FakeXero
) -> None:
    _on(ctx, void=True)
    row = _withdrawn(ctx, xero, xero.add_invoice())
    entry = news(ctx, row)
    credit_notes.act(ctx)
    assert xero.invoices[row.xero_invoice_id]["Status"] == "VOIDED"
    assert xero.sent("create_credit_notes") == []
    entry.refresh_from_db()
    assert (entry.state, entry.action) == (Entry.DONE, "voided")


def test_a_paid_approved_invoice_is_credited_not_voided(ctx: RunContext, xero: FakeXero) -> None:
    _on(ctx, void=True)
    row = _withdrawn(ctx, xero, xero.add_invoice(paid=D("40.00")))
    news(ctx, row)
    credit_notes.act(ctx)
    assert [b for b in xero.sent("write_invoices") if b.get("Status") == "VOIDED"] == []
    (body,) = xero.sent("create_credit_notes")
    assert body["Type"] == "ACCRECCREDIT"


def test_a_withdrawn_approved_invoice_gets_a_credit_note_repeating_its_lines(
    ctx: RunContext, xero: FakeXero
) -> None:
    _on(ctx)
    invoice_id = xero.add_invoice(
        currency="EUR",
        rate=D("0.9"),
        lines=[
            {"Description": "Widget", "Quantity": D(2), "UnitAmount": D(30), "AccountCode": "200"},
            {"Description": "Setup", "Quantity": D(1), "UnitAmount": D(40), "AccountCode": "400"},
        ],
    )
    row = _withdrawn(ctx, xero, invoice_id)
    scheduled = payment(ctx, row)
    entry = news(ctx, row)
    credit_notes.act(ctx)
    (body,) = xero.sent("create_credit_notes")
    assert body["Contact"] == {"ContactID": "contact-x"}
    assert (body["Status"], body["CurrencyCode"], body["CurrencyRate"]) == (
        "AUTHORISED",
        "EUR",
        D("0.9"),
    )
    assert body["Reference"] == f"{row.xero_invoice_number}: {entry.get_reason_display()}"
    assert [
        (line["Description"], D(line["Quantity"]), D(line["UnitAmount"]), line["AccountCode"])
        for line in body["LineItems"]
    ] == [("Widget", D(2), D(30), "200"), ("Setup", D(1), D(40), "400")]
    entry.refresh_from_db()
    assert (entry.state, entry.action, entry.amount) == (Entry.DONE, "credit_note", D("100.00"))
    assert entry.xero_credit_note_id in xero.credit_notes
    # The allocation was planned with the credit note and sent in the same run.
    (allocation,) = xero.sent("allocate_credit_note")
    assert (allocation["Invoice"], D(str(allocation["Amount"]))) == (
        {"InvoiceID": invoice_id},
        D("100.00"),
    )
    assert xero.invoice(invoice_id).amount_due == 0
    entry.refresh_from_db()
    assert entry.allocated == D("100.00")
    row.refresh_from_db()
    assert row.state == State.SYNCED
    scheduled.refresh_from_db()
    assert scheduled.state == PaymentEntry.State.CANCELLED
    assert [e.step for e in entries(ctx)] == ["credit_note", "allocation"]


def test_what_was_paid_already_is_logged_as_a_refund(ctx: RunContext, xero: FakeXero) -> None:
    _on(ctx)
    invoice_id = xero.add_invoice(paid=D("60.00"))
    row = _withdrawn(ctx, xero, invoice_id)
    news(ctx, row)
    credit_notes.act(ctx)
    (allocation,) = xero.sent("allocate_credit_note")
    assert D(str(allocation["Amount"])) == D("40.00")
    created = entries(ctx, step="credit_note")[-1]
    assert "USD 40.00 of it goes against what the invoice owes" in created.message
    assert "USD 60.00 was already paid: refund the customer" in created.message


@pytest.mark.parametrize(
    ("invoice", "why"),
    [
        ({"credited": D("10.00")}, "it was already partly credited in Xero"),
        ({"total": D(0)}, "it has nothing to credit"),
    ],
    ids=["partly credited", "nothing to credit"],
)
def test_a_withdrawal_that_cannot_be_credited_needs_a_person(
    ctx: RunContext, xero: FakeXero, invoice: dict[str, Decimal], why: str
) -> None:
    _on(ctx)
    row = _withdrawn(ctx, xero, xero.add_invoice(**invoice))  # type: ignore[arg-type]
    entry = news(ctx, row)
    credit_notes.act(ctx)
    assert xero.sent("create_credit_notes") == []
    assert xero.sent("write_invoices") == []
    entry.refresh_from_db()
    assert (entry.state, entry.last_error) == (Entry.CANCELLED, why)
    row.refresh_from_db()
    assert row.state == State.NEEDS_ATTENTION
    assert why in row.last_error
    (logged,) = entries(ctx)
    assert (logged.outcome, logged.message) == ("attention", row.last_error)


def test_a_withdrawal_is_not_credited_unless_switched_on(ctx: RunContext, xero: FakeXero) -> None:
    row = _withdrawn(ctx, xero, xero.add_invoice())
    entry = news(ctx, row)
    credit_notes.act(ctx)
    assert xero.sent("create_credit_notes") == []
    entry.refresh_from_db()
    assert entry.state == Entry.CANCELLED
    row.refresh_from_db()
    assert row.state == State.NEEDS_ATTENTION


def test_an_invoice_voided_in_xero_already_settles_the_withdrawal(
    ctx: RunContext, xero: FakeXero
) -> None:
    row = _withdrawn(ctx, xero, xero.add_invoice(status="VOIDED"))
    entry = news(ctx, row)
    credit_notes.act(ctx)
    assert xero.sent("write_invoices") == []
    entry.refresh_from_db()
    assert (entry.state, entry.action) == (Entry.DONE, "voided")
    (logged,) = entries(ctx)
    assert "is already voided in Xero" in logged.message


def test_news_on_an_invoice_gone_from_xero_needs_a_person(ctx: RunContext, xero: FakeXero) -> None:
    invoice_id = xero.add_invoice()
    row = invoiced(ctx, xero, invoice_id)
    del xero.invoices[invoice_id]
    entry = news(ctx, row, reason="amount_drop", action="credit_note")
    credit_notes.act(ctx)
    entry.refresh_from_db()
    assert (entry.state, entry.last_error) == (Entry.CANCELLED, "its invoice is no longer in Xero")
    (logged,) = entries(ctx)
    assert logged.outcome == "attention"
    assert "no credit note was raised because its invoice is no longer in Xero" in logged.message


@pytest.mark.parametrize("gone", [False, True], ids=["paid meanwhile", "invoice deleted"])
def test_an_allocation_with_nothing_left_to_allocate_to_is_cancelled_and_logged(
    ctx: RunContext, xero: FakeXero, gone: bool
) -> None:
    _on(ctx)
    invoice_id = xero.add_invoice()
    row = _withdrawn(ctx, xero, invoice_id)
    news(ctx, row)
    xero.fail_next(
        "allocate_credit_note", XeroRateLimited("limit", retry_after=5, problem="minute")
    )
    with pytest.raises(Stop):
        credit_notes.act(ctx)
    waiting = XeroOperation.objects.get(kind="allocation", state="waiting")
    if gone:
        del xero.invoices[invoice_id]
    else:
        raw = xero.invoices[invoice_id]
        xero._totals(raw, paid=raw["Total"], credited=D(0))
    credit_notes.allocate(ctx)
    waiting.refresh_from_db()
    assert waiting.state == XeroOperation.State.CANCELLED
    assert len(xero.sent("allocate_credit_note")) == 1  # only the refused one
    logged = entries(ctx, step="credit_note")[-1]
    assert logged.outcome == "warning"
    assert "was not allocated" in logged.message
    assert ("no longer exists" in logged.message) is gone


# --- amount drops, pause -----------------------------------------------------------------------


def test_an_amount_drop_becomes_a_credit_note_of_its_lines(ctx: RunContext, xero: FakeXero) -> None:
    invoice_id = xero.add_invoice(status="PAID", paid=D(100))
    row = invoiced(ctx, xero, invoice_id)
    lines = [{"account_code": "200", "quantity": "1", "unit_amount": "30.00", "tracking": []}]
    entry = news(ctx, row, reason="amount_drop", action="credit_note", lines=lines)
    credit_notes.act(ctx)
    (body,) = xero.sent("create_credit_notes")
    assert [D(line["UnitAmount"]) for line in body["LineItems"]] == [D("30.00")]
    entry.refresh_from_db()
    assert (entry.state, entry.amount) == (Entry.DONE, D("30.00"))
    # Nothing is owed: no allocation is sent, the whole credit is a refund to make.
    assert xero.sent("allocate_credit_note") == []
    assert "USD 30.00 was already paid" in entries(ctx)[-1].message
    assert not XeroOperation.objects.filter(kind="allocation", state="waiting").exists()


def test_news_is_held_back_while_credit_notes_are_paused_with_one_log(
    ctx: RunContext, xero: FakeXero
) -> None:
    _on(ctx)
    ctx.paused = frozenset({"credit_notes"})
    row = _withdrawn(ctx, xero, xero.add_invoice())
    entry = news(ctx, row)
    credit_notes.act(ctx)
    credit_notes.act(ctx)
    assert xero.log == []
    entry.refresh_from_db()
    assert entry.state == Entry.PENDING
    assert entry.last_error.startswith("held back")
    (logged,) = entries(ctx)
    assert logged.outcome == "attention"
    ctx.paused = frozenset()
    credit_notes.act(ctx)
    assert len(xero.sent("create_credit_notes")) == 1


# --- failures and lost answers -----------------------------------------------------------------


def test_a_refused_credit_note_needs_a_person(ctx: RunContext, xero: FakeXero) -> None:
    _on(ctx)
    xero.refuse("create_credit_notes", "Contact is archived.")
    row = _withdrawn(ctx, xero, xero.add_invoice())
    entry = news(ctx, row)
    credit_notes.act(ctx)
    entry.refresh_from_db()
    assert entry.state == Entry.FAILED
    assert entry.last_error == "Xero refused the credit note: Contact is archived."
    row.refresh_from_db()
    assert (row.state, row.last_error) == (State.NEEDS_ATTENTION, entry.last_error)
    assert xero.sent("allocate_credit_note") == []


def test_a_lost_credit_note_is_found_by_reference_and_contact_not_sent_twice(
    ctx: RunContext, xero: FakeXero
) -> None:
    _on(ctx)
    row = _withdrawn(ctx, xero, xero.add_invoice())
    entry = news(ctx, row)
    xero.fail_next("create_credit_notes", XeroUnavailable("timeout"), applied=True)
    with pytest.raises(Stop):
        credit_notes.act(ctx)
    entry.refresh_from_db()
    assert entry.state == Entry.UNKNOWN
    protocol.settle(ctx)
    entry.refresh_from_db()
    (made,) = xero.credit_notes
    assert (entry.state, entry.xero_credit_note_id) == (Entry.DONE, made)
    assert "found in Xero after an interrupted send" in entries(ctx, step="credit_note")[-1].message
    credit_notes.act(ctx)
    assert len(xero.sent("create_credit_notes")) == 1
    assert len(xero.sent("allocate_credit_note")) == 1


def test_the_lookup_skips_a_credit_note_this_integration_linked_already(
    ctx: RunContext, xero: FakeXero
) -> None:
    _on(ctx)
    row = _withdrawn(ctx, xero, xero.add_invoice())
    entry = news(ctx, row)
    # An earlier credit of the same invoice (same reference, same contact), linked already.
    old = xero.new_id("cn")
    xero.credit_notes[old] = {
        "CreditNoteID": old,
        "CreditNoteNumber": "CN-OLD",
        "Type": "ACCRECCREDIT",
        "Status": "AUTHORISED",
        "Contact": {"ContactID": "contact-x"},
        "Reference": f"{row.xero_invoice_number}: {entry.get_reason_display()}",
        "Total": D("100.00"),
        "RemainingCredit": D(0),
        "Allocations": [],
    }
    news(ctx, row, state="done", xero_credit_note_id=old)
    xero.short_next("create_credit_notes", keep=0)
    credit_notes.act(ctx)
    entry.refresh_from_db()
    assert entry.state == Entry.UNKNOWN
    protocol.settle(ctx)
    entry.refresh_from_db()
    (new,) = set(xero.credit_notes) - {old}
    assert (entry.state, entry.xero_credit_note_id) == (Entry.DONE, new)
    assert len(xero.sent("create_credit_notes")) == 1
