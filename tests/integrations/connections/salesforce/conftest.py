from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client
from django.urls import reverse

from accounts.models import Account, Role, User
from integrations.core.models import Integration
from sandbox.salesforce import services
from sandbox.salesforce.models import SalesforceOrg
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.local_server import local_server
from tests.sandbox.salesforce.conftest import make_org


@pytest.fixture
def sf_site(sandbox_url: str, settings: Any) -> str:
    """Our site and the simulated Salesforce, both on the live server."""
    settings.SALESFORCE_LOGIN_URL = sandbox_url
    settings.SITE_URL = sandbox_url
    return sandbox_url


@pytest.fixture
def sf_org(sf_site: str) -> SalesforceOrg:
    services.demo_app()  # the connected app whose client id our settings carry
    return make_org(name="Acme Sales")


class Tenant:
    """An account with an integration, and a logged-in admin of it."""

    def __init__(self, role: Role = Role.ADMIN) -> None:
        self.account: Account = AccountFactory.create()
        self.user: User = UserFactory.create()
        self.membership = MembershipFactory.create(user=self.user, account=self.account, role=role)
        self.integration = Integration.objects.create(account=self.account, name="Main")
        self.client = Client()
        self.client.force_login(self.user)

    @property
    def connect_url(self) -> str:
        return reverse("salesforce:connect", args=[self.account.slug, self.integration.pk])

    @property
    def detail_url(self) -> str:
        return reverse("integrations:detail", args=[self.account.slug, self.integration.pk])

    def start(self, environment: str = "simulator", custom_url: str = "") -> str:
        """Posts the connect form; returns the Salesforce authorize URL it redirects to."""
        response = self.client.post(
            self.connect_url, {"environment": environment, "custom_url": custom_url}
        )
        assert response.status_code == 302, response.content
        return str(response["Location"])

    def callback(self, url_or_query: str | dict[str, str]) -> Any:
        path = reverse("salesforce:callback")
        if isinstance(url_or_query, dict):
            return self.client.get(path, url_or_query)
        parts = urlsplit(url_or_query)
        assert parts.path == path
        return self.client.get(path, {k: v[0] for k, v in parse_qs(parts.query).items()})


@pytest.fixture
def tenant(db: None) -> Tenant:
    return Tenant()


class _FormFields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("type") == "hidden" and values.get("name"):
            self.fields[str(values["name"])] = values.get("value") or ""


def consent(authorize_url: str, decision: str = "allow") -> str:
    """Answers the simulator's "Allow access?" page; returns where it redirects (our callback)."""
    page = requests.get(authorize_url, timeout=10)
    assert page.status_code == 200, page.text
    parser = _FormFields()
    parser.feed(page.text)
    response = requests.post(
        authorize_url.split("?")[0],
        data={**parser.fields, "decision": decision},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text
    return str(response.headers["Location"])


def set_flow_login_url(client: Client, login_url: str) -> None:
    """Points the flow in flight at another login server (to simulate it failing)."""
    session = client.session
    flows = session["oauth_flows"]
    for flow in flows.values():
        flow["extra"]["login_url"] = login_url
    session["oauth_flows"] = flows
    session.save()


class _Broken(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = b"<html><body>Internal Server Error</body></html>"
        self.send_response(500)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def broken_server() -> Iterator[str]:
    """A login server whose token endpoint answers 500 with an HTML page."""
    with local_server(_Broken) as url:
        yield url
