"""The limits' vocabulary: priorities, Xero's figures, leases and refusals, and the backend
interface both backends implement (see the package docstring for the rules)."""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

from django.conf import settings

# Seconds between two looks at a full concurrency set: leases end at any moment, not on a clock.
CONCURRENT_POLL = 0.2
# How long Xero's own lower day figure stands without a fresher answer before we probe again.
REPORTED_DAY_TTL = 15 * 60.0
KEY_PREFIX = "cto"


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


@dataclass(frozen=True)
class Remaining:
    """The calls an organisation has left: in the sliding minute and the sliding day."""

    minute: int
    day: int


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

    def remaining(self, tenant_id: str, *, limits: XeroLimits) -> Remaining:
        """What is left of the organisation's minute and day (reading only, admitting nothing).

        Backends that cannot tell say "all of it": a guess too high only keeps push as fast as
        it would be without the figure; the limiter itself still refuses what is not there.
        """
        return Remaining(minute=limits.per_minute, day=limits.per_day)

    @abstractmethod
    def salesforce_check(self, org_id: str, *, headroom: float) -> SalesforcePause | None:
        """The pause in force for ``org_id``, or None, counting this request on the figure."""

    @abstractmethod
    def salesforce_record(self, org_id: str, *, used: int, allowed: int, ttl: float) -> None: ...

    @abstractmethod
    def reset(self) -> None:
        """Forget everything (tests only)."""


def is_paused(used: int, allowed: int, headroom: float) -> bool:
    return used >= allowed * (1 - headroom)
