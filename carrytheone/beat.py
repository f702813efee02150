"""Beat exactly once across machines: the scheduler sends only while it holds a Redis lease.

Several ``celery beat`` processes may run — a standby on a second machine, an old one still
draining during a deploy — and only the lease's holder sends the schedule; the others tick as
standbys and take over within ``BEAT_LEADER_TTL`` seconds of the holder dying (at once when it
stops cleanly: it hands the lease back). Without this, two beats would each publish every poll:
harmless (a sync's claim lets one run at a time) but double the queue traffic at thousands of
integrations.

Without Redis (``make run``'s filesystem broker, one machine) there is nobody to share with and
every beat leads, as Celery's own scheduler does.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Any

import redis
from celery.beat import PersistentScheduler
from django.conf import settings

logger = logging.getLogger(__name__)

LEASE_KEY = "carrytheone:beat:leader"

# Extends the lease only if this process still holds it: a lease lost (expired while the
# process was frozen, say) must not be renewed over its new holder's.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class BeatLease:
    """One process's claim to be the beat that sends, renewed while it ticks."""

    def __init__(self, client: redis.Redis, *, ttl: float, key: str = LEASE_KEY) -> None:
        self.client = client
        self.ttl_ms = max(int(ttl * 1000), 1000)
        self.key = key
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # None until the first look, so a standby says so once at start.
        self.leading: bool | None = None

    def hold(self) -> bool:
        """True while this process holds the lease (taking it when free, renewing it when ours).

        A Redis that does not answer leads nowhere: whatever this beat sent would go to the same
        unreachable broker, and a beat on the far side of a partition may be sending already.
        """
        try:
            renewed = self.client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms)
            held = bool(renewed) or bool(
                self.client.set(self.key, self.token, nx=True, px=self.ttl_ms)
            )
        except redis.RedisError as exc:
            if self.leading:
                logger.warning("beat: Redis unavailable, not sending until it answers: %s", exc)
            held = False
        if held is not self.leading:
            logger.info(
                "beat: %s the schedule (%s)",
                "now sending" if held else "standing by, another beat sends",
                self.token,
            )
        self.leading = held
        return held

    def release(self) -> None:
        """Hands the lease back, so a standby takes over at its next tick instead of at expiry."""
        try:
            self.client.eval(_RELEASE, 1, self.key, self.token)
        except redis.RedisError:
            logger.warning("beat: could not hand the lease back; it expires by itself")
        self.leading = False


def lease_for_settings() -> BeatLease | None:
    """The lease on the broker's Redis, or None without one (every beat leads)."""
    url = str(settings.CELERY_BROKER_URL)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    return BeatLease(client, ttl=float(settings.BEAT_LEADER_TTL))


class LeaderScheduler(PersistentScheduler):
    """Celery's file-backed scheduler, sending only while it holds the beat lease.

    Each send is preceded by a check of the lease (``tick`` sends at most one entry per call),
    and the loop wakes at least every third of the lease's life to renew it. A standby keeps its
    schedule untouched: when it takes over, what fell due meanwhile is sent once, then on time.
    """

    lease: BeatLease | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        lazy = kwargs.get("lazy", False)
        if not lazy:
            self.lease = lease_for_settings()
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self.lease is None:
            return float(super().tick(*args, **kwargs))
        renew_every = self.lease.ttl_ms / 3000
        if not self.lease.hold():
            return min(renew_every, float(self.max_interval or renew_every))
        return min(float(super().tick(*args, **kwargs)), renew_every)

    def close(self) -> None:
        super().close()
        if self.lease is not None and self.lease.leading:
            self.lease.release()
