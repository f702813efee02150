"""The limiters the clients use: a lease per Xero call, a pause per Salesforce org near its
allowance, on the backend this configuration names."""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from django.conf import settings

from integrations.connections.ratelimit.limits import (
    Backend,
    Lease,
    LimiterUnavailable,
    Priority,
    Remaining,
    SalesforcePause,
    SlotUnavailable,
    XeroLimits,
)
from integrations.connections.ratelimit.local import LocalBackend
from integrations.connections.ratelimit.redis_backend import RedisBackend

logger = logging.getLogger(__name__)


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

    def remaining(self, tenant_id: str) -> Remaining | None:
        """What the organisation has left of its minute and day; None when the limiter cannot
        be asked (the caller decides without it)."""
        try:
            return self.backend.remaining(tenant_id, limits=self.limits)
        except LimiterUnavailable:
            logger.warning("ratelimit: could not read the remaining calls of %s", tenant_id)
            return None

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
