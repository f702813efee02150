"""Fixtures: a seeded simulated Xero on the live server, driven by the official xero-python SDK."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient
from xero_python.api_client.configuration import Configuration
from xero_python.api_client.oauth2 import OAuth2Token

from sandbox.xero import clock, seed, services, validation, webhooks
from sandbox.xero.models import XeroOrganisation


@pytest.fixture(autouse=True)
def _clock_and_webhooks() -> Iterator[None]:
    clock.reset()
    webhooks.SYNCHRONOUS = True
    yield
    clock.reset()
    webhooks.SYNCHRONOUS = False


@pytest.fixture
def demo(transactional_db, sandbox_url) -> str:
    """The demo data on the live server; returns the sandbox Xero base URL."""
    seed.reset(seed="demo")
    return f"{sandbox_url}/sandbox/xero"


@pytest.fixture
def main_org(demo) -> XeroOrganisation:
    org = XeroOrganisation.objects.get(name=seed.MAIN_ORG)
    return org


def make_api(base: str, token: dict[str, Any]) -> AccountingApi:
    """An SDK client of its own (Configuration behaves like a singleton: set the token after)."""
    store: dict[str, Any] = {
        "access_token": token["access_token"],
        "refresh_token": token.get("refresh_token"),
        "scope": token["scope"].split(),
        "expires_in": token["expires_in"],
        "token_type": "Bearer",
        "expires_at": (
            dt.datetime.now(dt.UTC) + dt.timedelta(seconds=token["expires_in"])
        ).timestamp(),
        "id_token": None,
    }
    cfg = Configuration()
    cfg.oauth2_token = OAuth2Token(client_id="carrytheone-sandbox", client_secret="x")
    cfg.oauth2_token.update_token(**store)
    client = ApiClient(
        cfg, oauth2_token_saver=lambda t: store.update(t), oauth2_token_getter=lambda: store
    )
    # urllib3 would silently retry 429s and timeouts: every test sees exactly one answer.
    client.rest_client.pool_manager.connection_pool_kw["retries"] = False
    return AccountingApi(client, base_url=f"{base}/api.xro/2.0")


@pytest.fixture
def token(main_org) -> dict[str, Any]:
    return services.issue_token(org_name=main_org.name)


@pytest.fixture
def api(demo, token) -> AccountingApi:
    return make_api(demo, token)


@pytest.fixture
def tenant(token) -> str:
    return str(token["tenant_id"])


class Raw:
    """Plain HTTP to the Accounting API, with every answer checked against the spec."""

    def __init__(self, base: str, token: dict[str, Any]) -> None:
        self.base = f"{base}/api.xro/2.0"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token['access_token']}"
        self.session.headers["xero-tenant-id"] = token["tenant_id"]
        self.session.headers["Accept"] = "application/json"

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        check: bool = True,
    ) -> requests.Response:
        raw = (
            None
            if body is None
            else (body if isinstance(body, bytes) else json.dumps(body).encode())
        )
        response = self.session.request(
            method,
            f"{self.base}/{path}",
            data=raw,
            params=params,
            headers={"Content-Type": "application/json", **(headers or {})},
            timeout=30,
        )
        if check:
            assert_conforms(method, path, raw, params or {}, headers or {}, response)
        return response


def assert_conforms(
    method: str,
    path: str,
    raw: bytes | None,
    params: dict[str, str],
    headers: dict[str, str],
    response: requests.Response,
) -> None:
    """The answer matches the spec when the spec declares its status for the operation."""
    request = validation.SpecRequest(
        method=method,
        subpath=path.split("?")[0],
        body=raw,
        query={k: [v] for k, v in params.items()},
        headers={"xero-tenant-id": "x", **headers},
    )
    if response.status_code not in _declared_statuses(method, request):
        return
    errors = validation.check_response(
        request, validation.SpecResponse(response.content, response.status_code)
    )
    assert not errors, errors


def _declared_statuses(method: str, request: validation.SpecRequest) -> set[int]:
    try:
        found = validation.find_path(request)
    except Exception:
        return set()
    operation = found[1]
    return {int(code) for code in operation / "responses" if str(code).isdigit()} - {404}


@pytest.fixture
def raw(demo, token) -> Raw:
    return Raw(demo, token)
