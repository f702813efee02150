"""Xero → us → Salesforce: webhook events received, matched to our documents, written back.

Three steps, each short and each safe to repeat:

1. :func:`xero_webhook_receive` (the endpoint): signature first, then the events are stored
   (one row per event however often Xero delivers it) and their processing is queued.
2. :func:`webhook_events_process` (a task): each event is matched to the integrations connected
   to its organisation and to the opportunities whose invoice or credit note it is about; those
   are marked as having news (``WritebackState.requested_at``) and one write-back per
   integration is queued a moment later, so a burst of events makes one batch.
3. :func:`integration_writeback` (a task): the invoices of the marked opportunities are read
   from Xero in one call per 50, the chosen values computed, and only the values that differ
   from what was last written go to Salesforce, 200 opportunities a call.

No loop: the write-back writes only fields the sync never reads (the configuration check
refuses any other), so the opportunity it changes builds the same invoice and the sync that an
Outbound Message or the poll triggers finds nothing to send; the write-back itself never
writes to Xero.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from integrations.connections.models import Connection
from integrations.connections.providers import ProviderError, ReauthorizationRequired
from integrations.connections.ratelimit import Priority
from integrations.connections.salesforce.client import salesforce_client
from integrations.connections.salesforce.records import SaveResult
from integrations.connections.xero.api import XeroApi
from integrations.connections.xero.client import XeroRateLimited
from integrations.connections.xero.records import Invoice
from integrations.connections.xero.webhooks import (
    DOCUMENT_CATEGORIES,
    MAX_BODY_BYTES,
    WebhookPayloadError,
    parse_payload,
    signature_valid,
)
from integrations.core.behaviours import Behaviour, ConfigProblem, stored_problems
from integrations.core.config import ConfigError, SyncConfig
from integrations.core.models import Integration
from integrations.core.pauses import runnable
from integrations.core.queue import enqueue_writeback, enqueue_xero_webhook
from integrations.sync.models import (
    OPEN_OPERATION_STATES,
    ContactLink,
    CreditNoteEntry,
    LedgerEntry,
    SyncLogEntry,
    SyncRun,
    WritebackState,
    XeroOperation,
    XeroWebhookEvent,
)
from integrations.sync.writeback_values import Value, changed, stored, values_for

logger = logging.getLogger(__name__)
Outcome = SyncLogEntry.Outcome

MAX_PER_RUN: Final = 1000
"""Opportunities one write-back handles; more are left for the next, queued at once."""
# Salesforce's answers that mean the chosen field cannot be written by the connected user.
FIELD_ERRORS: Final = frozenset(
    {
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "FIELD_NOT_UPDATEABLE",
        "INVALID_FIELD",
        "INSUFFICIENT_ACCESS",
        "INSUFFICIENT_ACCESS_OR_READONLY",
    }
)
GONE_ERRORS: Final = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY"})
# A write-back older than this that is still pending was lost (a worker died): beat requeues.
STALE_AFTER: Final = dt.timedelta(seconds=30)
# Xero's CREATE event can arrive before the run that created the document has recorded Xero's
# answer: such events are looked at again this often, for this long, while a write is open.
RETRY_UNMATCHED_EVERY: Final = 2.0
RETRY_UNMATCHED_FOR: Final = dt.timedelta(seconds=60)
# Stored events still pending this long after they arrived lost their processing task (Redis
# restarted empty, or a killed worker held it until the broker's visibility timeout).
EVENTS_LOST_AFTER: Final = RETRY_UNMATCHED_FOR + dt.timedelta(seconds=30)
EVENTS_REQUEUED_PER_POLL: Final = 1000


def _queued_key(integration_id: int) -> str:
    return f"writeback:queued:{integration_id}"


# --- 1. the endpoint ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    reason: str = ""
    stored: int = 0


def xero_webhook_receive(*, body: bytes, signature: str) -> WebhookAnswer:
    """Verifies and stores one delivery; its processing is queued once stored.

    401 for a missing or wrong signature (and for every delivery while no key is configured),
    before anything is parsed; 400 with the reason for a signed body that is not a payload;
    200 otherwise, including the intent-to-receive check (no events) and repeated events.
    """
    if len(body) > MAX_BODY_BYTES:
        return WebhookAnswer(413, "The body is larger than any Xero delivery.")
    if not signature_valid(body, signature, settings.XERO_WEBHOOK_KEY):
        return WebhookAnswer(401)
    try:
        events = parse_payload(body)
    except WebhookPayloadError as exc:
        logger.warning("xero webhook: signed but malformed delivery: %s", exc)
        return WebhookAnswer(400, f"Not a Xero webhook payload: {exc}")
    if not events:
        return WebhookAnswer(200)
    by_key = {event.key: event for event in events}
    with transaction.atomic():
        known = set(
            XeroWebhookEvent.objects.filter(key__in=list(by_key)).values_list("key", flat=True)
        )
        fresh = [key for key in by_key if key not in known]
        XeroWebhookEvent.objects.bulk_create(
            [
                XeroWebhookEvent(
                    key=key,
                    tenant_id=by_key[key].tenant_id,
                    resource_id=by_key[key].resource_id,
                    event_category=by_key[key].category,
                    event_type=by_key[key].event_type,
                    event_date=by_key[key].event_date,
                    sequence=by_key[key].sequence,
                )
                for key in fresh
            ],
            # A concurrent delivery of the same events: theirs stands, nothing twice.
            ignore_conflicts=True,
        )
        ids = list(
            XeroWebhookEvent.objects.filter(
                key__in=fresh, state=XeroWebhookEvent.State.PENDING
            ).values_list("pk", flat=True)
        )
        if ids:
            enqueue_xero_webhook(event_ids=ids)
    return WebhookAnswer(200, stored=len(ids))


# --- 2. matching events to opportunities -------------------------------------------------------


def webhook_events_process(*, event_ids: Sequence[int]) -> list[int]:
    """Matches pending events to our documents; returns the integrations a write-back was
    queued for. Events about nothing of ours (another organisation, a document we never
    wrote, a contact, write-back off) are marked ignored without a word."""
    events = list(
        XeroWebhookEvent.objects.filter(pk__in=event_ids, state=XeroWebhookEvent.State.PENDING)
    )
    if not events:
        return []
    _contacts_changed(events)
    tenants = {event.tenant_id.lower() for event in events}
    integrations = [
        integration
        for integration in Integration.objects.annotate(
            tenant=Lower("xero_connection__external_id")
        ).filter(tenant__in=tenants)
        if _writeback_config(integration) is not None
    ]
    matched: set[int] = set()
    again: set[int] = set()
    queued: list[int] = []
    now = timezone.now()
    for integration in integrations:
        tenant = str(getattr(integration, "tenant", ""))
        mine = [
            e
            for e in events
            if e.tenant_id.lower() == tenant and e.event_category in DOCUMENT_CATEGORIES
        ]
        invoice_ids = {e.resource_id.lower() for e in mine if e.event_category == "INVOICE"}
        credit_ids = {e.resource_id.lower() for e in mine if e.event_category == "CREDITNOTE"}
        ledger_of_invoice = dict(
            LedgerEntry.objects.filter(integration=integration)
            .annotate(invoice=Lower("xero_invoice_id"))
            .filter(invoice__in=invoice_ids)
            .values_list("invoice", "pk")
        )
        ledger_of_credit = dict(
            CreditNoteEntry.objects.filter(integration=integration)
            .annotate(credit=Lower("xero_credit_note_id"))
            .filter(credit__in=credit_ids)
            .values_list("credit", "ledger_id")
        )
        ledger_ids: set[int] = set()
        for event in mine:
            resource = event.resource_id.lower()
            found = (
                ledger_of_invoice.get(resource)
                if event.event_category == "INVOICE"
                else ledger_of_credit.get(resource)
            )
            if found is not None:
                ledger_ids.add(found)
                matched.add(event.pk)
        if ledger_ids:
            _request(integration_id=integration.pk, ledger_ids=ledger_ids, now=now)
            queue_writeback(integration_id=integration.pk)
            queued.append(integration.pk)
        again |= _not_recorded_yet(integration, [e for e in mine if e.pk not in matched], now)
    if again:
        enqueue_xero_webhook(event_ids=sorted(again), countdown=RETRY_UNMATCHED_EVERY)
    with transaction.atomic():
        XeroWebhookEvent.objects.filter(pk__in=matched).update(
            state=XeroWebhookEvent.State.DONE, processed_at=now
        )
        XeroWebhookEvent.objects.filter(
            pk__in=[e.pk for e in events if e.pk not in matched and e.pk not in again],
            state=XeroWebhookEvent.State.PENDING,
        ).update(state=XeroWebhookEvent.State.IGNORED, processed_at=now)
    return queued


def _contacts_changed(events: Sequence[XeroWebhookEvent]) -> None:
    """A contact changed in Xero (archived, merged, renamed) since a run last saw it: the
    runs' remembered link to it is stale, and the next invoice for it looks it up again.
    (Its events stay "ignored": nothing is written back for a contact.)"""
    for event in events:
        if event.event_category == "CONTACT" and event.event_type == "UPDATE":
            ContactLink.objects.filter(
                integration__xero_connection__external_id__iexact=event.tenant_id,
                xero_contact_id=event.resource_id.lower(),
                verified_at__lt=event.event_date,
            ).delete()


def _not_recorded_yet(
    integration: Integration, unmatched: list[XeroWebhookEvent], now: dt.datetime
) -> set[int]:
    """Events to look at again shortly: a document just created whose write the run has not
    recorded yet (its outcome is still open), for a minute at most."""
    young = [
        e.pk
        for e in unmatched
        if e.event_type == "CREATE" and e.received_at > now - RETRY_UNMATCHED_FOR
    ]
    if not young:
        return set()
    open_writes = XeroOperation.objects.filter(
        integration=integration, state__in=OPEN_OPERATION_STATES
    ).exists()
    return set(young) if open_writes else set()


def _writeback_config(integration: Integration) -> SyncConfig | None:
    """The configuration when write-back is on; None when off or unreadable (the sync's own
    runs say what is wrong with a configuration that does not load)."""
    try:
        config = SyncConfig.from_json(integration.config)
    except ConfigError:
        return None
    return config if config.writeback_on else None


def _request(*, integration_id: int, ledger_ids: set[int], now: dt.datetime) -> None:
    with transaction.atomic():
        WritebackState.objects.bulk_create(
            [WritebackState(ledger_id=pk, integration_id=integration_id) for pk in ledger_ids],
            ignore_conflicts=True,
        )
        WritebackState.objects.filter(ledger_id__in=ledger_ids).update(requested_at=now)


def queue_writeback(*, integration_id: int, countdown: float | None = None) -> bool:
    """Queues one write-back a moment from now, unless one is queued already: events that
    arrive within the window join that one. True when queued."""
    delay = settings.WRITEBACK_BATCH_SECONDS if countdown is None else countdown
    if not cache.add(_queued_key(integration_id), 1, timeout=int(delay) + 60):
        return False
    enqueue_writeback(integration_id=integration_id, countdown=delay)
    return True


def webhook_events_requeue_lost() -> int:
    """Queues again the stored events whose processing never ran (beat calls it); returns how
    many. The message is only a hint; the stored event is the news, and processing one twice
    changes nothing."""
    lost = list(
        XeroWebhookEvent.objects.filter(
            state=XeroWebhookEvent.State.PENDING,
            received_at__lt=timezone.now() - EVENTS_LOST_AFTER,
        )
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:EVENTS_REQUEUED_PER_POLL]
    )
    if lost:
        enqueue_xero_webhook(event_ids=lost)
    return len(lost)


def writeback_due() -> list[int]:
    """Integrations with news not written back for a while (a lost task, a wait that ended):
    beat queues them."""
    ids = set(
        WritebackState.objects.filter(requested_at__lt=timezone.now() - STALE_AFTER)
        .filter(integration__in=Integration.objects.filter(runnable()))
        .values_list("integration_id", flat=True)
    )
    # Held back by its settings: it said so when it stopped; the configuration check's
    # clearing of the problem is what lets it go on, not another minute passing.
    return sorted(
        integration.pk
        for integration in Integration.objects.filter(pk__in=ids).only("pk", "config_problems")
        if not any(p.behaviour == Behaviour.WRITEBACK for p in stored_problems(integration))
    )


# --- 3. the write-back -------------------------------------------------------------------------


@dataclass
class WritebackOutcome:
    written: int = 0
    unchanged: int = 0
    failed: int = 0
    salesforce_calls: int = 0
    more: bool = False
    waiting: str = ""
    """Why nothing was done (paused, a connection, Xero's limit); "" when it ran."""
    entries: list[SyncLogEntry] = field(default_factory=list)


class _Log:
    """The write-back's entries in the integration's log: one run row, written at the end
    (never a run left "running": the sync's claim knows nothing of write-backs)."""

    def __init__(self, integration: Integration) -> None:
        self.integration = integration
        self.started_at = timezone.now()
        self.entries: list[SyncLogEntry] = []

    def add(
        self,
        outcome: str,
        message: str,
        *,
        ledger: LedgerEntry | None = None,
    ) -> None:
        self.entries.append(
            SyncLogEntry(
                integration=self.integration,
                ledger=ledger,
                salesforce_id=ledger.salesforce_id if ledger else "",
                record_name=(ledger.opportunity_name if ledger else "")[:255],
                customer_name=(ledger.customer_name if ledger else "")[:255],
                document_number=(ledger.xero_invoice_number if ledger else "")[:255],
                step="writeback",
                outcome=outcome,
                message=message,
            )
        )

    def save(self, outcome: WritebackOutcome, *, xero_calls: int, salesforce_calls: int) -> None:
        if not self.entries and not xero_calls and not salesforce_calls:
            return
        bad = outcome.failed or any(e.outcome == Outcome.ATTENTION for e in self.entries)
        run = SyncRun.objects.create(
            integration=self.integration,
            trigger=SyncRun.Trigger.WRITEBACK,
            status=SyncRun.Status.PARTIAL if bad else SyncRun.Status.SUCCEEDED,
            started_at=self.started_at,
            finished_at=timezone.now(),
            read_count=outcome.written + outcome.unchanged + outcome.failed,
            updated_count=outcome.written,
            skipped_count=outcome.unchanged,
            failed_count=outcome.failed,
            xero_calls=xero_calls,
            salesforce_calls=salesforce_calls,
            error=outcome.waiting,
        )
        for entry in self.entries:
            entry.run = run
        SyncLogEntry.objects.bulk_create(self.entries)
        outcome.entries = self.entries


def integration_writeback(*, integration_id: int) -> WritebackOutcome:
    """Writes Xero's news onto the opportunities of one integration (see the module)."""
    # From here on, a new event queues another write-back: it may come after our read.
    cache.delete(_queued_key(integration_id))
    outcome = WritebackOutcome()
    integration = (
        Integration.objects.select_related("xero_connection", "salesforce_connection")
        .filter(pk=integration_id)
        .first()
    )
    if integration is None:
        return outcome
    states = list(
        WritebackState.objects.filter(integration=integration, requested_at__isnull=False)
        .select_related("ledger")
        .order_by("requested_at", "pk")[: MAX_PER_RUN + 1]
    )
    if not states:
        return outcome
    outcome.more = len(states) > MAX_PER_RUN
    states = states[:MAX_PER_RUN]
    log = _Log(integration)
    config = _writeback_config(integration)
    if config is None:
        # Switched off since the events came: nothing to write, nothing to remember.
        _clear(states)
        return outcome
    waiting = _why_waiting(integration)
    if waiting:
        outcome.waiting = waiting
        outcome.more = False
        log.add(Outcome.WAITING, waiting)
        log.save(outcome, xero_calls=0, salesforce_calls=0)
        return outcome
    xero = XeroApi.for_connection(_connection(integration.xero_connection))
    try:
        invoices = _invoices(xero, states)
        _write(integration, config, states, invoices, log, outcome)
    except XeroRateLimited as exc:
        wait = exc.retry_after or 60.0
        outcome.waiting = (
            f"Xero's call limit is reached ({exc.problem or 'rate limit'}): the write-back "
            f"resumes in {round(wait)} s."
        )
        log.add(Outcome.WAITING, outcome.waiting)
        queue_writeback(integration_id=integration_id, countdown=max(wait, 1.0))
        outcome.more = False
    except ReauthorizationRequired as exc:
        outcome.waiting = f"Write-back waits: {exc.message}"
        log.add(Outcome.WAITING, outcome.waiting)
        outcome.more = False
    except ProviderError as exc:
        if exc.permanent:
            # Refused whole (not a field: those are answered per record): retrying would be
            # refused again. Xero's next change to these invoices tries again.
            outcome.waiting = f"Write-back failed: {exc.message}"
            log.add(Outcome.FAILED, f"{outcome.waiting} It is tried again on Xero's next change.")
            _clear(states)
            log.save(outcome, xero_calls=xero.calls, salesforce_calls=outcome.salesforce_calls)
            return outcome
        # Transient (a timeout, a 5xx): the task retries; the news stays marked meanwhile.
        outcome.waiting = f"Write-back could not finish: {exc.message}"
        log.add(Outcome.WAITING, f"{outcome.waiting} It is tried again shortly.")
        log.save(outcome, xero_calls=xero.calls, salesforce_calls=0)
        raise
    log.save(outcome, xero_calls=xero.calls, salesforce_calls=outcome.salesforce_calls)
    if outcome.more:
        queue_writeback(integration_id=integration_id, countdown=0.0)
    return outcome


def _connection(connection: Connection | None) -> Connection:
    assert connection is not None  # _why_waiting checked it
    return connection


def _why_waiting(integration: Integration) -> str:
    """Why the write-back cannot run now, for the log; "" when it can."""
    if not Integration.objects.filter(runnable(), pk=integration.pk).exists():
        return (
            "Write-back waits: syncing is off or paused, or a connection needs attention. "
            "Xero's news is written once syncing runs again."
        )
    problems = [p for p in stored_problems(integration) if p.behaviour == Behaviour.WRITEBACK]
    if problems:
        return f"Write-back waits for its settings (Configuration required): {problems[0].message}"
    return ""


def _invoices(xero: XeroApi, states: list[WritebackState]) -> dict[str, Invoice]:
    ids = sorted({s.ledger.xero_invoice_id for s in states if s.ledger.xero_invoice_id})
    if not ids:
        return {}
    found = xero.invoices_by_id(ids, priority=Priority.UPDATE)
    return {invoice_id.lower(): invoice for invoice_id, invoice in found.items()}


def _write(
    integration: Integration,
    config: SyncConfig,
    states: list[WritebackState],
    invoices: dict[str, Invoice],
    log: _Log,
    outcome: WritebackOutcome,
) -> None:
    plan: list[tuple[WritebackState, dict[str, Value]]] = []
    done: list[WritebackState] = []
    for state in states:
        invoice = invoices.get(state.ledger.xero_invoice_id.lower())
        if invoice is None:
            # Deleted in Xero, or never sent: nothing to show; the sync's own runs say why.
            done.append(state)
            continue
        values = values_for(
            invoice,
            config.writeback_map,
            url_template=settings.XERO_INVOICE_URL,
            short_code=integration.xero_connection.short_code
            if integration.xero_connection
            else "",
        )
        diff = changed(values, state.values or {})
        if diff:
            plan.append((state, diff))
        else:
            outcome.unchanged += 1
            done.append(state)
    _clear(done)
    if not plan:
        return
    salesforce = _connection(integration.salesforce_connection)
    with salesforce_client(salesforce) as client:
        try:
            results = client.update_records(
                "Opportunity",
                [{"Id": state.ledger.salesforce_id, **diff} for state, diff in plan],
            )
        finally:
            outcome.salesforce_calls = client.calls
    trouble: list[str] = []
    for (state, diff), result in zip(plan, results, strict=True):
        _record(state, diff, result, log, outcome, trouble)
    if trouble:
        _require_configuration(integration_id=integration.pk, message=trouble[0])


def _record(
    state: WritebackState,
    diff: dict[str, Value],
    result: SaveResult,
    log: _Log,
    outcome: WritebackOutcome,
    trouble: list[str],
) -> None:
    ledger = state.ledger
    if result.success:
        state.values = {**(state.values or {}), **{k: stored(v) for k, v in diff.items()}}
        state.written_at = timezone.now()
        state.last_error = ""
        state.save(update_fields=["values", "written_at", "last_error"])
        _clear([state])
        outcome.written += 1
        shown = ", ".join(
            f"{k} = {stored(v) if v is not None else 'empty'}" for k, v in diff.items()
        )
        log.add(
            Outcome.UPDATED, f"Wrote Xero's values onto the opportunity: {shown}.", ledger=ledger
        )
        return
    codes = {e.status_code for e in result.errors}
    said = "; ".join(f"{e.status_code}: {e.message}" for e in result.errors) or "no reason given"
    state.last_error = said[:2000]
    state.save(update_fields=["last_error"])
    outcome.failed += 1
    if codes & FIELD_ERRORS:
        message = (
            f"Salesforce refused the write-back ({said}). Check that the connected user may "
            "edit the chosen Opportunity fields; write-back waits until the settings are fixed."
        )
        trouble.append(message)
        log.add(Outcome.ATTENTION, message, ledger=ledger)
        return  # still marked: written once the fields can be
    _clear([state])
    if codes & GONE_ERRORS:
        log.add(
            Outcome.WARNING,
            f"The opportunity is no longer in Salesforce ({said}); nothing was written.",
            ledger=ledger,
        )
    else:
        log.add(
            Outcome.FAILED,
            f"Salesforce refused the write-back ({said}). It is tried again on Xero's next "
            "change to the invoice.",
            ledger=ledger,
        )


def _clear(states: Sequence[WritebackState]) -> None:
    """Done with the news these rows were marked for: unless newer news came meanwhile."""
    for state in states:
        WritebackState.objects.filter(pk=state.pk, requested_at=state.requested_at).update(
            requested_at=None
        )


def _require_configuration(*, integration_id: int, message: str) -> None:
    """Salesforce refused a chosen field: "Configuration required", holding back the
    write-back only, until the configuration check finds the fields writable again."""
    problem = ConfigProblem(field="writeback_fields", message=message, behaviour="writeback")
    with transaction.atomic():
        row = Integration.objects.select_for_update().get(pk=integration_id)
        problems = list(row.config_problems or [])
        if problem.to_json() not in problems:
            row.config_problems = [*problems, problem.to_json()]
            row.save(update_fields=["config_problems"])
