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

from integrations.connections.ratelimit.limiter import (
    XeroLimiter,
    get_backend,
    reset_for_tests,
    salesforce_check,
    salesforce_record_usage,
    xero_limiter,
)
from integrations.connections.ratelimit.limits import (
    CONCURRENT_POLL,
    REPORTED_DAY_TTL,
    Backend,
    Lease,
    LimiterUnavailable,
    Priority,
    Refusal,
    Remaining,
    SalesforcePause,
    SlotUnavailable,
    XeroLimits,
)
from integrations.connections.ratelimit.local import LocalBackend
from integrations.connections.ratelimit.redis_backend import RedisBackend

__all__ = [
    "CONCURRENT_POLL",
    "REPORTED_DAY_TTL",
    "Backend",
    "Lease",
    "LimiterUnavailable",
    "LocalBackend",
    "Priority",
    "RedisBackend",
    "Refusal",
    "Remaining",
    "SalesforcePause",
    "SlotUnavailable",
    "XeroLimiter",
    "XeroLimits",
    "get_backend",
    "reset_for_tests",
    "salesforce_check",
    "salesforce_record_usage",
    "xero_limiter",
]
