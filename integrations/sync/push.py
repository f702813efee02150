"""Real-time push: Salesforce Outbound Messages received, recorded, and turned into runs.

A message only says *which* opportunities changed. It is checked (its URL token, its size, its
XML, its organisation), its notifications are recorded once each (``PushReceipt``) and the
opportunities added to the pending set (``PushNotification``), all in one transaction; only
then is it acknowledged, and a push run queued. The run (``integrations.sync.run``, trigger
``push``) re-reads those opportunities through the same steps and ledger as the poll
(``steps.read.pushed``), so a message repeated, late or out of order cannot duplicate anything.

Runs are micro-batched: the first message schedules a run a short window later (one scheduled
run at a time, through a cache key), and every message arriving meanwhile joins it. The window
widens while the Xero organisation's minute or day budget runs low, and push waits for the poll
once the day's reserve is reached (``batch_window``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Subquery, Sum
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from integrations.connections.crypto import decrypt_str, encrypt_str
from integrations.connections.ratelimit import XeroLimits, xero_limiter
from integrations.connections.salesforce.outbound import (
    MalformedMessage,
    OutboundMessage,
    ack,
    fault,
    parse_message,
    same_org,
)
from integrations.core.models import ConfigChange, Integration
from integrations.sync import calendar
from integrations.sync.models import (
    OPEN_OPERATION_STATES,
    Backfill,
    CreditNoteEntry,
    LedgerEntry,
    PaymentEntry,
    PushEndpoint,
    PushNotification,
    PushReceipt,
    PushTally,
    SyncLogEntry,
    SyncRun,
    XeroOperation,
)

logger = logging.getLogger(__name__)

PUSH_TASK = "integrations.tasks.sync_push"
URL_NAME = "push_salesforce_outbound"
# A refused message is written to the integration's log at most this often (the tally counts
# every one): a misconfigured org retrying for a day must not fill the database.
LOG_EVERY = dt.timedelta(minutes=10)
# Receipts outlive Salesforce's 24 hours of retries with a margin; then they are forgotten.
RECEIPTS_KEPT = dt.timedelta(hours=48)
TALLIES_KEPT = dt.timedelta(days=2)
# The widest window: the poll's own interval. Waiting longer than a poll would gain nothing.
MAX_WINDOW = 60.0
# Seconds past the longest window after which a pending notification counts as left unread.
UNREAD_AFTER_MARGIN = 30.0


# --- the endpoint ------------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def push_endpoint_for(*, integration: Integration) -> PushEndpoint:
    """The integration's endpoint, created with a fresh token the first time it is asked for."""
    endpoint = PushEndpoint.objects.filter(integration=integration).first()
    if endpoint is not None:
        return endpoint
    token = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            return PushEndpoint.objects.create(
                integration=integration, token=encrypt_str(token), token_digest=_digest(token)
            )
    except IntegrityError:
        # Two first visits at once: the other one's endpoint stands.
        return PushEndpoint.objects.get(integration=integration)


def push_endpoint_url(endpoint: PushEndpoint) -> str:
    """The full URL to paste into the Outbound Message (the token in it is the secret)."""
    path = reverse(URL_NAME, kwargs={"token": decrypt_str(endpoint.token)})
    return f"{settings.SITE_URL}{path}"


def push_endpoint_rotate(*, integration: Integration, user: User | None) -> PushEndpoint:
    """A new URL; the old one answers 404 from now on (and is logged when Salesforce uses it)."""
    endpoint = push_endpoint_for(integration=integration)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        PushEndpoint.objects.filter(pk=endpoint.pk).update(
            token=encrypt_str(token),
            token_digest=_digest(token),
            previous_token_digest=endpoint.token_digest,
            rotated_at=timezone.now(),
        )
        # The audit says that it changed, never the secret.
        ConfigChange.objects.create(
            integration=integration, user=user, what="push_url", old="(previous)", new="(new)"
        )
    endpoint.refresh_from_db()
    return endpoint


def push_test_request(*, integration: Integration) -> PushEndpoint:
    """Starts the "Send a test message" check: the page shows whether a message arrives."""
    endpoint = push_endpoint_for(integration=integration)
    endpoint.test_requested_at = timezone.now()
    endpoint.test_received_at = None
    endpoint.save(update_fields=["test_requested_at", "test_received_at"])
    return endpoint


# --- receiving ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    body: str


def push_receive(*, token: str, body: bytes, oversized: bool) -> Reply:
    """Checks and records one Outbound Message; the reply is what Salesforce is answered.

    Nothing is stored for a message that fails a check, apart from the refusal's count and a
    (rate-limited) entry in the integration's log; Salesforce delivers a refused message again,
    so nothing is lost once the cause is fixed.
    """
    digest = _digest(token)
    endpoint = (
        PushEndpoint.objects.select_related("integration__salesforce_connection")
        .filter(token_digest=digest)
        .first()
    )
    if endpoint is None:
        rotated = PushEndpoint.objects.filter(previous_token_digest=digest).first()
        reason = "No integration receives messages at this URL."
        if rotated is not None:
            reason = (
                "This push URL was replaced; set the Outbound Message's endpoint URL to the "
                "one shown on the integration's Real-time push page."
            )
            _refuse(rotated, f"A message arrived at the old push URL. {reason}", count=False)
        return Reply(404, fault(reason))
    _arrived(endpoint)
    if oversized:
        reason = f"The message is larger than {settings.PUSH_MAX_BODY_BYTES} bytes."
        _refuse(endpoint, f"A push message was refused: {reason}")
        return Reply(413, fault(reason))
    try:
        message = parse_message(body)
    except MalformedMessage as exc:
        _refuse(endpoint, f"A push message was refused: {exc}")
        return Reply(400, fault(str(exc)))
    connection = endpoint.integration.salesforce_connection
    if connection is None or not same_org(message.organization_id, connection.external_id):
        reason = (
            f"The message comes from the Salesforce org {message.organization_id}, not the one "
            "this integration is connected to."
        )
        _refuse(endpoint, f"A push message was refused: {reason}")
        return Reply(403, fault(reason))
    queued = _record(endpoint, message)
    if queued:
        integration_id = endpoint.integration_id
        transaction.on_commit(lambda: push_schedule(integration_id=integration_id))
    return Reply(200, ack())


def _record(endpoint: PushEndpoint, message: OutboundMessage) -> bool:
    """Receipts, pending opportunities and health in one transaction; True when there is news
    for a run (a repeated delivery has none)."""
    now = timezone.now()
    integration_id = endpoint.integration_id
    with transaction.atomic():
        ids = {n.notification_id for n in message.notifications}
        known = set(
            PushReceipt.objects.filter(
                integration_id=integration_id, notification_id__in=ids
            ).values_list("notification_id", flat=True)
        )
        fresh = [n for n in message.notifications if n.notification_id not in known]
        PushReceipt.objects.bulk_create(
            [
                PushReceipt(integration_id=integration_id, notification_id=n.notification_id)
                for n in {n.notification_id: n for n in fresh}.values()
            ],
            ignore_conflicts=True,
        )
        records = sorted({n.record_id for n in fresh})
        if records:
            # A second notification of an opportunity still pending only moves its time: a
            # run that took the first one leaves this one for the next run.
            PushNotification.objects.bulk_create(
                [
                    PushNotification(
                        integration_id=integration_id, salesforce_id=r, received_at=now
                    )
                    for r in records
                ],
                update_conflicts=True,
                unique_fields=["integration", "salesforce_id"],
                update_fields=["received_at"],
            )
        PushEndpoint.objects.filter(pk=endpoint.pk).update(last_message_at=now)
        _tally(integration_id, now, messages=1, notifications=len(fresh))
    return bool(records)


def _arrived(endpoint: PushEndpoint) -> None:
    """Any delivery to a valid URL answers the "Send a test message" check."""
    if endpoint.test_requested_at is not None and endpoint.test_received_at is None:
        PushEndpoint.objects.filter(pk=endpoint.pk, test_received_at__isnull=True).update(
            test_received_at=timezone.now()
        )


def _refuse(endpoint: PushEndpoint, message: str, *, count: bool = True) -> None:
    now = timezone.now()
    if count:
        PushEndpoint.objects.filter(pk=endpoint.pk).update(
            last_failure_at=now, last_failure=message[:2000]
        )
        _tally(endpoint.integration_id, now, failures=1)
    logger.info("push: integration %s: %s", endpoint.integration_id, message)
    if cache.add(f"push:logged:{endpoint.integration_id}", 1, LOG_EVERY.total_seconds()):
        SyncLogEntry.objects.create(
            run=None,
            integration_id=endpoint.integration_id,
            step="push",
            outcome=SyncLogEntry.Outcome.FAILED,
            message=f"{message} (Further refusals within {LOG_EVERY.seconds // 60} minutes are "
            "counted on the Real-time push page, not listed here.)",
        )


def _tally(
    integration_id: int,
    now: dt.datetime,
    *,
    messages: int = 0,
    notifications: int = 0,
    failures: int = 0,
) -> None:
    hour = now.replace(minute=0, second=0, microsecond=0)
    changes = {
        "messages": F("messages") + messages,
        "notifications": F("notifications") + notifications,
        "failures": F("failures") + failures,
    }
    rows = PushTally.objects.filter(integration_id=integration_id, hour=hour)
    if rows.update(**changes):
        return
    try:
        with transaction.atomic():
            PushTally.objects.create(
                integration_id=integration_id,
                hour=hour,
                messages=messages,
                notifications=notifications,
                failures=failures,
            )
    except IntegrityError:
        rows.update(**changes)


# --- health ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushHealth:
    configured: bool
    last_message_at: dt.datetime | None
    messages_24h: int
    notifications_24h: int
    failures_24h: int
    last_failure_at: dt.datetime | None
    last_failure: str
    healthy: bool


def push_health(*, integration: Integration, now: dt.datetime | None = None) -> PushHealth:
    return push_health_for(integration_ids=[integration.pk], now=now)[integration.pk]


def push_health_for(
    *, integration_ids: Sequence[int], now: dt.datetime | None = None
) -> dict[int, PushHealth]:
    """Push health of several integrations in two queries (an account's dashboard)."""
    moment = now or timezone.now()
    endpoints = {
        e.integration_id: e for e in PushEndpoint.objects.filter(integration_id__in=integration_ids)
    }
    totals = {
        row["integration_id"]: row
        for row in PushTally.objects.filter(
            integration_id__in=integration_ids, hour__gt=moment - dt.timedelta(hours=24)
        )
        .values("integration_id")
        .annotate(m=Sum("messages"), n=Sum("notifications"), f=Sum("failures"))
    }
    health: dict[int, PushHealth] = {}
    for integration_id in integration_ids:
        endpoint = endpoints.get(integration_id)
        sums = totals.get(integration_id, {})
        last = endpoint.last_message_at if endpoint is not None else None
        health[integration_id] = PushHealth(
            configured=last is not None,
            last_message_at=last,
            messages_24h=int(sums.get("m") or 0),
            notifications_24h=int(sums.get("n") or 0),
            failures_24h=int(sums.get("f") or 0),
            last_failure_at=endpoint.last_failure_at if endpoint is not None else None,
            last_failure=endpoint.last_failure if endpoint is not None else "",
            healthy=last is not None and last >= moment - _healthy_within(),
        )
    return health


def _healthy_within() -> dt.timedelta:
    return dt.timedelta(seconds=float(settings.PUSH_HEALTHY_WITHIN))


def poll_due(ids: list[int], *, now: dt.datetime | None = None) -> list[int]:
    """The integrations a poll should run now: all but those whose push is healthy, whose
    last poll is recent and that have no work left open. When messages stop, push is no longer
    healthy and the poll runs every time again: a lost message only delays an invoice."""
    moment = now or timezone.now()
    healthy = set(
        PushEndpoint.objects.filter(
            integration_id__in=ids, last_message_at__gte=moment - _healthy_within()
        ).values_list("integration_id", flat=True)
    )
    if not healthy:
        return ids
    since = moment - dt.timedelta(seconds=float(settings.PUSH_HEALTHY_POLL_INTERVAL))
    polled = set(
        SyncRun.objects.filter(
            integration_id__in=healthy, trigger=SyncRun.Trigger.POLL, started_at__gte=since
        ).values_list("integration_id", flat=True)
    )
    skipped = polled - _with_open_work(polled, now=moment)
    return [i for i in ids if i not in skipped]


def _with_open_work(ids: set[int], *, now: dt.datetime) -> set[int]:
    """Those of ``ids`` with work only a run picks up: a write whose answer was lost, an invoice
    still to send, a payment or credit note due, a notification a stopped run left unread.

    A notification younger than the longest batch window (and a margin) is not left unread: its
    push run is queued for it, and a poll taking it first would only race that run. Older, its
    run was lost or refused (the Xero day's budget, a lost message), and the poll takes it.

    Push brings news, not this: after a killed worker, a 5xx or a rate limit, no message may
    come for hours, and the work must not wait ``PUSH_HEALTHY_POLL_INTERVAL`` for the poll."""
    if not ids:
        return set()
    open_ledger = (LedgerEntry.State.PENDING, LedgerEntry.State.SENDING, LedgerEntry.State.UNKNOWN)
    open_payment = (
        PaymentEntry.State.SCHEDULED,
        PaymentEntry.State.SENDING,
        PaymentEntry.State.UNKNOWN,
    )
    open_credit = (
        CreditNoteEntry.State.PENDING,
        CreditNoteEntry.State.SENDING,
        CreditNoteEntry.State.UNKNOWN,
    )
    found: set[int] = set()
    for rows in (
        XeroOperation.objects.filter(integration_id__in=ids, state__in=OPEN_OPERATION_STATES),
        LedgerEntry.objects.filter(integration_id__in=ids, state__in=open_ledger),
        PaymentEntry.objects.filter(
            integration_id__in=ids, state__in=open_payment, pay_on__lte=calendar.today()
        ),
        CreditNoteEntry.objects.filter(integration_id__in=ids, state__in=open_credit),
        PushNotification.objects.filter(
            integration_id__in=ids,
            received_at__lt=now - dt.timedelta(seconds=MAX_WINDOW + UNREAD_AFTER_MARGIN),
        ),
        # A back-fill under way, and a run that read its share: their continuation is a
        # message, and a lost message must not leave the rest for PUSH_HEALTHY_POLL_INTERVAL.
        Backfill.objects.filter(integration_id__in=ids, status=Backfill.Status.RUNNING),
    ):
        found.update(rows.values_list("integration_id", flat=True).distinct())
        if found == ids:
            return found
    newest = SyncRun.objects.filter(integration_id=OuterRef("pk")).order_by("-started_at")
    found.update(
        Integration.objects.filter(pk__in=ids - found)
        .annotate(left_more=Subquery(newest.values("left_more")[:1]))
        .filter(left_more=True)
        .values_list("pk", flat=True)
    )
    return found


def push_prune(*, now: dt.datetime | None = None) -> None:
    """Forgets receipts Salesforce can no longer repeat and tallies the panel no longer shows."""
    moment = now or timezone.now()
    PushReceipt.objects.filter(received_at__lt=moment - RECEIPTS_KEPT).delete()
    PushTally.objects.filter(hour__lt=moment - TALLIES_KEPT).delete()


# --- scheduling --------------------------------------------------------------------------------


def batch_window(
    *, base: float, minute_remaining: int, day_remaining: int, limits: XeroLimits
) -> float | None:
    """Seconds to gather opportunities before a push run; None: leave them to the poll.

    A run costs a few Xero calls whatever its size (a contact lookup, one write of up to 50
    invoices), so a longer window means fewer calls per opportunity. Wide open, the base window
    is kept. As the minute runs low, the window stretches toward the time the minute needs to
    refill; as the day runs low, toward the poll's interval; once no more than the day's reserve
    (kept for new invoices) would remain after another run, push waits for the poll.
    """
    if day_remaining <= limits.day_reserve:
        return None
    window = base
    minute_share = max(minute_remaining, 0) / max(limits.per_minute, 1)
    if minute_share < 0.5:
        # Half the minute used: each run should wait for the calls it spends to come back.
        window = max(window, MAX_WINDOW * (1 - 2 * minute_share))
    spendable = max(limits.per_day - limits.day_reserve, 1)
    day_share = (day_remaining - limits.day_reserve) / spendable
    if day_share < 0.5:
        window = max(window, MAX_WINDOW * (1 - 2 * day_share))
    return min(max(window, base), MAX_WINDOW)


def _window_for(integration_id: int) -> float | None:
    base = float(settings.PUSH_BATCH_WINDOW_SECONDS)
    tenant = (
        Integration.objects.filter(pk=integration_id)
        .values_list("xero_connection__external_id", flat=True)
        .first()
    )
    if not tenant:
        return base
    limiter = xero_limiter()
    remaining = limiter.remaining(tenant)
    if remaining is None:
        return base
    return batch_window(
        base=base,
        minute_remaining=remaining.minute,
        day_remaining=remaining.day,
        limits=limiter.limits,
    )


def _scheduled_key(integration_id: int) -> str:
    return f"push:scheduled:{integration_id}"


def push_schedule(
    *, integration_id: int, immediately: bool = False, countdown: float | None = None
) -> bool:
    """Queues one push run a window from now, unless one is already waiting; True if queued.

    ``immediately``: after a run, for what arrived during it (those opportunities have waited
    a run already; the budget still decides whether push may spend on them).
    ``countdown``: instead of the window (a run refused for the account's share tries again
    then; its opportunities stay pending meanwhile).

    The cache key is the batch: every message of the window finds it and adds its opportunities
    to the pending set the run will take. The run clears the key when it starts, so messages
    arriving during the run queue the next one. Losing the key (a cache restart) only makes an
    extra run; a run that never starts lets the key expire.
    """
    key = _scheduled_key(integration_id)
    if cache.get(key):
        return False  # the batch is open: the rest of a burst costs no limiter read
    window = _window_for(integration_id)
    if window is None:
        logger.info("push: integration %s waits for the poll (Xero day budget)", integration_id)
        return False
    delay = 0.0 if immediately else window if countdown is None else countdown
    if not cache.add(key, 1, delay + 60):
        return False
    current_app.send_task(PUSH_TASK, args=[integration_id], countdown=delay)
    return True


def push_run_starting(*, integration_id: int) -> bool:
    """Called by the push task first: clears the batch's key; True when there is work."""
    cache.delete(_scheduled_key(integration_id))
    return push_pending(integration_id=integration_id)


def push_pending(*, integration_id: int, since: dt.datetime | None = None) -> bool:
    """Whether opportunities wait for a push run (received after ``since``, if given)."""
    pending = PushNotification.objects.filter(integration_id=integration_id)
    if since is not None:
        pending = pending.filter(received_at__gte=since)
    return pending.exists()
