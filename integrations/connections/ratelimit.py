"""API rate limits per organisation, shared by every process that calls Xero or Salesforce.

Xero allows each organisation 60 calls a minute, 5 at once and 5,000 a day per app, and all our
workers share that budget: a worker counting on its own would overspend it the moment there are
two. :class:`XeroLimiter` hands out a *lease* before each HTTP attempt and takes it back after:

- a sliding 60-second window of call times (the minute limit);
- a sliding 24-hour window, kept as 5-minute buckets (the day budget). The last
  ``XERO_DAY_RESERVE`` calls of it are kept for :attr:`Priority.NEW` work (creating invoices and
  the lookups and contact/item creates they need); :attr:`Priority.UPDATE` callers are refused
  once no more than that remains, so a busy day still gets its new invoices out;
- leases in flight (the concurrency limit), each with an expiry so that a killed worker's lease
  frees itself;
- what Xero says: ``X-MinLimit-Remaining`` / ``X-DayLimit-Remaining`` lower than our own count
  win (until they expire or a later answer corrects them), and a 429 blocks the organisation for
  every worker for its ``Retry-After``.

A refused caller sleeps and asks again while its total wait stays within ``XERO_LIMIT_MAX_WAIT``;
otherwise :class:`SlotUnavailable` says which limit and when to come back (the Xero client turns
it into ``XeroRateLimited``, on which the sync engine stops politely).

Salesforce counts API requests per org over 24 hours, shared with the customer's other apps, and
reports them in ``Sforce-Limit-Info: api-usage=N/M``. :func:`salesforce_record_usage` keeps the
latest figure per org; :func:`salesforce_check` pauses an org's syncing while N is within
``SALESFORCE_API_HEADROOM`` of M, for as long as the figure is fresh (the client re-reads it after
15 minutes).

Two backends with the same rules, chosen by ``REDIS_URL``:

- :class:`RedisBackend`: one Lua script per decision, so it is atomic across processes and
  machines, timed by Redis's clock (workers' clocks may disagree);
- :class:`LocalBackend` (no Redis, as in ``make run``): the same rules in Python on a small JSON
  file per organisation under ``VAR_DIR``, each decision under an exclusive ``flock``. It is
  shared by the processes of one machine (web, worker children, beat), like the file cache and
  the filesystem broker it runs beside; not by processes on other machines.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import json
import logging
import math
import os
import secrets
import shutil
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

# Seconds between two looks at a full concurrency set: leases end at any moment, not on a clock.
CONCURRENT_POLL = 0.2
# How long Xero's own lower day figure stands without a fresher answer before we probe again.
REPORTED_DAY_TTL = 15 * 60.0
_KEY_PREFIX = "cto"


class Priority(enum.Enum):
    """Who gets the end of the day budget: new invoices first, updates only above the reserve."""

    NEW = "new"
    """Creating invoices, and the lookups and contact/item creates they need. The default."""
    UPDATE = "update"
    """Updating invoices that already exist (and the lookups for that)."""


@dataclass(frozen=True)
class XeroLimits:
    """The limits one decision applies. Windows are parameters so tests need not wait a minute."""

    per_minute: int = 60
    concurrent: int = 5
    per_day: int = 5000
    day_reserve: int = 500
    max_wait: float = 60.0
    lease_seconds: float = 80.0
    """After this, a lease not given back (its worker died) stops counting."""
    minute_window: float = 60.0
    day_window: float = 86_400.0
    day_bucket: float = 300.0
    """Calls are counted per bucket of this many seconds and leave the day window with the
    bucket's end: at most this much too early to be counted, never too late."""
    reported_day_ttl: float = REPORTED_DAY_TTL

    @classmethod
    def from_settings(cls) -> XeroLimits:
        timeout = float(settings.EXTERNAL_HTTP_TIMEOUT)
        return cls(
            per_minute=int(settings.XERO_LIMIT_PER_MINUTE),
            concurrent=int(settings.XERO_LIMIT_CONCURRENT),
            per_day=int(settings.XERO_LIMIT_PER_DAY),
            day_reserve=int(settings.XERO_DAY_RESERVE),
            max_wait=float(settings.XERO_LIMIT_MAX_WAIT),
            # The client's (connect, read) timeouts bound an attempt; the margin covers a slow
            # trickle of body bytes, each read under the timeout.
            lease_seconds=min(timeout, 10.0) + timeout + 30.0,
        )

    def floor(self, priority: Priority) -> int:
        """Refuse when no more than this many calls of the day remain."""
        return self.day_reserve if priority is Priority.UPDATE else 0


@dataclass(frozen=True)
class Lease:
    """One admitted call. ``admitted_at`` is on the backend's clock (seconds)."""

    tenant_id: str
    token: str
    admitted_at: float


@dataclass(frozen=True)
class Refusal:
    """Not now: ``reason`` is minute, concurrent, day, day-reserve or blocked; ``wait`` seconds
    until that limit would admit us. ``detail`` is Xero's limit name behind a block."""

    reason: str
    wait: float
    detail: str = ""


@dataclass(frozen=True)
class SalesforcePause:
    """An org whose API usage is within the headroom: no syncing until ``retry_after`` s."""

    org_id: str
    used: int
    allowed: int
    headroom: float
    retry_after: float

    @property
    def message(self) -> str:
        return (
            f"Salesforce API usage for this org is at {self.used:,} of {self.allowed:,} requests "
            f"in the last 24 hours; CarryTheOne pauses to leave {self.headroom:.0%} for your "
            "other apps and resumes automatically."
        )


class LimiterUnavailable(Exception):
    """The shared limiter (Redis) could not be asked: a transient failure, not a refusal."""


class SlotUnavailable(Exception):
    """No slot within the allowed wait. ``problem`` names the limit; ``message`` is for people."""

    def __init__(self, refusal: Refusal, limits: XeroLimits) -> None:
        self.reason = refusal.reason
        # Behind a block is the limit Xero named in its 429: the more useful name.
        blocked_by_xero = refusal.reason == "blocked" and refusal.detail
        self.problem = refusal.detail if blocked_by_xero else refusal.reason
        # Whole seconds, at least one: retrying sooner than a second never helps.
        self.retry_after = float(max(math.ceil(refusal.wait), 1))
        self.message = _refusal_message(refusal, limits, self.retry_after)
        super().__init__(self.message)


def _refusal_message(refusal: Refusal, limits: XeroLimits, retry_after: float) -> str:
    when = f"retry in {_duration(retry_after)}"
    if refusal.reason == "minute":
        return f"The Xero organisation's {limits.per_minute} calls a minute are used up; {when}."
    if refusal.reason == "concurrent":
        return f"{limits.concurrent} calls to this Xero organisation are already running; {when}."
    if refusal.reason == "day":
        return f"The Xero organisation's calls for the last 24 hours are used up; {when}."
    if refusal.reason == "day-reserve":
        return (
            f"No more than {limits.day_reserve} of the Xero organisation's daily calls remain; "
            f"they are kept for new invoices, so updates wait ({when})."
        )
    return f"Xero asked us to slow down ({refusal.detail or 'rate'} limit); {when}."


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


class Backend(ABC):
    """Where the counts live. Every method is one atomic decision."""

    @abstractmethod
    def try_acquire(
        self, tenant_id: str, token: str, *, floor: int, limits: XeroLimits
    ) -> Lease | Refusal:
        """A lease for ``token``, or why not; ``floor`` is the day budget kept from this caller."""

    @abstractmethod
    def release(self, lease: Lease) -> None: ...

    @abstractmethod
    def block(self, tenant_id: str, *, seconds: float, problem: str) -> None:
        """No admissions for ``tenant_id`` for ``seconds`` (never shortens an existing block)."""

    @abstractmethod
    def report(
        self,
        tenant_id: str,
        *,
        minute_remaining: int | None,
        day_remaining: int | None,
        limits: XeroLimits,
    ) -> None:
        """Xero's remaining figures after a call: kept while lower than our own count."""

    @abstractmethod
    def salesforce_check(self, org_id: str, *, headroom: float) -> SalesforcePause | None:
        """The pause in force for ``org_id``, or None, counting this request on the figure."""

    @abstractmethod
    def salesforce_record(self, org_id: str, *, used: int, allowed: int, ttl: float) -> None: ...

    @abstractmethod
    def reset(self) -> None:
        """Forget everything (tests only)."""


def _is_paused(used: int, allowed: int, headroom: float) -> bool:
    return used >= allowed * (1 - headroom)


# --- local backend: the rules in Python, one JSON file per organisation ----------------------


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
            if _is_paused(used, allowed, headroom):
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


# --- Redis backend: the same rules in Lua ------------------------------------------------------

# Times in integer milliseconds from Redis's TIME. Keep in step with _XeroState.admit.
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local token = ARGV[1]
local per_minute = tonumber(ARGV[2])
local concurrent = tonumber(ARGV[3])
local per_day = tonumber(ARGV[4])
local floor = tonumber(ARGV[5])
local lease_ms = tonumber(ARGV[6])
local minute_ms = tonumber(ARGV[7])
local day_ms = tonumber(ARGV[8])
local bucket_ms = tonumber(ARGV[9])
local poll_ms = tonumber(ARGV[10])

local blocked = redis.call('HMGET', KEYS[4], 'until', 'problem')
if blocked[1] and tonumber(blocked[1]) > now then
  return {'blocked', tonumber(blocked[1]) - now, blocked[2] or ''}
end

local fields = redis.call('HGETALL', KEYS[2])
local live = {}
local used = 0
for i = 1, #fields, 2 do
  local ends = (tonumber(fields[i]) + 1) * bucket_ms + day_ms
  if ends <= now then
    redis.call('HDEL', KEYS[2], fields[i])
  else
    local n = tonumber(fields[i + 1])
    used = used + n
    live[#live + 1] = {ends, n}
  end
end
local own_day = per_day - used
local reported_day = tonumber(redis.call('GET', KEYS[6]) or '')
local day_left = own_day
if reported_day and reported_day < day_left then day_left = reported_day end
if day_left <= floor then
  local wait = 0
  if own_day <= floor then
    table.sort(live, function(a, b) return a[1] < b[1] end)
    local need = floor - own_day + 1
    wait = day_ms
    for _, entry in ipairs(live) do
      need = need - entry[2]
      if need <= 0 then
        wait = entry[1] - now
        break
      end
    end
  end
  if reported_day and reported_day <= floor then
    local ttl = redis.call('PTTL', KEYS[6])
    if ttl > wait then wait = ttl end
  end
  if day_left <= 0 then return {'day', wait, ''} end
  return {'day-reserve', wait, ''}
end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - minute_ms)
local own_minute = per_minute - redis.call('ZCARD', KEYS[1])
local reported_minute = tonumber(redis.call('GET', KEYS[5]) or '')
if own_minute <= 0 or (reported_minute and reported_minute <= 0) then
  local wait = 0
  if own_minute <= 0 then
    -- The (1 - own_minute)-th oldest call must leave the window first. %d: never "-0".
    local index = string.format('%d', 0 - own_minute)
    local oldest = redis.call('ZRANGE', KEYS[1], index, index, 'WITHSCORES')
    if oldest[2] then wait = tonumber(oldest[2]) + minute_ms - now else wait = minute_ms end
  end
  if reported_minute and reported_minute <= 0 then
    local ttl = redis.call('PTTL', KEYS[5])
    if ttl > wait then wait = ttl end
  end
  return {'minute', wait, ''}
end

redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) >= concurrent then
  local soonest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  local wait = poll_ms
  if soonest[2] and tonumber(soonest[2]) - now < wait then wait = tonumber(soonest[2]) - now end
  return {'concurrent', wait, ''}
end

redis.call('ZADD', KEYS[1], now, token)
redis.call('PEXPIRE', KEYS[1], minute_ms + 1000)
redis.call('HINCRBY', KEYS[2], string.format('%d', math.floor(now / bucket_ms)), 1)
redis.call('PEXPIRE', KEYS[2], day_ms + bucket_ms + 1000)
if reported_minute then redis.call('DECR', KEYS[5]) end
if reported_day then redis.call('DECR', KEYS[6]) end
redis.call('ZADD', KEYS[3], now + lease_ms, token)
if redis.call('PTTL', KEYS[3]) < lease_ms + 1000 then
  redis.call('PEXPIRE', KEYS[3], lease_ms + 1000)
end
return {'ok', now, ''}
"""

_BLOCK_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ms = tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if now + ms > current then
  redis.call('HSET', KEYS[1], 'until', now + ms, 'problem', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ms)
end
return 1
"""

# KEYS: minute, day, reported minute, reported day. ARGV '' = Xero did not say.
_REPORT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local per_minute = tonumber(ARGV[3])
local per_day = tonumber(ARGV[4])
local minute_ms = tonumber(ARGV[5])
local day_ms = tonumber(ARGV[6])
local bucket_ms = tonumber(ARGV[7])
local day_ttl_ms = tonumber(ARGV[8])
if ARGV[1] ~= '' then
  local own = per_minute - redis.call('ZCOUNT', KEYS[1], '(' .. (now - minute_ms), '+inf')
  if tonumber(ARGV[1]) < own then
    redis.call('SET', KEYS[3], ARGV[1], 'PX', minute_ms)
  else
    redis.call('DEL', KEYS[3])
  end
end
if ARGV[2] ~= '' then
  local fields = redis.call('HGETALL', KEYS[2])
  local used = 0
  for i = 1, #fields, 2 do
    if (tonumber(fields[i]) + 1) * bucket_ms + day_ms > now then
      used = used + tonumber(fields[i + 1])
    end
  end
  if tonumber(ARGV[2]) < per_day - used then
    redis.call('SET', KEYS[4], ARGV[2], 'PX', day_ttl_ms)
  else
    redis.call('DEL', KEYS[4])
  end
end
return 1
"""

_SALESFORCE_CHECK_LUA = """
local v = redis.call('HMGET', KEYS[1], 'used', 'allowed')
if not v[1] or not v[2] then return {} end
local used = tonumber(v[1])
local allowed = tonumber(v[2])
if used >= allowed * (1 - tonumber(ARGV[1])) then
  return {used, allowed, redis.call('PTTL', KEYS[1])}
end
redis.call('HINCRBY', KEYS[1], 'used', 1)
return {}
"""


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)


def _unavailable(exc: redis.RedisError) -> LimiterUnavailable:
    return LimiterUnavailable(f"Redis did not answer ({type(exc).__name__})")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBackend(Backend):
    """The rules as Lua scripts in Redis: atomic for every process on every machine.

    One organisation's keys share the hash tag ``{tenant}`` so a cluster keeps them in one slot.
    """

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
        self._acquire = self.client.register_script(_ACQUIRE_LUA)
        self._block = self.client.register_script(_BLOCK_LUA)
        self._report = self.client.register_script(_REPORT_LUA)
        self._salesforce_check = self.client.register_script(_SALESFORCE_CHECK_LUA)

    @staticmethod
    def _xero_keys(tenant_id: str) -> list[str]:
        base = f"{_KEY_PREFIX}:xl:{{{tenant_id}}}"
        return [f"{base}:{name}" for name in ("min", "day", "conc", "blocked", "xmin", "xday")]

    @staticmethod
    def _salesforce_key(org_id: str) -> str:
        return f"{_KEY_PREFIX}:sf:{{{org_id}}}:usage"

    def try_acquire(
        self, tenant_id: str, token: str, *, floor: int, limits: XeroLimits
    ) -> Lease | Refusal:
        try:
            outcome, number, detail = self._acquire(
                keys=self._xero_keys(tenant_id),
                args=[
                    token,
                    limits.per_minute,
                    limits.concurrent,
                    limits.per_day,
                    floor,
                    _ms(limits.lease_seconds),
                    _ms(limits.minute_window),
                    _ms(limits.day_window),
                    _ms(limits.day_bucket),
                    _ms(CONCURRENT_POLL),
                ],
            )
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        if _text(outcome) == "ok":
            return Lease(tenant_id, token, int(number) / 1000)
        return Refusal(_text(outcome), int(number) / 1000, _text(detail))

    def release(self, lease: Lease) -> None:
        try:
            self.client.zrem(self._xero_keys(lease.tenant_id)[2], lease.token)
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def block(self, tenant_id: str, *, seconds: float, problem: str) -> None:
        try:
            self._block(keys=[self._xero_keys(tenant_id)[3]], args=[_ms(seconds), problem])
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def report(
        self,
        tenant_id: str,
        *,
        minute_remaining: int | None,
        day_remaining: int | None,
        limits: XeroLimits,
    ) -> None:
        if minute_remaining is None and day_remaining is None:
            return
        keys = self._xero_keys(tenant_id)
        try:
            self._report(
                keys=[keys[0], keys[1], keys[4], keys[5]],
                args=[
                    "" if minute_remaining is None else minute_remaining,
                    "" if day_remaining is None else day_remaining,
                    limits.per_minute,
                    limits.per_day,
                    _ms(limits.minute_window),
                    _ms(limits.day_window),
                    _ms(limits.day_bucket),
                    _ms(limits.reported_day_ttl),
                ],
            )
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def salesforce_check(self, org_id: str, *, headroom: float) -> SalesforcePause | None:
        try:
            answer = self._salesforce_check(keys=[self._salesforce_key(org_id)], args=[headroom])
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc
        if not answer:
            return None
        used, allowed, ttl_ms = (int(v) for v in answer)
        return SalesforcePause(org_id, used, allowed, headroom, max(ttl_ms, 0) / 1000)

    def salesforce_record(self, org_id: str, *, used: int, allowed: int, ttl: float) -> None:
        key = self._salesforce_key(org_id)
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(key, mapping={"used": used, "allowed": allowed})
            pipe.pexpire(key, _ms(ttl))
            pipe.execute()
        except redis.RedisError as exc:
            raise _unavailable(exc) from exc

    def reset(self) -> None:
        for pattern in (f"{_KEY_PREFIX}:xl:*", f"{_KEY_PREFIX}:sf:*"):
            for key in self.client.scan_iter(match=pattern, count=500):
                self.client.delete(key)


# --- the backend of this configuration ---------------------------------------------------------

_backends: dict[str, Backend] = {}
_backends_lock = threading.Lock()


def get_backend() -> Backend:
    """Redis when ``REDIS_URL`` is set, else the local files; one instance per configuration."""
    url = str(settings.REDIS_URL or "")
    key = url or f"file:{settings.VAR_DIR}"
    with _backends_lock:
        backend = _backends.get(key)
        if backend is None:
            backend = (
                RedisBackend(url) if url else LocalBackend(Path(settings.VAR_DIR) / "ratelimit")
            )
            _backends[key] = backend
        return backend


def reset_for_tests() -> None:
    """Forgets all limiter state of the configured backend. Tests only: it erases live counts."""
    get_backend().reset()


# --- Xero ----------------------------------------------------------------------------------


class XeroLimiter:
    """Leases for Xero calls, counted per organisation; see the module docstring."""

    def __init__(
        self,
        backend: Backend | None = None,
        limits: XeroLimits | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend or get_backend()
        self.limits = limits or XeroLimits.from_settings()
        self._sleep = sleep
        self._monotonic = monotonic

    def acquire(self, tenant_id: str, *, priority: Priority = Priority.NEW) -> Lease:
        """A lease for one call, waiting up to ``limits.max_wait`` seconds in all.

        Raises :class:`SlotUnavailable` as soon as the limit's own wait would exceed what is left
        of ``max_wait`` (sleeping first would not help), or :class:`LimiterUnavailable`.
        """
        started = self._monotonic()
        floor = self.limits.floor(priority)
        while True:
            outcome = self.backend.try_acquire(
                tenant_id, secrets.token_hex(8), floor=floor, limits=self.limits
            )
            if isinstance(outcome, Lease):
                return outcome
            waited = self._monotonic() - started
            if waited + outcome.wait > self.limits.max_wait:
                logger.info(
                    "ratelimit: xero %s: %s limit, giving up after %.1f s (wait %.1f s)",
                    tenant_id,
                    outcome.reason,
                    waited,
                    outcome.wait,
                )
                raise SlotUnavailable(outcome, self.limits)
            # A little jitter: workers refused together should not all come back together.
            self._sleep(max(outcome.wait, 0.001) + secrets.randbelow(50) / 1000)

    def release(self, lease: Lease) -> None:
        try:
            self.backend.release(lease)
        except LimiterUnavailable:
            # The lease expires by itself; failing the call for it would help no one.
            logger.warning("ratelimit: could not release a lease of %s", lease.tenant_id)

    @contextlib.contextmanager
    def slot(self, tenant_id: str, *, priority: Priority = Priority.NEW) -> Iterator[Lease]:
        lease = self.acquire(tenant_id, priority=priority)
        try:
            yield lease
        finally:
            self.release(lease)

    def report(
        self, tenant_id: str, *, minute_remaining: int | None, day_remaining: int | None
    ) -> None:
        """Feeds back Xero's ``X-MinLimit-Remaining`` / ``X-DayLimit-Remaining``."""
        try:
            self.backend.report(
                tenant_id,
                minute_remaining=minute_remaining,
                day_remaining=day_remaining,
                limits=self.limits,
            )
        except LimiterUnavailable:
            logger.warning("ratelimit: could not record Xero's limits for %s", tenant_id)

    def block(self, tenant_id: str, *, retry_after: float, problem: str) -> None:
        """After a 429: every worker leaves the organisation alone for ``retry_after`` s."""
        try:
            self.backend.block(tenant_id, seconds=retry_after, problem=problem)
        except LimiterUnavailable:
            logger.warning("ratelimit: could not record Xero's 429 for %s", tenant_id)


def xero_limiter(*, max_wait: float | None = None) -> XeroLimiter:
    """The limiter of the current settings; ``max_wait`` overrides ``XERO_LIMIT_MAX_WAIT``."""
    limits = XeroLimits.from_settings()
    if max_wait is not None:
        limits = replace(limits, max_wait=max_wait)
    return XeroLimiter(get_backend(), limits)


# --- Salesforce ----------------------------------------------------------------------------


def salesforce_check(org_id: str) -> SalesforcePause | None:
    """The pause in force for ``org_id`` (counting this request on the usage), or None.

    Raises :class:`LimiterUnavailable` when the shared limiter cannot be asked.
    """
    return get_backend().salesforce_check(org_id, headroom=float(settings.SALESFORCE_API_HEADROOM))


def salesforce_record_usage(org_id: str, *, used: int, allowed: int, ttl: float) -> None:
    """Keeps ``api-usage=used/allowed`` as the org's figure for ``ttl`` seconds."""
    try:
        get_backend().salesforce_record(org_id, used=used, allowed=allowed, ttl=ttl)
    except LimiterUnavailable:
        logger.warning("ratelimit: could not record Salesforce API usage of %s", org_id)
