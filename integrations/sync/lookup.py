"""What support people read: a record's whole story, and finding a record by what they know.

Reads only. Every query is scoped by the integration (already the account's) and bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from integrations.connections.models import Connection
from integrations.core.models import Integration
from integrations.sync.models import (
    OPEN_OUTCOMES,
    CreditNoteEntry,
    LedgerEntry,
    PaymentEntry,
    RecordAction,
    SyncLogEntry,
    WritebackState,
    XeroOperation,
)
from integrations.sync.search import text_match
from integrations.sync.writeback_values import invoice_url

SEARCH_LIMIT = 50
TIMELINE_LIMIT = 500
"""A record's log entries shown at most (newest kept): one per run that did something to it."""


def ledger_search(
    *, integration: Integration, query: str, limit: int = SEARCH_LIMIT
) -> list[LedgerEntry]:
    """The integration's records matching ``query``: the opportunity's name or its customer's
    (contains, any case), its Salesforce id (15 or 18 characters, exact) or its Xero invoice
    number (exact, any case). Most recently changed first, at most ``limit``."""
    query = query.strip()
    if not query:
        return []
    match = text_match(
        query, names=("opportunity_name", "customer_name"), number="xero_invoice_number"
    )
    return list(
        LedgerEntry.objects.filter(match, integration=integration).order_by("-updated_at", "-id")[
            :limit
        ]
    )


@dataclass(frozen=True)
class RecordStory:
    """One ledger row and everything the sync did about it, for its page."""

    ledger: LedgerEntry
    timeline: list[SyncLogEntry]
    """Oldest first."""
    truncated: bool
    operations: list[XeroOperation]
    payments: list[PaymentEntry]
    credit_notes: list[CreditNoteEntry]
    writeback: WritebackState | None
    actions: list[RecordAction]
    open_entry: SyncLogEntry | None
    """The newest failure or "needs a person" not yet resolved: what retry and dismiss act on."""
    salesforce_url: str
    xero_invoice_url: str


def record_story(*, ledger: LedgerEntry, xero_invoice_template: str) -> RecordStory:
    entries = list(
        SyncLogEntry.objects.filter(ledger=ledger)
        .select_related("run", "dismissed_by")
        .order_by("-created_at", "-id")[: TIMELINE_LIMIT + 1]
    )
    truncated = len(entries) > TIMELINE_LIMIT
    timeline = list(reversed(entries[:TIMELINE_LIMIT]))
    open_entry = next(
        (e for e in entries if e.outcome in OPEN_OUTCOMES and e.dismissed_at is None), None
    )
    return RecordStory(
        ledger=ledger,
        timeline=timeline,
        truncated=truncated,
        operations=list(XeroOperation.objects.filter(ledger=ledger).order_by("created_at", "id")),
        payments=list(PaymentEntry.objects.filter(ledger=ledger).order_by("pay_on", "id")),
        credit_notes=list(CreditNoteEntry.objects.filter(ledger=ledger).order_by("created_at")),
        writeback=WritebackState.objects.filter(ledger=ledger).first(),
        actions=list(RecordAction.objects.filter(ledger=ledger).select_related("user")[:100]),
        open_entry=open_entry,
        salesforce_url=opportunity_url(
            ledger.integration.salesforce_connection, ledger.salesforce_id
        ),
        xero_invoice_url=invoice_url(xero_invoice_template, ledger.xero_invoice_id)
        if ledger.xero_invoice_id
        else "",
    )


def opportunity_url(connection: Connection | None, salesforce_id: str) -> str:
    """The opportunity on its org's instance ("/<id>" opens a record in Classic and Lightning
    alike), or "" when the instance is not known."""
    if connection is None or not salesforce_id:
        return ""
    instance = str(connection.credentials.get("instance_url") or "").rstrip("/")
    if urlsplit(instance).scheme not in ("https", "http"):
        return ""
    return f"{instance}/{salesforce_id}"
