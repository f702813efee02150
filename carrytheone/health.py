"""Liveness checks shared by ``/healthz`` and the worker heartbeat."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)

HEARTBEAT_CACHE_KEY = "health:worker-heartbeat"


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    latency_ms: float
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"ok": self.ok, "latency_ms": round(self.latency_ms, 1)}
        if self.error:
            data["error"] = self.error
        return data


def check_database() -> CheckResult:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("health check: database unavailable")
        return CheckResult(False, _ms_since(started), "database unavailable")
    return CheckResult(True, _ms_since(started))


def check_broker(timeout: int = 2) -> CheckResult:
    from carrytheone.celery import app

    started = time.monotonic()
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
            # Opening a channel proves the transport really answers, not just that the URL parses.
            conn.default_channel  # noqa: B018
    except Exception:
        logger.exception("health check: broker unavailable")
        return CheckResult(False, _ms_since(started), "broker unavailable")
    return CheckResult(True, _ms_since(started))


def record_worker_heartbeat() -> datetime:
    now = timezone.now()
    cache.set(HEARTBEAT_CACHE_KEY, now.isoformat(), timeout=24 * 3600)
    return now


def last_worker_heartbeat() -> str | None:
    try:
        value = cache.get(HEARTBEAT_CACHE_KEY)
    except Exception:
        logger.exception("health check: cache unavailable")
        return None
    return str(value) if value else None


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000
