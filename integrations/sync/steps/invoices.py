"""Invoices: a chunk's invoices go out as one create and one update request.

The payment an invoice will get and the credit note its negative lines will get are planned
with its intent, so an invoice found in Xero after a lost answer gets them too. An invoice
already paid or closed is not changed ("changed after payment"); a fall in its amount after
payment becomes a credit note, recorded with the news.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from integrations.connections.ratelimit import Priority
from integrations.connections.xero import where
from integrations.connections.xero.records import Invoice, ms_date
from integrations.rules.payments import payment_date
from integrations.sync import protocol
from integrations.sync.context import RunContext
from integrations.sync.models import (
    CreditNoteEntry,
    LedgerEntry,
    PaymentEntry,
    SyncLogEntry,
    XeroOperation,
    bulk_set,
)
from integrations.sync.protocol import Element, Handler, register
from integrations.sync.steps import contacts, items, payments
from integrations.sync.steps.credit_notes import line_json, record_news
from integrations.sync.translate import InvoiceLineDraft

if TYPE_CHECKING:
    from integrations.sync.steps.chunk import Work

State = LedgerEntry.State
Outcome = SyncLogEntry.Outcome
Kind = XeroOperation.Kind
ZERO = Decimal(0)
# Xero lets an invoice change only in these states, and only while nothing is paid.
UPDATABLE_STATUSES = frozenset({"DRAFT", "SUBMITTED", "AUTHORISED"})
# An invoice line's place in the books: (account code, tracking pairs).
LineKey = tuple[str, tuple[tuple[str, str], ...]]


def money(amount: Decimal, currency: str) -> str:
    return f"{currency} {amount:,.2f}".strip()


def fail(ctx: RunContext, w: Work, message: str) -> None:
    ledger = w.ledger
    ledger.state = State.FAILED
    ledger.content_hash = w.hash
    ledger.last_error = message
    ledger.save_fields("state", "content_hash", "last_error")
    ctx.run.failed_count += 1
    ctx.log(Outcome.FAILED, message, ledger=ledger, step="invoice")


def wait(
    ctx: RunContext,
    ledger: LedgerEntry,
    message: str,
    *,
    outcome: str = Outcome.ATTENTION,
    told_as: str = "",
    problem_field: str = "",
) -> None:
    """Not sent this run: the row stays pending, re-read by every run until it can go (a rule
    that cannot be applied yet, a prerequisite still being settled); told once, not each run."""
    told = ledger.pk is not None and ledger.state == State.PENDING and ledger.last_error == message
    ledger.state = State.PENDING
    ledger.last_error = message
    ledger.content_hash = ""
    ledger.save_fields("state", "last_error", "content_hash")
    if not told:
        ctx.log(
            outcome, told_as or message, ledger=ledger, step="invoice", problem_field=problem_field
        )


# --- sending -----------------------------------------------------------------------------------


def send(ctx: RunContext, work: list[Work]) -> None:
    ready: list[Work] = []
    for w in work:
        if w.problem:
            fail(ctx, w, w.problem)
        elif w.waits:
            wait(
                ctx,
                w.ledger,
                w.waits,
                outcome=Outcome.WAITING,
                told_as=f"Invoice for {w.ledger.opportunity_name!r}: {w.waits} It is sent on the "
                "next run.",
            )
        elif not w.contact_id:
            fail(ctx, w, "No Xero contact could be matched or created.")
        else:
            ready.append(w)
    updates = [w for w in ready if w.ledger.xero_invoice_id]
    creates = [w for w in ready if not w.ledger.xero_invoice_id]
    if updates:
        updates = _updatable(ctx, updates)
    # Rows are saved before their intent: the operation points at them.
    new_rows = [w.ledger for w in creates if w.ledger.pk is None]
    if new_rows:
        with transaction.atomic():
            LedgerEntry.objects.bulk_create(new_rows)
    if creates:
        _write(ctx, creates, create=True)
    if updates:
        _write(ctx, updates, create=False)


def _body(w: Work) -> dict[str, Any]:
    draft = dataclasses.replace(w.draft, contact_id=w.contact_id)
    body = draft.to_xero()
    if w.ledger.xero_invoice_id:
        body["InvoiceID"] = w.ledger.xero_invoice_id
    # Dates go as ``/Date(ms+0000)/``, as the SDK itself sends them: the form Xero writes back,
    # in an accepted element and in the full model it answers for a refused one.
    for name in ("Date", "DueDate"):
        if name in body:
            body[name] = ms_date(dt.date.fromisoformat(body[name]))
    return body


def _write(ctx: RunContext, group: list[Work], *, create: bool) -> None:
    kind = Kind.INVOICE if create else Kind.INVOICE_UPDATE
    elements = [
        Element(
            subject=str(w.ledger.pk),
            body=_body(w),
            content_hash=w.hash,
            # A new invoice after a void must not be answered with the voided one.
            key_part=f"{w.hash}:g{w.ledger.generation}" if w.ledger.generation else w.hash,
            lookup={
                "number": w.draft.invoice_number,
                "reference": w.draft.reference,
                "contact_id": w.contact_id,
                "contact_name": w.contact_name or w.contact.name,
                "lines": len(w.draft.lines),
            },
            ledger=w.ledger,
            data=w,
        )
        for w in group
    ]
    protocol.write(
        ctx,
        kind,
        elements,
        lambda bodies, key: ctx.xero.write_invoices(
            bodies, key=key, create=create, priority=protocol_priority(create)
        ),
    )


def protocol_priority(create: bool) -> Priority:
    return Priority.NEW if create else Priority.UPDATE


def _updatable(ctx: RunContext, updates: list[Work]) -> list[Work]:
    """The updates Xero still allows; the rest need a person ("changed after payment") or, for
    an amount that fell after payment, a credit note (configured)."""
    current = ctx.xero.invoices_by_id(
        [w.ledger.xero_invoice_id for w in updates], priority=protocol_priority(False)
    )
    allowed: list[Work] = []
    for w in updates:
        invoice = current.get(w.ledger.xero_invoice_id)
        status = invoice.status if invoice is not None else "MISSING"
        paid = invoice.amount_paid if invoice is not None else ZERO
        if status in UPDATABLE_STATUSES and not paid:
            allowed.append(w)
            continue
        if invoice is not None and _credit_drop(ctx, w, invoice):
            continue
        ledger = w.ledger
        ledger.state = State.NEEDS_ATTENTION
        ledger.content_hash = w.hash
        ledger.last_error = (
            f"Changed after payment: the opportunity changed after invoice "
            f"{ledger.xero_invoice_number} was paid or closed in Xero (status {status}, paid "
            f"{paid:,.2f}); it was not updated. Adjust it in Xero."
        )
        ledger.save_fields("state", "content_hash", "last_error")
        ctx.log(Outcome.ATTENTION, ledger.last_error, ledger=ledger, step="invoice")
    return allowed


def _credit_drop(ctx: RunContext, w: Work, invoice: Invoice) -> bool:
    """A paid invoice whose opportunity's amount fell: the credit note for the difference is
    recorded as news to act on (configured), in the transaction that settles the row.

    Line amounts are compared per (account, tracking) — the tax type on Xero's lines may be the
    account's default where ours is empty — less what earlier amount-drop credits already took
    off; each fall is credited with the invoice line's own tax type.
    """
    if "credit_notes" in ctx.paused:
        return False
    if not ctx.config.credit_note_on_amount_drop or invoice.status in ("VOIDED", "DELETED"):
        return False
    old: dict[LineKey, Decimal] = {}
    taxes: dict[LineKey, set[str]] = {}
    for line in invoice.lines:
        key = (line.account_code, line.tracking)
        old[key] = old.get(key, ZERO) + line.line_amount
        taxes.setdefault(key, set()).add(line.tax_type)
    ledger = w.ledger
    for earlier in CreditNoteEntry.objects.filter(
        ledger=ledger, reason=CreditNoteEntry.Reason.AMOUNT_DROP, superseded=False
    ).exclude(state__in=(CreditNoteEntry.State.FAILED, CreditNoteEntry.State.CANCELLED)):
        for line in earlier.lines or []:
            key = (
                str(line.get("account_code", "")),
                tuple((str(n), str(o)) for n, o in line.get("tracking") or []),
            )
            taken = Decimal(str(line.get("quantity") or 1)) * Decimal(
                str(line.get("unit_amount") or 0)
            )
            old[key] = old.get(key, ZERO) - taken
    new: dict[LineKey, Decimal] = {}
    for draft_line in w.draft.lines:
        key = (draft_line.account_code, draft_line.tracking)
        new[key] = new.get(key, ZERO) + draft_line.amount
    if not old or any(key not in old for key in new):
        return False  # a new account or tracking: that needs a person, not a credit
    if any(new.get(key, ZERO) > amount for key, amount in old.items()):
        return False  # something rose: that needs a person
    if any(len(taxes.get(key, set())) > 1 for key in old):
        return False  # one account, several tax types: which one fell is not knowable
    lines = [
        InvoiceLineDraft(
            description=f"Reduction: {w.opportunity.name}"[:4000],
            quantity=Decimal(1),
            unit_amount=amount - new.get(key, ZERO),
            account_code=key[0],
            tax_type=next(iter(taxes.get(key, {""}))),
            tracking=key[1],
        )
        for key, amount in old.items()
        if amount - new.get(key, ZERO) > 0
    ]
    if not lines:
        return False
    with transaction.atomic():
        record_news(
            ctx,
            ledger,
            reason=CreditNoteEntry.Reason.AMOUNT_DROP,
            news=f"drop:{ledger.xero_invoice_id}:{w.hash}",
            lines=lines,
        )
        ledger.state = State.SYNCED
        ledger.content_hash = w.hash
        ledger.last_error = ""
        ledger.save_fields("state", "content_hash", "last_error")
        ctx.resolve_entries([ledger.pk])
    return True


# --- what an invoice write means -------------------------------------------------------------


class InvoiceHandler(Handler):
    kind = Kind.INVOICE
    waiting_picked_up_by = (
        "read: its ledger row waits (PENDING) and is re-read by id at the start of every run"
    )

    def sending(
        self, ctx: RunContext, ops: list[XeroOperation], elements: Sequence[Element]
    ) -> None:
        rows: list[LedgerEntry] = []
        for op in ops:
            ledger = op.ledger
            assert ledger is not None
            ledger.state = State.SENDING
            ledger.content_hash = op.content_hash
            ledger.xero_contact_id = str(op.lookup.get("contact_id", ""))
            rows.append(ledger)
        bulk_set(
            rows,
            [
                "state",
                "content_hash",
                "xero_contact_id",
                "opportunity_name",
                "customer_name",
                "system_modstamp",
            ],
        )
        _plan_follow_ups(
            ctx,
            [e.data for e in elements if e.data is not None],
            payments=self.kind == Kind.INVOICE,
        )

    def unknown(self, ctx: RunContext, ops: list[XeroOperation], why: str) -> None:
        LedgerEntry.objects.filter(pk__in=[op.ledger_id for op in ops]).update(state=State.UNKNOWN)
        for op in ops:
            if op.ledger is not None:
                op.ledger.state = State.UNKNOWN
        super().unknown(ctx, ops, why)

    def waiting(self, ctx: RunContext, ops: list[XeroOperation], why: str) -> None:
        for op in ops:
            ledger = op.ledger
            assert ledger is not None
            if ledger.withdrawn and not ledger.xero_invoice_id:
                # Never in Xero, and no longer wanted: nothing to send, nothing to undo.
                _withdrawn_unsent(ctx, ledger)
                continue
            ledger.state = State.PENDING
            ledger.save(update_fields=["state", "updated_at"])
            ctx.log(
                Outcome.WAITING,
                f"Invoice for {ledger.opportunity_name!r}: {why}",
                ledger=ledger,
                step="invoice",
            )

    def failed(self, ctx: RunContext, op: XeroOperation, errors: Sequence[str]) -> None:
        ledger = op.ledger
        assert ledger is not None
        ledger.state = State.FAILED
        ledger.last_error = f"Xero refused the invoice: {'; '.join(errors) or 'no reason given'}"
        ledger.save(update_fields=["state", "last_error", "updated_at"])
        # The contact may be why (archived, merged): looked up again before the next try.
        contacts.forget(
            integration_id=ctx.integration.pk,
            contact_ids=[str(op.lookup.get("contact_id", ""))],
            before=timezone.now(),
        )
        items.forget(integration_id=ctx.integration.pk)
        # What was planned with it will not happen.
        PaymentEntry.objects.filter(ledger=ledger, state=PaymentEntry.State.PLANNED).delete()
        CreditNoteEntry.objects.filter(
            ledger=ledger,
            reason=CreditNoteEntry.Reason.NEGATIVE_LINES,
            state=CreditNoteEntry.State.PENDING,
            content_hash="",
        ).delete()
        ctx.run.failed_count += 1
        ctx.log(Outcome.FAILED, ledger.last_error, ledger=ledger, step="invoice")

    def done(self, ctx: RunContext, op: XeroOperation, answer: Invoice, *, found: bool) -> None:
        self.done_all(ctx, [(op, answer)], found=found)

    def done_all(
        self, ctx: RunContext, confirmed: Sequence[tuple[XeroOperation, Any]], *, found: bool
    ) -> None:
        """The invoices exist: their rows synced, their payments scheduled, their negative
        lines' credit notes due — a few queries for the whole batch."""
        updated = self.kind == Kind.INVOICE_UPDATE
        now = timezone.now()
        rows: list[LedgerEntry] = []
        settled: list[tuple[XeroOperation, Invoice]] = []
        for op, answer in confirmed:
            ledger = op.ledger
            assert ledger is not None
            ledger.state = State.SYNCED
            ledger.xero_invoice_id = answer.invoice_id
            ledger.xero_invoice_number = answer.number
            ledger.xero_contact_id = answer.contact_id or ledger.xero_contact_id
            ledger.last_error = ""
            ledger.updated_at = now
            if not updated and ledger.invoiced_at is None:
                ledger.invoiced_at = now
            if found and ledger.withdrawn and not ctx.config.credit_note_on_withdrawal:
                ledger.state = State.NEEDS_ATTENTION
                ledger.last_error = (
                    f"Invoice {answer.number} was created in Xero (its answer was lost), but "
                    f"the opportunity was {ledger.get_withdrawn_display().lower()} meanwhile. "
                    "Void it or raise a credit note in Xero if it should not stand."
                )
                ctx.log(Outcome.ATTENTION, ledger.last_error, ledger=ledger, step="invoice")
            else:
                settled.append((op, answer))
            rows.append(ledger)
        bulk_set(
            rows,
            [
                "state",
                "xero_invoice_id",
                "xero_invoice_number",
                "xero_contact_id",
                "last_error",
                "updated_at",
                "invoiced_at",
            ],
        )
        ledgers = [op.ledger for op, _ in settled if op.ledger is not None]
        ctx.resolve_entries([ledger.pk for ledger in ledgers])
        if updated:
            ctx.run.updated_count += len(settled)
            # An unpaid scheduled payment follows the invoice's new total.
            scheduled = set(
                PaymentEntry.objects.filter(
                    ledger__in=ledgers, state=PaymentEntry.State.SCHEDULED
                ).values_list("ledger_id", flat=True)
            )
            for op, answer in settled:
                if op.ledger_id in scheduled:
                    PaymentEntry.objects.filter(
                        ledger_id=op.ledger_id, state=PaymentEntry.State.SCHEDULED
                    ).update(amount=answer.total)
        else:
            ctx.run.created_count += len(settled)
            payments.schedule(
                ctx, [(op.ledger, answer.total) for op, answer in settled if op.ledger]
            )
        # Negative lines kept apart: their credit note is due now the invoice exists (its
        # news names the invoice and the lines, so the same return is never credited twice).
        by_id = {ledger.pk: ledger for ledger in ledgers}
        due = list(
            CreditNoteEntry.objects.filter(
                ledger__in=ledgers,
                reason=CreditNoteEntry.Reason.NEGATIVE_LINES,
                state=CreditNoteEntry.State.PENDING,
                content_hash="",
            )
        )
        for entry in due:
            entry.content_hash = negative_news(by_id[entry.ledger_id], entry.lines)
        bulk_set(due, ["content_hash"])
        for op, answer in settled:
            self._log_done(ctx, op, answer, found=found, updated=updated)

    def _log_done(
        self, ctx: RunContext, op: XeroOperation, answer: Invoice, *, found: bool, updated: bool
    ) -> None:
        if found:
            message = (
                f"Invoice {answer.number} was found in Xero after an interrupted send and "
                "linked; nothing was sent twice."
            )
        else:
            lines = len(answer.lines) or int(op.lookup.get("lines", 0) or 0)
            verb = "updated" if updated else "created"
            message = (
                f"Invoice {answer.number} {verb} for "
                f"{answer.contact_name or op.lookup.get('contact_name', '')}, "
                f"{lines} line{'s' if lines != 1 else ''}, "
                f"{money(answer.total, answer.currency_code)}"
            )
        ctx.log(
            Outcome.UPDATED if updated else Outcome.CREATED,
            message,
            ledger=op.ledger,
            step="invoice",
            document_number=answer.number,
        )

    def lookup(self, ctx: RunContext, ops: list[XeroOperation]) -> Mapping[int, Invoice]:
        """A create is looked up by the number we set, else by Reference plus ContactID; an
        update is sent again (updating an invoice to the same content twice is harmless)."""
        if self.kind == Kind.INVOICE_UPDATE:
            return {}
        numbers = [str(op.lookup.get("number")) for op in ops if op.lookup.get("number")]
        references = [
            str(op.lookup.get("reference"))
            for op in ops
            if op.lookup.get("reference") and not op.lookup.get("number")
        ]
        candidates: list[Invoice] = []
        for clause in where.any_of("InvoiceNumber", numbers):
            candidates += ctx.xero.invoices_where(clause)
        for clause in where.any_of("Reference", references):
            candidates += ctx.xero.invoices_where(clause)
        known = set(
            LedgerEntry.objects.filter(integration=ctx.integration)
            .exclude(xero_invoice_id="")
            .values_list("xero_invoice_id", flat=True)
        )
        by_key: dict[str, Invoice] = {}
        for invoice in candidates:
            if invoice.status in ("DELETED", "VOIDED") or invoice.type != "ACCREC":
                continue
            if invoice.invoice_id in known:
                continue
            by_key.setdefault(f"n:{invoice.number.lower()}", invoice)
            by_key.setdefault(f"r:{invoice.reference.lower()}|{invoice.contact_id}", invoice)
        found: dict[int, Invoice] = {}
        for op in ops:
            number = str(op.lookup.get("number") or "")
            key = (
                f"n:{number.lower()}"
                if number
                else f"r:{str(op.lookup.get('reference') or '').lower()}|"
                f"{op.lookup.get('contact_id', '')}"
            )
            if key in by_key:
                found[op.pk] = by_key.pop(key)
        return found


class InvoiceUpdateHandler(InvoiceHandler):
    kind = Kind.INVOICE_UPDATE


def _withdrawn_unsent(ctx: RunContext, ledger: LedgerEntry) -> None:
    XeroOperation.objects.filter(
        ledger=ledger, kind=Kind.INVOICE, state=XeroOperation.State.WAITING
    ).update(
        state=XeroOperation.State.CANCELLED,
        last_error="Not sent: the opportunity no longer counts as won.",
    )
    ledger.state = State.WITHDRAWN
    ledger.last_error = ""
    ledger.save(update_fields=["state", "last_error", "updated_at"])
    PaymentEntry.objects.filter(
        ledger=ledger, state__in=(PaymentEntry.State.PLANNED, PaymentEntry.State.SCHEDULED)
    ).update(state=PaymentEntry.State.CANCELLED)
    CreditNoteEntry.objects.filter(ledger=ledger, state=CreditNoteEntry.State.PENDING).update(
        state=CreditNoteEntry.State.CANCELLED
    )
    ctx.resolve_entries([ledger.pk])
    ctx.run.skipped_count += 1
    ctx.log(
        Outcome.SKIPPED,
        f"Opportunity {ledger.opportunity_name!r} was "
        f"{ledger.get_withdrawn_display().lower()}; its invoice was not found in Xero, and "
        "nothing will be sent unless it is won again.",
        ledger=ledger,
        step="invoice",
    )


def lines_key(lines: Sequence[Mapping[str, Any]]) -> str:
    return hashlib.sha256(
        "\n".join(
            f"{line.get('account_code')}|{line.get('tax_type')}|{line.get('description')}|"
            f"{line.get('quantity')}|{line.get('unit_amount')}"
            for line in lines
        ).encode()
    ).hexdigest()


def negative_news(ledger: LedgerEntry, lines: Sequence[Mapping[str, Any]]) -> str:
    return hashlib.sha256(
        f"negative:{ledger.xero_invoice_id}:{lines_key(lines)}".encode()
    ).hexdigest()


def _plan_follow_ups(ctx: RunContext, plans: list[Work], *, payments: bool) -> None:
    """With an invoice's intent: the payment it will get and the credit note its negative
    lines will get, so that an invoice found after a lost answer still gets both.

    Negative lines that changed after their credit note was raised are not credited again (a
    second credit could count a return twice or miss one): a person adjusts it, told here.
    """
    if not plans:
        return
    if payments:
        _plan_payments(ctx, plans)
    _plan_negative_credits(ctx, [w for w in plans if w.credit_lines])


def _plan_payments(ctx: RunContext, plans: list[Work]) -> None:
    ledgers = [w.ledger for w in plans]
    # A plan from an earlier attempt (refused, or under another payment method) is replaced.
    PaymentEntry.objects.filter(ledger__in=ledgers, state=PaymentEntry.State.PLANNED).delete()
    taken = set(
        PaymentEntry.objects.filter(
            ledger__in=ledgers,
            state__in=(
                PaymentEntry.State.SCHEDULED,
                PaymentEntry.State.SENDING,
                PaymentEntry.State.UNKNOWN,
            ),
        ).values_list("ledger_id", flat=True)
    )
    PaymentEntry.objects.bulk_create(
        [
            PaymentEntry(
                integration=ctx.integration,
                ledger=w.ledger,
                method=w.method.name[:255],
                currency=w.currency,
                amount=ZERO,
                pay_on=payment_date(w.draft.date, w.method.clearing_delay_days),
                state=PaymentEntry.State.PLANNED,
            )
            for w in plans
            if w.method is not None and w.ledger.pk not in taken
        ]
    )


def _plan_negative_credits(ctx: RunContext, plans: list[Work]) -> None:
    if not plans:
        return
    ledgers = [w.ledger for w in plans]
    CreditNoteEntry.objects.filter(
        ledger__in=ledgers,
        reason=CreditNoteEntry.Reason.NEGATIVE_LINES,
        state=CreditNoteEntry.State.PENDING,
        content_hash="",
    ).delete()
    earlier: dict[int, CreditNoteEntry] = {}
    for entry in CreditNoteEntry.objects.filter(
        ledger__in=ledgers, reason=CreditNoteEntry.Reason.NEGATIVE_LINES, superseded=False
    ).exclude(state__in=(CreditNoteEntry.State.CANCELLED, CreditNoteEntry.State.FAILED)):
        earlier.setdefault(entry.ledger_id, entry)
    new: list[CreditNoteEntry] = []
    for w in plans:
        lines = [line_json(line) for line in w.credit_lines]
        before = earlier.get(w.ledger.pk)
        if before is None:
            new.append(
                CreditNoteEntry(
                    integration=ctx.integration,
                    ledger=w.ledger,
                    reason=CreditNoteEntry.Reason.NEGATIVE_LINES,
                    action="credit_note",
                    # Filled in once the invoice exists: the news names it.
                    content_hash="",
                    state=CreditNoteEntry.State.PENDING,
                    lines=lines,
                )
            )
        elif lines_key(before.lines or []) != lines_key(lines):
            ctx.log(
                Outcome.ATTENTION,
                f"The negative lines of {w.ledger.opportunity_name!r} changed after credit note "
                f"{before.xero_credit_note_number or '(being raised)'} was raised for them: "
                "adjust the credit in Xero (no second credit note was raised).",
                ledger=w.ledger,
                step="credit_note",
            )
    CreditNoteEntry.objects.bulk_create(new)


HANDLER = InvoiceHandler()


register(HANDLER)


UPDATE_HANDLER = InvoiceUpdateHandler()


register(UPDATE_HANDLER)
