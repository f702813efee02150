"""Acting on many log entries at once: "retry all" of a run, of a search, of a group of causes.

Each is one service call: one audit row (``RecordAction``) per record sent again, the records'
open entries dismissed as retried, and ONE sync queued for all of them. Bounded: at most
:data:`BULK_LIMIT` records per action (the newest failures first); the caller is told how many
more there were.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from integrations.core.models import Integration
from integrations.core.queue import enqueue_sync
from integrations.sync.models import OPEN_OUTCOMES, RecordAction, SyncLogEntry, SyncRun
from integrations.sync.search import LogQuery, log_entries
from integrations.sync.services import ledgers_retry

BULK_LIMIT = 5000
SCAN_LIMIT = 50_000
"""Open entries read at most per action (a record may have several)."""


@dataclass(frozen=True)
class BulkRetry:
    retried: int
    """Records sent again."""
    left: int
    """Records left as they are: being sent, or their last send's outcome is being checked
    (sending them again now could create their invoice twice; the next run settles them)."""
    beyond_limit: int
    """Matching records not touched because the action is bounded to ``BULK_LIMIT`` (counted
    among the first ``SCAN_LIMIT`` open entries: at least this many)."""

    def summary(self) -> str:
        parts = [f"{self.retried} record{'s' if self.retried != 1 else ''} queued to be sent again"]
        if self.left:
            parts.append(
                f"{self.left} left as they are: being sent or their outcome is being checked "
                "in Xero (the next run settles them)"
            )
        if self.beyond_limit:
            parts.append(
                f"{self.beyond_limit} more not retried: at most {BULK_LIMIT} at once; "
                "retry again once these have gone"
            )
        return "; ".join(parts) + "."


def retry_run(*, integration: Integration, run: SyncRun, user: User | None) -> BulkRetry:
    """Sends again every record of ``run`` that failed or needs a person and is still open."""
    return _retry_open(
        integration=integration,
        query=LogQuery(run_id=run.pk),
        user=user,
        note=f"retry all of run #{run.pk}",
    )


def retry_search(*, integration: Integration, query: LogQuery, user: User | None) -> BulkRetry:
    """Sends again every record with an open failure among what ``query`` finds."""
    what = "group" if query.cause else "search"
    return _retry_open(
        integration=integration,
        query=query,
        user=user,
        note=f"retry all of {what}: {query.describe()}",
    )


def _retry_open(
    *, integration: Integration, query: LogQuery, user: User | None, note: str
) -> BulkRetry:
    # Only what is open: "retry all" re-sends failures, never invoices already in Xero.
    entries = (
        log_entries(integration=integration, query=query)
        .filter(outcome__in=OPEN_OUTCOMES, dismissed_at__isnull=True, ledger__isnull=False)
        .order_by("-created_at", "-id")
        .values_list("pk", "ledger_id")[:SCAN_LIMIT]
    )
    newest: dict[int, int] = {}  # ledger id → its newest open entry
    by_ledger: dict[int, list[int]] = {}
    beyond: set[int] = set()
    # Read in bounded slices: a record may have several open entries.
    for entry_id, ledger_id in entries.iterator(chunk_size=2000):
        if ledger_id not in newest:
            if len(newest) >= BULK_LIMIT:
                beyond.add(ledger_id)
                continue
            newest[ledger_id] = entry_id
        by_ledger.setdefault(ledger_id, []).append(entry_id)
    if not newest:
        return BulkRetry(retried=0, left=0, beyond_limit=len(beyond))
    now = timezone.now()
    with transaction.atomic():
        retried = ledgers_retry(integration_id=integration.pk, ledger_ids=list(newest))
        dismissed = [entry for ledger_id in retried for entry in by_ledger[ledger_id]]
        for start in range(0, len(dismissed), 1000):
            SyncLogEntry.objects.filter(
                pk__in=dismissed[start : start + 1000], dismissed_at__isnull=True
            ).update(dismissed_at=now, dismissed_by=user)
        RecordAction.objects.bulk_create(
            [
                RecordAction(
                    integration=integration,
                    ledger_id=ledger_id,
                    log_entry_id=newest[ledger_id],
                    user=user,
                    action=RecordAction.Action.RETRY,
                    note=note[:2000],
                    at=now,
                )
                for ledger_id in retried
            ],
            batch_size=1000,
        )
        if retried:
            enqueue_sync(integration_id=integration.pk, trigger=SyncRun.Trigger.MANUAL)
    return BulkRetry(
        retried=len(retried), left=len(newest) - len(retried), beyond_limit=len(beyond)
    )
