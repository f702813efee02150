"""The sync's services for people: importing history (back-fills) and sending a record again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from integrations.connections.xero.metadata import metadata_invalidate
from integrations.core.models import Integration
from integrations.core.pauses import runnable
from integrations.core.queue import enqueue_sync
from integrations.sync.lookup import resync_blocked
from integrations.sync.models import (
    OPEN_OUTCOMES,
    Backfill,
    ContactLink,
    ItemLink,
    LedgerEntry,
    RecordAction,
    SyncLogEntry,
    SyncRun,
    XeroOperation,
)

MAX_BACKFILL_YEARS = 10


class BackfillError(ValueError):
    """A back-fill that cannot start, with the reason for the person who asked."""


def backfill_start(*, integration: Integration, since: dt.date, user: User | None) -> Backfill:
    """Asks for won opportunities closing on or after ``since`` to be imported; runs now."""
    today = timezone.localdate()
    if since > today:
        raise BackfillError("Choose a date in the past: nothing has closed after today yet.")
    if since < today.replace(year=today.year - MAX_BACKFILL_YEARS):
        raise BackfillError(f"Back-fills reach at most {MAX_BACKFILL_YEARS} years back.")
    if integration.salesforce_connection_id is None or integration.xero_connection_id is None:
        raise BackfillError("Connect both Salesforce and Xero before importing history.")
    try:
        with transaction.atomic():
            backfill = Backfill.objects.create(
                integration=integration, since=since, requested_by=user
            )
    except IntegrityError as exc:
        raise BackfillError(
            "A back-fill is already running for this integration: wait for it or cancel it."
        ) from exc
    enqueue_sync(integration_id=integration.pk, trigger=SyncRun.Trigger.BACKFILL)
    return backfill


def backfill_cancel(*, integration: Integration) -> bool:
    """Stops the running back-fill after its current batch; what it imported stays."""
    return bool(
        Backfill.objects.filter(integration=integration, status=Backfill.Status.RUNNING).update(
            status=Backfill.Status.CANCELLED, finished_at=timezone.now()
        )
    )


def ledger_retry(*, entry_id: int) -> None:
    """Asks for one ledger row to be sent again (a support person's "retry"); see
    :func:`ledgers_retry`."""
    integration_id = LedgerEntry.objects.values_list("integration_id", flat=True).get(pk=entry_id)
    ledgers_retry(integration_id=integration_id, ledger_ids=[entry_id])


RETRY_LEFT_STATES = (LedgerEntry.State.SENDING, LedgerEntry.State.UNKNOWN)


def ledgers_retry(*, integration_id: int, ledger_ids: Sequence[int]) -> list[int]:
    """Asks for ledger rows of one integration to be sent again; the ids of those that will be.

    A row becomes PENDING with no content hash: the next run re-reads its opportunity by id
    and writes it, even when nothing changed in Salesforce. A row being sent or whose last send
    has an unknown outcome is left as it is: making it PENDING would skip the lookup that
    settles it and could create its invoice twice; the next run re-reads it anyway.
    """
    rows = LedgerEntry.objects.filter(integration_id=integration_id, pk__in=ledger_ids).exclude(
        state__in=RETRY_LEFT_STATES
    )
    with transaction.atomic():
        retried = list(rows.select_for_update().values_list("pk", flat=True))
        LedgerEntry.objects.filter(pk__in=retried).update(
            state=LedgerEntry.State.PENDING,
            content_hash="",
            # A new key: Xero would replay its stored refusal of the same content under the old.
            generation=F("generation") + 1,
            updated_at=timezone.now(),
        )
    # A person retries after fixing something, often in Xero (a currency, a tax rate): the
    # next run reads the organisation's settings afresh rather than trusting the cache.
    integration = Integration.objects.select_related("xero_connection").get(pk=integration_id)
    if integration.xero_connection is not None:
        metadata_invalidate(integration.xero_connection)
    return retried


def log_entry_dismiss(*, entry: SyncLogEntry, user: User | None, note: str = "") -> bool:
    """Marks a failure or a "needs a person" entry as seen: it leaves the attention list.

    False when it was dismissed already (nothing is written twice).
    """
    with transaction.atomic():
        dismissed = SyncLogEntry.objects.filter(pk=entry.pk, dismissed_at__isnull=True).update(
            dismissed_at=timezone.now(), dismissed_by=user
        )
        if dismissed:
            RecordAction.objects.create(
                integration_id=entry.integration_id,
                ledger_id=entry.ledger_id,
                log_entry=entry,
                user=user,
                action=RecordAction.Action.DISMISS,
                note=note[:2000],
            )
    entry.refresh_from_db(fields=["dismissed_at", "dismissed_by"])
    return bool(dismissed)


def log_entry_retry(*, entry: SyncLogEntry, user: User | None) -> bool:
    """Sends the entry's record again on a sync started now (after its cause was fixed).

    False when the entry is about no record that can be sent (a run-wide message).
    """
    if entry.ledger_id is None:
        return False
    with transaction.atomic():
        ledger_retry(entry_id=entry.ledger_id)
        SyncLogEntry.objects.filter(pk=entry.pk, dismissed_at__isnull=True).update(
            dismissed_at=timezone.now(), dismissed_by=user
        )
        RecordAction.objects.create(
            integration_id=entry.integration_id,
            ledger_id=entry.ledger_id,
            log_entry=entry,
            user=user,
            action=RecordAction.Action.RETRY,
        )
        enqueue_sync(integration_id=entry.integration_id, trigger=SyncRun.Trigger.MANUAL)
    return True


class SyncNowError(ValueError):
    """A sync that cannot start now, with the reason for the person who asked."""


def integration_sync_now(*, integration: Integration) -> None:
    """Queues a sync of the integration now instead of at its next poll.

    Support staff may ask for it: a sync reads what is due in Salesforce and sends it, exactly
    as the poll would, so it changes nothing a person configured. An integration that may not
    sync (off, a connection to renew, a pause) is refused with the reason rather than queued
    for a worker to drop silently.
    """
    if not Integration.objects.filter(runnable(), pk=integration.pk).exists():
        raise SyncNowError(
            "Syncing cannot start now: it is switched off, a connection needs reconnecting, or "
            "it is paused (the status above says which)."
        )
    enqueue_sync(integration_id=integration.pk, trigger=SyncRun.Trigger.MANUAL)


class ResyncError(ValueError):
    """A re-sync that cannot start, with the reason for the person who asked."""


def ledger_resync(*, ledger: LedgerEntry, user: User | None, told: str = "") -> RecordAction:
    """Re-syncs one record from scratch on a sync started now (``told``: what the person was
    told would happen, kept on the audit row).

    Forgets what the record's sync remembered — the content hash of its invoice, the links to
    the Xero contact and items it used, the organisation's cached settings — so the next run
    re-reads the opportunity by id, matches its contact and items in Xero again and writes its
    invoice through the protocol: an update in place of the invoice it has (the invoice step
    reads its status first and leaves a paid or closed one alone), a create only when it has
    none. A new generation gives the write a new Idempotency-Key, so Xero does not replay an
    old answer. Raises :class:`ResyncError` when the row is being sent, its outcome is being
    checked, or the opportunity no longer counts.
    """
    now = timezone.now()
    with transaction.atomic():
        row = (
            LedgerEntry.objects.select_for_update(of=("self",))
            .select_related("integration")
            .get(pk=ledger.pk)
        )
        blocked = resync_blocked(row)
        if blocked:
            raise ResyncError(blocked)
        invoice_ops = XeroOperation.objects.filter(
            ledger=row, kind__in=(XeroOperation.Kind.INVOICE, XeroOperation.Kind.INVOICE_UPDATE)
        ).order_by("-created_at", "-id")[:20]
        contact_ids = {row.xero_contact_id}
        codes: set[str] = set()
        for op in invoice_ops:
            contact_ids.add(str(op.lookup.get("contact_id") or ""))
            for line in op.body.get("LineItems") or [] if isinstance(op.body, dict) else []:
                if isinstance(line, dict) and line.get("ItemCode"):
                    codes.add(str(line["ItemCode"]))
        contact_ids.discard("")
        ContactLink.objects.filter(
            integration_id=row.integration_id, xero_contact_id__in=contact_ids
        ).delete()
        ItemLink.objects.filter(integration_id=row.integration_id, code__in=codes).delete()
        LedgerEntry.objects.filter(pk=row.pk).update(
            state=LedgerEntry.State.PENDING,
            content_hash="",
            generation=F("generation") + 1,
            updated_at=now,
        )
        # What was open about it is answered by this run; a new failure is logged anew.
        SyncLogEntry.objects.filter(
            ledger=row, outcome__in=OPEN_OUTCOMES, dismissed_at__isnull=True
        ).update(dismissed_at=now, dismissed_by=user)
        action = RecordAction.objects.create(
            integration_id=row.integration_id,
            ledger=row,
            user=user,
            action=RecordAction.Action.RESYNC,
            note=told[:2000],
            at=now,
        )
        enqueue_sync(integration_id=row.integration_id, trigger=SyncRun.Trigger.MANUAL)
    connection = row.integration.xero_connection
    if connection is not None:
        metadata_invalidate(connection)
    ledger.refresh_from_db()
    return action
