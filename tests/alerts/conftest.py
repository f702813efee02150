"""An integration with both connections (no simulator needed: alerts read what is stored), a
Slack-compatible webhook receiver over real HTTP, and tasks run where they are queued."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Role
from alerts.models import AlertSettings
from alerts.services import Evaluation
from integrations.connections.models import Connection
from integrations.core.models import Integration
from tests.alerts.told import eager_tasks, evaluate_and_send
from tests.factories import AccountFactory, MembershipFactory, UserFactory


@pytest.fixture(autouse=True)
def _eager_celery() -> Iterator[None]:
    with eager_tasks():
        yield


@pytest.fixture
def integration(db, settings) -> Integration:
    settings.SITE_URL = "https://app.example"
    account = AccountFactory.create(name="Acme")
    for role, email in ((Role.OWNER, "owner@acme.test"), (Role.ADMIN, "admin@acme.test")):
        MembershipFactory.create(account=account, role=role, user=UserFactory.create(email=email))
    MembershipFactory.create(
        account=account, role=Role.SUPPORT, user=UserFactory.create(email="support@acme.test")
    )
    xero, salesforce = (
        Connection.objects.create(
            account=account,
            provider=provider,
            external_id=f"{provider}-1",
            display_name=provider.title(),
            credentials={},
        )
        for provider in ("xero", "salesforce")
    )
    return Integration.objects.create(
        account=account,
        name="Main",
        xero_connection=xero,
        salesforce_connection=salesforce,
        is_enabled=True,
        last_success_at=timezone.now() - dt.timedelta(minutes=1),
    )


@pytest.fixture
def evaluate():
    """One evaluation, its messages sent as the worker would after the commit."""

    def run(integration: Integration, now: dt.datetime | None = None) -> Evaluation:
        return evaluate_and_send(integration_id=integration.pk, now=now)

    return run


@dataclass
class Receiver:
    """A Slack-compatible incoming webhook: records each POSTed JSON; answers ``statuses`` in
    turn (then 200)."""

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return [str(p["text"]) for p in self.posts]


@pytest.fixture
def slack() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            if status == 200:
                receiver.posts.append(body)
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"no_service")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_port}/services/T0001/B0002/s3cr3tt0ken9xyz"
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def with_slack(integration, slack: Receiver) -> Receiver:
    AlertSettings.objects.create(account=integration.account, slack_webhook={"url": slack.url})
    return slack
