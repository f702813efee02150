"""Retention: the sync's history is pruned by age, in small batches; what matters is kept.

Kept however old: log entries still open (failed or needing a person, not dismissed — they stay
until fixed), every audit row (``RecordAction`` loses only its link to a pruned entry and stays
on the record's page by its ledger; configuration changes are never touched), the ledger and
everything it holds (operations, payments, credit notes), and the newest runs of each
integration. Each batch is one short statement on primary keys found through the
``(integration, outcome, created_at)`` index, so no lock is held for long and a run writing new
entries meanwhile never waits behind the pruning.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TypeVar

from django.db import models, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from integrations.core.models import Integration
from integrations.sync.models import OPEN_OUTCOMES, SyncLogEntry, SyncRun, XeroWebhookEvent

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=models.Model)

RUNS_KEPT = 50
"""The newest runs of each integration stay whatever their age: its "Recent runs" never empties."""

RUNS_MIN_AGE = dt.timedelta(days=35)
"""Runs younger than this stay even with a shorter retention: billing counts the invoices of the
last 30 days from them (``billing.usage``)."""


@dataclass(frozen=True)
class PruneResult:
    entries: int
    runs: int
    webhook_events: int


def history_prune(*, older_than: dt.datetime, batch_size: int = 5000) -> PruneResult:
    """Log entries, then runs left empty, then processed Xero webhook events, older than
    ``older_than``."""
    result = PruneResult(
        entries=log_prune(older_than=older_than, batch_size=batch_size),
        runs=runs_prune(older_than=older_than, batch_size=batch_size),
        webhook_events=webhook_events_prune(older_than=older_than, batch_size=batch_size),
    )
    logger.info(
        "sync history pruned: %d log entries, %d runs, %d webhook events older than %s",
        result.entries,
        result.runs,
        result.webhook_events,
        older_than.isoformat(),
    )
    return result


def log_prune(*, older_than: dt.datetime, batch_size: int = 5000) -> int:
    """Deletes log entries created before ``older_than``, except open ones; returns how many.

    Per integration and outcome, so each batch's id lookup is a range of the
    ``(integration, outcome, -created_at)`` index rather than a scan of the table.
    """
    deleted = 0
    for integration_id in _integration_ids():
        for outcome in SyncLogEntry.Outcome.values:
            rows = SyncLogEntry.objects.filter(
                integration_id=integration_id, outcome=outcome, created_at__lt=older_than
            )
            if outcome in OPEN_OUTCOMES:
                # Failed and unresolved: kept until someone fixes or dismisses it.
                rows = rows.filter(dismissed_at__isnull=False)
            deleted += _delete_in_batches(SyncLogEntry, rows, batch_size)
    return deleted


def runs_prune(*, older_than: dt.datetime, batch_size: int = 5000, keep: int = RUNS_KEPT) -> int:
    """Deletes finished runs started before ``older_than`` (and at least :data:`RUNS_MIN_AGE`
    ago) that no log entry refers to any more, keeping each integration's ``keep`` newest."""
    cutoff = min(older_than, timezone.now() - RUNS_MIN_AGE)
    deleted = 0
    for integration_id in _integration_ids():
        newest = list(
            SyncRun.objects.filter(integration_id=integration_id)
            .order_by("-started_at")
            .values_list("started_at", flat=True)[keep - 1 : keep]
        )
        if not newest:
            continue  # fewer than ``keep`` runs: all stay
        rows = (
            SyncRun.objects.filter(
                integration_id=integration_id, started_at__lt=min(cutoff, newest[0])
            )
            .exclude(status=SyncRun.Status.RUNNING)
            .filter(~Exists(SyncLogEntry.objects.filter(run=OuterRef("pk"))))
        )
        deleted += _delete_in_batches(SyncRun, rows, batch_size)
    return deleted


def webhook_events_prune(*, older_than: dt.datetime, batch_size: int = 5000) -> int:
    """Deletes Xero webhook events processed (or ignored) and received before ``older_than``.

    Each was only a hint to read a document again; a pending one stays until processed.
    """
    rows = XeroWebhookEvent.objects.filter(
        state__in=(XeroWebhookEvent.State.DONE, XeroWebhookEvent.State.IGNORED),
        received_at__lt=older_than,
    )
    return _delete_in_batches(XeroWebhookEvent, rows, batch_size)


def _integration_ids() -> list[int]:
    return list(Integration.objects.order_by("pk").values_list("pk", flat=True))


def _delete_in_batches(model: type[M], rows: models.QuerySet[M], batch_size: int) -> int:
    """Deletes ``rows`` ``batch_size`` primary keys at a time, each batch its own transaction
    (Django's delete, so ``SET_NULL`` links such as an audit row's are cleared, not broken)."""
    deleted = 0
    while True:
        ids = list(rows.order_by().values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        with transaction.atomic():
            _, per_model = model._default_manager.filter(pk__in=ids).delete()
        deleted += per_model.get(model._meta.label, 0)
        if len(ids) < batch_size:
            return deleted
