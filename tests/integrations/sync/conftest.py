"""Fixtures for the engine's end-to-end tests: an integration wired to both simulators."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
from django.utils import timezone

from integrations.models import Connection, Integration
from integrations.sync.config import SyncConfig
from integrations.xero.client import XeroClient
from sandbox.salesforce import seed as salesforce_seed
from sandbox.salesforce import services as sf_sandbox
from sandbox.xero import seed as xero_seed
from sandbox.xero import services as xero_sandbox
from tests.factories import AccountFactory


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every Xero API method the product calls, counted."""
    seen: Counter[str] = Counter()
    original = XeroClient.call

    def counting(self: XeroClient, method: str, *args: Any, **kwargs: Any) -> Any:
        seen[method] += 1
        return original(self, method, *args, **kwargs)

    monkeypatch.setattr(XeroClient, "call", counting)
    return seen


@pytest.fixture
def integration(sandbox_url: str, settings: Any) -> Integration:
    base = f"{sandbox_url}/sandbox/xero"
    settings.XERO_TOKEN_URL = f"{base}/identity/connect/token"
    settings.XERO_API_URL = f"{base}/api.xro/2.0"
    settings.SALESFORCE_LOGIN_URL = sandbox_url
    # Lost answers are looked up on the next run here (in production, after two minutes).
    settings.SYNC_UNKNOWN_SETTLE_AFTER = 0
    salesforce_seed.reset(seed="demo")
    xero_seed.reset(seed="demo")
    account = AccountFactory.create()
    expires = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    sf_token = sf_sandbox.issue_token(org_name=salesforce_seed.DEMO_ORG)
    salesforce = Connection.objects.create(
        account=account,
        provider="salesforce",
        external_id="00D-demo",
        display_name="Demo",
        credentials={**sf_token, "login_url": sandbox_url, "expires_at": expires},
    )
    xero_token = xero_sandbox.issue_token(org_name=xero_seed.MAIN_ORG)
    xero = Connection.objects.create(
        account=account,
        provider="xero",
        external_id=xero_token["tenant_id"],
        display_name=xero_seed.MAIN_ORG,
        credentials={
            "access_token": xero_token["access_token"],
            "refresh_token": xero_token["refresh_token"],
            "expires_at": expires,
        },
    )
    return Integration.objects.create(
        account=account,
        name="Main",
        salesforce_connection=salesforce,
        xero_connection=xero,
        is_enabled=True,
        config=SyncConfig(default_currency="USD").to_json(),
    )
