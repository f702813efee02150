"""Reads for the support pages."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Account
from integrations.core.models import Integration
from integrations.sync.models import OPEN_OUTCOMES, SyncLogEntry
from support.models import SupportRequest

# The records one request can name: enough for any real question, and a bounded form and email.
MAX_RECORDS = 50


def open_failures_to_report(*, integration: Integration) -> list[SyncLogEntry]:
    """The integration's records that need attention, newest first, one entry per record."""
    entries = (
        SyncLogEntry.objects.filter(
            integration=integration, outcome__in=OPEN_OUTCOMES, dismissed_at__isnull=True
        )
        .select_related("ledger")
        .order_by("-created_at", "-id")[: MAX_RECORDS * 4]
    )
    chosen: list[SyncLogEntry] = []
    seen: set[object] = set()
    for entry in entries:
        key = entry.ledger_id if entry.ledger_id is not None else ("entry", entry.pk)
        if key in seen:
            continue
        seen.add(key)
        chosen.append(entry)
        if len(chosen) == MAX_RECORDS:
            break
    return chosen


def account_support_requests(*, account: Account) -> QuerySet[SupportRequest]:
    return SupportRequest.objects.filter(account=account).select_related(
        "integration", "opened_by", "account"
    )
