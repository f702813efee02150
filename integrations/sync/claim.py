"""One sync per integration at a time, across workers and beat schedulers.

A claim is a conditional UPDATE: it succeeds only if no live claim exists, and the row count
says who won. Nothing is held across I/O. Each claim increments the integration's fencing
token (``sync_fence``); the write protocol checks it in the transaction that commits each
write's intent (:func:`integration_fence_check`), so a worker that lost its claim — frozen past
it, say, then resumed — stops before its next write instead of writing beside the new holder.

A claim lives ``SYNC_CLAIM_TTL`` seconds (30 by default) and a heartbeat thread renews it every
``SYNC_CLAIM_HEARTBEAT`` seconds while the run goes on — also while a slow Xero call is in
flight — so a worker that died, froze or lost its database connection frees the integration
within seconds, not minutes.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations.core.models import Integration
from integrations.core.pauses import runnable
from integrations.sync.models import SyncRun

logger = logging.getLogger(__name__)

DEAD_RUN_ERROR = (
    "The worker running this sync stopped before it finished (it was restarted, killed or lost "
    "its database connection). Nothing is lost: the next run continued from the ledger."
)


def claim_ttl() -> dt.timedelta:
    return dt.timedelta(seconds=float(settings.SYNC_CLAIM_TTL))


class ClaimLost(Exception):
    """Another worker holds the integration now: this run must not write again."""


class AccountAtCapacity(Exception):
    """The account already syncs ``SYNC_MAX_RUNS_PER_ACCOUNT`` of its other integrations: this
    one waits its turn (its share of the workers), nothing is lost."""

    def __init__(self, *, account_id: int, cap: int) -> None:
        super().__init__(
            f"Waiting: this account already syncs {cap} of its integrations at once (its share "
            "of the workers); this one starts as soon as one of them finishes."
        )
        self.account_id = account_id
        self.cap = cap


# The first key of the two-key advisory lock: claims of an account, serialised.
_ACCOUNT_LOCK_SPACE = 0x53594E43  # "SYNC"


def integration_claim(*, integration_id: int, worker: str, ttl: dt.timedelta) -> int | None:
    """The claim's fencing token if ``worker`` may sync the integration now (it is on, its
    connections usable, nothing pauses it, no live claim exists); None otherwise.

    Raises :class:`AccountAtCapacity` while the account holds ``SYNC_MAX_RUNS_PER_ACCOUNT`` live
    claims on its other integrations. Counting and claiming happen in one transaction under
    an advisory lock of the account (PostgreSQL; SQLite serialises writers anyway), so two
    workers claiming two integrations of one account at once cannot both pass the count.
    """
    account_id = (
        Integration.objects.filter(runnable(), pk=integration_id)
        .values_list("account_id", flat=True)
        .first()
    )
    if account_id is None:
        return None
    cap = int(settings.SYNC_MAX_RUNS_PER_ACCOUNT)
    with transaction.atomic():
        now = timezone.now()
        if cap > 0:
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_advisory_xact_lock(%s, %s)", [_ACCOUNT_LOCK_SPACE, account_id]
                    )
            others = (
                Integration.objects.filter(account_id=account_id, sync_claimed_until__gt=now)
                .exclude(pk=integration_id)
                .count()
            )
            if others >= cap:
                raise AccountAtCapacity(account_id=account_id, cap=cap)
        # On the integration's row alone: with joins Django would UPDATE through a subquery
        # whose snapshot PostgreSQL does not re-check, and two workers could both win.
        won = (
            Integration.objects.filter(pk=integration_id, is_enabled=True)
            .filter(Q(sync_claimed_until__isnull=True) | Q(sync_claimed_until__lte=now))
            .update(
                sync_claimed_until=now + ttl,
                sync_claimed_by=worker[:100],
                sync_fence=F("sync_fence") + 1,
            )
        )
        if won != 1:
            return None
        # Ours until it expires: nobody else can have moved the token since.
        return int(
            Integration.objects.filter(pk=integration_id, sync_claimed_by=worker[:100])
            .values_list("sync_fence", flat=True)
            .get()
        )


def integration_fence_check(*, integration_id: int, fence: int, ttl: dt.timedelta) -> None:
    """Inside a write's intent transaction: the claim is still this run's (and is renewed);
    raises :class:`ClaimLost` when another claim has been taken since."""
    now = timezone.now()
    kept = Integration.objects.filter(pk=integration_id, sync_fence=fence).update(
        sync_claimed_until=now + ttl
    )
    if kept != 1:
        raise ClaimLost(
            "This run lost its claim to another worker and stopped before writing; nothing is lost."
        )


def integration_extend_claim(*, integration_id: int, worker: str, ttl: dt.timedelta) -> bool:
    """Keeps a long run's claim alive; False if it was lost (expired and taken by another)."""
    now = timezone.now()
    kept = Integration.objects.filter(
        pk=integration_id, sync_claimed_by=worker[:100], sync_claimed_until__gt=now
    ).update(sync_claimed_until=now + ttl)
    return kept == 1


def integration_release(*, integration_id: int, worker: str, attempts: int = 3) -> None:
    """Ends ``worker``'s claim; a claim since taken by another worker is left alone.

    Tried a few times: a release lost to a dropped database connection would otherwise keep
    the integration claimed until the claim expires.
    """
    for attempt in range(attempts):
        try:
            Integration.objects.filter(pk=integration_id, sync_claimed_by=worker[:100]).update(
                sync_claimed_until=None, sync_claimed_by=""
            )
            return
        except DatabaseError:
            logger.warning(
                "integration %s: releasing the claim failed (attempt %s)",
                integration_id,
                attempt + 1,
                exc_info=True,
            )
            close_old_connections()
            time.sleep(0.5 * (attempt + 1))


def close_dead_runs(*, integration_id: int | None = None) -> int:
    """Runs left "running" by a worker that no longer holds the claim: failed, with why.

    Called by the worker that wins a claim (every other run of that integration is dead then)
    and by beat's poll (for integrations nobody claims any more, e.g. switched off meanwhile).
    """
    now = timezone.now()
    runs = SyncRun.objects.filter(status=SyncRun.Status.RUNNING)
    if integration_id is not None:
        runs = runs.filter(integration_id=integration_id)
    # Dead: its integration's claim expired, or is held by someone else.
    dead = runs.filter(
        Q(integration__sync_claimed_until__isnull=True)
        | Q(integration__sync_claimed_until__lte=now)
        | ~Q(integration__sync_claimed_by=F("worker"))
    )
    closed = dead.update(
        status=SyncRun.Status.FAILED,
        error=DEAD_RUN_ERROR,
        finished_at=now,
    )
    if closed:
        logger.warning("closed %s sync run(s) left running by a stopped worker", closed)
    return closed


class ClaimHeartbeat:
    """Renews a claim from a thread of its own until stopped; ``lost`` is set if it fails.

    A thread, not the run's own loop: the run may spend longer than the claim's lifetime in
    one Xero call (a slow batch, a rate-limit wait) without being dead.
    """

    def __init__(self, *, integration_id: int, worker: str, ttl: dt.timedelta) -> None:
        self.integration_id = integration_id
        self.worker = worker
        self.ttl = ttl
        # Several beats within a claim's lifetime, so one slow write does not lose it.
        self.interval = max(0.2, min(float(settings.SYNC_CLAIM_HEARTBEAT), ttl.total_seconds() / 3))
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"claim-heartbeat-{integration_id}", daemon=True
        )

    def __enter__(self) -> ClaimHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    kept = integration_extend_claim(
                        integration_id=self.integration_id, worker=self.worker, ttl=self.ttl
                    )
                except DatabaseError:
                    # The database is away: the claim may expire meanwhile, and then another
                    # worker may take over. Trying again next beat; the run checks ``lost``.
                    logger.warning(
                        "integration %s: claim heartbeat failed", self.integration_id, exc_info=True
                    )
                    close_old_connections()
                    continue
                if not kept:
                    self.lost.set()
                    return
        finally:
            connection.close()
