"""The staff health page (``/<ADMIN_URL>health/``): is the background work keeping up?

What ``/healthz`` and its detail say (database, broker, the last worker heartbeat, integrations
whose syncing keeps failing), plus what only the broker and the task counts know: how many
messages wait in each Celery queue and for how long the oldest has, and which tasks failed or
were retried in the last 24 hours. Behind the operator admin (staff with TOTP).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from carrytheone.health import CheckResult, check_broker, check_database, last_worker_heartbeat
from carrytheone.queues import QueueState, queue_states
from carrytheone.task_stats import HOURS_SHOWN, TaskCounts, task_counts
from integrations.core.health import integrations_failing
from integrations.core.models import Integration

# A worker heartbeat older than this many beat intervals means no worker is consuming.
_HEARTBEAT_MISSED = 3


@dataclass(frozen=True)
class QueueRow:
    state: QueueState
    oldest_wait_seconds: float | None


@dataclass(frozen=True)
class HealthFacts:
    checks: dict[str, CheckResult]
    queues: list[QueueRow]
    tasks: list[TaskCounts]
    heartbeat_at: dt.datetime | None
    heartbeat_age_seconds: float | None
    heartbeat_stale: bool
    failing: list[Integration]


def health_facts(*, now: dt.datetime | None = None) -> HealthFacts:
    moment = now or timezone.now()
    checks = {"database": check_database(), "broker": check_broker()}
    raw_heartbeat = last_worker_heartbeat()
    heartbeat_at = parse_datetime(raw_heartbeat) if raw_heartbeat else None
    age = (moment - heartbeat_at).total_seconds() if heartbeat_at else None
    interval = float(settings.CELERY_BEAT_SCHEDULE["heartbeat"]["schedule"])
    states = queue_states() if checks["broker"].ok else []
    return HealthFacts(
        checks=checks,
        queues=[QueueRow(state, state.oldest_wait_seconds(moment)) for state in states],
        tasks=task_counts(now=moment),
        heartbeat_at=heartbeat_at,
        heartbeat_age_seconds=age,
        heartbeat_stale=age is None or age > _HEARTBEAT_MISSED * interval,
        failing=integrations_failing() if checks["database"].ok else [],
    )


def staff_health(request: HttpRequest, *, context: dict[str, Any]) -> HttpResponse:
    """The page; ``context`` is the admin site's (``AdminSite.each_context``)."""
    return TemplateResponse(
        request,
        "admin/staff_health.html",
        {
            **context,
            "title": "Background work health",
            "facts": health_facts(),
            "hours_shown": HOURS_SHOWN,
            "failing_after": settings.SYNC_FAILURE_ALERT_AFTER,
        },
    )
