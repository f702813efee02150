"""The sandbox Stripe's own pages (dashboard, clock, retries, hosted invoice) and its seed."""

from __future__ import annotations

from io import StringIO

import stripe
from django.core.management import call_command
from django.test import Client

from sandbox.stripe import services
from sandbox.stripe.models import StripeAccount, StripeObject, WebhookDelivery
from tests.sandbox.stripe.conftest import checkout, submit_card


def test_the_demo_seed_holds_the_account_and_its_endpoint_only(db, settings):
    settings.SANDBOX_STRIPE_WEBHOOK_URL = "http://127.0.0.1:9/billing/stripe/webhook/"
    call_command("sandbox_reset", "--seed", "demo", stdout=StringIO())
    account = StripeAccount.objects.get()
    assert account.secret_key == services.DEMO_SECRET_KEY == settings.STRIPE_SECRET_KEY
    endpoint = StripeObject.objects.get(kind="webhook_endpoint")
    assert endpoint.data["url"] == settings.SANDBOX_STRIPE_WEBHOOK_URL
    assert (
        endpoint.data["_secret"] == services.DEMO_WEBHOOK_SECRET == settings.STRIPE_WEBHOOK_SECRET
    )
    assert StripeObject.objects.count() == 1  # no products or prices: the product creates them
    call_command("sandbox_reset", stdout=StringIO())
    assert not StripeAccount.objects.exists()


def test_the_module_level_sdk_settings_reach_the_sandbox_too(demo, monkeypatch):
    monkeypatch.setattr(stripe, "api_base", demo)
    monkeypatch.setattr(stripe, "api_key", services.DEMO_SECRET_KEY)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    customer = stripe.Customer.create(email="global@example.com")
    assert stripe.Customer.retrieve(customer.id).email == "global@example.com"


def test_dashboard_advances_the_clock_and_retries_webhooks(client, plan, account, received, demo):
    session = checkout(client, plan)
    assert submit_card(session.url, "4000000000000341").status_code == 302
    page = Client()  # a person's browser (the dashboard's forms carry CSRF tokens)
    assert "Stripe (sandbox)" in page.get("/sandbox/stripe/").content.decode()
    received.status = 503
    response = page.post(
        "/sandbox/stripe/advance/",
        {"account": account.pk, "days": "32", "after_retries": "cancel"},
        follow=True,
    )
    assert response.status_code == 200
    assert "past_due" in response.content.decode()
    pending = WebhookDelivery.objects.filter(status="pending")
    assert pending.exists()
    received.status = 200
    assert page.post("/sandbox/stripe/webhooks/retry/").status_code == 302
    assert not WebhookDelivery.objects.filter(status="pending").exists()


def test_the_hosted_invoice_page_takes_a_payment(client, plan, account):
    session = checkout(client, plan)
    submit_card(session.url, "4000000000000341")
    services.advance_account(account, days=32)
    subscription = client.v1.subscriptions.retrieve(
        client.v1.checkout.sessions.retrieve(session.id).subscription
    )
    invoice = client.v1.invoices.retrieve(subscription.latest_invoice)
    assert invoice.status == "open"
    declined = submit_card(invoice.hosted_invoice_url, "4000000000000002")
    assert declined.status_code == 402
    assert "declined" in declined.text
    paid = submit_card(invoice.hosted_invoice_url, "4242424242424242")
    assert paid.status_code == 302
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"
