"""A sync claim is won by exactly one worker, expires, and respects pauses."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from integrations.models import Integration
from integrations.sync.claim import (
    integration_claim,
    integration_extend_claim,
    integration_release,
)
from tests.factories import AccountFactory

TTL = dt.timedelta(minutes=5)


def _integration(**kwargs) -> Integration:
    return Integration.objects.create(
        account=AccountFactory.create(), name="Main", is_enabled=True, **kwargs
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
@pytest.mark.parametrize(
    "state", [{"is_enabled": False}, {"paused_reason": "Reconnect Xero to resume syncing."}]
)
def test_off_or_paused_integrations_are_not_claimed(state):
    integration = Integration.objects.create(
        account=AccountFactory.create(), name="Main", **{"is_enabled": True, **state}
    )
    assert not integration_claim(integration_id=integration.pk, worker="a", ttl=TTL)


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

    from integrations.models import LedgerEntry

    integration = _integration()
    other = _integration()
    LedgerEntry.objects.create(integration=integration, salesforce_id="006000000000001AAA")
    LedgerEntry.objects.create(integration=other, salesforce_id="006000000000001AAA")
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(integration=integration, salesforce_id="006000000000001AAA")
