"""`seed_demo --connect-sandbox` connects the demo account through the real OAuth views."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from accounts.models import Account
from integrations.connections.models import Connection
from integrations.core.models import Integration
from sandbox.salesforce import seed as salesforce_seed
from sandbox.xero import seed as xero_seed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sandbox(sandbox_url, settings) -> str:
    base = str(sandbox_url)
    settings.SITE_URL = base
    settings.XERO_AUTHORIZE_URL = f"{base}/sandbox/xero/identity/connect/authorize"
    settings.XERO_TOKEN_URL = f"{base}/sandbox/xero/identity/connect/token"
    settings.XERO_CONNECTIONS_URL = f"{base}/sandbox/xero/connections"
    settings.XERO_API_URL = f"{base}/sandbox/xero/api.xro/2.0"
    settings.SALESFORCE_LOGIN_URL = base
    # Plain-http live server: cookies must not be Secure-only for the scripted browser.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    xero_seed.reset(seed="demo")
    salesforce_seed.reset(seed="demo")
    return base


def test_the_demo_account_is_connected_through_oauth_and_only_once(sandbox):
    out = io.StringIO()
    call_command("seed_demo", "--connect-sandbox", stdout=out)
    assert "Demo integration connected" in out.getvalue()

    account = Account.objects.get()
    integration = Integration.objects.get(account=account)
    assert integration.xero_connection is not None
    assert integration.salesforce_connection is not None
    assert integration.xero_connection.display_name == "Demo Widgets Ltd"
    assert integration.xero_connection.status == Connection.Status.ACTIVE
    assert integration.salesforce_connection.credentials["instance_url"] == sandbox
    assert integration.xero_connection.connected_by is not None
    assert integration.is_running
    # Xero's webhook comes to us, signed with our key; write-back is on with the demo fields.
    from django.conf import settings

    from integrations.core.config import SyncConfig
    from sandbox.xero.models import XeroOrganisation

    org = XeroOrganisation.objects.get(name="Demo Widgets Ltd")
    assert org.webhook_url == f"{sandbox}/webhooks/xero/"
    assert org.webhook_key == settings.XERO_WEBHOOK_KEY
    config = SyncConfig.from_json(integration.config)
    assert config.writeback_on
    # Configured, so the wizard ticks its steps, also once the demo is switched off.
    from integrations.setup import steps

    steps.switch_off(integration=integration, user=None)
    integration.refresh_from_db()
    assert set(steps.CONFIGURED_STEPS) <= steps.done_steps(integration)
    assert config.writeback_map["xero_amount_paid"] == "Xero_Amount_Paid__c"

    out = io.StringIO()
    call_command("seed_demo", "--connect-sandbox", stdout=out)
    assert "already has an integration" in out.getvalue()
    assert Integration.objects.count() == 1


def test_the_demo_sync_exercises_the_accounting_rules(sandbox):
    """`make run`'s first poll: invoices, payments, a credit note, tax by place, tracking."""
    from integrations.sync.models import LedgerEntry, PaymentEntry
    from integrations.sync.run import sync_integration
    from sandbox.xero.models import CreditNote, Invoice, Payment

    out = io.StringIO()
    call_command("seed_demo", "--connect-sandbox", stdout=out)
    assert "expect a credit note" in out.getvalue()
    integration = Integration.objects.get()
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == "succeeded", run.error
    states = set(LedgerEntry.objects.values_list("state", flat=True))
    assert states == {"synced", "not_invoiced"}  # checks are not invoiced in the demo
    assert PaymentEntry.objects.filter(state="paid").exists()
    demo = Invoice.objects.filter(organisation__name="Demo Widgets Ltd").exclude(
        reference__startswith="Demo order"
    )
    assert Payment.objects.filter(invoice__in=demo).exists()
    assert CreditNote.objects.filter(organisation__name="Demo Widgets Ltd").count() == 1
    taxes = {line.get("TaxType") for invoice in demo for line in invoice.lines}
    # US state sales tax by the customer's state, exports exempt.
    assert "NONE" in taxes
    assert taxes & {"TAX001", "TAX002", "TAX003", "TAX004", "TAX005"}
    regions = {
        t["Option"] for invoice in demo for line in invoice.lines for t in line.get("Tracking", [])
    }
    assert {"Alice Smith"} <= regions
    assert {invoice.currency_code for invoice in demo} >= {"USD", "EUR"}
