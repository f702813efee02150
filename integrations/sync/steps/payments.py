"""Payments: planned with an invoice's intent, scheduled when it exists, recorded in Xero by the
first run on or after their day — in batches of 50, never above the amount due, exactly once.

A :class:`PaymentEntry` is the schedule (its ``pay_on`` day: close date plus the method's
clearing delay), so a restart loses nothing. Its write goes through the protocol: a payment
refused before sending (a rate limit) is scheduled again and logged as waiting; one whose answer
was lost is settled from its invoice in Xero (paid → recorded, not paid → sent again), never by
paying twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.utils import timezone

from integrations.connections.xero.records import Invoice, ms_date
from integrations.rules.payments import payment_account_for
from integrations.rules.problems import RuleProblem
from integrations.sync import calendar, protocol
from integrations.sync.context import RunContext
from integrations.sync.models import (
    LedgerEntry,
    PaymentEntry,
    SyncLogEntry,
    XeroOperation,
    bulk_set,
)
from integrations.sync.protocol import Element, Handler, register
from integrations.sync.translate import round2

Kind = XeroOperation.Kind
Outcome = SyncLogEntry.Outcome
State = PaymentEntry.State
ZERO = Decimal(0)
# Xero takes payments only on approved invoices.
PAYABLE_STATUSES = frozenset({"AUTHORISED"})
BATCH = 50


def schedule(ctx: RunContext, invoiced: Sequence[tuple[LedgerEntry, Decimal]]) -> None:
    """These invoices exist now: their planned payments become due, amount and account settled
    (one query for the batch, one write)."""
    totals = {ledger.pk: (ledger, total) for ledger, total in invoiced}
    entries = list(PaymentEntry.objects.filter(ledger_id__in=list(totals), state=State.PLANNED))
    for entry in entries:
        ledger, total = totals[entry.ledger_id]
        entry.amount = round2(total)
        entry.updated_at = timezone.now()
        method = ctx.rules.payment_method(entry.method)
        try:
            if method is None:
                raise RuleProblem(
                    "payment_methods", f"the payment method {entry.method!r} no longer has a rule."
                )
            account = payment_account_for(method, entry.currency, ctx.metadata)
        except RuleProblem as problem:
            entry.state = State.FAILED
            entry.last_error = problem.message
            ctx.log(
                Outcome.ATTENTION,
                f"The payment for invoice {ledger.xero_invoice_number} was not recorded: "
                f"{problem.message}",
                ledger=ledger,
                step="payment",
                problem_field=problem.field,
            )
        else:
            entry.account_code = account.code
            entry.state = State.SCHEDULED
    bulk_set(entries, ["amount", "state", "account_code", "last_error", "updated_at"])


def pay_due(ctx: RunContext) -> None:
    """Records in Xero every scheduled payment whose day has come, 50 per call."""
    if "payments" in ctx.paused:
        return
    due = list(
        PaymentEntry.objects.filter(
            integration=ctx.integration, state=State.SCHEDULED, pay_on__lte=calendar.today()
        )
        .select_related("ledger")
        .order_by("pay_on", "pk")
    )
    for start in range(0, len(due), BATCH):
        _pay(ctx, due[start : start + BATCH])
        ctx.flush_logs()


def _pay(ctx: RunContext, entries: list[PaymentEntry]) -> None:
    invoices = ctx.xero.invoices_by_id([e.ledger.xero_invoice_id for e in entries])
    elements: list[Element] = []
    for entry in entries:
        invoice = invoices.get(entry.ledger.xero_invoice_id)
        body = _body(ctx, entry, invoice)
        if body is not None and invoice is not None:
            elements.append(
                Element(
                    subject=str(entry.pk),
                    body=body,
                    content_hash=f"{entry.pk}:{body['Amount']}",
                    lookup={
                        "invoice_id": entry.ledger.xero_invoice_id,
                        "amount": str(body["Amount"]),
                        # What was paid before ours: a lost payment is found only when the
                        # invoice's AmountPaid has grown by its amount since.
                        "paid_before": str(invoice.amount_paid),
                    },
                    ledger=entry.ledger,
                    payment=entry,
                )
            )
    protocol.write(
        ctx, Kind.PAYMENT, elements, lambda bodies, key: ctx.xero.create_payments(bodies, key=key)
    )


def _body(ctx: RunContext, entry: PaymentEntry, invoice: Invoice | None) -> dict[str, Any] | None:
    """The payment to send, or None (settled here: paid already, or not payable)."""
    ledger = entry.ledger
    if invoice is None:
        _settled(ctx, entry, State.FAILED, "its invoice is no longer in Xero.")
        return None
    if invoice.status == "PAID" or invoice.amount_due <= 0:
        _settled(ctx, entry, State.CANCELLED, "the invoice is already paid.")
        return None
    if invoice.status not in PAYABLE_STATUSES:
        _settled(
            ctx,
            entry,
            State.FAILED,
            f"the invoice is {invoice.status}; Xero records payments only on approved "
            "(AUTHORISED) invoices. Use an AUTHORISED invoice status for this payment method.",
        )
        return None
    if not entry.account_code:
        return None
    body: dict[str, Any] = {
        "Invoice": {"InvoiceID": ledger.xero_invoice_id},
        "Account": {"Code": entry.account_code},
        "Date": ms_date(entry.pay_on),
        # Never above the amount due: a credit or a partial payment may have come first.
        "Amount": min(entry.amount, invoice.amount_due),
        "Reference": (ledger.opportunity_name or ledger.salesforce_id)[:255],
    }
    if (
        invoice.currency_code
        and invoice.currency_code != ctx.metadata.base_currency
        and invoice.currency_rate > 0
    ):
        # The invoice's own rate: the payment settles it without a currency gain or loss.
        body["CurrencyRate"] = invoice.currency_rate
    return body


def _settled(ctx: RunContext, entry: PaymentEntry, state: str, why: str) -> None:
    """Ends a payment that will not be sent, saying why."""
    ledger = entry.ledger
    entry.state = state
    entry.last_error = "" if state == State.CANCELLED else why
    entry.save(update_fields=["state", "last_error", "updated_at"])
    outcome = Outcome.SKIPPED if state == State.CANCELLED else Outcome.ATTENTION
    ctx.log(
        outcome,
        f"No payment recorded for invoice {ledger.xero_invoice_number}: {why}",
        ledger=ledger,
        step="payment",
    )


class PaymentHandler(Handler):
    kind = Kind.PAYMENT
    waiting_picked_up_by = "payments: scheduled again and sent by the next run on or after its day"

    def sending(
        self, ctx: RunContext, ops: list[XeroOperation], elements: Sequence[Element]
    ) -> None:
        PaymentEntry.objects.filter(pk__in=[op.payment_id for op in ops]).update(
            state=State.SENDING
        )

    def unknown(self, ctx: RunContext, ops: list[XeroOperation], why: str) -> None:
        PaymentEntry.objects.filter(pk__in=[op.payment_id for op in ops]).update(
            state=State.UNKNOWN
        )
        super().unknown(ctx, ops, why)

    def waiting(self, ctx: RunContext, ops: list[XeroOperation], why: str) -> None:
        PaymentEntry.objects.filter(pk__in=[op.payment_id for op in ops]).update(
            state=State.SCHEDULED
        )
        for op in ops:
            ctx.log(
                Outcome.WAITING,
                f"Payment against invoice {_number(op)}: {why}",
                ledger=op.ledger,
                step="payment",
            )

    def lookup(self, ctx: RunContext, ops: list[XeroOperation]) -> Mapping[int, Any]:
        """Found when the invoice's AmountPaid has grown by at least the amount sent since it
        was sent (or it owes nothing, so nothing more may be paid): Xero's idempotency replay
        lasts minutes, the invoice's own figures do not."""
        invoices = ctx.xero.invoices_by_id([str(op.lookup.get("invoice_id")) for op in ops])
        found: dict[int, Any] = {}
        for op in ops:
            invoice = invoices.get(str(op.lookup.get("invoice_id")))
            if invoice is None:
                continue
            amount = Decimal(str(op.lookup.get("amount") or 0))
            before = Decimal(str(op.lookup.get("paid_before") or 0))
            if invoice.amount_paid >= before + amount or invoice.amount_due == 0:
                found[op.pk] = invoice
        return found

    def done(self, ctx: RunContext, op: XeroOperation, answer: Any, *, found: bool) -> None:
        entry = op.payment
        assert entry is not None
        entry.state = State.PAID
        entry.xero_payment_id = (
            _unclaimed_payment(op, answer) if found else str(getattr(answer, "payment_id", ""))
        )
        entry.last_error = ""
        entry.save(update_fields=["state", "xero_payment_id", "last_error", "updated_at"])
        if found:
            message = (
                f"Payment against invoice {_number(op)} was found in Xero after an interrupted "
                "send; nothing was paid twice."
            )
        else:
            message = (
                f"Payment of {entry.currency} {Decimal(str(op.lookup.get('amount'))):,.2f} "
                f"({entry.method}) recorded against invoice {_number(op)} into account "
                f"{entry.account_code}."
            )
        ctx.log(Outcome.CREATED, message, ledger=op.ledger, step="payment")

    def failed(self, ctx: RunContext, op: XeroOperation, errors: Sequence[str]) -> None:
        entry = op.payment
        assert entry is not None
        entry.state = State.FAILED
        entry.last_error = f"Xero refused the payment: {'; '.join(errors) or 'no reason given'}"
        entry.save(update_fields=["state", "last_error", "updated_at"])
        ctx.log(
            Outcome.ATTENTION,
            f"Payment for invoice {_number(op)} not recorded: {entry.last_error} Check the "
            f"payment method's bank account ({entry.account_code}) and the invoice in Xero.",
            ledger=op.ledger,
            step="payment",
        )


def _unclaimed_payment(op: XeroOperation, invoice: Any) -> str:
    """The id of the payment found by lookup: the one payment on the invoice that no other
    entry of ours has claimed (none when a person paid too and it cannot be told apart)."""
    claimed = set(
        PaymentEntry.objects.filter(ledger_id=op.ledger_id)
        .exclude(xero_payment_id="")
        .values_list("xero_payment_id", flat=True)
    )
    unclaimed = [p for p in getattr(invoice, "payment_ids", ()) if p and p not in claimed]
    return unclaimed[0] if len(unclaimed) == 1 else ""


def _number(op: XeroOperation) -> str:
    return op.ledger.xero_invoice_number if op.ledger is not None else ""


register(PaymentHandler())
