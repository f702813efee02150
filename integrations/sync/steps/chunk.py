"""One chunk of up to 50 opportunities, end to end: decided, translated, its prerequisites
made sure of, its invoices sent.

Per opportunity the rules decide first (``decide``: wait, not invoiced, or the invoice's tax,
tracking, currency and payment plan) and the pure translation builds the invoice; an unchanged
one (same content hash, already settled) makes no call at all. Then the prerequisites —
currencies and tracking options (``organisation``), contacts, items — and the invoices
(``invoices``), all through the write protocol.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F

from integrations.connections.salesforce.records import Opportunity
from integrations.rules.problems import RuleProblem
from integrations.rules.specs import PaymentMethodSpec
from integrations.sync import calendar
from integrations.sync.context import RunContext
from integrations.sync.models import CreditNoteEntry, LedgerEntry, SyncLogEntry, XeroOperation
from integrations.sync.steps import contacts, invoices, items, organisation
from integrations.sync.steps.decide import Decision, decide, rate_between
from integrations.sync.translate import (
    ContactDraft,
    InvoiceDraft,
    InvoiceLineDraft,
    TranslationError,
    contact_for,
    content_hash,
    credit_lines_for,
    invoice_for,
)

State = LedgerEntry.State
Outcome = SyncLogEntry.Outcome
Withdrawal = LedgerEntry.Withdrawal
# Settled rows whose content has not changed are skipped: SYNCED is done; FAILED and
# NEEDS_ATTENTION wait for a person (or a change in Salesforce or the configuration).
SETTLED = frozenset({State.SYNCED, State.FAILED, State.NEEDS_ATTENTION})
CONFIGURATION_REQUIRED = (
    "Configuration required: the integration's settings no longer match Xero or Salesforce "
    "(see the integration's setup page). Invoices wait until it is fixed."
)


# Xero's advice for batches: 50 documents a request.
SEND_BATCH = 50


@dataclasses.dataclass
class Work:
    """One opportunity of a chunk on its way to Xero."""

    opportunity: Opportunity
    ledger: LedgerEntry
    draft: InvoiceDraft
    contact: ContactDraft
    hash: str
    method: PaymentMethodSpec | None = None
    currency: str = ""
    contact_id: str = ""
    contact_name: str = ""
    problem: str = ""
    """Why it cannot be invoiced as it stands (it fails, with these words)."""
    waits: str = ""
    """A prerequisite whose outcome is unknown: it waits, and the next run settles it first."""
    credit_lines: tuple[InvoiceLineDraft, ...] = ()
    new_options: tuple[tuple[str, str], ...] = ()
    """(tracking category, option) pairs to create before the invoice."""


# --- the chunk -------------------------------------------------------------------------------


def process_chunk(
    ctx: RunContext,
    chunk: list[Opportunity],
    *,
    settled: Callable[[Opportunity], None] | None = None,
) -> None:
    """A group of opportunities (up to a page of Salesforce's), end to end: their contacts
    matched and created together (50 a write, not a write per 50 invoices), then invoices sent
    50 at a time; log entries are written however it ends."""
    try:
        work = _plan(ctx, chunk)
        if not work:
            return
        if "invoices" in ctx.paused:
            for w in work:
                invoices.wait(ctx, w.ledger, CONFIGURATION_REQUIRED)
            return
        organisation.prepare(ctx, work)
        contacts.match(ctx, work)
        ctx.flush_logs()
        for start in range(0, len(work), SEND_BATCH):
            batch = work[start : start + SEND_BATCH]
            items.match(ctx, batch)
            invoices.send(ctx, batch)
            ctx.flush_logs()
            if settled is not None:
                # Everything up to this batch's last opportunity is settled: a stop later in
                # the group re-reads only what follows.
                settled(batch[-1].opportunity)
    finally:
        ctx.flush_logs()


def _plan(ctx: RunContext, chunk: list[Opportunity]) -> list[Work]:
    ids = [o.salesforce_id for o in chunk]
    # One query for the chunk's ledger rows, not one per record.
    ledgers = {
        row.salesforce_id: row
        for row in LedgerEntry.objects.filter(integration=ctx.integration, salesforce_id__in=ids)
    }
    work: list[Work] = []
    for opportunity in chunk:
        ledger = ledgers.get(opportunity.salesforce_id) or LedgerEntry(
            integration=ctx.integration,
            salesforce_id=opportunity.salesforce_id,
            # Salesforce's clock, read with the opportunity: the won-to-invoiced figure must
            # not include how late we polled. History a person imports is not "won now".
            first_seen_won_at=None if ctx.history else opportunity.system_modstamp,
        )
        ledger.opportunity_name = opportunity.name[:255]
        ledger.customer_name = (opportunity.customer.name if opportunity.customer else "")[:255]
        ledger.system_modstamp = opportunity.system_modstamp
        if ledger.withdrawn:
            won_again(ctx, ledger)
        if ledger.state in (State.UNKNOWN, State.SENDING):
            continue  # being settled (too soon to look it up): never sent now
        try:
            decision = decide(opportunity, ctx.config, ctx.rules, ctx.metadata, rate=_rate_for(ctx))
        except RuleProblem as problem:
            invoices.wait(ctx, ledger, problem.message, problem_field=problem.field)
            continue
        if decision.method is not None and not decision.method.create_invoice:
            _not_invoiced(ctx, ledger, opportunity, decision.method)
            continue
        try:
            contact = contact_for(opportunity, ctx.config)
            draft = invoice_for(opportunity, ctx.config, rules=decision.rules)
            credit_lines = (
                credit_lines_for(opportunity, ctx.config, decision.rules)
                if decision.rules.negative_lines_apart
                else ()
            )
        except TranslationError as exc:
            _fail_translation(ctx, ledger, str(exc))
            continue
        # The hash is of the draft naming the contact by number, so that matching the contact
        # differently later does not count as a change.
        document: dict[str, Any] = draft.to_xero()
        if credit_lines:
            # Negative lines kept apart are part of what is sent: a new return is a change.
            document = {"invoice": document, "credit": [c.to_xero() for c in credit_lines]}
        digest = content_hash(document)
        if ledger.pk and ledger.content_hash == digest and ledger.state in SETTLED:
            ctx.run.skipped_count += 1
            continue
        work.append(_work(opportunity, ledger, draft, contact, digest, decision, credit_lines))
    return work


def _work(
    opportunity: Opportunity,
    ledger: LedgerEntry,
    draft: InvoiceDraft,
    contact: ContactDraft,
    digest: str,
    decision: Decision,
    credit_lines: tuple[InvoiceLineDraft, ...],
) -> Work:
    w = Work(opportunity, ledger, draft, contact, digest)
    w.method = decision.method if decision.method and decision.method.apply_payment else None
    w.currency = decision.currency
    w.credit_lines = credit_lines
    w.new_options = decision.new_options
    return w


def _rate_for(ctx: RunContext) -> Any:
    cache: dict[str, Any] = {}

    def rate(opportunity: Opportunity, currency: str) -> Decimal:
        if "rates" not in cache:
            assert ctx.salesforce is not None
            cache["rates"] = ctx.salesforce.conversion_rates()
        return rate_between(
            cache["rates"],
            opportunity,
            currency,
            ctx.metadata.base_currency,
            today=calendar.today(),
        )

    return rate


# --- rows that are not sent ------------------------------------------------------------------


def _not_invoiced(
    ctx: RunContext, ledger: LedgerEntry, opportunity: Opportunity, method: PaymentMethodSpec
) -> None:
    if ledger.state == State.NOT_INVOICED:
        ctx.run.skipped_count += 1
        return
    if ledger.xero_invoice_id:
        # Invoiced before its payment method changed: nothing is undone automatically.
        ledger.state = State.NEEDS_ATTENTION
        ledger.last_error = (
            f"Opportunity {opportunity.name!r} is now paid by {method.name!r}, which is not "
            f"invoiced, but invoice {ledger.xero_invoice_number} already exists: void it "
            "in Xero if it should not."
        )
        ledger.save_fields("state", "last_error")
        ctx.log(Outcome.ATTENTION, ledger.last_error, ledger=ledger, step="invoice")
        return
    ledger.state = State.NOT_INVOICED
    ledger.last_error = ""
    ledger.save_fields("state", "last_error")
    ctx.resolve_entries([ledger.pk])
    ctx.run.skipped_count += 1
    ctx.log(
        Outcome.SKIPPED,
        f"Not invoiced: {opportunity.name!r} is paid by {method.name!r}, which is set not to "
        "create invoices.",
        ledger=ledger,
        step="invoice",
    )


def _fail_translation(ctx: RunContext, ledger: LedgerEntry, message: str) -> None:
    ledger.state = State.FAILED
    ledger.last_error = message
    ledger.save_fields("state", "last_error")
    ctx.run.failed_count += 1
    ctx.log(Outcome.FAILED, message, ledger=ledger, step="invoice")


def _won_anew(ledger: LedgerEntry) -> None:
    """A new invoice is due for a new win: its wait is timed from this win, not the first."""
    ledger.first_seen_won_at = ledger.system_modstamp
    ledger.invoiced_at = None


def won_again(ctx: RunContext, ledger: LedgerEntry) -> None:
    """An opportunity we had withdrawn counts again (won again, or restored)."""
    was = ledger.get_withdrawn_display().lower()
    ledger.withdrawn = Withdrawal.NONE
    ledger.withdrawn_at = None
    withdrawals = CreditNoteEntry.objects.filter(
        ledger=ledger, reason=CreditNoteEntry.Reason.WITHDRAWN, superseded=False
    )
    if ledger.pk:
        # News not acted on yet is old news now: the invoice stands as it is — and so does a
        # void already planned for it but not sent (one sent, or whose outcome is unknown, is
        # settled by its own step).
        unacted = list(
            withdrawals.filter(state=CreditNoteEntry.State.PENDING).values_list("pk", flat=True)
        )
        if unacted:
            with transaction.atomic():
                CreditNoteEntry.objects.filter(pk__in=unacted).update(
                    state=CreditNoteEntry.State.CANCELLED, superseded=True
                )
                XeroOperation.objects.filter(
                    credit_note_id__in=unacted, state=XeroOperation.State.WAITING
                ).update(
                    state=XeroOperation.State.CANCELLED,
                    last_error="Not sent: the opportunity counts again.",
                )
    acted = ledger.pk is not None and withdrawals.filter(state=CreditNoteEntry.State.DONE).exists()
    bump = False
    if ledger.state == State.WITHDRAWN:
        ledger.state = State.PENDING
        ledger.content_hash = ""
        _won_anew(ledger)
    elif acted:
        # Its invoice was voided or credited when it was withdrawn: a new one is due.
        ctx.log(
            Outcome.WARNING,
            f"Opportunity {ledger.opportunity_name!r} counts again after being {was}; its "
            f"invoice {ledger.xero_invoice_number} was voided or credited then, so a new invoice "
            "is created.",
            ledger=ledger,
            step="invoice",
        )
        withdrawals.update(superseded=True)
        ledger.state = State.PENDING
        ledger.content_hash = ""
        ledger.xero_invoice_id = ""
        ledger.xero_invoice_number = ""
        _won_anew(ledger)
        bump = True
    elif ledger.xero_invoice_id and ledger.state == State.NEEDS_ATTENTION:
        ledger.state = State.SYNCED
        ledger.last_error = ""
        ctx.resolve_entries([ledger.pk])
        ctx.log(
            Outcome.UPDATED,
            f"Opportunity {ledger.opportunity_name!r} counts again after being {was}; invoice "
            f"{ledger.xero_invoice_number} stands as it is.",
            ledger=ledger,
            step="invoice",
        )
    fields = ["withdrawn", "withdrawn_at", "state", "content_hash", "last_error"]
    fields += ["first_seen_won_at", "invoiced_at"]
    if bump:
        # A new key for the new invoice, counted in the database: a person's retry may have
        # bumped it meanwhile too.
        ledger.generation = F("generation") + 1
        fields += ["xero_invoice_id", "xero_invoice_number", "generation"]
    ledger.save_fields(*fields)
    if bump:
        ledger.refresh_from_db(fields=["generation"])
