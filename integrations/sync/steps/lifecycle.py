"""Opportunities that stopped counting — reopened, lost, deleted — and what their invoices need.

One light ``queryAll`` (its own watermark) lists opportunities changed since the last look that
do not count (any more), deleted ones included; only ids we hold rows for matter. A row with
nothing in Xero is withdrawn. A row with an invoice (or one whose send is being settled) gets
the news and the work it requires in one transaction (``credit_notes.record_news``): the
credit-notes step voids, deletes or credits it as configured, or tells a person.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations.connections.salesforce.reader import (
    PageSource,
    ReadSpec,
    build_lifecycle_soql,
    build_status_soql,
    parse_datetime,
)
from integrations.core.models import Integration
from integrations.sync.context import RunContext
from integrations.sync.models import (
    CreditNoteEntry,
    LedgerEntry,
    PaymentEntry,
    SyncLogEntry,
    XeroOperation,
)
from integrations.sync.steps.credit_notes import record_news

State = LedgerEntry.State
Outcome = SyncLogEntry.Outcome
Withdrawal = LedgerEntry.Withdrawal
PAGE_SIZE = 2000


def withdrawals(ctx: RunContext, source: PageSource, spec: ReadSpec) -> None:
    integration = ctx.integration
    since = integration.lifecycle_watermark or integration.watermark
    if since is None:
        # Nothing was ever read, so nothing can have been withdrawn: start watching now.
        stamp = timezone.now() - spec.overlap
        integration.lifecycle_watermark = stamp
        Integration.objects.filter(pk=integration.pk).update(lifecycle_watermark=stamp)
        return
    newest = integration.lifecycle_watermark
    soql = build_lifecycle_soql(spec, since)
    for page in source.query_pages(soql, include_deleted=True, batch_size=PAGE_SIZE):
        raws = page.get("records", [])
        if not raws:
            continue
        withdraw(ctx, {str(r["Id"]): r for r in raws})
        stamp = max(parse_datetime(str(r["SystemModstamp"])) for r in raws)
        if newest is None or stamp > newest:
            newest = stamp
    if newest is not None and newest != integration.lifecycle_watermark:
        integration.lifecycle_watermark = newest
        Integration.objects.filter(pk=integration.pk).update(lifecycle_watermark=newest)


def explain_gone(ctx: RunContext, source: PageSource, ids: list[str]) -> None:
    """Withdraws waiting rows whose opportunities no longer count, with Salesforce's reason."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 200):
        for page in source.query_pages(
            build_status_soql(ids[start : start + 200]), include_deleted=True
        ):
            for raw in page.get("records", []):
                found[str(raw["Id"])] = raw
    # Not even in the recycle bin: deleted for good.
    for sf_id in ids:
        found.setdefault(sf_id, {"Id": sf_id, "IsDeleted": True})
    withdraw(ctx, found)


def withdraw(ctx: RunContext, raws: dict[str, dict[str, Any]]) -> None:
    rows = LedgerEntry.objects.filter(
        integration=ctx.integration, salesforce_id__in=list(raws)
    ).exclude(state__in=(State.WITHDRAWN, State.DISMISSED))
    now = timezone.now()
    for ledger in rows:
        raw = raws[ledger.salesforce_id]
        reason = _withdrawal(raw)
        if ledger.withdrawn == reason:
            continue  # seen again through the overlap window
        with transaction.atomic():
            ledger.withdrawn = reason
            ledger.withdrawn_at = now
            # A payment not recorded yet is not needed any more.
            PaymentEntry.objects.filter(
                ledger=ledger,
                state__in=(PaymentEntry.State.PLANNED, PaymentEntry.State.SCHEDULED),
            ).update(state=PaymentEntry.State.CANCELLED)
            name = ledger.opportunity_name or ledger.salesforce_id
            what = _withdrawal_text(reason, raw)
            unsettled = ledger.state in (State.UNKNOWN, State.SENDING)
            if (
                ledger.xero_invoice_id
                and not ctx.config.credit_note_on_withdrawal
                and not unsettled
            ):
                _needs_person(ctx, ledger, f"Opportunity {name!r} was {what}")
                continue
            if unsettled and not ctx.config.credit_note_on_withdrawal:
                # Settled first (it may exist in Xero): the invoice step tells a person then.
                ledger.save(update_fields=["withdrawn", "withdrawn_at", "updated_at"])
                continue
            if ledger.xero_invoice_id or unsettled:
                # Its invoice exists (or may: its send is being settled): the news and the
                # work it requires, together.
                fields = ["withdrawn", "withdrawn_at", "updated_at"]
                if ledger.state == State.PENDING and ledger.xero_invoice_id:
                    # An update of it was waiting: not wanted now. The invoice stands as Xero
                    # has it, and the credit-notes step acts on it.
                    XeroOperation.objects.filter(
                        ledger=ledger,
                        kind=XeroOperation.Kind.INVOICE_UPDATE,
                        state=XeroOperation.State.WAITING,
                    ).update(
                        state=XeroOperation.State.CANCELLED,
                        last_error=f"Not sent: the opportunity was {what}.",
                    )
                    ledger.state = State.SYNCED
                    ledger.last_error = ""
                    fields += ["state", "last_error"]
                ledger.save(update_fields=fields)
                # One piece of news per invoice (lost, then deleted, is nothing more to do),
                # and a new one after each time it counted again before being acted on.
                again = CreditNoteEntry.objects.filter(
                    ledger=ledger, reason=CreditNoteEntry.Reason.WITHDRAWN, superseded=True
                ).count()
                recorded = record_news(
                    ctx,
                    ledger,
                    reason=CreditNoteEntry.Reason.WITHDRAWN,
                    news=f"withdrawn:{ledger.xero_invoice_id}:{ledger.generation}:{again}",
                )
                if recorded is not None:
                    ctx.log(
                        Outcome.WARNING,
                        f"Opportunity {name!r} was {what} after its invoice was sent; "
                        "what the invoice needs (void, deletion or credit note, as configured) "
                        "follows.",
                        ledger=ledger,
                        step="credit_note",
                    )
                continue
            # Its invoice was never saved in Xero (an unknown outcome is settled before this),
            # so a send still waiting — after a 429, or a lost answer found to be nothing — is
            # not wanted: left waiting, no step would ever take it, and a deal won again would
            # reuse it.
            XeroOperation.objects.filter(
                ledger=ledger, kind=XeroOperation.Kind.INVOICE, state=XeroOperation.State.WAITING
            ).update(
                state=XeroOperation.State.CANCELLED,
                last_error=f"Not sent: the opportunity was {what}.",
            )
            ledger.state = State.WITHDRAWN
            ledger.last_error = ""
            ledger.save_fields("state", "last_error", "withdrawn", "withdrawn_at")
            ctx.resolve_entries([ledger.pk])
            ctx.run.skipped_count += 1
            ctx.log(
                Outcome.SKIPPED,
                f"Opportunity {name!r} was {what}; nothing was sent to Xero, and nothing will be "
                "unless it is won again.",
                ledger=ledger,
                step="invoice",
            )
    ctx.flush_logs()


def _needs_person(ctx: RunContext, ledger: LedgerEntry, what: str) -> None:
    ledger.state = State.NEEDS_ATTENTION
    ledger.last_error = (
        f"{what} after invoice {ledger.xero_invoice_number or ledger.xero_invoice_id} was "
        "created; the invoice still stands in Xero. Void it or raise a credit note there if it "
        "should not."
    )
    ledger.save_fields("state", "last_error", "withdrawn", "withdrawn_at")
    ctx.log(Outcome.ATTENTION, ledger.last_error, ledger=ledger, step="invoice")


def _withdrawal(raw: dict[str, Any]) -> str:
    if raw.get("IsDeleted"):
        return str(Withdrawal.DELETED)
    if raw.get("IsClosed") and not raw.get("IsWon"):
        return str(Withdrawal.LOST)
    return str(Withdrawal.REOPENED)


def _withdrawal_text(reason: str, raw: dict[str, Any]) -> str:
    stage = raw.get("StageName")
    if reason == Withdrawal.DELETED:
        return "deleted in Salesforce"
    if reason == Withdrawal.LOST:
        return f"closed lost ({stage})" if stage else "closed lost"
    if raw.get("IsWon"):
        # Still won, but no longer what the integration invoices (another won stage, or a
        # close date moved before the start date): "reopened" would tell the user a falsehood.
        return (
            f"moved to stage {stage}, which this integration does not invoice"
            if stage
            else "changed so that this integration no longer invoices it"
        )
    return f"reopened (stage {stage})" if stage else "reopened"
