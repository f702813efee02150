"""The ``ctx`` every step test runs in: a RunContext over an in-memory Xero (``fakes``).

The integration holds a claim (``sync_fence`` 7, which the context carries), a Xero connection
whose organisation settings are cached (the steps that enable currencies or create tracking
options update that copy and read it back), and the organisation of the rules' tests
(``tests.integrations.rules.data.US_METADATA``: USD base, EUR and GBP enabled, bank accounts
090/091, tracking categories Region and Sales Rep). The heartbeat is built, never started.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

import integrations.sync.run  # noqa: F401 - registers every kind's handler
from integrations.connections.models import Connection, ProviderSettings
from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from integrations.rules.specs import RuleSet
from integrations.sync.claim import ClaimHeartbeat
from integrations.sync.context import RunContext
from integrations.sync.models import SyncRun
from tests.factories import AccountFactory
from tests.integrations.rules.data import US_METADATA
from tests.integrations.sync.steps.fakes import FakeXero

FENCE = 7


@pytest.fixture
def xero() -> FakeXero:
    return FakeXero(base_currency=US_METADATA.base_currency)


@pytest.fixture
def ctx(db: Any, xero: FakeXero, settings: Any) -> RunContext:
    # Lost outcomes are looked up at once: no test waits for Xero to finish processing.
    settings.SYNC_UNKNOWN_SETTLE_AFTER = 0
    account = AccountFactory.create()
    connection = Connection.objects.create(
        account=account, provider="xero", external_id="tenant-1", credentials={}
    )
    ProviderSettings.objects.create(
        connection=connection, data=US_METADATA.to_json(), fetched_at=timezone.now()
    )
    integration = Integration.objects.create(
        account=account, name="Main", is_enabled=True, xero_connection=connection
    )
    Integration.objects.filter(pk=integration.pk).update(sync_fence=FENCE)
    ttl = dt.timedelta(seconds=60)
    return RunContext(
        integration=integration,
        run=SyncRun.objects.create(integration=integration),
        worker="worker-1",
        fence=FENCE,
        ttl=ttl,
        heartbeat=ClaimHeartbeat(integration_id=integration.pk, worker="worker-1", ttl=ttl),
        config=SyncConfig(default_currency="USD"),
        rules=RuleSet(),
        metadata=US_METADATA,
        paused=frozenset(),
        xero=xero,
    )
