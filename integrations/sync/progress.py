"""Progress of long work on an integration — a first sync or a back-fill — for the panel's
live card: records done out of the total, the rate, and the time left.

A first sync counts its opportunities before reading (``SyncRun.expected_count``) and saves
what it has read after every chunk; a back-fill counts once (``Backfill.total``) and saves
``processed`` as it goes. A first sync that a rate limit stopped continues in later runs, each
counting what is left: between two runs the card says it waits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from django.utils import timezone

from integrations.core.models import Integration
from integrations.sync.models import Backfill, SyncRun

# Runs that are not a first sync's (a pushed deal, a write-back) may come between its runs.
_NOT_FIRST_SYNC = (SyncRun.Trigger.PUSH, SyncRun.Trigger.WRITEBACK)
_CONTINUES = (SyncRun.Status.STOPPED, SyncRun.Status.FAILED)


@dataclass(frozen=True)
class Progress:
    kind: Literal["first_sync", "backfill"]
    done: int
    total: int | None
    """None while it is being counted."""
    started_at: dt.datetime
    now: dt.datetime
    waiting: str = ""
    """Why nothing runs right now (between two runs of a first sync); empty while it runs."""

    @property
    def label(self) -> str:
        return "First sync" if self.kind == "first_sync" else "Import of history"

    @property
    def percent(self) -> int:
        if not self.total:
            return 0
        return min(100, round(100 * self.done / self.total))

    @property
    def rate_per_minute(self) -> float | None:
        """Records a minute since it started (pauses included: they are part of the wait)."""
        minutes = (self.now - self.started_at).total_seconds() / 60
        if self.done <= 0 or minutes <= 0:
            return None
        return self.done / minutes

    @property
    def seconds_left(self) -> int | None:
        rate = self.rate_per_minute
        if rate is None or self.total is None:
            return None
        return round(max(0, self.total - self.done) / rate * 60)

    @property
    def time_left(self) -> str:
        seconds = self.seconds_left
        if seconds is None:
            return ""
        if seconds < 60:
            return "less than a minute"
        if seconds < 3600:
            minutes = round(seconds / 60)
            return f"about {minutes} minute{'s' if minutes != 1 else ''}"
        return f"about {seconds / 3600:.1f} hours"


def live_progress(*, integration: Integration, now: dt.datetime | None = None) -> Progress | None:
    """The long work under way on ``integration``, or None (nothing to watch: stop polling)."""
    moment = now or timezone.now()
    backfill = Backfill.objects.filter(
        integration=integration, status=Backfill.Status.RUNNING
    ).first()
    if backfill is not None:
        return Progress(
            kind="backfill",
            done=backfill.processed,
            total=backfill.total,
            started_at=backfill.created_at,
            now=moment,
        )
    if not integration.is_enabled:
        return None
    run = (
        SyncRun.objects.filter(integration=integration)
        .exclude(trigger__in=_NOT_FIRST_SYNC)
        .only("status", "read_count", "expected_count", "started_at", "error")
        .first()
    )
    if run is None or run.expected_count is None:
        return None
    if run.status == SyncRun.Status.RUNNING:
        waiting = ""
    elif run.status in _CONTINUES:
        waiting = f"{run.error} It continues on the next run.".strip()
    else:
        return None
    return Progress(
        kind="first_sync",
        done=run.read_count,
        total=run.expected_count,
        started_at=run.started_at,
        now=moment,
        waiting=waiting,
    )
