"""``steps.voids``: waiting voids and deletions sent 50 per status-change call, settled as done,
failed or (after a lost answer) by looking the invoice's status up; payments not yet recorded
are cancelled once an invoice is voided."""

from __future__ import annotations

import pytest

from integrations.connections.ratelimit import Priority
from integrations.connections.xero.client import XeroUnavailable
from integrations.sync import protocol
from integrations.sync.context import RunContext
from integrations.sync.models import CreditNoteEntry, LedgerEntry, PaymentEntry, XeroOperation
from integrations.sync.protocol import Stop
from integrations.sync.steps import voids
from tests.integrations.sync.steps.fakes import FakeXero
from tests.integrations.sync.steps.rows import entries, invoiced, news, payment

pytestmark = pytest.mark.django_db

State = LedgerEntry.State
Entry = CreditNoteEntry.State


def _planned(ctx: RunContext, xero: FakeXero, status: str = "VOIDED") -> CreditNoteEntry:
    row = invoiced(
        ctx,
        xero,
        xero.add_invoice(status="DRAFT" if status == "DELETED" else "AUTHORISED"),
        withdrawn="lost",
    )
    entry = news(ctx, row)
    voids.plan_status(ctx, entry, status)
    return entry


def test_planning_records_the_action_and_one_waiting_operation(
    ctx: RunContext, xero: FakeXero
) -> None:
    entry = _planned(ctx, xero)
    voids.plan_status(ctx, entry, "VOIDED")
    entry.refresh_from_db()
    assert entry.action == "voided"
    (op,) = XeroOperation.objects.filter(credit_note=entry)
    assert (op.kind, op.state) == ("void", "waiting")
    assert op.body == {"InvoiceID": entry.ledger.xero_invoice_id, "Status": "VOIDED"}
    assert xero.log == []


def test_voids_and_deletions_go_fifty_per_call(ctx: RunContext, xero: FakeXero) -> None:
    planned = [_planned(ctx, xero, "VOIDED" if n % 2 else "DELETED") for n in range(51)]
    voids.send(ctx)
    calls = xero.calls_of("write_invoices")
    assert [len(c.bodies) for c in calls] == [50, 1]
    assert {(c.args["create"], c.args["priority"]) for c in calls} == {(False, Priority.UPDATE)}
    for entry in planned:
        entry.refresh_from_db()
        status = "VOIDED" if entry.action == "voided" else "DELETED"
        assert entry.state == Entry.DONE
        assert xero.invoices[entry.ledger.xero_invoice_id]["Status"] == status
    # Sent once: nothing is waiting any more.
    voids.send(ctx)
    assert len(xero.calls_of("write_invoices")) == 2


@pytest.mark.parametrize("waiting", [PaymentEntry.State.SCHEDULED, PaymentEntry.State.PLANNED])
def test_a_void_settles_the_row_and_cancels_its_payments(
    ctx: RunContext, xero: FakeXero, waiting: str
) -> None:
    entry = _planned(ctx, xero)
    row = entry.ledger
    LedgerEntry.objects.filter(pk=row.pk).update(state=State.NEEDS_ATTENTION, last_error="x")
    paid = payment(ctx, row, state=PaymentEntry.State.PAID)
    open_ = payment(ctx, row, state=waiting)
    voids.send(ctx)
    row.refresh_from_db()
    assert (row.state, row.last_error) == (State.SYNCED, "")
    states = {p.pk: p.state for p in PaymentEntry.objects.filter(ledger=row)}
    assert states == {open_.pk: PaymentEntry.State.CANCELLED, paid.pk: PaymentEntry.State.PAID}
    (logged,) = entries(ctx)
    assert (logged.outcome, logged.step) == ("updated", "void")
    assert logged.message == (
        f"Invoice {row.xero_invoice_number} voided in Xero: the opportunity was closed lost "
        "before anything was paid."
    )


def test_a_refused_void_needs_a_person(ctx: RunContext, xero: FakeXero) -> None:
    xero.refuse("write_invoices", "Invoice has payments allocated.")
    entry = _planned(ctx, xero)
    voids.send(ctx)
    entry.refresh_from_db()
    assert (entry.state, entry.last_error) == (Entry.FAILED, "Invoice has payments allocated.")
    row = entry.ledger
    row.refresh_from_db()
    assert row.state == State.NEEDS_ATTENTION
    assert row.last_error == (
        f"Invoice {row.xero_invoice_number} could not be voided: Invoice has payments "
        "allocated.. Void it in Xero."
    )
    assert entries(ctx)[-1].outcome == "attention"


@pytest.mark.parametrize("applied", [True, False], ids=["done in Xero", "never reached Xero"])
def test_a_lost_answer_is_settled_by_the_invoices_status(
    ctx: RunContext, xero: FakeXero, applied: bool
) -> None:
    entry = _planned(ctx, xero)
    xero.fail_next("write_invoices", XeroUnavailable("timeout"), applied=applied)
    with pytest.raises(Stop):
        voids.send(ctx)
    (op,) = XeroOperation.objects.filter(credit_note=entry)
    assert op.state == "unknown"
    protocol.settle(ctx)
    op.refresh_from_db()
    entry.refresh_from_db()
    if applied:
        assert (op.state, entry.state) == ("done", Entry.DONE)
        assert len(xero.calls_of("write_invoices")) == 1
    else:
        assert op.state == "waiting"
        assert entry.state == Entry.PENDING
        voids.send(ctx)
        entry.refresh_from_db()
        assert entry.state == Entry.DONE
        first, again = xero.calls_of("write_invoices")
        assert first.bodies == again.bodies
    assert xero.invoices[entry.ledger.xero_invoice_id]["Status"] == "VOIDED"
