"""Builders for the rows and work items the step tests start from, and a look at the log."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from integrations.connections.salesforce.records import Opportunity
from integrations.sync.context import RunContext
from integrations.sync.models import CreditNoteEntry, LedgerEntry, PaymentEntry, SyncLogEntry
from integrations.sync.steps.chunk import Work
from integrations.sync.steps.decide import decide
from integrations.sync.translate import contact_for, content_hash, credit_lines_for, invoice_for
from tests.integrations.sync.steps.fakes import FakeXero

D = Decimal
_ids = itertools.count(1)


def sf_id(prefix: str = "006") -> str:
    """A fresh 18-character Salesforce id."""
    return f"{prefix}{next(_ids):015d}"


def ledger(ctx: RunContext, **fields: Any) -> LedgerEntry:
    """A ledger row of ``ctx``'s integration; by default one whose invoice is in Xero."""
    values: dict[str, Any] = {
        "salesforce_id": sf_id(),
        "opportunity_name": "Big Deal",
        "customer_name": "Acme Corporation",
        "state": LedgerEntry.State.SYNCED,
        **fields,
    }
    return LedgerEntry.objects.create(integration=ctx.integration, **values)


def invoiced(ctx: RunContext, xero: FakeXero, invoice_id: str, **fields: Any) -> LedgerEntry:
    """A synced row whose invoice is ``invoice_id`` in the fake Xero."""
    number = xero.invoice(invoice_id).number
    return ledger(ctx, xero_invoice_id=invoice_id, xero_invoice_number=number, **fields)


def payment(ctx: RunContext, row: LedgerEntry, **fields: Any) -> PaymentEntry:
    values: dict[str, Any] = {
        "method": "Card",
        "account_code": "090",
        "currency": "USD",
        "amount": D("100.00"),
        "pay_on": dt.date(2026, 3, 2),
        "state": PaymentEntry.State.SCHEDULED,
        **fields,
    }
    return PaymentEntry.objects.create(integration=ctx.integration, ledger=row, **values)


def news(ctx: RunContext, row: LedgerEntry, **fields: Any) -> CreditNoteEntry:
    """A pending piece of news about ``row``'s invoice (a withdrawal by default)."""
    values: dict[str, Any] = {
        "reason": CreditNoteEntry.Reason.WITHDRAWN,
        "content_hash": sf_id("hash"),
        "state": CreditNoteEntry.State.PENDING,
        **fields,
    }
    return CreditNoteEntry.objects.create(integration=ctx.integration, ledger=row, **values)


def entries(ctx: RunContext, **filters: Any) -> list[SyncLogEntry]:
    """The log as written (buffered entries flushed first), oldest first."""
    ctx.flush_logs()
    return list(SyncLogEntry.objects.filter(integration=ctx.integration, **filters).order_by("pk"))


def work(ctx: RunContext, opportunity: Opportunity, *, row: LedgerEntry | None = None) -> Work:
    """The work item the chunk step would plan for ``opportunity`` (no Salesforce rates)."""
    decision = decide(
        opportunity, ctx.config, ctx.rules, ctx.metadata, rate=lambda o, c: D("1.000000")
    )
    draft = invoice_for(opportunity, ctx.config, rules=decision.rules)
    if row is None:
        row = LedgerEntry(
            integration=ctx.integration,
            salesforce_id=opportunity.salesforce_id,
            opportunity_name=opportunity.name,
            customer_name=opportunity.customer.name if opportunity.customer else "",
            system_modstamp=opportunity.system_modstamp,
        )
    method = decision.method
    return Work(
        opportunity=opportunity,
        ledger=row,
        draft=draft,
        contact=contact_for(opportunity, ctx.config),
        hash=content_hash(draft.to_xero()),
        method=method if method is not None and method.apply_payment else None,
        currency=decision.currency,
        credit_lines=(
            credit_lines_for(opportunity, ctx.config, decision.rules)
            if decision.rules.negative_lines_apart
            else ()
        ),
        new_options=decision.new_options,
    )
