"""The local backend: the rules in Python, one JSON file per organisation, each decision under
an exclusive ``flock`` (shared by the processes of one machine)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integrations.connections.ratelimit.limits import (
    CONCURRENT_POLL,
    Backend,
    Lease,
    LimiterUnavailable,
    Refusal,
    Remaining,
    SalesforcePause,
    XeroLimits,
    is_paused,
)

logger = logging.getLogger(__name__)


@dataclass
class _XeroState:
    """One organisation's counts, in seconds on the backend's clock."""

    minute: list[float] = field(default_factory=list)
    day: dict[int, int] = field(default_factory=dict)
    leases: dict[str, float] = field(default_factory=dict)
    blocked_until: float = 0.0
    blocked_problem: str = ""
    reported_minute: tuple[int, float] | None = None
    """Xero's remaining minute figure and when it stops counting."""
    reported_day: tuple[int, float] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _XeroState:
        def figure(value: Any) -> tuple[int, float] | None:
            return (int(value[0]), float(value[1])) if value else None

        return cls(
            minute=[float(t) for t in data.get("minute", [])],
            day={int(k): int(v) for k, v in data.get("day", {}).items()},
            leases={str(k): float(v) for k, v in data.get("leases", {}).items()},
            blocked_until=float(data.get("blocked_until", 0.0)),
            blocked_problem=str(data.get("blocked_problem", "")),
            reported_minute=figure(data.get("reported_minute")),
            reported_day=figure(data.get("reported_day")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "minute": self.minute,
            "day": {str(k): v for k, v in self.day.items()},
            "leases": self.leases,
            "blocked_until": self.blocked_until,
            "blocked_problem": self.blocked_problem,
            "reported_minute": list(self.reported_minute) if self.reported_minute else None,
            "reported_day": list(self.reported_day) if self.reported_day else None,
        }

    def _expire(self, now: float, limits: XeroLimits) -> None:
        self.minute = sorted(t for t in self.minute if t > now - limits.minute_window)
        self.day = {b: n for b, n in self.day.items() if self._bucket_end(b, limits) > now}
        self.leases = {t: e for t, e in self.leases.items() if e > now}
        if self.reported_minute and self.reported_minute[1] <= now:
            self.reported_minute = None
        if self.reported_day and self.reported_day[1] <= now:
            self.reported_day = None

    @staticmethod
    def _bucket_end(bucket: int, limits: XeroLimits) -> float:
        return (bucket + 1) * limits.day_bucket + limits.day_window

    def admit(
        self, tenant_id: str, token: str, *, now: float, floor: int, limits: XeroLimits
    ) -> Lease | Refusal:
        # The same order and arithmetic as _ACQUIRE_LUA: keep them in step.
        self._expire(now, limits)
        if self.blocked_until > now:
            return Refusal("blocked", self.blocked_until - now, self.blocked_problem)

        own_day = limits.per_day - sum(self.day.values())
        day_left = own_day
        if self.reported_day is not None:
            day_left = min(day_left, self.reported_day[0])
        if day_left <= floor:
            wait = 0.0
            if own_day <= floor:
                need = floor - own_day + 1
                wait = limits.day_window
                for end, count in sorted(
                    (self._bucket_end(b, limits), n) for b, n in self.day.items()
                ):
                    need -= count
                    if need <= 0:
                        wait = end - now
                        break
            if self.reported_day is not None and self.reported_day[0] <= floor:
                wait = max(wait, self.reported_day[1] - now)
            return Refusal("day" if day_left <= 0 else "day-reserve", wait)

        own_minute = limits.per_minute - len(self.minute)
        reported_minute = self.reported_minute
        if own_minute <= 0 or (reported_minute is not None and reported_minute[0] <= 0):
            wait = 0.0
            if own_minute <= 0:
                # The (1 - own_minute)-th oldest call must leave the window first.
                index = -own_minute
                wait = (
                    self.minute[index] + limits.minute_window - now
                    if index < len(self.minute)
                    else limits.minute_window
                )
            if reported_minute is not None and reported_minute[0] <= 0:
                wait = max(wait, reported_minute[1] - now)
            return Refusal("minute", wait)

        if len(self.leases) >= limits.concurrent:
            soonest = min(self.leases.values(), default=now + CONCURRENT_POLL)
            return Refusal("concurrent", min(soonest - now, CONCURRENT_POLL))

        self.minute.append(now)
        bucket = math.floor(now / limits.day_bucket)
        self.day[bucket] = self.day.get(bucket, 0) + 1
        if self.reported_minute is not None:
            self.reported_minute = (self.reported_minute[0] - 1, self.reported_minute[1])
        if self.reported_day is not None:
            self.reported_day = (self.reported_day[0] - 1, self.reported_day[1])
        self.leases[token] = now + limits.lease_seconds
        return Lease(tenant_id, token, now)

    def remaining(self, *, now: float, limits: XeroLimits) -> Remaining:
        # The same arithmetic as _REMAINING_LUA.
        self._expire(now, limits)
        minute = limits.per_minute - len(self.minute)
        if self.reported_minute is not None:
            minute = min(minute, self.reported_minute[0])
        day = limits.per_day - sum(self.day.values())
        if self.reported_day is not None:
            day = min(day, self.reported_day[0])
        return Remaining(minute=minute, day=day)

    def block(self, *, now: float, seconds: float, problem: str) -> None:
        if now + seconds > self.blocked_until:
            self.blocked_until = now + seconds
            self.blocked_problem = problem

    def report(
        self,
        *,
        now: float,
        minute_remaining: int | None,
        day_remaining: int | None,
        limits: XeroLimits,
    ) -> None:
        self._expire(now, limits)
        if minute_remaining is not None:
            own = limits.per_minute - len(self.minute)
            self.reported_minute = (
                (minute_remaining, now + limits.minute_window) if minute_remaining < own else None
            )
        if day_remaining is not None:
            own = limits.per_day - sum(self.day.values())
            self.reported_day = (
                (day_remaining, now + limits.reported_day_ttl) if day_remaining < own else None
            )


class LocalBackend(Backend):
    """The rules in Python, on one JSON file per organisation under ``directory``.

    Each decision reads, decides and writes under an exclusive ``flock`` on the file, so every
    process and thread on this machine sees the same counts; processes on other machines do
    not (they need Redis). The clock is the wall clock by default, because monotonic clocks of
    different processes need not agree; tests pass their own.
    """

    def __init__(self, directory: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.clock = clock

    def _path(self, kind: str, key: str) -> Path:
        # Ids come from providers: hashed, they are always a safe file name.
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.directory / f"{kind}-{digest}.json"

    @contextlib.contextmanager
    def _locked(self, kind: str, key: str) -> Iterator[dict[str, Any]]:
        path = self._path(kind, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise LimiterUnavailable(f"cannot open {path} ({exc.strerror})") from exc
        with os.fdopen(fd, "r+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            raw = handle.read()
            try:
                data = json.loads(raw) if raw else {}
            except ValueError:
                # A process killed mid-write: counting afresh beats refusing forever.
                logger.warning("ratelimit: unreadable state in %s; starting afresh", path)
                data = {}
            before = dict(data)
            yield data
            if data != before:
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(data))
                handle.flush()

    @contextlib.contextmanager
    def _xero(self, tenant_id: str) -> Iterator[_XeroState]:
        with self._locked("xero", tenant_id) as data:
            state = _XeroState.from_json(data)
            yield state
            data.clear()
            data.update(state.to_json())

    def try_acquire(
        self, tenant_id: str, token: str, *, floor: int, limits: XeroLimits
    ) -> Lease | Refusal:
        with self._xero(tenant_id) as state:
            return state.admit(tenant_id, token, now=self.clock(), floor=floor, limits=limits)

    def remaining(self, tenant_id: str, *, limits: XeroLimits) -> Remaining:
        with self._xero(tenant_id) as state:
            return state.remaining(now=self.clock(), limits=limits)

    def release(self, lease: Lease) -> None:
        with self._xero(lease.tenant_id) as state:
            state.leases.pop(lease.token, None)

    def block(self, tenant_id: str, *, seconds: float, problem: str) -> None:
        with self._xero(tenant_id) as state:
            state.block(now=self.clock(), seconds=seconds, problem=problem)

    def report(
        self,
        tenant_id: str,
        *,
        minute_remaining: int | None,
        day_remaining: int | None,
        limits: XeroLimits,
    ) -> None:
        with self._xero(tenant_id) as state:
            state.report(
                now=self.clock(),
                minute_remaining=minute_remaining,
                day_remaining=day_remaining,
                limits=limits,
            )

    def salesforce_check(self, org_id: str, *, headroom: float) -> SalesforcePause | None:
        with self._locked("salesforce", org_id) as data:
            now = self.clock()
            if not data or float(data["expires_at"]) <= now:
                data.clear()
                return None
            used, allowed = int(data["used"]), int(data["allowed"])
            if is_paused(used, allowed, headroom):
                return SalesforcePause(
                    org_id, used, allowed, headroom, float(data["expires_at"]) - now
                )
            data["used"] = used + 1
            return None

    def salesforce_record(self, org_id: str, *, used: int, allowed: int, ttl: float) -> None:
        with self._locked("salesforce", org_id) as data:
            data.update(used=used, allowed=allowed, expires_at=self.clock() + ttl)

    def reset(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
