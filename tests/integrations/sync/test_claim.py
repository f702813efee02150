"""A sync claim is won by exactly one worker, expires, and respects pauses."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from integrations.connections.models import Connection
from integrations.core.models import Integration, PauseCause
from integrations.core.pauses import integration_pause
from integrations.sync.claim import (
    DEAD_RUN_ERROR,
    ClaimHeartbeat,
    close_dead_runs,
    integration_claim,
    integration_extend_claim,
    integration_release,
)
from integrations.sync.models import SyncRun
from tests.factories import AccountFactory

TTL = dt.timedelta(minutes=5)


def _integration(**kwargs) -> Integration:
    account = AccountFactory.create()

    def connection(provider: str) -> Connection:
        return Connection.objects.create(
            account=account, provider=provider, external_id=provider, credentials={}
        )

    return Integration.objects.create(
        account=account,
        name="Main",
        is_enabled=True,
        xero_connection=connection("xero"),
        salesforce_connection=connection("salesforce"),
        **kwargs,
    )


@pytest.mark.django_db
def test_one_claim_at_a_time_then_release():
    integration = _integration()
    assert integration_claim(integration_id=integration.pk, worker="a", ttl=TTL)
    assert not integration_claim(integration_id=integration.pk, worker="b", ttl=TTL)
    integration_release(integration_id=integration.pk, worker="b")  # not b's: no effect
    assert not integration_claim(integration_id=integration.pk, worker="b", ttl=TTL)
    integration_release(integration_id=integration.pk, worker="a")
    assert integration_claim(integration_id=integration.pk, worker="b", ttl=TTL)


@pytest.mark.django_db
def test_an_expired_claim_can_be_taken_and_the_old_holder_knows():
    integration = _integration()
    assert integration_claim(integration_id=integration.pk, worker="a", ttl=TTL)
    Integration.objects.filter(pk=integration.pk).update(
        sync_claimed_until=timezone.now() - dt.timedelta(seconds=1)
    )
    assert integration_claim(integration_id=integration.pk, worker="b", ttl=TTL)
    assert not integration_extend_claim(integration_id=integration.pk, worker="a", ttl=TTL)
    assert integration_extend_claim(integration_id=integration.pk, worker="b", ttl=TTL)


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["off", "paused", "waiting", "reauth", "unconnected"])
def test_off_paused_or_blocked_integrations_are_not_claimed(state):
    integration = _integration()
    if state == "off":
        Integration.objects.filter(pk=integration.pk).update(is_enabled=False)
    elif state == "paused":
        integration_pause(integration_id=integration.pk, cause=PauseCause.PERSON, message="x")
    elif state == "waiting":
        integration_pause(
            integration_id=integration.pk,
            cause=PauseCause.RATE_LIMIT,
            message="429",
            until=timezone.now() + dt.timedelta(minutes=1),
        )
    elif state == "reauth":
        Connection.objects.filter(provider="xero").update(status=Connection.Status.NEEDS_REAUTH)
    else:
        Integration.objects.filter(pk=integration.pk).update(salesforce_connection=None)
    assert not integration_claim(integration_id=integration.pk, worker="a", ttl=TTL)


@pytest.mark.django_db
def test_a_rate_limit_wait_lifts_itself():
    integration = _integration()
    integration_pause(
        integration_id=integration.pk,
        cause=PauseCause.RATE_LIMIT,
        message="429",
        until=timezone.now() - dt.timedelta(seconds=1),
    )
    assert integration_claim(integration_id=integration.pk, worker="a", ttl=TTL)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_workers_racing_for_one_integration_one_wins():
    integration = _integration()
    barrier = threading.Barrier(10)
    wins: list[str] = []

    def worker(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            if integration_claim(integration_id=integration.pk, worker=name, ttl=TTL):
                wins.append(name)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(wins) == 1
    integration.refresh_from_db()
    assert integration.sync_claimed_by == wins[0]


@pytest.mark.django_db
def test_the_ledger_holds_one_row_per_opportunity_per_integration():
    from django.db import IntegrityError, transaction

    from integrations.sync.models import LedgerEntry

    integration = _integration()
    other = _integration()
    LedgerEntry.objects.create(integration=integration, salesforce_id="006000000000001AAA")
    LedgerEntry.objects.create(integration=other, salesforce_id="006000000000001AAA")
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(integration=integration, salesforce_id="006000000000001AAA")


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_keeps_a_claim_alive_past_its_ttl(settings):
    settings.SYNC_CLAIM_HEARTBEAT = 0.5
    integration = _integration()
    ttl = dt.timedelta(seconds=1.5)
    assert integration_claim(integration_id=integration.pk, worker="a", ttl=ttl)
    with ClaimHeartbeat(integration_id=integration.pk, worker="a", ttl=ttl) as heartbeat:
        time.sleep(3)  # twice the TTL: without the heartbeat the claim would have expired
        assert not integration_claim(integration_id=integration.pk, worker="b", ttl=ttl)
        assert not heartbeat.lost.is_set()
    # Stopped: the claim now expires on its own.
    time.sleep(2)
    assert integration_claim(integration_id=integration.pk, worker="b", ttl=ttl)


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_notices_a_claim_taken_over(settings):
    settings.SYNC_CLAIM_HEARTBEAT = 0.5
    integration = _integration()
    assert integration_claim(integration_id=integration.pk, worker="a", ttl=TTL)
    with ClaimHeartbeat(integration_id=integration.pk, worker="a", ttl=TTL) as heartbeat:
        Integration.objects.filter(pk=integration.pk).update(sync_claimed_by="b")
        assert heartbeat.lost.wait(timeout=5)


@pytest.mark.django_db
def test_runs_left_running_by_a_dead_worker_are_closed_with_the_reason():
    integration = _integration()
    other = _integration()
    dead = SyncRun.objects.create(integration=integration, worker="dead-worker")
    # A live run: its worker holds its integration's claim.
    assert integration_claim(integration_id=other.pk, worker="alive", ttl=TTL)
    alive = SyncRun.objects.create(integration=other, worker="alive")
    assert close_dead_runs() == 1
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == SyncRun.Status.FAILED
    assert dead.error == DEAD_RUN_ERROR
    assert dead.finished_at is not None
    assert alive.status == SyncRun.Status.RUNNING


@pytest.mark.django_db
def test_a_run_whose_claim_was_taken_over_is_dead_too():
    integration = _integration()
    assert integration_claim(integration_id=integration.pk, worker="frozen", ttl=TTL)
    frozen = SyncRun.objects.create(integration=integration, worker="frozen")
    Integration.objects.filter(pk=integration.pk).update(sync_claimed_by="new-worker")
    assert close_dead_runs(integration_id=integration.pk) == 1
    frozen.refresh_from_db()
    assert frozen.status == SyncRun.Status.FAILED


@pytest.mark.django_db(transaction=True)
def test_a_release_lost_to_the_database_is_tried_again(monkeypatch):
    from django.db import OperationalError
    from django.db.models import QuerySet

    integration = _integration()
    assert integration_claim(integration_id=integration.pk, worker="a", ttl=TTL)
    original = QuerySet.update
    failures = iter([True])

    def flaky(self, **kwargs):
        if next(failures, False):
            raise OperationalError("server closed the connection unexpectedly")
        return original(self, **kwargs)

    monkeypatch.setattr(QuerySet, "update", flaky)
    monkeypatch.setattr("integrations.sync.claim.time.sleep", lambda seconds: None)
    integration_release(integration_id=integration.pk, worker="a")
    monkeypatch.setattr(QuerySet, "update", original)
    integration.refresh_from_db()
    assert (integration.sync_claimed_by, integration.sync_claimed_until) == ("", None)
