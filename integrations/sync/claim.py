"""One sync per integration at a time, across workers and beat schedulers.

A claim is a conditional UPDATE: it succeeds only if no live claim exists, and the row count
says who won. Nothing is held across I/O, and a crashed worker's claim simply expires.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone

from integrations.models import Integration


def integration_claim(*, integration_id: int, worker: str, ttl: dt.timedelta) -> bool:
    """True if ``worker`` may sync the integration now (it is on, not paused, not claimed)."""
    now = timezone.now()
    won = (
        Integration.objects.filter(pk=integration_id, is_enabled=True, paused_reason="")
        .filter(Q(sync_claimed_until__isnull=True) | Q(sync_claimed_until__lte=now))
        .update(sync_claimed_until=now + ttl, sync_claimed_by=worker[:100])
    )
    return won == 1


def integration_extend_claim(*, integration_id: int, worker: str, ttl: dt.timedelta) -> bool:
    """Keeps a long run's claim alive; False if it was lost (expired and taken by another)."""
    now = timezone.now()
    kept = Integration.objects.filter(
        pk=integration_id, sync_claimed_by=worker[:100], sync_claimed_until__gt=now
    ).update(sync_claimed_until=now + ttl)
    return kept == 1


def integration_release(*, integration_id: int, worker: str) -> None:
    """Ends ``worker``'s claim; a claim since taken by another worker is left alone."""
    Integration.objects.filter(pk=integration_id, sync_claimed_by=worker[:100]).update(
        sync_claimed_until=None, sync_claimed_by=""
    )
