"""The simulated Stripe's API through the official SDK: objects, lists, errors, idempotency."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe

from sandbox.stripe import params
from tests.sandbox.stripe.conftest import checkout, submit_card

FIXTURES = json.loads(
    (Path(__file__).resolve().parents[3] / "sandbox/stripe/spec/fixtures3.json").read_text()
)["resources"]


def test_form_encoding_is_parsed_into_nested_dicts_and_lists():
    pairs = [
        ("line_items[0][price]", "price_1"),
        ("line_items[0][quantity]", "2"),
        ("line_items[1][price]", "price_2"),
        ("expand[]", "a"),
        ("expand[]", "b"),
        ("metadata[k]", "v"),
    ]
    assert params.parse(pairs) == {
        "line_items": [{"price": "price_1", "quantity": "2"}, {"price": "price_2"}],
        "expand": ["a", "b"],
        "metadata": {"k": "v"},
    }


def test_customer_round_trip_with_metadata_and_pages(client):
    created = client.v1.customers.create(
        params={"email": "owner@example.com", "name": "Acme", "metadata": {"account_id": "7"}}
    )
    assert created.id.startswith("cus_")
    assert created.metadata.to_dict() == {"account_id": "7"}
    updated = client.v1.customers.update(
        created.id, params={"metadata": {"plan": "pro", "account_id": ""}}
    )
    assert updated.metadata.to_dict() == {"plan": "pro"}
    assert client.v1.customers.retrieve(created.id).email == "owner@example.com"
    for n in range(3):
        client.v1.customers.create(params={"email": f"c{n}@example.com"})
    first = client.v1.customers.list(params={"limit": 2})
    assert first.object == "list"
    assert first.has_more
    assert len(first.data) == 2
    assert first.url == "/v1/customers"
    rest = client.v1.customers.list(params={"limit": 10, "starting_after": first.data[-1].id})
    assert not rest.has_more
    ids = [c.id for c in first.data] + [c.id for c in rest.data]
    assert len(set(ids)) == 4
    assert ids[-1] == created.id


def test_prices_by_lookup_key_and_tiers(client, plan):
    found = client.v1.prices.list(params={"lookup_keys": ["integration_monthly"]})
    assert [p.id for p in found.data] == [plan.price.id]
    assert plan.price.unit_amount == 2999
    assert plan.price.currency == "gbp"
    assert plan.price.recurring.interval == "month"
    assert plan.price.id.startswith("price_")
    tiered = client.v1.prices.create(
        params={
            "product": plan.product.id,
            "currency": "gbp",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "recurring": {"interval": "month"},
            "tiers": [
                {"up_to": 1, "unit_amount": 2999},
                {"up_to": 3, "unit_amount": 2399},
                {"up_to": 5, "unit_amount": 2099},
                {"up_to": "inf", "unit_amount": 1799},
            ],
        }
    )
    again = client.v1.prices.retrieve(tiered.id, params={"expand": ["tiers"]})
    assert [t.up_to for t in again.tiers] == [1, 3, 5, None]
    session = checkout(
        client, type("P", (), {"price": tiered})(), line_items=[{"price": tiered.id, "quantity": 6}]
    )
    # 29.99 + 2 x 23.99 + 2 x 20.99 + 17.99
    assert session.amount_total == 2999 + 2 * 2399 + 2 * 2099 + 1799


def test_errors_have_stripes_shape_and_status(client, demo):
    bad = stripe.StripeClient("sk_test_wrong", base_addresses={"api": demo}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError) as auth:
        bad.v1.customers.list()
    assert auth.value.http_status == 401
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.prices.create(params={"currency": "gbp", "unit_amount": 100})
    assert missing.value.http_status == 400
    assert missing.value.param == "product"
    assert missing.value.code == "parameter_missing"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.retrieve("cus_doesnotexist")
    assert unknown.value.http_status == 404
    assert unknown.value.code == "resource_missing"
    assert isinstance(unknown.value.json_body, dict)
    body = unknown.value.json_body["error"]
    assert set(body) >= {"type", "code", "message", "param"}
    assert body["type"] == "invalid_request_error"
    assert body["message"] == "No such customer: 'cus_doesnotexist'"
    raw = requests.get(f"{demo}/v1/nothing", headers={"Authorization": "Bearer x"}, timeout=10)
    assert raw.status_code == 401
    assert "error" in raw.json()


def test_idempotency_key_replays_the_first_answer(client):
    options = {"idempotency_key": "signup-42"}
    first = client.v1.customers.create(params={"email": "a@example.com"}, options=options)
    second = client.v1.customers.create(params={"email": "a@example.com"}, options=options)
    assert first.id == second.id
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    assert len(client.v1.customers.list().data) == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(params={"email": "b@example.com"}, options=options)


# Documented fields (API version basil on) that stripe-mock's older examples lack.
NEWER = {"line_item.pricing": {"price_details"}}


def _shape_errors(ours: dict[str, Any], fixture: dict[str, Any], path: str) -> list[str]:
    """Same keys as stripe-mock's object, and the same JSON types wherever both are set."""
    differ = (set(ours) ^ set(fixture)) - NEWER.get(path, set())
    errors = [f"{path}: keys differ {sorted(differ)}"] if differ else []
    for key, value in ours.items():
        theirs = fixture.get(key)
        if value is None or theirs is None:
            continue
        if isinstance(value, dict) and isinstance(theirs, dict):
            if key not in ("metadata", "payload", "data") and value.get("object") != "list":
                errors += _shape_errors(value, theirs, f"{path}.{key}")
            continue
        if isinstance(value, Decimal):  # the SDK's reading of Stripe's decimal strings
            value = str(value)
        if type(value) is not type(theirs):
            errors.append(f"{path}.{key}: {type(value).__name__} vs {type(theirs).__name__}")
    return errors


def test_objects_have_the_shapes_of_stripes_fixtures(client, plan, received):
    customer = client.v1.customers.create(params={"email": "s@example.com"})
    session = checkout(client, plan, customer=customer.id)
    shapes = {"checkout.session": client.v1.checkout.sessions.retrieve(session.id)}
    assert submit_card(session.url, "4242424242424242").status_code == 302
    done = client.v1.checkout.sessions.retrieve(session.id)
    subscription = client.v1.subscriptions.retrieve(done.subscription)
    invoice = client.v1.invoices.list(params={"subscription": subscription.id}).data[0]
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "http://127.0.0.1:9/billing/"}
    )
    endpoint = client.v1.webhook_endpoints.list().data[0]
    shapes |= {
        "customer": client.v1.customers.retrieve(customer.id),
        "product": plan.product,
        "price": plan.price,
        "subscription": subscription,
        "subscription_item": subscription["items"].data[0],
        "invoice": invoice,
        "line_item": invoice.lines.data[0],
        "billing_portal.session": portal,
        "payment_method": client.v1.payment_methods.list(params={"customer": customer.id}).data[0],
        "webhook_endpoint": endpoint,
        "event": client.v1.events.list().data[0],
    }
    errors = [
        e
        for name, obj in shapes.items()
        for e in _shape_errors(obj.to_dict(), FIXTURES[name], name)
    ]
    assert not errors, "\n".join(errors)
    for prefix, obj in (
        ("cus_", customer),
        ("cs_test_", session),
        ("sub_", subscription),
        ("si_", subscription["items"].data[0]),
        ("in_", invoice),
        ("bps_", portal),
        ("evt_", shapes["event"]),
        ("pm_", shapes["payment_method"]),
    ):
        assert obj.id.startswith(prefix)
    item = subscription["items"].data[0]
    assert item.current_period_end > item.current_period_start
    assert invoice.parent.subscription_details.subscription == subscription.id


def test_older_api_versions_get_the_subscriptions_period_on_top(client, plan):
    customer = client.v1.customers.create(params={"email": "v@example.com"})
    session = checkout(client, plan, customer=customer.id)
    submit_card(session.url, "4242424242424242")
    sub_id = client.v1.checkout.sessions.retrieve(session.id).subscription
    old = client.v1.subscriptions.retrieve(sub_id, options={"stripe_version": "2024-06-20"})
    assert old.current_period_end == old["items"].data[0].current_period_end
    new = client.v1.subscriptions.retrieve(sub_id)
    assert "current_period_end" not in new


def test_webhook_endpoints_are_created_with_a_secret_listed_and_deleted(client):
    created = client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["invoice.paid"]}
    )
    assert created.secret.startswith("whsec_")
    assert created.id.startswith("we_")
    assert "secret" not in client.v1.webhook_endpoints.retrieve(created.id)
    assert len(client.v1.webhook_endpoints.list().data) == 2  # with the seeded demo endpoint
    deleted = client.v1.webhook_endpoints.delete(created.id)
    assert deleted.deleted is True
