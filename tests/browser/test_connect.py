"""A new owner connects the sandbox Xero and Salesforce through the browser."""

from __future__ import annotations

import re

import pytest

from integrations.connections.models import Connection
from integrations.core.models import Integration
from sandbox.salesforce import seed as salesforce_seed
from sandbox.xero import seed as xero_seed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PASSWORD = "a-long-browser-password-9"


def test_signup_then_connect_xero_and_salesforce(live_server, page, shot, settings):
    base = live_server.url
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    settings.SITE_URL = base
    settings.SANDBOX_BASE_URL = base
    settings.XERO_AUTHORIZE_URL = f"{base}/sandbox/xero/identity/connect/authorize"
    settings.XERO_TOKEN_URL = f"{base}/sandbox/xero/identity/connect/token"
    settings.XERO_CONNECTIONS_URL = f"{base}/sandbox/xero/connections"
    settings.XERO_API_URL = f"{base}/sandbox/xero/api.xro/2.0"
    settings.SALESFORCE_LOGIN_URL = base
    xero_seed.reset(seed="demo")
    salesforce_seed.reset(seed="demo")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{base}/signup/")
    page.get_by_label("Your name").fill("Nora Owner")
    page.get_by_label("Company name").fill("Northwind Traders")
    page.get_by_label("Work email").fill("nora@northwind.example")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()

    page.get_by_role("link", name="Integrations").first.click()
    page.get_by_role("button", name="Add integration").click()
    page.get_by_role("button", name="Continue to Xero").click()
    page.get_by_role("button", name=re.compile("Continue to Xero")).click()
    page.get_by_label(re.compile("Demo Widgets Ltd")).check()
    page.get_by_role("button", name="Allow access").click()

    page.wait_for_url(re.compile(r"/salesforce/connect/$"))
    page.get_by_role("button", name=re.compile("Continue")).click()
    page.get_by_label("Log in to org").select_option(label="Demo Widgets Ltd")
    page.get_by_role("button", name="Allow").click()

    page.wait_for_url(re.compile(r"/integrations/\d+/$"))
    assert page.get_by_text("Salesforce connected").is_visible()
    integration = Integration.objects.get(account__name="Northwind Traders")
    assert integration.xero_connection is not None
    assert integration.salesforce_connection is not None
    assert integration.xero_connection.status == Connection.Status.ACTIVE
    assert integration.salesforce_connection.status == Connection.Status.ACTIVE
    assert errors == []
