"""``make chaos``'s verdict: the sandbox Xero checked against the sandbox Salesforce.

The truth is what Salesforce says at the end — which opportunities are won, their amounts and
payment methods — plus which ones the run withdrew (won, then lost). Xero must then hold, per
organisation: exactly one live invoice per won opportunity (its Reference the opportunity's
name) for the opportunity's amount; the payment the plan says (a "Credit Card" deal paid in
full, once; any other unpaid); every withdrawn opportunity's invoice voided, deleted or
credited in full; no contact or item twice. The product's own rows must have no work left
open, and any record left in error is listed with its reason.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from bench.chaos_seed import PAID_METHOD, Customer
from integrations.sync import calendar
from integrations.sync.models import (
    OPEN_OPERATION_STATES,
    CreditNoteEntry,
    LedgerEntry,
    PaymentEntry,
    WritebackState,
    XeroOperation,
    XeroWebhookEvent,
)
from sandbox.salesforce.models import Opportunity
from sandbox.xero.models import Contact, CreditNote, Invoice, Item, Payment

DEAD = ("VOIDED", "DELETED")
OPEN_LEDGER = (LedgerEntry.State.PENDING, LedgerEntry.State.SENDING, LedgerEntry.State.UNKNOWN)
OPEN_PAYMENT = (
    PaymentEntry.State.PLANNED,
    PaymentEntry.State.SCHEDULED,
    PaymentEntry.State.SENDING,
    PaymentEntry.State.UNKNOWN,
)
OPEN_CREDIT = (
    CreditNoteEntry.State.PENDING,
    CreditNoteEntry.State.SENDING,
    CreditNoteEntry.State.UNKNOWN,
)
ERROR_LEDGER = (LedgerEntry.State.FAILED, LedgerEntry.State.NEEDS_ATTENTION)

# Errors a fault of the run may leave on purpose, with why; anything else fails the run.
EXPLAINED: tuple[tuple[re.Pattern[str], str], ...] = ()


@dataclass
class Verdict:
    opportunities_expected: int = 0
    withdrawn_expected: int = 0
    invoices_found: int = 0
    payments_found: int = 0
    credit_notes_found: int = 0
    duplicates: int = 0
    missing: int = 0
    amount_differences: int = 0
    payments_not_applied: int = 0
    payments_over_applied: int = 0
    withdrawn_not_voided_or_credited: int = 0
    writeback_differences: int = 0
    """Push accounts: won deals whose "amount paid" in Salesforce is not Xero's (reported, not
    a pass criterion: the write-back is eventually consistent by design)."""
    open_work: dict[str, int] = field(default_factory=dict)
    writeback_open: dict[str, int] = field(default_factory=dict)
    """Why a write-back may be missing: webhook events never processed, news not written."""
    errors: list[dict[str, Any]] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def unexplained_errors(self) -> int:
        return sum(int(e["count"]) for e in self.errors if not e["explained"])

    @property
    def money_differences(self) -> int:
        return (
            self.amount_differences
            + self.payments_not_applied
            + self.payments_over_applied
            + self.withdrawn_not_voided_or_credited
        )

    @property
    def true(self) -> bool:
        """Xero matches the truth (whatever work may still be open)."""
        return not (self.duplicates or self.missing or self.money_differences)

    @property
    def settled(self) -> bool:
        return self.true and not any(self.open_work.values())

    def note(self, text: str) -> None:
        if len(self.examples) < 20:
            self.examples.append(text)

    def to_json(self) -> dict[str, Any]:
        return {
            "opportunities_expected": self.opportunities_expected,
            "withdrawn_expected": self.withdrawn_expected,
            "invoices_found": self.invoices_found,
            "payments_found": self.payments_found,
            "credit_notes_found": self.credit_notes_found,
            "duplicates": self.duplicates,
            "missing": self.missing,
            "amount_differences": self.amount_differences,
            "payments_not_applied": self.payments_not_applied,
            "payments_over_applied": self.payments_over_applied,
            "withdrawn_not_voided_or_credited": self.withdrawn_not_voided_or_credited,
            "money_differences": self.money_differences,
            "writeback_differences": self.writeback_differences,
            "writeback_open": self.writeback_open,
            "open_work": self.open_work,
            "errors": self.errors,
            "unexplained_errors": self.unexplained_errors,
            "examples": self.examples,
        }


def _extra(values: Iterable[str]) -> int:
    return sum(n - 1 for n in Counter(values).values() if n > 1)


def check(customers: Sequence[Customer], withdrawn: set[str]) -> Verdict:
    verdict = Verdict()
    for customer in customers:
        _check_customer(verdict, customer, withdrawn)
    ids = [c.integration_id for c in customers]
    today = calendar.today()
    verdict.open_work = {
        "operations": XeroOperation.objects.filter(
            integration_id__in=ids, state__in=OPEN_OPERATION_STATES
        ).count(),
        "ledger": LedgerEntry.objects.filter(integration_id__in=ids, state__in=OPEN_LEDGER).count(),
        "payments": PaymentEntry.objects.filter(
            integration_id__in=ids, state__in=OPEN_PAYMENT, pay_on__lte=today
        ).count(),
        "credit_notes": CreditNoteEntry.objects.filter(
            integration_id__in=ids, state__in=OPEN_CREDIT
        ).count(),
    }
    verdict.errors = _errors(ids)
    verdict.writeback_open = {
        "webhook_events_pending": XeroWebhookEvent.objects.filter(
            state=XeroWebhookEvent.State.PENDING
        ).count(),
        "writebacks_requested": WritebackState.objects.filter(
            integration_id__in=ids, requested_at__isnull=False
        ).count(),
    }
    return verdict


def _check_customer(verdict: Verdict, customer: Customer, withdrawn: set[str]) -> None:
    opportunities = list(
        Opportunity.objects.filter(
            org__name=customer.salesforce_org, sf_id__in=customer.opportunities
        ).values(
            "sf_id", "name", "is_won", "is_deleted", "amount", "payment_method", "xero_amount_paid"
        )
    )
    invoices: list[dict[str, Any]] = [
        dict(row)
        for row in Invoice.objects.filter(
            organisation__name=customer.xero_org, type="ACCREC"
        ).values("pk", "reference", "status", "sub_total", "total", "invoice_number")
    ]
    by_reference: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for invoice in invoices:
        by_reference[invoice["reference"]].append(invoice)
    paid_by_invoice: dict[int, tuple[Decimal, int]] = {
        row["invoice_id"]: (row["paid"] or Decimal(0), row["n"])
        for row in _payments(customer.xero_org)
    }
    notes = list(
        CreditNote.objects.filter(organisation__name=customer.xero_org)
        .exclude(status__in=DEAD)
        .values("reference", "total")
    )
    verdict.invoices_found += len(invoices)
    verdict.payments_found += sum(n for _, n in paid_by_invoice.values())
    verdict.credit_notes_found += len(notes)
    verdict.duplicates += _extra(n["reference"] for n in notes)
    for opportunity in opportunities:
        mine = by_reference.get(opportunity["name"], [])
        live = [i for i in mine if i["status"] not in DEAD]
        won = opportunity["is_won"] and not opportunity["is_deleted"]
        label = f"{customer.xero_org} {opportunity['sf_id']} {opportunity['name']!r}"
        if won:
            verdict.opportunities_expected += 1
            if not live:
                verdict.missing += 1
                verdict.note(f"missing: {label}")
                continue
            if len(live) > 1:
                verdict.duplicates += len(live) - 1
                verdict.note(f"duplicate: {label} has {len(live)} live invoices")
            invoice = live[0]
            if invoice["sub_total"] != opportunity["amount"]:
                verdict.amount_differences += 1
                verdict.note(
                    f"amount: {label} invoiced {invoice['sub_total']} for {opportunity['amount']}"
                )
            paid, count = paid_by_invoice.get(invoice["pk"], (Decimal(0), 0))
            due = invoice["total"] if opportunity["payment_method"] == PAID_METHOD else Decimal(0)
            if count > 1:
                verdict.duplicates += count - 1
            if paid < due:
                verdict.payments_not_applied += 1
                verdict.note(f"not paid: {label} paid {paid} of {due}")
            elif paid > due:
                verdict.payments_over_applied += 1
                verdict.note(f"over-paid: {label} paid {paid}, plan {due}")
            written = opportunity["xero_amount_paid"]
            if customer.push and (written or Decimal(0)) != paid:
                verdict.writeback_differences += 1
                verdict.note(f"write-back: {label} says {written} paid, Xero {paid}")
        elif opportunity["sf_id"] in withdrawn:
            verdict.withdrawn_expected += 1
            for invoice in live:
                credited = sum(
                    (
                        Decimal(n["total"])
                        for n in notes
                        if n["reference"].startswith(f"{invoice['invoice_number']}:")
                    ),
                    Decimal(0),
                )
                if credited != invoice["total"]:
                    verdict.withdrawn_not_voided_or_credited += 1
                    verdict.note(
                        f"withdrawn: {label} invoice {invoice['invoice_number']} "
                        f"{invoice['status']}, credited {credited} of {invoice['total']}"
                    )
        elif live:
            # Never won in this run, yet invoiced.
            verdict.duplicates += len(live)
            verdict.note(f"invoiced though never won: {label}")
    contacts = Contact.objects.filter(organisation__name=customer.xero_org).exclude(
        status="ARCHIVED"
    )
    verdict.duplicates += _extra(n.lower() for n in contacts.values_list("name", flat=True))
    items = Item.objects.filter(organisation__name=customer.xero_org)
    verdict.duplicates += _extra(c.lower() for c in items.values_list("code", flat=True))


def _payments(xero_org: str) -> list[dict[str, Any]]:
    from django.db.models import Count

    return list(
        Payment.objects.filter(organisation__name=xero_org)
        .exclude(status="DELETED")
        .values("invoice_id")
        .annotate(paid=Sum("amount"), n=Count("pk"))
    )


def _explain(reason: str) -> str:
    for pattern, why in EXPLAINED:
        if pattern.search(reason):
            return why
    return ""


def _errors(ids: list[int]) -> list[dict[str, Any]]:
    """Records left in error, grouped by (kind, reason)."""
    found: Counter[tuple[str, str]] = Counter()
    for state, error in LedgerEntry.objects.filter(
        integration_id__in=ids, state__in=ERROR_LEDGER
    ).values_list("state", "last_error"):
        found[(f"invoice {state}", error[:300])] += 1
    for error in PaymentEntry.objects.filter(
        integration_id__in=ids, state=PaymentEntry.State.FAILED
    ).values_list("last_error", flat=True):
        found[("payment failed", error[:300])] += 1
    for error in CreditNoteEntry.objects.filter(
        integration_id__in=ids, state=CreditNoteEntry.State.FAILED
    ).values_list("last_error", flat=True):
        found[("credit note failed", error[:300])] += 1
    rows = []
    for (kind, reason), count in found.most_common():
        why = _explain(reason)
        rows.append(
            {"kind": kind, "reason": reason, "count": count, "explained": bool(why), "why": why}
        )
    return rows
