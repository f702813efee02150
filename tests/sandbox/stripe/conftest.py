"""Fixtures: the seeded simulated Stripe on the live server, driven by the official SDK, and a
webhook receiver (a tiny HTTP server in a thread) that records what the sandbox delivers."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import stripe

from sandbox.stripe import seed, services, webhooks
from sandbox.stripe.models import StripeAccount

SECRET = services.DEMO_WEBHOOK_SECRET


@dataclass
class Received:
    """Deliveries the receiver got: (headers, raw body) in arrival order."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events()]

    def clear(self) -> None:
        self.requests.clear()


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.requests.append((dict(self.headers.items()), body))
            self.send_response(received.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/billing/stripe/webhook/", received
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _synchronous_webhooks() -> Iterator[None]:
    webhooks.SYNCHRONOUS = True
    yield
    webhooks.SYNCHRONOUS = False


@pytest.fixture
def demo(transactional_db, sandbox_url, settings, receiver) -> str:
    """The demo account on the live server, its webhook at the receiver; the API base."""
    settings.SANDBOX_STRIPE_WEBHOOK_URL = receiver[0]
    seed.reset(seed="demo")
    return f"{sandbox_url}/sandbox/stripe"


@pytest.fixture
def account(demo) -> StripeAccount:
    return StripeAccount.objects.get(secret_key=services.DEMO_SECRET_KEY)


@pytest.fixture
def client(demo) -> stripe.StripeClient:
    """The official SDK's client, at the sandbox, with no retries (one answer per call)."""
    return stripe.StripeClient(
        services.DEMO_SECRET_KEY,
        base_addresses={"api": demo},
        max_network_retries=0,
    )


@pytest.fixture
def received(receiver: tuple[str, Received]) -> Received:
    return receiver[1]


@dataclass
class Plan:
    product: Any
    price: Any


@pytest.fixture
def plan(client) -> Plan:
    product = client.v1.products.create(params={"name": "CarryTheOne"})
    price = client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "gbp",
            "unit_amount": 2999,
            "recurring": {"interval": "month"},
            "lookup_key": "integration_monthly",
        }
    )
    return Plan(product, price)


_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def submit_card(
    url: str, number: str, *, extra: dict[str, str] | None = None, follow: bool = False
) -> requests.Response:
    """A person filling in a hosted page's card form: GET the page, POST the form."""
    session = requests.Session()
    page = session.get(url, timeout=30)
    assert page.status_code == 200, page.text[:500]
    token = _CSRF.search(page.text)
    assert token, "the page has a form"
    return session.post(
        url,
        data={
            "csrfmiddlewaretoken": token.group(1),
            "number": number,
            "expiry": "12 / 34",
            "cvc": "123",
            "name": "Ada Lovelace",
            **(extra or {}),
        },
        headers={"Referer": url},
        allow_redirects=follow,
        timeout=30,
    )


def checkout(client: stripe.StripeClient, plan: Plan, **params: Any) -> Any:
    body: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": plan.price.id, "quantity": 1}],
        "success_url": "http://127.0.0.1:9/billing/done?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://127.0.0.1:9/billing/",
        **params,
    }
    return client.v1.checkout.sessions.create(params=body)  # type: ignore[arg-type]
