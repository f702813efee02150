"""Pricing page → signup → subscribe through the simulated Stripe Checkout → the billing page
with the plan and the next invoice, in Debian's chromium against the live server."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps as django_apps

from billing.models import Subscription
from sandbox.stripe import seed, webhooks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PASSWORD = "a-long-browser-password-9"


@pytest.fixture
def stripe_sandbox(live_server, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    settings.SITE_URL = live_server.url
    settings.SANDBOX_BASE_URL = live_server.url
    settings.STRIPE_API_BASE = f"{live_server.url}/sandbox/stripe"
    settings.SANDBOX_STRIPE_WEBHOOK_URL = f"{live_server.url}/billing/stripe/webhook/"
    seed.reset(seed="demo")
    importlib.import_module("billing.migrations.0003_seed_reference_plan").seed(django_apps, None)
    from carrytheone.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    webhooks.SYNCHRONOUS = True
    yield live_server.url
    webhooks.SYNCHRONOUS = False
    app.conf.task_always_eager = previous


def test_pricing_signup_subscribe_billing_page(stripe_sandbox, page, shot):
    base = stripe_sandbox
    page.goto(f"{base}/pricing/")
    assert page.get_by_text("£29.99").first.is_visible()
    shot("billing-pricing")
    page.get_by_role("button", name="Start your free trial").click()
    page.get_by_label("Your name").fill("Bea Buyer")
    page.get_by_label("Company name").fill("Bluebell Bikes Ltd")
    page.get_by_label("Work email").fill("bea@bluebell.example")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url(re.compile(r"/a/bluebell-bikes-ltd-[0-9a-f]{6}/$"))

    page.get_by_role("link", name=re.compile(r"Trial: \d+ days left")).click()
    page.wait_for_url(re.compile(r"/billing/$"))
    shot("billing-trial")
    page.get_by_role("button", name="Subscribe").click()

    # Stripe's hosted Checkout (simulated): the trial is kept, the card is typed there.
    page.wait_for_url(re.compile(r"/sandbox/stripe/checkout/cs_test_"))
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM / YY)").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    shot("billing-checkout")
    page.get_by_role("button", name="Start trial").click()

    page.wait_for_url(re.compile(r"/billing/$"))
    assert page.get_by_text("your subscription is set up").is_visible()
    assert page.get_by_text("Standard plan").is_visible()
    assert page.get_by_text("Next invoice").is_visible()
    assert page.get_by_role("button", name="Manage billing").is_visible()
    shot("billing-subscribed")
    subscription = Subscription.objects.get(account__name="Bluebell Bikes Ltd")
    assert subscription.stripe_subscription_id
    assert subscription.status == Subscription.Status.TRIALING
