"""An integration wired to the simulators, as tests of the sync, the setup and the browser use it.

Both simulators are seeded afresh with the demo data; the connections hold tokens the simulators
issued (an hour's worth), so the product's clients reach them over real HTTP.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import requests
from django.utils import timezone

from accounts.models import Account
from integrations.connections.models import Connection
from integrations.core.models import Integration
from sandbox.salesforce import seed as salesforce_seed
from sandbox.salesforce import services as sf_sandbox
from sandbox.xero import seed as xero_seed
from sandbox.xero import services as xero_sandbox
from tests.factories import AccountFactory


def point_at_sandbox(settings: Any, base: str) -> None:
    """The product's Xero and Salesforce URLs, at the live server's simulators."""
    xero = f"{base}/sandbox/xero"
    settings.XERO_TOKEN_URL = f"{xero}/identity/connect/token"
    settings.XERO_API_URL = f"{xero}/api.xro/2.0"
    settings.SALESFORCE_LOGIN_URL = base
    # Lost answers are looked up on the next run here (in production, after two minutes).
    settings.SYNC_UNKNOWN_SETTLE_AFTER = 0


def xero_refresh_works(xero: str, refresh_token: str) -> bool:
    """Whether the simulated Xero (at ``xero``, its base URL) still honours a refresh token."""
    answer = requests.post(
        f"{xero}/identity/connect/token",
        auth=("carrytheone-sandbox", "sandbox-secret-xero"),
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        timeout=10,
    )
    return answer.status_code == 200


def sandbox_integration(base: str, *, account: Account | None = None, **fields: Any) -> Integration:
    """Seeds both simulators and returns an integration connected to the demo orgs."""
    salesforce_seed.reset(seed="demo")
    xero_seed.reset(seed="demo")
    account = account or AccountFactory.create()
    expires = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    sf_token = sf_sandbox.issue_token(org_name=salesforce_seed.DEMO_ORG)
    salesforce = Connection.objects.create(
        account=account,
        provider="salesforce",
        external_id="00D-demo",
        display_name="Demo",
        credentials={**sf_token, "login_url": base, "expires_at": expires},
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
        **fields,
    )
