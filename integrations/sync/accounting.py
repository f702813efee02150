"""The engine's accounting steps beyond the invoice: payments and credit notes (or voids).

A mixin of the engine (``engine._Engine``), so the steps share its Xero client, call counts, log
and run. The rules themselves (which method, which account, which tax) are pure functions in
``integrations.rules``; what is here decides what to write and writes it exactly once:

- **Payments** are scheduled in the same transaction that records the invoice (a
  :class:`PaymentEntry` with its ``pay_on`` day) and paid by the first run on or after that day,
  in batches, never above the amount due. The intent is committed before the call; an unknown
  outcome is settled from the invoice's ``AmountPaid``, never by paying again.
- **Credit notes** answer news about an invoice (the opportunity withdrawn, its amount fallen
  after payment, negative lines kept apart), once per piece of news (a hash of it is unique in
  :class:`CreditNoteEntry`). An unpaid invoice may instead be voided or deleted, as configured.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.connections.xero.client import XeroUnavailable
from integrations.connections.xero.where import equals
from integrations.rules.problems import RuleProblem
from integrations.rules.specs import PaymentMethodSpec, RuleSet
from integrations.sync.models import CreditNoteEntry, LedgerEntry, PaymentEntry, SyncLogEntry
from integrations.sync.translate import InvoiceLineDraft, round2
from integrations.sync.xero_values import batch_key as _key
from integrations.sync.xero_values import decimal as _decimal
from integrations.sync.xero_values import ms_date as _ms_date
from integrations.sync.xero_values import text as _value

if TYPE_CHECKING:
    from integrations.connections.xero.metadata_types import OrganisationMetadata
    from integrations.core.config import SyncConfig
    from integrations.core.models import Integration
    from integrations.sync.models import SyncRun

logger = logging.getLogger(__name__)

Outcome = SyncLogEntry.Outcome
ZERO = Decimal(0)
# Xero takes payments only on approved invoices.
PAYABLE_STATUSES = frozenset({"AUTHORISED"})
# Marks a credit note whose request went out (its answer not yet recorded).
_SENT = "sent; answer not recorded yet"
UNPAID_VOIDABLE = {"DRAFT": "DELETED", "SUBMITTED": "DELETED", "AUTHORISED": "VOIDED"}


def today() -> dt.date:
    """The day payments are due against (a function, so tests can move the calendar)."""
    return timezone.localdate()


def _errors(element: Any) -> str:
    errors = list(getattr(element, "validation_errors", None) or []) if element else []
    return "; ".join(_value(e.message) for e in errors)


@dataclass(frozen=True)
class PaymentPlan:
    """What an invoice's payment will be, decided with the invoice."""

    method: PaymentMethodSpec
    currency: str
    close_date: dt.date


class AccountingSteps:
    """Payments and credit notes; mixed into the engine (see the module docstring)."""

    integration: Integration
    run_row: SyncRun
    config: SyncConfig
    rules: RuleSet
    metadata: OrganisationMetadata
    had_failures: bool

    # Provided by the engine (see engine._Engine).
    _call: Callable[..., Any]
    _log: Callable[[LedgerEntry | None, str, str, str], None]
    _flush_logs: Callable[[], None]

    # --- payments ------------------------------------------------------------------------------

    def _plan_payments(self, work: list[Any]) -> None:
        """Writes down, with an invoice's intent, the payment it will get once it exists.

        So that an invoice found after a lost answer (linked without its opportunity at hand)
        still gets its payment. ``work`` items carry ``ledger`` and ``plan``.
        """
        from integrations.rules.payments import payment_date

        ledgers = [w.ledger for w in work]
        # A plan from an earlier attempt (refused, or under another payment method) is
        # replaced by this attempt's.
        PaymentEntry.objects.filter(ledger__in=ledgers, state=PaymentEntry.State.PLANNED).delete()
        work = [w for w in work if w.plan is not None]
        open_states = (
            PaymentEntry.State.PLANNED,
            PaymentEntry.State.SCHEDULED,
            PaymentEntry.State.SENDING,
            PaymentEntry.State.UNKNOWN,
        )
        taken = set(
            PaymentEntry.objects.filter(ledger__in=ledgers, state__in=open_states).values_list(
                "ledger_id", flat=True
            )
        )
        PaymentEntry.objects.bulk_create(
            [
                PaymentEntry(
                    integration=self.integration,
                    ledger=w.ledger,
                    method=w.plan.method.name[:255],
                    currency=w.plan.currency,
                    amount=ZERO,
                    pay_on=payment_date(w.plan.close_date, w.plan.method.clearing_delay_days),
                    state=PaymentEntry.State.PLANNED,
                )
                for w in work
                if w.ledger.pk not in taken
            ]
        )

    def _schedule_payments(self, settled: list[tuple[LedgerEntry, Decimal]]) -> None:
        """Planned payments of invoices now in Xero become due: amount and account settled."""
        from integrations.rules.payments import payment_account_for

        if not settled:
            return
        planned = {
            entry.ledger_id: entry
            for entry in PaymentEntry.objects.filter(
                ledger__in=[ledger for ledger, _ in settled], state=PaymentEntry.State.PLANNED
            )
        }
        for ledger, total in settled:
            entry = planned.get(ledger.pk)
            if entry is None:
                continue
            entry.amount = round2(total)
            method = self.rules.payment_method(entry.method)
            try:
                if method is None:
                    raise RuleProblem(
                        "payment_methods",
                        f"the payment method {entry.method!r} no longer has a rule.",
                    )
                account = payment_account_for(method, entry.currency, self.metadata)
            except RuleProblem as problem:
                entry.state = PaymentEntry.State.FAILED
                entry.last_error = problem.message
                self.had_failures = True
                self._log(
                    ledger,
                    ledger.salesforce_id,
                    Outcome.ATTENTION,
                    f"The payment for invoice {ledger.xero_invoice_number} was not recorded: "
                    f"{problem.message}",
                )
            else:
                entry.account_code = account.code
                entry.state = PaymentEntry.State.SCHEDULED
            entry.save()

    def _pay_due(self) -> None:
        """Records in Xero every scheduled payment whose day has come, 50 per call."""
        due = list(
            PaymentEntry.objects.filter(
                integration=self.integration,
                state__in=(PaymentEntry.State.SCHEDULED, PaymentEntry.State.UNKNOWN),
                pay_on__lte=today(),
            )
            .select_related("ledger")
            .order_by("pay_on", "pk")
        )
        for start in range(0, len(due), 50):
            self._pay_batch(due[start : start + 50])
            self._flush_logs()

    def _pay_batch(self, entries: list[PaymentEntry]) -> None:
        ids = [e.ledger.xero_invoice_id for e in entries]
        invoices = {
            str(inv.invoice_id): inv
            for inv in self._call("get_invoices", i_ds=ids, unitdp=4).invoices or []
        }
        sending: list[tuple[PaymentEntry, dict[str, Any]]] = []
        for entry in entries:
            invoice = invoices.get(entry.ledger.xero_invoice_id)
            body = self._payment_body(entry, invoice)
            if body is not None:
                sending.append((entry, body))
        if not sending:
            return
        now = timezone.now()
        with transaction.atomic():
            for entry, body in sending:
                entry.state = PaymentEntry.State.SENDING
                entry.idempotency_key = _key(
                    self.integration.pk, "payment", [str(entry.pk), str(body["Amount"])]
                )
                entry.last_sent_at = now
            PaymentEntry.objects.bulk_update(
                [e for e, _ in sending], ["state", "idempotency_key", "last_sent_at"]
            )
        key = _key(self.integration.pk, "payments", [e.idempotency_key for e, _ in sending])
        try:
            result = self._call(
                "create_payments",
                {"Payments": [body for _, body in sending]},
                summarize_errors=False,
                idempotency_key=key,
            )
        except XeroUnavailable:
            PaymentEntry.objects.filter(pk__in=[e.pk for e, _ in sending]).update(
                state=PaymentEntry.State.UNKNOWN
            )
            raise
        answers = list(result.payments or [])
        with transaction.atomic():
            for index, (entry, body) in enumerate(sending):
                answer = answers[index] if index < len(answers) else None
                ledger = entry.ledger
                problem = _errors(answer)
                if answer is None:
                    entry.state = PaymentEntry.State.UNKNOWN
                elif problem or not answer.payment_id:
                    entry.state = PaymentEntry.State.FAILED
                    entry.last_error = f"Xero refused the payment: {problem or 'no reason given'}"
                    self.had_failures = True
                    self._log(
                        ledger,
                        ledger.salesforce_id,
                        Outcome.ATTENTION,
                        f"Payment for invoice {ledger.xero_invoice_number} not recorded: "
                        f"{entry.last_error} Check the payment method's bank account "
                        f"({entry.account_code}) and the invoice in Xero.",
                    )
                else:
                    entry.state = PaymentEntry.State.PAID
                    entry.xero_payment_id = str(answer.payment_id)
                    entry.last_error = ""
                    self._log(
                        ledger,
                        ledger.salesforce_id,
                        Outcome.CREATED,
                        f"Payment of {entry.currency} {Decimal(str(body['Amount'])):,.2f} "
                        f"({entry.method}) recorded against invoice "
                        f"{ledger.xero_invoice_number} into account {entry.account_code}.",
                    )
                entry.save()

    def _payment_body(self, entry: PaymentEntry, invoice: Any) -> dict[str, Any] | None:
        """The payment to send, or None (settled here: paid already, or not payable)."""
        ledger = entry.ledger
        if invoice is None:
            self._payment_settled(entry, "failed", "its invoice is no longer in Xero.")
            return None
        status = _value(invoice.status)
        due = _decimal(invoice.amount_due)
        paid = _decimal(invoice.amount_paid)
        # An unknown outcome (the last send's answer was lost): the invoice says whether it
        # went through.
        if entry.state == PaymentEntry.State.UNKNOWN and (paid >= entry.amount or due == 0):
            entry.state = PaymentEntry.State.PAID
            entry.save(update_fields=["state", "updated_at"])
            self._log(
                ledger,
                ledger.salesforce_id,
                Outcome.CREATED,
                f"Payment against invoice {ledger.xero_invoice_number} was found in Xero "
                "after an interrupted send; nothing was paid twice.",
            )
            return None
        if status == "PAID" or due <= 0:
            self._payment_settled(entry, "cancelled", "the invoice is already paid.")
            return None
        if status not in PAYABLE_STATUSES:
            self._payment_settled(
                entry,
                "failed",
                f"the invoice is {status}; Xero records payments only on approved (AUTHORISED) "
                "invoices. Use an AUTHORISED invoice status for this payment method.",
            )
            return None
        if not entry.account_code:
            return None
        body: dict[str, Any] = {
            "Invoice": {"InvoiceID": ledger.xero_invoice_id},
            "Account": {"Code": entry.account_code},
            "Date": _ms_date(entry.pay_on),
            # Never above the amount due: a credit or a partial payment may have come first.
            "Amount": min(entry.amount, due),
            "Reference": (ledger.opportunity_name or ledger.salesforce_id)[:255],
        }
        currency = _value(invoice.currency_code)
        rate = _decimal(invoice.currency_rate)
        if currency and currency != self.metadata.base_currency and rate > 0:
            # The invoice's own rate: the payment settles it without a currency gain or loss.
            body["CurrencyRate"] = rate
        return body

    def _payment_settled(self, entry: PaymentEntry, state: str, why: str) -> None:
        """Ends a payment that will not be sent, saying why."""
        ledger = entry.ledger
        entry.state = state
        entry.last_error = "" if state == PaymentEntry.State.CANCELLED else why
        entry.save(update_fields=["state", "last_error", "updated_at"])
        outcome = Outcome.SKIPPED if state == PaymentEntry.State.CANCELLED else Outcome.ATTENTION
        if outcome == Outcome.ATTENTION:
            self.had_failures = True
        self._log(
            ledger,
            ledger.salesforce_id,
            outcome,
            f"No payment recorded for invoice {ledger.xero_invoice_number}: {why}",
        )

    # --- credit notes and voids ------------------------------------------------------------------

    def _credit_negative_lines(
        self, ledger: LedgerEntry, invoice: Any, lines: list[InvoiceLineDraft]
    ) -> None:
        """The opportunity's negative lines as a credit note against its invoice, once.

        When the negative lines change after their credit note, a second credit could double
        count or miss a return: a person adjusts it (logged), nothing is guessed.
        """
        news = f"negative:{ledger.xero_invoice_id}:{_lines_key(lines)}"
        digest = hashlib.sha256(news.encode()).hexdigest()
        earlier = CreditNoteEntry.objects.filter(
            ledger=ledger,
            reason=CreditNoteEntry.Reason.NEGATIVE_LINES,
            state=CreditNoteEntry.State.DONE,
            superseded=False,
        ).exclude(content_hash=digest)
        if earlier.exists():
            first = earlier.first()
            assert first is not None
            self.had_failures = True
            self._log(
                ledger,
                ledger.salesforce_id,
                Outcome.ATTENTION,
                f"The negative lines of {ledger.opportunity_name!r} changed after credit note "
                f"{first.xero_credit_note_number} was raised for them: adjust the credit in "
                "Xero (no second credit note was raised).",
            )
            return
        self._credit(
            ledger,
            invoice,
            reason=CreditNoteEntry.Reason.NEGATIVE_LINES,
            lines=lines,
            news=news,
        )

    def _credit_withdrawn(self, rows: list[LedgerEntry]) -> list[LedgerEntry]:
        """Voids, deletes or credits the invoices of withdrawn opportunities, as configured.

        Returns the rows that still need a person (the rest are settled here).
        """
        # ``page`` makes Xero include the line items (a credit note repeats them); a page holds
        # at most 100 invoices, so the ids go 50 at a time.
        invoices: dict[str, Any] = {}
        ids = [r.xero_invoice_id for r in rows]
        for start in range(0, len(ids), 50):
            answer = self._call("get_invoices", i_ds=ids[start : start + 50], unitdp=4, page=1)
            invoices.update({str(inv.invoice_id): inv for inv in answer.invoices or []})
        voids: list[tuple[LedgerEntry, str]] = []
        credits: list[tuple[LedgerEntry, Any, Decimal]] = []
        left: list[LedgerEntry] = []
        for ledger in rows:
            invoice = invoices.get(ledger.xero_invoice_id)
            if invoice is None:
                left.append(ledger)
                continue
            status = _value(invoice.status)
            paid = _decimal(invoice.amount_paid)
            credited = _decimal(invoice.amount_credited)
            if status in ("VOIDED", "DELETED"):
                continue  # a person already did it
            untouched = paid == 0 and credited == 0
            if untouched and status in ("DRAFT", "SUBMITTED"):
                # Never approved: deleting it is the only clean answer (a credit note cannot
                # be allocated to a draft).
                voids.append((ledger, "DELETED"))
            elif untouched and status == "AUTHORISED" and self.config.void_unpaid_instead:
                voids.append((ledger, "VOIDED"))
            elif credited > 0:
                left.append(ledger)  # already partly credited by hand: a person decides
            else:
                credits.append((ledger, invoice, _decimal(invoice.total)))
        if voids:
            self._void(voids)
        for ledger, invoice, amount in credits:
            lines = [_line_from_xero(line) for line in invoice.line_items or []]
            if amount <= 0 or not lines:
                left.append(ledger)
                continue
            if self._credit(
                ledger,
                invoice,
                reason=CreditNoteEntry.Reason.WITHDRAWN,
                lines=lines,
                news=f"withdrawn:{ledger.withdrawn}:{ledger.xero_invoice_id}",
            ):
                ledger.state = LedgerEntry.State.SYNCED
                ledger.last_error = ""
                ledger.save()
            else:
                left.append(ledger)
        return left

    def _void(self, voids: list[tuple[LedgerEntry, str]]) -> None:
        bodies = [{"InvoiceID": ledger.xero_invoice_id, "Status": s} for ledger, s in voids]
        key = _key(self.integration.pk, "void", [f"{b['InvoiceID']}:{b['Status']}" for b in bodies])
        result = self._call(
            "update_or_create_invoices",
            {"Invoices": bodies},
            summarize_errors=False,
            idempotency_key=key,
        )
        answers = list(result.invoices or [])
        for index, (ledger, status) in enumerate(voids):
            answer = answers[index] if index < len(answers) else None
            problem = _errors(answer)
            if answer is None or problem:
                self.had_failures = True
                ledger.state = LedgerEntry.State.NEEDS_ATTENTION
                ledger.last_error = (
                    f"Invoice {ledger.xero_invoice_number} could not be "
                    f"{status.lower()}: {problem or 'Xero gave no answer'}. Void it in Xero."
                )
                self._log(ledger, ledger.salesforce_id, Outcome.ATTENTION, ledger.last_error)
            else:
                CreditNoteEntry.objects.get_or_create(
                    ledger=ledger,
                    reason=CreditNoteEntry.Reason.WITHDRAWN,
                    content_hash=f"{status}:{ledger.xero_invoice_id}",
                    defaults={
                        "integration": self.integration,
                        "action": status.lower(),
                        "state": CreditNoteEntry.State.DONE,
                    },
                )
                ledger.state = LedgerEntry.State.SYNCED
                ledger.last_error = ""
                self._log(
                    ledger,
                    ledger.salesforce_id,
                    Outcome.UPDATED,
                    f"Invoice {ledger.xero_invoice_number} {status.lower()} in Xero: the "
                    f"opportunity was {ledger.get_withdrawn_display().lower()} before anything "
                    "was paid.",
                )
            ledger.save()

    def _credit(
        self,
        ledger: LedgerEntry,
        invoice: Any,
        *,
        reason: str,
        lines: list[InvoiceLineDraft],
        news: str,
    ) -> bool:
        """One ACCRECCREDIT for the invoice, allocated to what it still owes. True when done.

        ``news`` identifies what the credit answers: the same news never gets a second one,
        even after a crash between Xero's answer and our commit (the row is written first).
        """
        digest = hashlib.sha256(news.encode()).hexdigest()
        try:
            with transaction.atomic():
                entry = CreditNoteEntry.objects.create(
                    integration=self.integration,
                    ledger=ledger,
                    reason=reason,
                    action="credit_note",
                    content_hash=digest,
                    idempotency_key=_key(self.integration.pk, "credit", [digest]),
                )
        except IntegrityError:
            entry = CreditNoteEntry.objects.get(ledger=ledger, reason=reason, content_hash=digest)
            if entry.state == CreditNoteEntry.State.DONE:
                return True
        reference = f"{ledger.xero_invoice_number}: {CreditNoteEntry.Reason(reason).label}"[:255]
        if entry.state == CreditNoteEntry.State.SENDING and entry.last_error == _SENT:
            # Sent before, answer lost: Xero's idempotency replay lasts minutes, not days, so
            # look for it before sending again.
            known = set(
                CreditNoteEntry.objects.exclude(xero_credit_note_id="").values_list(
                    "xero_credit_note_id", flat=True
                )
            )
            for note in (
                self._call("get_credit_notes", where=equals("Reference", reference)).credit_notes
                or []
            ):
                same_contact = str(note.contact.contact_id) == str(invoice.contact.contact_id)
                if same_contact and str(note.credit_note_id) not in known:
                    entry.xero_credit_note_id = str(note.credit_note_id)
                    entry.xero_credit_note_number = _value(note.credit_note_number)
                    entry.amount = _decimal(note.total)
                    entry.state = CreditNoteEntry.State.DONE
                    entry.last_error = ""
                    entry.save()
                    return True
        entry.last_error = _SENT
        entry.save(update_fields=["last_error"])
        currency = _value(invoice.currency_code)
        body: dict[str, Any] = {
            "Type": "ACCRECCREDIT",
            "Contact": {"ContactID": str(invoice.contact.contact_id)},
            "Date": _ms_date(today()),
            "Status": "AUTHORISED",
            "LineAmountTypes": _value(invoice.line_amount_types) or "Exclusive",
            "Reference": reference,
            "CurrencyCode": currency,
            "LineItems": [line.to_xero() for line in lines],
        }
        rate = _decimal(invoice.currency_rate)
        if currency and currency != self.metadata.base_currency and rate > 0:
            body["CurrencyRate"] = rate
        # Same key for the same news: a replay after a lost answer returns the first credit.
        result = self._call(
            "create_credit_notes",
            {"CreditNotes": [body]},
            summarize_errors=False,
            unitdp=4,
            idempotency_key=entry.idempotency_key,
        )
        answer = (result.credit_notes or [None])[0]
        problem = _errors(answer)
        if answer is None or problem or not answer.credit_note_id:
            entry.state = CreditNoteEntry.State.FAILED
            entry.last_error = f"Xero refused the credit note: {problem or 'no answer'}"
            entry.save()
            self.had_failures = True
            self._log(ledger, ledger.salesforce_id, Outcome.ATTENTION, entry.last_error)
            return False
        entry.xero_credit_note_id = str(answer.credit_note_id)
        entry.xero_credit_note_number = _value(answer.credit_note_number)
        entry.amount = _decimal(answer.total)
        due = _decimal(invoice.amount_due)
        allocation = min(entry.amount, due)
        if allocation > 0:
            answer_allocations = self._call(
                "create_credit_note_allocation",
                entry.xero_credit_note_id,
                {
                    "Allocations": [
                        {
                            "Invoice": {"InvoiceID": ledger.xero_invoice_id},
                            "Amount": allocation,
                            "Date": _ms_date(today()),
                        }
                    ]
                },
                summarize_errors=False,
                idempotency_key=_key(self.integration.pk, "allocate", [digest]),
            )
            refused = _errors((getattr(answer_allocations, "allocations", None) or [None])[0])
            if refused:
                allocation = ZERO
                self.had_failures = True
                self._log(
                    ledger,
                    ledger.salesforce_id,
                    Outcome.ATTENTION,
                    f"Credit note {entry.xero_credit_note_number} could not be allocated to "
                    f"invoice {ledger.xero_invoice_number}: {refused}. Allocate it in Xero.",
                )
            entry.allocated = allocation
        entry.state = CreditNoteEntry.State.DONE
        entry.last_error = ""
        entry.lines = [
            [line.account_code, [list(t) for t in line.tracking], str(line.amount)]
            for line in lines
        ]
        entry.save()
        refund = entry.amount - allocation
        message = (
            f"Credit note {entry.xero_credit_note_number} ({currency} {entry.amount:,.2f}) raised "
            f"against invoice {ledger.xero_invoice_number}: "
            f"{CreditNoteEntry.Reason(reason).label.lower()}"
        )
        if allocation > 0:
            message += f"; {currency} {allocation:,.2f} allocated to the invoice"
        if refund > 0:
            message += (
                f"; {currency} {refund:,.2f} was already paid: refund the customer or keep it as "
                "credit in Xero"
            )
        self._log(ledger, ledger.salesforce_id, Outcome.CREATED, message + ".")
        return True


def _lines_key(lines: Iterable[InvoiceLineDraft]) -> str:
    return hashlib.sha256(
        "\n".join(
            f"{line.account_code}|{line.tax_type}|{line.description}|{line.amount}"
            for line in lines
        ).encode()
    ).hexdigest()


def _line_from_xero(line: Any) -> InvoiceLineDraft:
    """A credit line repeating an invoice line as Xero holds it."""
    tracking = tuple(
        (_value(t.name), _value(t.option)) for t in (getattr(line, "tracking", None) or [])
    )
    return InvoiceLineDraft(
        description=_value(line.description) or "Credit",
        quantity=_decimal(line.quantity) or Decimal(1),
        unit_amount=_decimal(line.unit_amount),
        account_code=_value(line.account_code),
        discount_rate=_decimal(getattr(line, "discount_rate", None)),
        item_code=_value(getattr(line, "item_code", None)),
        tax_type=_value(line.tax_type),
        tracking=tracking,
    )
