"""Task failures and retries per task name and hour, for the staff health page.

Counted in Redis (one hash per kind and hour, ``HINCRBY`` by task name, kept two days) by the
Celery signal handlers in ``carrytheone.task_signals``: every worker adds to the same counts, and
a count costs one round trip. Without Redis (``make run``'s file cache) the same counts live in
the Django cache, read and written back whole: two workers failing in the same instant may
lose one count there, which a development machine can afford.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass
from typing import Literal

import redis
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

Kind = Literal["failure", "retry"]
KINDS: tuple[Kind, ...] = ("failure", "retry")
HOURS_SHOWN = 24
_KEPT = dt.timedelta(hours=48)


@dataclass(frozen=True)
class TaskCounts:
    task: str
    failures: int
    retries: int


@functools.cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _key(kind: Kind, hour: dt.datetime) -> str:
    # Beside the cache's own keys in Redis, under its prefix (CACHE_KEY_PREFIX).
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or "c1"
    return f"{prefix}:task-{kind}s:{hour:%Y%m%d%H}"


def _hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def task_count(*, kind: Kind, task: str, now: dt.datetime | None = None) -> None:
    """One failure (or retry) of ``task`` now. Never raises: counting must not fail a task."""
    key = _key(kind, _hour(now or timezone.now()))
    try:
        if settings.REDIS_URL:
            client = _redis(settings.REDIS_URL)
            with client.pipeline() as pipe:
                pipe.hincrby(key, task, 1)
                pipe.expire(key, int(_KEPT.total_seconds()))
                pipe.execute()
        else:
            counts: dict[str, int] = cache.get(key) or {}
            counts[task] = counts.get(task, 0) + 1
            cache.set(key, counts, timeout=int(_KEPT.total_seconds()))
    except Exception:
        logger.warning("task %s of %s not counted", kind, task, exc_info=True)


def task_counts(*, now: dt.datetime | None = None) -> list[TaskCounts]:
    """Failures and retries of each task over the last 24 hours (this hour included), most
    failures first."""
    last = _hour(now or timezone.now())
    hours = [last - dt.timedelta(hours=back) for back in range(HOURS_SHOWN)]
    totals: dict[Kind, dict[str, int]] = {kind: {} for kind in KINDS}
    keys = [(kind, _key(kind, hour)) for kind in KINDS for hour in hours]
    if settings.REDIS_URL:
        with _redis(settings.REDIS_URL).pipeline(transaction=False) as pipe:
            for _, key in keys:
                pipe.hgetall(key)
            answers: list[dict[bytes, bytes]] = pipe.execute()
        hashes = [
            {name.decode(): int(value) for name, value in answer.items()} for answer in answers
        ]
    else:
        found = cache.get_many([key for _, key in keys])
        hashes = [found.get(key) or {} for _, key in keys]
    for (kind, _), counts in zip(keys, hashes, strict=True):
        for task, value in counts.items():
            totals[kind][task] = totals[kind].get(task, 0) + value
    names = set(totals["failure"]) | set(totals["retry"])
    rows = [
        TaskCounts(
            task=name, failures=totals["failure"].get(name, 0), retries=totals["retry"].get(name, 0)
        )
        for name in names
    ]
    return sorted(rows, key=lambda row: (-row.failures, -row.retries, row.task))
