"""No secret in any log line, page or Sentry event: a full flow with every secret a marker.

Every secret the product holds is set to a recognisable value (the OAuth tokens are whatever
the simulators issued, read back from the connections): the Django and field-encryption keys,
both providers' client secrets, Stripe's key and webhook secret, Xero's webhook key, a user's
password, the push endpoint's token and a Slack webhook URL. Then a person signs up, logs in
(once with a wrong password), creates an integration, connects Xero and Salesforce through the
simulators' OAuth pages over HTTP, configures it, syncs, sends a test alert to Slack and starts
Stripe Checkout; Salesforce pushes a message (and a malformed one), Xero and Stripe deliver
webhooks (and badly signed ones); and a connect callback fails with an unexpected error, with
DEBUG off and on (Django's technical 500 page). Sentry is on, with an in-memory transport.

Every log record (as recorded and as the JSON and text formatters write it), every response
the product gave, every email and every Sentry envelope is searched for every marker.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import logging
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sentry_sdk
from django.apps import apps as django_apps
from django.core import mail
from django.test import Client
from django.urls import reverse
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from accounts.models import Account, User
from carrytheone.log_filters import ScrubSecrets
from carrytheone.log_format import JsonFormatter, TextFormatter
from carrytheone.logcontext import ContextFilter
from integrations.connections.models import Connection
from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from integrations.web.connect import xero_views
from tests.local_server import local_server
from tests.push_messages import outbound_message
from tests.sandbox_wiring import point_at_sandbox

pytestmark = pytest.mark.django_db(transaction=True)

# Each marker is unlike anything the scrubber recognises by its look: only keeping the secret
# out (or masking it by the name it goes under) hides it.
PASSWORD = "MARKERpassword7Qz3xW9v"
SETTING_MARKERS = {
    "SECRET_KEY": "MARKERsecretkey4Rk8pL2mN6vB1xZ0cQ9wE3yT5uI7oP",
    # A Fernet key must be 32 bytes, base64: these are, and still read as a marker.
    "FIELD_ENCRYPTION_KEYS": [
        base64.urlsafe_b64encode(b"MARKERfieldencryptionkey32bytes!").decode()
    ],
    "XERO_CLIENT_SECRET": "MARKERxeroclientsecret8Hj2Kd5",
    "SALESFORCE_CLIENT_SECRET": "MARKERsalesforceclientsecret3Fg7Lm1",
    "STRIPE_SECRET_KEY": "MARKERstripesecretkey6Nb4Vc8",
    "STRIPE_WEBHOOK_SECRET": "MARKERstripewebhooksecret2Sd9Qa4",
    "XERO_WEBHOOK_KEY": "MARKERxerowebhookkey5Tr1Yu6",
}
SLACK_PATH = "/services/T0MARKER/B0MARKER/MARKERslackwebhook9Kp3Zx7"


class RecordingTransport(Transport):
    """Sentry's transport, keeping each envelope as the bytes it would send."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.sent: list[bytes] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.sent.append(envelope.serialize())


class RecordingClient(Client):
    """The test client, keeping every response's headers and body."""

    def __init__(self, **defaults: Any) -> None:
        super().__init__(raise_request_exception=False, **defaults)
        self.seen: list[tuple[str, str]] = []

    def request(self, **request: Any) -> Any:
        response = super().request(**request)
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        body = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
        self.seen.append((request["PATH_INFO"], f"{headers}\n\n{body.decode(errors='replace')}"))
        return response


class _Outside(BaseHTTPRequestHandler):
    """A Slack-compatible webhook (POST), and a Xero whose connections answer is not what Xero
    documents (GET): the product then fails unexpectedly, holding fresh tokens."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(b"ok")

    def do_GET(self) -> None:
        self._answer(
            b'[{"id": "6b1e9c1e-6a8c-4b3a-9d2e-0c6f4f0b7a11", "tenantId":'
            b' "0f2d8c55-3c1b-4a8e-b7a2-5d9e1f3c4b66", "tenantType": "ORGANISATION",'
            b' "tenantName": "Outside Org"}]'
        )

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def outside() -> Iterator[str]:
    """That server, on this machine; returns its base URL."""
    with local_server(_Outside) as url:
        yield url


@pytest.fixture
def formatted() -> Iterator[io.StringIO]:
    """Every record as production's handlers write it: the same filters, both formatters."""
    out = io.StringIO()
    handlers = []
    for formatter in (JsonFormatter(), TextFormatter()):
        handler = logging.StreamHandler(out)
        handler.setFormatter(formatter)
        handler.addFilter(ContextFilter())
        handler.addFilter(ScrubSecrets())
        handlers.append(handler)
    root = logging.getLogger()
    for handler in handlers:
        root.addHandler(handler)
    yield out
    for handler in handlers:
        root.removeHandler(handler)


@pytest.fixture
def sentry(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingTransport]:
    """Sentry as ``carrytheone.sentry.sentry_init`` sets it up, sending to memory."""
    from carrytheone.sentry import sentry_init

    transport = RecordingTransport()
    init = sentry_sdk.init
    monkeypatch.setattr(sentry_sdk, "init", lambda **options: init(transport=transport, **options))
    sentry_init(
        dsn="http://public@127.0.0.1:9/1", environment="test", release="r1", traces_sample_rate=1.0
    )
    yield transport
    sentry_sdk.get_client().close(timeout=0)
    init()  # no DSN: nothing is sent by the other tests


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Queued tasks (a push's sync, a webhook's processing) run where they are queued."""
    from carrytheone.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def _xero_consent(authorize_url: str, org_name: str) -> dict[str, str]:
    from tests.integrations.connections.xero.conftest import consent

    return consent(authorize_url, [org_name])


def _salesforce_consent(authorize_url: str) -> dict[str, str]:
    from tests.integrations.connections.salesforce.conftest import consent

    location = urlsplit(consent(authorize_url))
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def _deliver(
    client: Client, path: str, body: bytes, header: str, signature: str, status: int
) -> None:
    """A webhook delivery, signed in ``header``; answered ``status``."""
    answer = client.post(path, body, content_type="application/json", headers={header: signature})
    assert answer.status_code == status, (path, answer.status_code)


def _xero_signature(body: bytes, key: str) -> str:
    import hashlib
    import hmac

    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def test_no_secret_reaches_a_log_a_page_an_email_or_sentry(
    live_server: Any,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    formatted: io.StringIO,
    sentry: RecordingTransport,
    outside: str,
    monkeypatch: pytest.MonkeyPatch,
    eager_celery: None,
):
    from alerts.models import AlertDelivery
    from integrations.sync.push import push_endpoint_for, push_endpoint_url
    from integrations.sync.run import sync_integration
    from sandbox.salesforce import seed as salesforce_seed
    from sandbox.salesforce.models import ConnectedApp
    from sandbox.stripe import seed as stripe_seed
    from sandbox.stripe import webhooks as stripe_webhooks
    from sandbox.stripe.models import StripeAccount
    from sandbox.xero import seed as xero_seed
    from sandbox.xero.models import AccessToken as XeroAccessToken
    from sandbox.xero.models import RefreshToken as XeroRefreshToken
    from sandbox.xero.models import XeroApp

    caplog.set_level(logging.DEBUG)
    base = str(live_server.url)
    for name, value in SETTING_MARKERS.items():
        setattr(settings, name, value)
    settings.SANDBOX_BASE_URL = base
    settings.SITE_URL = base
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    point_at_sandbox(settings, base)
    xero = f"{base}/sandbox/xero"
    settings.XERO_AUTHORIZE_URL = f"{xero}/identity/connect/authorize"
    settings.XERO_REVOKE_URL = f"{xero}/identity/connect/revocation"
    settings.XERO_CONNECTIONS_URL = f"{xero}/connections"
    settings.STRIPE_API_BASE = f"{base}/sandbox/stripe"
    settings.SANDBOX_STRIPE_WEBHOOK_URL = ""

    # The simulators know the same secrets as the product.
    xero_seed.reset(seed="demo")
    salesforce_seed.reset(seed="demo")
    stripe_seed.reset(seed="demo")
    XeroApp.objects.update(client_secret=settings.XERO_CLIENT_SECRET)
    ConnectedApp.objects.update(consumer_secret=settings.SALESFORCE_CLIENT_SECRET)
    StripeAccount.objects.update(secret_key=settings.STRIPE_SECRET_KEY)

    client = RecordingClient()

    # Sign up, confirm the address, log out, fail a login, log in.
    client.post(
        "/signup/",
        {
            "full_name": "Marker Owner",
            "company_name": "Marker Ltd",
            "email": "owner@marker.example",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    confirm = next(word for word in mail.outbox[-1].body.split() if "/confirm-email/" in word)
    assert client.post(urlsplit(confirm).path).status_code == 302
    client.post("/logout/")
    client.post("/login/", {"login": "owner@marker.example", "password": PASSWORD + "x"})
    assert (
        client.post("/login/", {"login": "owner@marker.example", "password": PASSWORD}).status_code
        == 302
    )
    user = User.objects.get(email="owner@marker.example")
    account = Account.objects.get(memberships__user=user)
    slug = account.slug

    # An integration, connected to both simulators through their consent pages.
    created = client.post(f"/a/{slug}/integrations/new/", {"name": "Main"})
    assert created.status_code == 302
    integration = Integration.objects.get(account=account)
    args = {"account_slug": slug, "integration_id": integration.pk}
    started = client.post(reverse("xero:connect", kwargs=args))
    params = _xero_consent(started["Location"], xero_seed.MAIN_ORG)
    assert client.get(reverse("xero:callback"), params).status_code == 302
    started = client.post(
        reverse("salesforce:connect", kwargs=args), {"environment": "simulator", "custom_url": ""}
    )
    assert started.status_code == 302, started.content
    params = _salesforce_consent(started["Location"])
    assert client.get(reverse("salesforce:callback"), params).status_code == 302
    integration.refresh_from_db()
    assert integration.xero_connection_id
    assert integration.salesforce_connection_id

    # Configured and synced against the simulators.
    Integration.objects.filter(pk=integration.pk).update(
        is_enabled=True, config=SyncConfig(default_currency="USD").to_json()
    )
    client.get(reverse("integrations:setup", kwargs=args), follow=True)
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.entries.exists(), "the sync did nothing"
    client.get(reverse("integrations:log", kwargs=args))

    # A push from Salesforce, and a malformed one.
    endpoint = push_endpoint_for(integration=integration)
    push_path = urlsplit(push_endpoint_url(endpoint)).path
    org_id = Connection.objects.get(pk=integration.salesforce_connection_id).external_id
    message = outbound_message([("04l000000000001AAA", "006000000000009AAA")], org=org_id)
    assert client.post(push_path, message, content_type="text/xml").status_code == 200
    assert client.post(push_path, b"<not-soap", content_type="text/xml").status_code == 400
    client.get(reverse("integrations:setup_push", kwargs=args))

    # Xero's webhook: its intent-to-receive check, a signed delivery and a badly signed one.
    body = json.dumps(
        {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "ABCDEFGHIJ"}
    ).encode()
    key = settings.XERO_WEBHOOK_KEY
    signature = _xero_signature(body, key)
    _deliver(client, "/webhooks/xero/", body, "x-xero-signature", signature, 200)
    _deliver(client, "/webhooks/xero/", body, "x-xero-signature", "bad" + signature[3:], 401)

    # Stripe: Checkout started with the secret key; a signed webhook and a badly signed one.
    # A transactional test run before this one may have flushed the migration's reference plan.
    importlib.import_module("billing.migrations.0003_seed_reference_plan").seed(django_apps, None)
    assert client.post(f"/a/{slug}/billing/checkout/").status_code == 303
    event = json.dumps(
        {
            "id": "evt_marker_1",
            "object": "event",
            "type": "customer.created",
            "created": int(time.time()),
            "data": {"object": {"id": "cus_marker", "object": "customer"}},
        }
    ).encode()
    secret = settings.STRIPE_WEBHOOK_SECRET
    for signing_secret, status in ((secret, 200), (secret + "x", 400)):
        signature = stripe_webhooks.sign(event, signing_secret, int(time.time()))
        _deliver(client, "/billing/stripe/webhook/", event, "stripe-signature", signature, status)

    # Alerts to Slack: the URL saved, shown again, a test message sent.
    client.post(
        f"/a/{slug}/alerts/",
        {
            "slack_url": f"{outside}{SLACK_PATH}",
            "daily_digest": "on",
            "failure_threshold": "3",
            "stalled_after_minutes": "60",
        },
    )
    client.get(f"/a/{slug}/alerts/")
    client.post(f"/a/{slug}/alerts/test/")
    assert AlertDelivery.objects.filter(sent_at__isnull=False).exists(), "no alert was sent"

    # A connect callback failing unexpectedly once the tokens are in hand: DEBUG off, then on.
    settings.XERO_CONNECTIONS_URL = f"{outside}/connections"

    def fails_unexpectedly(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("storing the connection failed")

    monkeypatch.setattr(xero_views, "_store", fails_unexpectedly)
    for debug in (False, True):
        settings.DEBUG = debug
        started = client.post(reverse("xero:connect", kwargs=args))
        params = _xero_consent(started["Location"], xero_seed.MAIN_ORG)
        failed = client.get(
            reverse("xero:callback"), params, headers={"authorization": "Bearer " + PASSWORD}
        )
        assert failed.status_code == 500
    settings.DEBUG = False
    assert "Traceback" in client.seen[-1][1]  # the technical page was the last one rendered
    sentry_sdk.flush()

    # What came out: every secret the flow used is a marker, or read back from where it lives.
    markers = {name: value for name, value in SETTING_MARKERS.items() if isinstance(value, str)}
    markers["FIELD_ENCRYPTION_KEYS"] = SETTING_MARKERS["FIELD_ENCRYPTION_KEYS"][0]
    markers["FIELD_ENCRYPTION_KEYS, decoded"] = "MARKERfieldencryptionkey"
    markers["password"] = PASSWORD
    markers["slack webhook"] = SLACK_PATH.rsplit("/", 1)[1]
    markers["push token"] = push_path.rstrip("/").rsplit("/", 1)[1]
    for connection in Connection.objects.all():
        for field in ("access_token", "refresh_token"):
            if connection.credentials.get(field):
                markers[f"{connection.provider} {field}"] = connection.credentials[field]
    # Every token the simulated Xero issued, the failed callbacks' included.
    for model in (XeroAccessToken, XeroRefreshToken):
        for number, token in enumerate(model.objects.values_list("token", flat=True)):
            markers[f"xero {model.__name__} #{number}"] = token
    assert len(markers) >= 18, markers.keys()
    # The one page that shows the push URL: to the admin, who pastes it into Salesforce.
    setup_push = reverse("integrations:setup_push", kwargs=args)
    shown = {"push token": setup_push}

    # Records as logged (their extras, objects such as the request, are checked as the
    # formatters write them).
    records = [f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
    places = {
        "log records": "\n".join(records),
        "formatted logs": formatted.getvalue(),
        "responses": "\n".join(text for path, text in client.seen if path != setup_push),
        "the push setup page": "\n".join(text for path, text in client.seen if path == setup_push),
        "emails": "\n".join(f"{m.subject}\n{m.body}" for m in mail.outbox),
        "sentry": "\n".join(e.decode(errors="replace") for e in sentry.sent),
    }
    assert sentry.sent, "Sentry recorded nothing"
    assert markers["push token"] in places["the push setup page"]
    leaks = []
    for place, text in places.items():
        for name, value in markers.items():
            if place == "the push setup page" and name in shown:
                continue
            at = text.find(value)
            if at >= 0:
                leaks.append(f"{name} in {place}: …{text[max(0, at - 150) : at + 60]}…")
    assert leaks == [], "\n\n".join(leaks)
