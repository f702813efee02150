"""Fixtures: our site and the simulated Xero on one live server, and helpers driving consent."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client
from django.urls import reverse

from accounts.models import Account, Membership, Role, User
from integrations.core.models import Integration
from sandbox.xero import seed
from sandbox.xero.models import XeroOrganisation
from tests.factories import AccountFactory, MembershipFactory, UserFactory


@pytest.fixture
def xero(sandbox_url: str, settings: Any) -> str:
    """The demo sandbox Xero; every Xero URL of ours points at it. Returns its base URL."""
    base = f"{sandbox_url}/sandbox/xero"
    settings.XERO_AUTHORIZE_URL = f"{base}/identity/connect/authorize"
    settings.XERO_TOKEN_URL = f"{base}/identity/connect/token"
    settings.XERO_REVOKE_URL = f"{base}/identity/connect/revocation"
    settings.XERO_CONNECTIONS_URL = f"{base}/connections"
    settings.XERO_API_URL = f"{base}/api.xro/2.0"
    settings.SITE_URL = sandbox_url
    seed.reset(seed="demo")
    return base


class Tenant:
    """An account with an integration, and a logged-in member of it."""

    def __init__(self, role: Role = Role.ADMIN) -> None:
        self.account: Account = AccountFactory.create()
        self.user: User = UserFactory.create()
        self.membership: Membership = MembershipFactory.create(
            user=self.user, account=self.account, role=role
        )
        self.integration = Integration.objects.create(account=self.account, name="Main")
        self.client = Client()
        self.client.force_login(self.user)

    def url(self, name: str) -> str:
        return reverse(
            name, kwargs={"account_slug": self.account.slug, "integration_id": self.integration.pk}
        )

    def start(self) -> str:
        """Posts "Continue to Xero"; returns the authorize URL we redirect to."""
        response = self.client.post(self.url("xero:connect"))
        assert response.status_code == 302
        return str(response["Location"])

    def callback(self, params: dict[str, str]) -> Any:
        return self.client.get(reverse("xero:callback"), params)


@pytest.fixture
def tenant(xero: str) -> Tenant:
    return Tenant()


def consent(authorize_url: str, orgs: list[str], *, action: str = "allow") -> dict[str, str]:
    """Drives the sandbox consent page like a person; returns the callback's query parameters."""
    page = requests.get(authorize_url, timeout=10)
    assert page.status_code == 200, page.text
    split = urlsplit(authorize_url)
    form: dict[str, Any] = {k: v[0] for k, v in parse_qs(split.query).items()}
    form["organisations"] = [str(XeroOrganisation.objects.get(name=name).pk) for name in orgs]
    form["action"] = action
    answer = requests.post(
        f"{split.scheme}://{split.netloc}{split.path}", data=form, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    assert location.path == reverse("xero:callback")
    return {k: v[0] for k, v in parse_qs(location.query).items()}
