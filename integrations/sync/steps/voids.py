"""Voids and deletions of withdrawn invoices: planned by the credit-notes step as it reads
each withdrawal's invoice, sent here 50 per call (both are a status change, one POST), settled
by looking the invoice's status up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from integrations.connections.ratelimit import Priority
from integrations.connections.xero.records import Invoice
from integrations.sync import protocol
from integrations.sync.context import RunContext
from integrations.sync.models import (
    CreditNoteEntry,
    LedgerEntry,
    PaymentEntry,
    SyncLogEntry,
    XeroOperation,
)
from integrations.sync.protocol import Element, Handler, register

Kind = XeroOperation.Kind
Outcome = SyncLogEntry.Outcome
Entry = CreditNoteEntry.State
BATCH = 50


def plan_status(ctx: RunContext, entry: CreditNoteEntry, status: str) -> None:
    """Voiding and deleting are both a status change (POST), sent together."""
    kind = Kind.VOID
    with transaction.atomic():
        entry.action = status.lower()
        entry.save(update_fields=["action"])
        protocol.plan(
            ctx,
            kind,
            Element(
                subject=str(entry.pk),
                body={"InvoiceID": entry.ledger.xero_invoice_id, "Status": status},
                content_hash=f"{status}:{entry.ledger.xero_invoice_id}",
                lookup={"invoice_id": entry.ledger.xero_invoice_id, "status": status},
                ledger=entry.ledger,
                credit_note=entry,
            ),
        )


def finish_entry(
    entry: CreditNoteEntry, *, state: str, action: str | None = None, error: str = ""
) -> None:
    entry.state = state
    if action is not None:
        entry.action = action
    entry.last_error = error
    entry.save(update_fields=["state", "action", "last_error"])


def withdrawn_settled(
    ctx: RunContext, ledger: LedgerEntry, message: str, *, step: str = "credit_note"
) -> None:
    """A withdrawn opportunity's invoice is as it should be: the row is settled, and says so."""
    ledger.state = LedgerEntry.State.SYNCED
    ledger.last_error = ""
    ledger.save(update_fields=["state", "last_error", "updated_at"])
    ctx.resolve_entries([ledger.pk])
    ctx.log(Outcome.UPDATED, message, ledger=ledger, step=step)


def send(ctx: RunContext) -> None:
    """Waiting voids and deletions, 50 per call."""
    for kind in (Kind.VOID,):
        ops = list(
            XeroOperation.objects.filter(
                integration=ctx.integration, kind=kind, state=XeroOperation.State.WAITING
            )
            .select_related("ledger", "credit_note")
            .order_by("pk")
        )
        for start in range(0, len(ops), BATCH):
            group = ops[start : start + BATCH]
            protocol.write(
                ctx,
                kind,
                [
                    Element(
                        subject=op.subject,
                        body=op.body,
                        content_hash=op.content_hash,
                        lookup=op.lookup,
                        ledger=op.ledger,
                        credit_note=op.credit_note,
                    )
                    for op in group
                ],
                lambda bodies, key: ctx.xero.write_invoices(
                    bodies, key=key, create=False, priority=Priority.UPDATE
                ),
            )
            ctx.flush_logs()


class VoidHandler(Handler):
    kind = Kind.VOID
    waiting_picked_up_by = "credit notes: waiting voids and deletions are sent every run"

    def lookup(self, ctx: RunContext, ops: list[XeroOperation]) -> Mapping[int, Invoice]:
        invoices = ctx.xero.invoices_by_id([str(op.lookup.get("invoice_id")) for op in ops])
        found: dict[int, Invoice] = {}
        for op in ops:
            invoice = invoices.get(str(op.lookup.get("invoice_id")))
            if invoice is not None and invoice.status == op.lookup.get("status"):
                found[op.pk] = invoice
        return found

    def done(self, ctx: RunContext, op: XeroOperation, answer: Any, *, found: bool) -> None:
        entry, ledger = op.credit_note, op.ledger
        assert entry is not None
        assert ledger is not None
        status = str(op.lookup.get("status", "")).lower()
        finish_entry(entry, state=Entry.DONE, action=status)
        PaymentEntry.objects.filter(
            ledger=ledger, state__in=(PaymentEntry.State.PLANNED, PaymentEntry.State.SCHEDULED)
        ).update(state=PaymentEntry.State.CANCELLED)
        withdrawn_settled(
            ctx,
            ledger,
            f"Invoice {ledger.xero_invoice_number} {status} in Xero: the opportunity was "
            f"{ledger.get_withdrawn_display().lower()} before anything was paid.",
            step=op.kind,
        )

    def failed(self, ctx: RunContext, op: XeroOperation, errors: Sequence[str]) -> None:
        entry, ledger = op.credit_note, op.ledger
        assert entry is not None
        assert ledger is not None
        status = str(op.lookup.get("status", "")).lower()
        finish_entry(entry, state=Entry.FAILED, error="; ".join(errors))
        ledger.state = LedgerEntry.State.NEEDS_ATTENTION
        ledger.last_error = (
            f"Invoice {ledger.xero_invoice_number} could not be {status}: "
            f"{'; '.join(errors) or 'Xero gave no answer'}. Void it in Xero."
        )
        ledger.save(update_fields=["state", "last_error", "updated_at"])
        ctx.log(Outcome.ATTENTION, ledger.last_error, ledger=ledger, step=op.kind)


register(VoidHandler())
