"""Credit notes and allocations: what news about an invoice requires (voids and deletions
are planned here and sent by :mod:`~integrations.sync.steps.voids`).

News is recorded as work in the transaction that records the news itself
(:func:`record_news`): a withdrawal (reopened, lost, deleted), an amount that fell after
payment, negative lines kept apart. Each piece of news gets one :class:`CreditNoteEntry` (its
hash is unique), so a crash between the news and the write leaves work to do, never a recorded
reason with nothing behind it. :func:`act` then, every run, turns pending entries into writes:

- a withdrawn invoice still a draft is deleted; one approved and untouched is voided when so
  configured; otherwise a credit note repeats its lines; one credited by hand already, or gone,
  needs a person;
- an amount drop or negative lines become a credit note of those lines;
- a credit note raised is allocated to what its invoice still owes (a separate write, planned
  with the credit note's outcome); what was already paid is logged as a refund to make.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from integrations.connections.xero import where
from integrations.connections.xero.records import CreditNote, Invoice, ms_date
from integrations.sync import calendar, protocol
from integrations.sync.context import RunContext
from integrations.sync.models import (
    CreditNoteEntry,
    LedgerEntry,
    PaymentEntry,
    SyncLogEntry,
    XeroOperation,
)
from integrations.sync.protocol import Element, Handler, register
from integrations.sync.steps import voids
from integrations.sync.translate import InvoiceLineDraft

Kind = XeroOperation.Kind
Outcome = SyncLogEntry.Outcome
Entry = CreditNoteEntry.State
Reason = CreditNoteEntry.Reason
ZERO = Decimal(0)
BATCH = 50


# --- news ----------------------------------------------------------------------------------------


def record_news(
    ctx: RunContext,
    ledger: LedgerEntry,
    *,
    reason: str,
    news: str,
    lines: Sequence[InvoiceLineDraft] = (),
) -> CreditNoteEntry | None:
    """The work a piece of news requires, once (in the caller's transaction); None when the
    same news was recorded before."""
    digest = hashlib.sha256(news.encode()).hexdigest()
    try:
        with transaction.atomic():
            return CreditNoteEntry.objects.create(
                integration=ctx.integration,
                ledger=ledger,
                reason=reason,
                action="" if reason == Reason.WITHDRAWN else "credit_note",
                content_hash=digest,
                state=Entry.PENDING,
                lines=[line_json(line) for line in lines],
            )
    except IntegrityError:
        return None


def line_json(line: InvoiceLineDraft) -> dict[str, Any]:
    return {
        "description": line.description,
        "quantity": str(line.quantity),
        "unit_amount": str(line.unit_amount),
        "account_code": line.account_code,
        "discount_rate": str(line.discount_rate),
        "item_code": line.item_code,
        "tax_type": line.tax_type,
        "tracking": [list(t) for t in line.tracking],
    }


def line_from_json(raw: Mapping[str, Any]) -> InvoiceLineDraft:
    return InvoiceLineDraft(
        description=str(raw.get("description") or "Credit"),
        quantity=Decimal(str(raw.get("quantity") or 1)),
        unit_amount=Decimal(str(raw.get("unit_amount") or 0)),
        account_code=str(raw.get("account_code") or ""),
        discount_rate=Decimal(str(raw.get("discount_rate") or 0)),
        item_code=str(raw.get("item_code") or ""),
        tax_type=str(raw.get("tax_type") or ""),
        tracking=tuple((str(n), str(o)) for n, o in raw.get("tracking") or []),
    )


def _lines_of(invoice: Invoice) -> list[dict[str, Any]]:
    """A credit repeating the invoice's lines as Xero holds them."""
    return [
        {
            "description": line.description or "Credit",
            "quantity": str(line.quantity or 1),
            "unit_amount": str(line.unit_amount),
            "account_code": line.account_code,
            "discount_rate": str(line.discount_rate),
            "item_code": line.item_code,
            "tax_type": line.tax_type,
            "tracking": [list(t) for t in line.tracking],
        }
        for line in invoice.lines
    ]


# --- acting on pending news ---------------------------------------------------------------------


def act(ctx: RunContext) -> None:
    """Every pending entry whose invoice exists becomes its write; held back while credit notes
    are (the configuration), with one log entry saying so."""
    pending = list(
        CreditNoteEntry.objects.filter(
            integration=ctx.integration,
            state=Entry.PENDING,
            ledger__state=LedgerEntry.State.SYNCED,
        )
        .exclude(ledger__xero_invoice_id="")
        .exclude(content_hash="")
        .select_related("ledger")
        .order_by("pk")
    )
    if pending and "credit_notes" in ctx.paused:
        _held_back(ctx, pending)
        return
    for start in range(0, len(pending), BATCH):
        _act_on(ctx, pending[start : start + BATCH])
        ctx.flush_logs()
    allocate(ctx)
    voids.send(ctx)


def _held_back(ctx: RunContext, pending: list[CreditNoteEntry]) -> None:
    for entry in pending:
        if entry.last_error != _HELD:
            entry.last_error = _HELD
            entry.save(update_fields=["last_error"])
            ctx.log(
                Outcome.ATTENTION,
                f"{Reason(entry.reason).label} on invoice {entry.ledger.xero_invoice_number}: "
                f"{_HELD}",
                ledger=entry.ledger,
                step="credit_note",
            )
    ctx.flush_logs()


_HELD = (
    "held back: credit notes are on hold until the configuration is fixed (see the setup "
    "review); nothing is lost, it is raised then."
)


def _act_on(ctx: RunContext, entries: list[CreditNoteEntry]) -> None:
    invoices = ctx.xero.invoices_by_id([e.ledger.xero_invoice_id for e in entries])
    credits: list[tuple[CreditNoteEntry, Invoice]] = []
    for entry in entries:
        invoice = invoices.get(entry.ledger.xero_invoice_id)
        if invoice is None:
            _needs_person(ctx, entry, "its invoice is no longer in Xero")
            continue
        if entry.reason == Reason.WITHDRAWN:
            _decide_withdrawal(ctx, entry, invoice, credits)
        else:
            credits.append((entry, invoice))
    for entry, invoice in credits:
        _credit(ctx, entry, invoice)


def _decide_withdrawal(
    ctx: RunContext,
    entry: CreditNoteEntry,
    invoice: Invoice,
    credits: list[tuple[CreditNoteEntry, Invoice]],
) -> None:
    ledger = entry.ledger
    untouched = invoice.amount_paid == 0 and invoice.amount_credited == 0
    if not ctx.config.credit_note_on_withdrawal and invoice.status not in ("VOIDED", "DELETED"):
        _needs_person(ctx, entry, "credit notes for withdrawn opportunities are not switched on")
        return
    if invoice.status in ("VOIDED", "DELETED"):
        voids.finish_entry(entry, action=invoice.status.lower(), state=Entry.DONE)
        voids.withdrawn_settled(
            ctx,
            ledger,
            f"Opportunity {ledger.opportunity_name!r} was "
            f"{ledger.get_withdrawn_display().lower()}: invoice {ledger.xero_invoice_number} is "
            f"already {invoice.status.lower()} in Xero.",
        )
        return
    if untouched and invoice.status in ("DRAFT", "SUBMITTED"):
        # Never approved: deleting it is the only clean answer (a credit note cannot be
        # allocated to a draft).
        voids.plan_status(ctx, entry, "DELETED")
    elif untouched and invoice.status == "AUTHORISED" and ctx.config.void_unpaid_instead:
        voids.plan_status(ctx, entry, "VOIDED")
    elif invoice.amount_credited > 0:
        _needs_person(ctx, entry, "it was already partly credited in Xero")
    elif invoice.total <= 0 or not invoice.lines:
        _needs_person(ctx, entry, "it has nothing to credit")
    else:
        entry.action = "credit_note"
        entry.lines = _lines_of(invoice)
        entry.save(update_fields=["action", "lines"])
        credits.append((entry, invoice))


def _needs_person(ctx: RunContext, entry: CreditNoteEntry, why: str) -> None:
    ledger = entry.ledger
    voids.finish_entry(entry, state=Entry.CANCELLED, error=why)
    if entry.reason == Reason.WITHDRAWN:
        ledger.state = LedgerEntry.State.NEEDS_ATTENTION
        ledger.last_error = (
            f"Opportunity {ledger.opportunity_name!r} was "
            f"{ledger.get_withdrawn_display().lower()} after invoice "
            f"{ledger.xero_invoice_number} was created, and {why}; the invoice still stands in "
            "Xero. Void it or raise a credit note there if it should not."
        )
        ledger.save(update_fields=["state", "last_error", "updated_at"])
        message = ledger.last_error
    else:
        message = (
            f"{Reason(entry.reason).label} on invoice {ledger.xero_invoice_number}: no credit "
            f"note was raised because {why}. Credit it in Xero."
        )
    ctx.log(Outcome.ATTENTION, message, ledger=ledger, step="credit_note")


def _reference(entry: CreditNoteEntry) -> str:
    return f"{entry.ledger.xero_invoice_number}: {Reason(entry.reason).label}"[:255]


def _credit(ctx: RunContext, entry: CreditNoteEntry, invoice: Invoice) -> None:
    lines = [line_from_json(raw) for raw in entry.lines or []]
    body: dict[str, Any] = {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": invoice.contact_id},
        "Date": ms_date(calendar.today()),
        "Status": "AUTHORISED",
        "LineAmountTypes": invoice.line_amount_types or "Exclusive",
        "Reference": _reference(entry),
        "CurrencyCode": invoice.currency_code,
        "LineItems": [line.to_xero() for line in lines],
    }
    if (
        invoice.currency_code
        and invoice.currency_code != ctx.metadata.base_currency
        and invoice.currency_rate > 0
    ):
        body["CurrencyRate"] = invoice.currency_rate
    protocol.write(
        ctx,
        Kind.CREDIT_NOTE,
        [
            Element(
                subject=str(entry.pk),
                body=body,
                content_hash=entry.content_hash,
                lookup={
                    "reference": body["Reference"],
                    "contact_id": invoice.contact_id,
                    "currency": invoice.currency_code,
                    "due": str(invoice.amount_due),
                    "invoice_id": invoice.invoice_id,
                    "invoice_number": invoice.number,
                },
                ledger=entry.ledger,
                credit_note=entry,
            )
        ],
        lambda bodies, key: ctx.xero.create_credit_notes(bodies, key=key),
    )


class CreditNoteHandler(Handler):
    kind = Kind.CREDIT_NOTE
    waiting_picked_up_by = "credit notes: its entry is pending and sent again every run"

    def sending(
        self, ctx: RunContext, ops: list[XeroOperation], elements: Sequence[Element]
    ) -> None:
        CreditNoteEntry.objects.filter(pk__in=[op.credit_note_id for op in ops]).update(
            state=Entry.SENDING
        )

    def unknown(self, ctx: RunContext, ops: list[XeroOperation], why: str) -> None:
        CreditNoteEntry.objects.filter(pk__in=[op.credit_note_id for op in ops]).update(
            state=Entry.UNKNOWN
        )
        super().unknown(ctx, ops, why)

    def waiting(self, ctx: RunContext, ops: list[XeroOperation], why: str) -> None:
        CreditNoteEntry.objects.filter(pk__in=[op.credit_note_id for op in ops]).update(
            state=Entry.PENDING
        )
        super().waiting(ctx, ops, why)

    def lookup(self, ctx: RunContext, ops: list[XeroOperation]) -> Mapping[int, CreditNote]:
        """By Reference and contact, among credit notes this integration has not linked yet:
        Xero's idempotency replay lasts minutes, not days."""
        known = set(
            CreditNoteEntry.objects.filter(integration=ctx.integration)
            .exclude(xero_credit_note_id="")
            .values_list("xero_credit_note_id", flat=True)
        )
        found: dict[int, CreditNote] = {}
        for op in ops:
            reference = str(op.lookup.get("reference", ""))
            for note in ctx.xero.credit_notes_where(where.equals("Reference", reference)):
                if (
                    note.contact_id == op.lookup.get("contact_id")
                    and note.credit_note_id not in known
                    and note.status != "VOIDED"
                ):
                    found[op.pk] = note
                    known.add(note.credit_note_id)
                    break
        return found

    def done(self, ctx: RunContext, op: XeroOperation, answer: CreditNote, *, found: bool) -> None:
        entry = op.credit_note
        assert entry is not None
        entry.state = Entry.DONE
        entry.xero_credit_note_id = answer.credit_note_id
        entry.xero_credit_note_number = answer.number
        entry.amount = answer.total
        entry.last_error = ""
        entry.save(
            update_fields=[
                "state",
                "xero_credit_note_id",
                "xero_credit_note_number",
                "amount",
                "last_error",
            ]
        )
        ledger = entry.ledger
        allocation = max(min(answer.total, Decimal(str(op.lookup.get("due") or 0))), ZERO)
        # What it allocates is decided when sent: a payment may come first.
        protocol.plan(
            ctx,
            Kind.ALLOCATION,
            Element(
                subject=str(entry.pk),
                body={"CreditNoteID": answer.credit_note_id},
                content_hash=answer.credit_note_id,
                # The invoice it was raised against, whatever the row holds by then (a deal won
                # again gets a new invoice; this credit still belongs to the old one).
                lookup={
                    "credit_note_id": answer.credit_note_id,
                    "invoice_id": op.lookup.get("invoice_id") or ledger.xero_invoice_id,
                    "invoice_number": op.lookup.get("invoice_number") or ledger.xero_invoice_number,
                    # What the log promised would go against the invoice.
                    "promised": str(allocation),
                },
                ledger=ledger,
                credit_note=entry,
            ),
        )
        if entry.reason == Reason.WITHDRAWN:
            ledger.state = LedgerEntry.State.SYNCED
            ledger.last_error = ""
            ledger.save(update_fields=["state", "last_error", "updated_at"])
            ctx.resolve_entries([ledger.pk])
            PaymentEntry.objects.filter(
                ledger=ledger, state__in=(PaymentEntry.State.PLANNED, PaymentEntry.State.SCHEDULED)
            ).update(state=PaymentEntry.State.CANCELLED)
        currency = str(op.lookup.get("currency", ""))
        refund = answer.total - allocation
        message = (
            f"Credit note {answer.number} ({f'{currency} ' if currency else ''}"
            f"{answer.total:,.2f}) raised against invoice {ledger.xero_invoice_number}: "
            f"{Reason(entry.reason).label.lower()}"
        )
        if found:
            message += "; found in Xero after an interrupted send, nothing was sent twice"
        if allocation > 0:
            message += f"; {currency} {allocation:,.2f} of it goes against what the invoice owes"
        if refund > 0:
            message += (
                f"; {currency} {refund:,.2f} was already paid: refund the customer or keep it as "
                "credit in Xero"
            )
        ctx.log(
            Outcome.CREATED,
            message + ".",
            ledger=ledger,
            step="credit_note",
            document_number=answer.number,
        )

    def failed(self, ctx: RunContext, op: XeroOperation, errors: Sequence[str]) -> None:
        entry = op.credit_note
        assert entry is not None
        entry.state = Entry.FAILED
        entry.last_error = f"Xero refused the credit note: {'; '.join(errors) or 'no answer'}"
        entry.save(update_fields=["state", "last_error"])
        if entry.reason == Reason.WITHDRAWN:
            ledger = entry.ledger
            ledger.state = LedgerEntry.State.NEEDS_ATTENTION
            ledger.last_error = entry.last_error
            ledger.save(update_fields=["state", "last_error", "updated_at"])
        ctx.log(Outcome.ATTENTION, entry.last_error, ledger=entry.ledger, step="credit_note")


# --- allocations -------------------------------------------------------------------------------


def allocate(ctx: RunContext) -> None:
    """Each credit note raised is allocated to what its invoice still owes (one call each)."""
    ops = list(
        XeroOperation.objects.filter(
            integration=ctx.integration, kind=Kind.ALLOCATION, state=XeroOperation.State.WAITING
        )
        .select_related("ledger", "credit_note")
        .order_by("pk")
    )
    if not ops:
        return
    invoices = ctx.xero.invoices_by_id([str(op.lookup.get("invoice_id")) for op in ops])
    for op in ops:
        entry, ledger = op.credit_note, op.ledger
        assert entry is not None
        assert ledger is not None
        invoice_id = str(op.lookup.get("invoice_id"))
        invoice = invoices.get(invoice_id)
        due = invoice.amount_due if invoice is not None else ZERO
        amount = min(entry.amount - entry.allocated, due)
        if amount <= 0:
            # Nothing owed any more (paid meanwhile) or the invoice is gone: the credit stands
            # as credit in Xero, which a person may refund or apply elsewhere.
            XeroOperation.objects.filter(pk=op.pk).update(state=XeroOperation.State.CANCELLED)
            if Decimal(str(op.lookup.get("promised", "1"))) <= 0:
                continue  # the credit note's own entry said it all goes back to the customer
            why = (
                "its invoice no longer exists in Xero"
                if invoice is None
                else f"invoice {invoice.number or invoice_id} owes nothing any more"
            )
            ctx.log(
                Outcome.WARNING,
                f"Credit note {entry.xero_credit_note_number or entry.xero_credit_note_id} was "
                f"not allocated: {why}. Its amount stays as credit on the customer in Xero.",
                ledger=ledger,
                step="credit_note",
            )
            continue
        body = {
            "Invoice": {"InvoiceID": invoice_id},
            "Amount": amount,
            "Date": ms_date(calendar.today()),
        }
        protocol.write(
            ctx,
            Kind.ALLOCATION,
            [
                Element(
                    subject=op.subject,
                    body=body,
                    content_hash=f"{entry.xero_credit_note_id}:{amount}",
                    lookup={**op.lookup, "amount": str(amount)},
                    ledger=ledger,
                    credit_note=entry,
                )
            ],
            _allocator(ctx, entry.xero_credit_note_id),
        )
        ctx.flush_logs()


def _allocator(ctx: RunContext, credit_note_id: str) -> protocol.Sender:
    def send(bodies: list[dict[str, Any]], key: str) -> list[Any]:
        return [ctx.xero.allocate_credit_note(credit_note_id, bodies[0], key=key)]

    return send


class AllocationHandler(Handler):
    kind = Kind.ALLOCATION
    waiting_picked_up_by = "credit notes: allocations waiting are sent every run"

    def lookup(self, ctx: RunContext, ops: list[XeroOperation]) -> Mapping[int, Any]:
        found: dict[int, Any] = {}
        for op in ops:
            note = ctx.xero.credit_note(str(op.lookup.get("credit_note_id", "")))
            if note is None:
                continue
            invoice_id = op.lookup.get("invoice_id")
            for allocation in note.allocations:
                if allocation.invoice_id == invoice_id:
                    found[op.pk] = allocation
                    break
        return found

    def done(self, ctx: RunContext, op: XeroOperation, answer: Any, *, found: bool) -> None:
        entry = op.credit_note
        assert entry is not None
        amount = Decimal(str(op.lookup.get("amount") or getattr(answer, "amount", 0) or 0))
        entry.allocated = min(entry.amount, entry.allocated + amount)
        entry.save(update_fields=["allocated"])
        ctx.log(
            Outcome.UPDATED,
            f"Credit note {entry.xero_credit_note_number}: {amount:,.2f} allocated to invoice "
            f"{op.lookup.get('invoice_number', '')}.",
            ledger=op.ledger,
            step="allocation",
            document_number=entry.xero_credit_note_number,
        )

    def failed(self, ctx: RunContext, op: XeroOperation, errors: Sequence[str]) -> None:
        entry = op.credit_note
        assert entry is not None
        ctx.log(
            Outcome.ATTENTION,
            f"Credit note {entry.xero_credit_note_number} could not be allocated to invoice "
            f"{entry.ledger.xero_invoice_number}: {'; '.join(errors)}. Allocate it in Xero.",
            ledger=op.ledger,
            step="allocation",
        )


register(CreditNoteHandler())
register(AllocationHandler())
