"""An account's share of the workers: at most SYNC_MAX_RUNS_PER_ACCOUNT of its integrations
hold a claim at once, however many workers race for them."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connection as db_connection

from accounts.models import Account
from integrations.connections.models import Connection
from integrations.core.models import Integration
from integrations.sync.claim import AccountAtCapacity, integration_claim, integration_release
from tests.factories import AccountFactory

TTL = dt.timedelta(minutes=5)


def _integration(account: Account, name: str) -> Integration:
    def connection(provider: str) -> Connection:
        return Connection.objects.create(
            account=account, provider=provider, external_id=f"{provider}-{name}", credentials={}
        )

    return Integration.objects.create(
        account=account,
        name=name,
        is_enabled=True,
        xero_connection=connection("xero"),
        salesforce_connection=connection("salesforce"),
    )


@pytest.mark.django_db
def test_the_third_claim_of_an_account_is_refused_until_one_is_released(settings: Any) -> None:
    settings.SYNC_MAX_RUNS_PER_ACCOUNT = 2
    account = AccountFactory.create()
    first, second, third = (_integration(account, n) for n in ("a", "b", "c"))
    neighbour = _integration(AccountFactory.create(), "other")
    assert integration_claim(integration_id=first.pk, worker="w1", ttl=TTL)
    assert integration_claim(integration_id=second.pk, worker="w2", ttl=TTL)
    with pytest.raises(AccountAtCapacity) as refused:
        integration_claim(integration_id=third.pk, worker="w3", ttl=TTL)
    assert refused.value.account_id == account.pk
    assert "its share of the workers" in str(refused.value)
    # Another account is not held back by this one.
    assert integration_claim(integration_id=neighbour.pk, worker="w4", ttl=TTL)
    integration_release(integration_id=first.pk, worker="w1")
    assert integration_claim(integration_id=third.pk, worker="w3", ttl=TTL)


@pytest.mark.django_db
def test_no_cap_when_the_setting_is_zero(settings: Any) -> None:
    settings.SYNC_MAX_RUNS_PER_ACCOUNT = 0
    account = AccountFactory.create()
    for index, integration in enumerate(_integration(account, str(n)) for n in range(4)):
        assert integration_claim(integration_id=integration.pk, worker=f"w{index}", ttl=TTL)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_an_accounts_integrations_never_pass_its_share(settings: Any) -> None:
    settings.SYNC_MAX_RUNS_PER_ACCOUNT = 2
    account = AccountFactory.create()
    integrations = [_integration(account, str(n)) for n in range(6)]
    barrier = threading.Barrier(len(integrations))
    wins: list[int] = []
    refused: list[int] = []

    def worker(integration: Integration) -> None:
        try:
            barrier.wait(timeout=10)
            try:
                if integration_claim(
                    integration_id=integration.pk, worker=f"w{integration.pk}", ttl=TTL
                ):
                    wins.append(integration.pk)
            except AccountAtCapacity:
                refused.append(integration.pk)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in integrations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(wins) == 2
    assert len(refused) == 4
