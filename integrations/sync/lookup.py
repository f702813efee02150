"""What support people read: a record's whole story, and finding a record by what they know.

Reads only. Every query is scoped by the integration (already the account's) and bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.db.models import Q

from integrations.connections.models import Connection
from integrations.connections.providers import ProviderError
from integrations.connections.xero.api import XeroApi
from integrations.connections.xero.records import Invoice
from integrations.core.models import Integration
from integrations.sync.models import (
    OPEN_OUTCOMES,
    ContactLink,
    CreditNoteEntry,
    ItemLink,
    LedgerEntry,
    OperationAttempt,
    PaymentEntry,
    RecordAction,
    SyncLogEntry,
    WritebackState,
    XeroOperation,
)
from integrations.sync.redact import redact, redact_text
from integrations.sync.search import text_match
from integrations.sync.writeback_values import invoice_url, xero_url

Kind = XeroOperation.Kind
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
class ShownAttempt:
    """One send of one operation, as its page shows it (what was sent redacted)."""

    attempt: OperationAttempt
    operation: XeroOperation
    answer: dict[str, Any]
    body: Any
    """The operation's body when this attempt sent it (same content), else None: the body of
    an earlier version of the document is not kept."""
    same_as: int | None = None
    """The later attempt (by number) showing the same document: it is shown once."""


@dataclass(frozen=True)
class ShownOperation:
    operation: XeroOperation
    attempts: list[ShownAttempt]
    body: Any
    """What is (or was last) sent, redacted."""


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    quantity: str
    unit_amount: str
    account_code: str
    item_code: str
    tax_type: str


@dataclass(frozen=True)
class RecordStory:
    """One ledger row and everything the sync did about it, for its page."""

    ledger: LedgerEntry
    timeline: list[SyncLogEntry]
    """Oldest first."""
    truncated: bool
    operations: list[ShownOperation]
    """The record's own writes and those of its contact and items, oldest first."""
    attempts: list[ShownAttempt]
    """Every send of them, in order."""
    payments: list[PaymentEntry]
    credit_notes: list[CreditNoteEntry]
    writeback: WritebackState | None
    actions: list[RecordAction]
    open_entry: SyncLogEntry | None
    """The newest failure or "needs a person" not yet resolved: what retry and dismiss act on."""
    salesforce_url: str
    xero_invoice_url: str
    contact: ContactLink | None
    xero_contact_url: str
    lines: list[InvoiceLine]
    """The invoice's lines as last sent."""
    items: list[ItemLink]
    """The item codes of those lines the sync knows exist in Xero."""
    state_explained: str


State = LedgerEntry.State
STATE_EXPLAINED: dict[str, str] = {
    State.PENDING: "The next sync reads the opportunity again by its id and sends its invoice "
    "(or says why it cannot yet).",
    State.SENDING: "Its invoice is being sent to Xero right now.",
    State.UNKNOWN: "Xero's answer to the last send was lost. The next sync looks the invoice up "
    "in Xero before sending anything again, so it is never created twice.",
    State.SYNCED: "Its invoice is in Xero and matches the opportunity as last read. A change in "
    "Salesforce is sent on the next sync.",
    State.FAILED: "Xero refused its invoice, or it could not be built. It is sent again when the "
    "opportunity or the configuration changes, or when someone retries it.",
    State.NEEDS_ATTENTION: "The sync stopped short of changing Xero: a person decides (the "
    "reason is below). Retry once it is dealt with, or dismiss it.",
    State.DISMISSED: "A person dismissed it; it is sent again only if the opportunity changes.",
    State.WITHDRAWN: "The opportunity no longer counts as won, and it has nothing in Xero.",
    State.NOT_INVOICED: "Its payment method is set not to create invoices.",
}

OPERATIONS_LIMIT = 200
"""A record's writes shown at most (newest kept)."""
ATTEMPTS_LIMIT = 1000


def record_story(
    *, ledger: LedgerEntry, xero_invoice_template: str, xero_contact_template: str = ""
) -> RecordStory:
    """The whole story in a bounded number of queries (about ten), however long it is."""
    integration = ledger.integration
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
    own = list(
        XeroOperation.objects.filter(ledger=ledger).order_by("-created_at", "-id")[
            :OPERATIONS_LIMIT
        ]
    )
    own.reverse()
    invoice_ops = [op for op in own if op.kind in (Kind.INVOICE, Kind.INVOICE_UPDATE)]
    last_body = invoice_ops[-1].body if invoice_ops else {}
    lines = _lines(last_body)
    codes = sorted({line.item_code for line in lines if line.item_code})
    contact_ids = {ledger.xero_contact_id} | {
        str(op.lookup.get("contact_id") or "") for op in invoice_ops
    }
    contact_ids.discard("")
    contact = (
        ContactLink.objects.filter(integration=integration, xero_contact_id__in=contact_ids)
        .order_by("-verified_at")
        .first()
        if contact_ids
        else None
    )
    # The contact's and the items' own writes are not the record's (one contact serves many
    # deals) but they are part of its story: found by what they were about.
    related = Q()
    if contact is not None:
        related |= Q(kind__in=(Kind.CONTACT, Kind.CONTACT_NUMBER), subject=contact.contact_number)
        related |= Q(kind=Kind.CONTACT_NUMBER, lookup__contact_id=contact.xero_contact_id)
    if codes:
        related |= Q(kind=Kind.ITEM, subject__in=codes)
    others = (
        list(
            XeroOperation.objects.filter(
                related, integration=integration, ledger__isnull=True
            ).order_by("-created_at", "-id")[:OPERATIONS_LIMIT]
        )
        if related
        else []
    )
    operations = sorted([*own, *others], key=lambda op: (op.created_at, op.pk))
    by_op: dict[int, list[OperationAttempt]] = {}
    for attempt in OperationAttempt.objects.filter(
        operation_id__in=[op.pk for op in operations]
    ).order_by("finished_at", "id")[:ATTEMPTS_LIMIT]:
        by_op.setdefault(attempt.operation_id, []).append(attempt)
    shown: list[ShownOperation] = []
    attempts: list[ShownAttempt] = []
    for op in operations:
        body = redact(op.body)
        sent = by_op.get(op.pk, [])
        # The document as it is now was sent by the attempts of the same content: shown on
        # the last of them, the others point there.
        last = next((a for a in reversed(sent) if a.content_hash == op.content_hash), None)
        mine = [
            ShownAttempt(
                attempt=a,
                operation=op,
                answer=redact(a.answer),
                body=body if a is last else None,
                same_as=last.number
                if last is not None and a is not last and a.content_hash == last.content_hash
                else None,
            )
            for a in sent
        ]
        shown.append(ShownOperation(operation=op, attempts=mine, body=body))
        attempts += mine
    attempts.sort(key=lambda a: (a.attempt.finished_at, a.attempt.pk))
    xero = integration.xero_connection
    short_code = xero.short_code if xero is not None else ""
    return RecordStory(
        ledger=ledger,
        timeline=timeline,
        truncated=truncated,
        operations=shown,
        attempts=attempts,
        payments=list(PaymentEntry.objects.filter(ledger=ledger).order_by("pay_on", "id")),
        credit_notes=list(CreditNoteEntry.objects.filter(ledger=ledger).order_by("created_at")),
        writeback=WritebackState.objects.filter(ledger=ledger).first(),
        actions=list(RecordAction.objects.filter(ledger=ledger).select_related("user")[:100]),
        open_entry=open_entry,
        salesforce_url=opportunity_url(integration.salesforce_connection, ledger.salesforce_id),
        xero_invoice_url=invoice_url(xero_invoice_template, ledger.xero_invoice_id, short_code)
        if ledger.xero_invoice_id
        else "",
        contact=contact,
        xero_contact_url=xero_url(
            xero_contact_template, short_code=short_code, contact_id=ledger.xero_contact_id
        )
        if ledger.xero_contact_id
        else "",
        lines=lines,
        items=list(ItemLink.objects.filter(integration=integration, code__in=codes))
        if codes
        else [],
        state_explained=STATE_EXPLAINED.get(ledger.state, ""),
    )


def _lines(body: Any) -> list[InvoiceLine]:
    if not isinstance(body, dict):
        return []
    return [
        InvoiceLine(
            description=redact_text(str(line.get("Description") or "")),
            quantity=str(line.get("Quantity") or ""),
            unit_amount=str(line.get("UnitAmount") or ""),
            account_code=str(line.get("AccountCode") or ""),
            item_code=str(line.get("ItemCode") or ""),
            tax_type=str(line.get("TaxType") or ""),
        )
        for line in body.get("LineItems") or []
        if isinstance(line, dict)
    ]


def opportunity_url(connection: Connection | None, salesforce_id: str) -> str:
    """The opportunity on its org's instance ("/<id>" opens a record in Classic and Lightning
    alike), or "" when the instance is not known."""
    if connection is None or not salesforce_id:
        return ""
    instance = str(connection.credentials.get("instance_url") or "").rstrip("/")
    if urlsplit(instance).scheme not in ("https", "http"):
        return ""
    return f"{instance}/{salesforce_id}"


# --- re-sync from scratch: what it will do ----------------------------------------------------

# Xero lets an invoice change only in these states, and only while nothing is paid (as the
# invoice step decides: integrations.sync.steps.invoices.UPDATABLE_STATUSES).
UPDATABLE_STATUSES = frozenset({"DRAFT", "SUBMITTED", "AUTHORISED"})
ZERO = Decimal(0)


@dataclass(frozen=True)
class ResyncPlan:
    """What a re-sync from scratch would do to the record and to its invoice in Xero."""

    allowed: bool
    what_happens: str
    """For the person deciding, in the record's actual terms (number, status, amount paid)."""
    invoice: Invoice | None = None
    """The invoice as Xero holds it now (None: none yet, not found, or not checked)."""
    checked: bool = False
    """Whether Xero was asked just now."""


def resync_preview(*, ledger: LedgerEntry) -> ResyncPlan:
    """The plan, with the invoice read from Xero now (one call; a person waits on it)."""
    blocked = resync_blocked(ledger)
    if blocked:
        return ResyncPlan(allowed=False, what_happens=blocked)
    if not ledger.xero_invoice_id:
        return resync_plan(ledger=ledger, invoice=None, checked=False)
    connection = ledger.integration.xero_connection
    assert connection is not None
    try:
        invoice = XeroApi.for_connection(connection).current_invoice(
            ledger.xero_invoice_id, max_wait=5.0
        )
    except ProviderError as exc:
        return resync_plan(ledger=ledger, invoice=None, checked=False, unreachable=exc.message)
    return resync_plan(ledger=ledger, invoice=invoice, checked=True)


def resync_blocked(ledger: LedgerEntry) -> str:
    """Why the record cannot be re-synced now ("" when it can)."""
    integration = ledger.integration
    if integration.salesforce_connection_id is None or integration.xero_connection_id is None:
        return "Connect both Salesforce and Xero before re-syncing a record."
    if ledger.state in (LedgerEntry.State.SENDING, LedgerEntry.State.UNKNOWN):
        return (
            "Its invoice is being sent, or the outcome of the last send is being checked in "
            "Xero: re-syncing now could skip that check. The next sync settles it; try again "
            "after."
        )
    if ledger.withdrawn:
        return (
            f"The opportunity is {ledger.get_withdrawn_display().lower()}: nothing is sent for "
            "it unless it is won again in Salesforce (then a sync handles it as usual)."
        )
    return ""


def resync_plan(
    *, ledger: LedgerEntry, invoice: Invoice | None, checked: bool, unreachable: str = ""
) -> ResyncPlan:
    """What the next sync does after a re-sync, exactly as the invoice step decides it."""
    blocked = resync_blocked(ledger)
    if blocked:
        return ResyncPlan(allowed=False, what_happens=blocked)
    again = (
        "The opportunity is read again from Salesforce, its contact and items are matched "
        "again in Xero (created if missing) and the organisation's settings are read afresh."
    )
    if not ledger.xero_invoice_id:
        return ResyncPlan(
            allowed=True,
            what_happens=f"{again} It has no invoice in Xero yet: one invoice is created for it.",
        )
    number = ledger.xero_invoice_number or ledger.xero_invoice_id
    if not checked:
        return ResyncPlan(
            allowed=True,
            what_happens=(
                f"{again} Xero could not be asked about invoice {number} just now"
                f"{f' ({unreachable})' if unreachable else ''}. The sync reads it before "
                "writing: if it can still be changed (draft, submitted or authorised, nothing "
                "paid) it is updated in place, with the same number; otherwise nothing changes "
                "in Xero and the record says what needs a person. No second invoice is created."
            ),
        )
    if invoice is None:
        return ResyncPlan(
            allowed=False,
            checked=True,
            what_happens=(
                f"Invoice {number} was not found in Xero. The sync never creates a second "
                "invoice for an opportunity that has one, so re-syncing would change nothing in "
                "Xero and it is not offered. A new invoice is created only when the opportunity "
                "is reopened or lost and then won again in Salesforce."
            ),
        )
    amounts = (
        f"total {invoice.currency_code} {invoice.total:,.2f}, paid "
        f"{invoice.currency_code} {invoice.amount_paid:,.2f}"
    ).replace("  ", " ")
    described = f"Invoice {invoice.number or number} is {invoice.status} in Xero ({amounts})"
    if invoice.status in UPDATABLE_STATUSES and invoice.amount_paid == ZERO:
        return ResyncPlan(
            allowed=True,
            checked=True,
            invoice=invoice,
            what_happens=(
                f"{again} {described}: it is updated in place from the opportunity as it is now "
                "— the same invoice, the same number; no second invoice is created."
            ),
        )
    if invoice.status in ("VOIDED", "DELETED"):
        return ResyncPlan(
            allowed=False,
            checked=True,
            invoice=invoice,
            what_happens=(
                f"{described}. A {invoice.status.lower()} invoice cannot be changed, and the "
                "sync never creates a second invoice for an opportunity that has one: "
                "re-syncing would change nothing in Xero, so it is not offered. A new invoice "
                "is created only when the opportunity is reopened or lost and then won again in "
                "Salesforce; or create one in Xero by hand."
            ),
        )
    return ResyncPlan(
        allowed=False,
        checked=True,
        invoice=invoice,
        what_happens=(
            f"{described}. Xero does not allow changing an invoice once it is paid or closed, "
            "so re-syncing would change nothing in Xero and it is not offered. If the invoice "
            "should differ, adjust it in Xero (or raise a credit note there); a fall in the "
            "opportunity's amount is credited automatically when the integration is set to."
        ),
    )
