"""An owner sets an integration up in the browser: help opens in place, dropdowns follow the
chosen field, rule rows are added without a page reload, the preview searches as they type, and
the integration is switched on. No console error (the page runs under a strict CSP)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import Role
from integrations.core.models import Integration
from integrations.rules.models import PaymentMethod
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.sandbox_wiring import sandbox_integration

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _integration(base: str) -> Integration:
    return sandbox_integration(base, account=AccountFactory.create(name="Northwind Traders"))


def _wait_text(page, text: str) -> None:
    """Waits for ``text``; on a timeout, fails with what the page says instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_text(text).first.wait_for(timeout=20_000)
    except PlaywrightTimeout:
        raise AssertionError(
            f"{text!r} not shown; the page says:\n{page.locator('main').inner_text()[:3000]}"
        ) from None


def test_owner_sets_up_an_integration(live_server, page, shot, settings):
    base = live_server.url
    settings.SITE_URL = base
    settings.SANDBOX_BASE_URL = base
    settings.XERO_TOKEN_URL = f"{base}/sandbox/xero/identity/connect/token"
    settings.XERO_API_URL = f"{base}/sandbox/xero/api.xro/2.0"
    settings.SALESFORCE_LOGIN_URL = base
    integration = _integration(base)
    user = UserFactory.create(email="olive@northwind.example")
    MembershipFactory.create(account=integration.account, user=user, role=Role.OWNER)
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}]
    )
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{base}/a/{integration.account.slug}/integrations/{integration.pk}/")
    page.get_by_role("button", name="Set up").click()
    page.wait_for_url(re.compile(r"/setup/opportunities/$"))
    assert page.get_by_role("heading", name="Which opportunities").is_visible()

    # The "?" opens the fuller explanation in place.
    example = page.get_by_text("a deal closed on 30 June is not invoiced")
    assert not example.is_visible()
    page.get_by_text("More about Start date").locator("xpath=..").click()
    assert example.is_visible()
    shot("wizard-opportunities")

    page.get_by_role("link", name=re.compile("Payment methods")).click()
    page.wait_for_url(re.compile(r"/setup/payments/$"))
    # Marks this page: a full reload would lose it.
    page.evaluate("window.__samePage = true")
    page.get_by_label("Payment method field").select_option("Payment_Method__c")
    default = page.get_by_label("Default payment method")
    default.locator("option", has_text="Credit Card").wait_for(state="attached")
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(re.compile(r"/setup/tax/$"))

    page.get_by_role("link", name=re.compile("Payment methods")).click()
    page.evaluate("window.__samePage = true")
    row = page.locator("#rule-payment_methods-new")
    row.get_by_label("Payment method", exact=True).select_option("Credit Card")
    row.get_by_label("Record the payment").check()
    row.get_by_label("Bank account").select_option("090")
    row.get_by_role("button", name="Add", exact=True).click()
    page.get_by_text("Saved Credit Card.").wait_for()
    assert page.evaluate("window.__samePage") is True
    assert PaymentMethod.objects.get(integration=integration).bank_account_code == "090"
    shot("wizard-payment-methods")

    page.get_by_role("button", name="Refresh from Xero").click()
    page.get_by_text("Lists read from Xero just now").wait_for()
    assert page.evaluate("window.__samePage") is True

    # The review finds the payment methods without a row; switching on is refused.
    page.get_by_role("link", name=re.compile("Review and switch on")).click()
    _wait_text(page, "will wait: add a payment method for each")
    shot("wizard-review-problems")
    page.get_by_role("button", name="Switch on").click()
    page.get_by_text("Not switched on: 1 thing to fix first").wait_for()
    integration.refresh_from_db()
    assert not integration.is_enabled

    page.get_by_role("link", name=re.compile("Fix it on")).click()
    page.wait_for_url(re.compile(r"/setup/payments/#rules-payment_methods$"))
    page.evaluate("window.__samePage = true")
    # The picklist values without a row are offered; one row each.
    names = page.locator("#rule-payment_methods-new select").first.locator("option")
    missing = [n for n in names.all_inner_texts() if n != "Choose a payment method"]
    assert missing == ["Bank Transfer", "Check", "PayPal"]
    for name in missing:
        row = page.locator("#rule-payment_methods-new")
        row.get_by_label("Payment method", exact=True).select_option(name)
        row.get_by_role("button", name="Add", exact=True).click()
        _wait_text(page, f"Saved {name}.")
    assert page.evaluate("window.__samePage") is True
    assert PaymentMethod.objects.filter(integration=integration).count() == 4

    page.get_by_role("link", name=re.compile("Review and switch on")).click()
    _wait_text(page, "Everything checks out")
    shot("wizard-review")

    page.get_by_role("link", name="Preview an opportunity").click()
    page.evaluate("window.__samePage = true")
    page.get_by_label("Opportunity name").fill("Globex")
    page.locator("#preview-matches a").first.click()
    page.get_by_role("heading", name="Invoice").wait_for()
    assert page.get_by_text("Subtotal").is_visible()
    assert page.evaluate("window.__samePage") is True
    shot("wizard-preview")

    page.goto(f"{base}/a/{integration.account.slug}/integrations/{integration.pk}/setup/review/")
    page.get_by_role("button", name="Switch on").click()
    page.get_by_text("Syncing is on").wait_for()
    integration.refresh_from_db()
    assert integration.is_enabled
    # The settings history, loaded by htmx.
    page.locator("#setup-history table").wait_for()
    assert "Payment method PayPal" in page.locator("#setup-history").inner_text()
    assert errors == []
