"""The wizard against both simulators over HTTP: what a person sets up there is what the sync
sends, the preview shows it without sending anything, and a failed read says why.

Like the engine's end-to-end tests: sandbox Salesforce → engine → sandbox Xero. Only one won
opportunity is kept (the others move to an open stage before the first sync) so a sync is quick.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from integrations.core.config import SyncConfig
from integrations.core.models import Integration
from integrations.setup import steps
from integrations.sync.models import LedgerEntry, SyncRun
from integrations.sync.run import sync_integration
from sandbox.salesforce import seed as salesforce_seed
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from sandbox.xero import seed as xero_seed
from sandbox.xero.models import Invoice as XeroInvoice
from sandbox.xero.models import XeroOrganisation
from tests.factories import MembershipFactory, UserFactory
from tests.sandbox_wiring import point_at_sandbox, sandbox_integration

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(sandbox_url: str, settings: Any) -> Integration:
    """A new integration (off, default settings) connected to both simulators."""
    point_at_sandbox(settings, sandbox_url)
    return sandbox_integration(sandbox_url)


@pytest.fixture
def owner(integration: Integration) -> Client:
    user = UserFactory.create()
    MembershipFactory.create(account=integration.account, user=user, role=Role.OWNER)
    client = Client()
    client.force_login(user)
    return client


def _url(integration: Integration, name: str) -> str:
    return reverse(
        f"integrations:{name}",
        kwargs={"account_slug": integration.account.slug, "integration_id": integration.pk},
    )


def _step(integration: Integration, key: str) -> str:
    return _url(integration, steps.step(key).url_name)


def _only_one_won() -> SandboxOpportunity:
    """Keeps the first won opportunity (with line items) and moves the others to an open stage."""
    won = (
        SandboxOpportunity.objects.filter(
            org__name=salesforce_seed.DEMO_ORG, is_won=True, is_deleted=False
        )
        .filter(opportunitylineitem__isnull=False)
        .distinct()
        .order_by("sf_id")
    )
    keep = won.first()
    assert keep is not None
    SandboxOpportunity.objects.filter(org__name=salesforce_seed.DEMO_ORG, is_won=True).exclude(
        pk=keep.pk
    ).update(stage_name="Prospecting", is_won=False, is_closed=False)
    return keep


def _save(client: Client, url: str, data: dict[str, Any]) -> None:
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]


def _walk_the_wizard(client: Client, integration: Integration) -> None:
    """What a person would do: every step, in order, with a few choices of their own."""
    _save(client, _step(integration, "opportunities"), {"stage": "", "start_date": ""})
    _save(
        client,
        _step(integration, "customers"),
        {"contact_name_collision": "suffix", "create_missing_items": "on"},
    )
    _save(
        client,
        _step(integration, "invoices"),
        {
            "invoice_status": "DRAFT",
            "invoice_number_pattern": "",
            "reference_field": "Name",
            "payment_terms_days": "14",
            "branding_theme_id": "",
            "sales_account_code": "200",
            "line_amount_types": "Exclusive",
        },
    )
    _save(client, _step(integration, "payments"), {"payment_method_field": ""})
    _save(
        client,
        _step(integration, "tax"),
        {"tax_mode": "single", "default_tax_type": "TAX002", "tax_field": ""},
    )
    _save(client, _step(integration, "currencies"), {"default_currency": "USD"})
    response = client.post(
        _url(integration, "setup_rules"),
        {
            "table": "tracking_rules",
            "row": "",
            "action": "save",
            "tracking_rules-new-category_name": "Region",
            "tracking_rules-new-source": "fixed",
            "tracking_rules-new-fixed_option": "South",
            "tracking_rules-new-field": "",
            "tracking_rules-new-mapping-rows": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    _save(client, _step(integration, "tracking"), {})
    _save(
        client,
        _step(integration, "credit_notes"),
        {"void_unpaid_instead": "on", "negative_lines": "line"},
    )
    # The sandbox org's own writable custom fields, from its describe.
    _save(
        client,
        _step(integration, "writeback"),
        {
            "writeback_enabled": "on",
            "writeback_fields:xero_invoice_status": "Xero_Status__c",
            "writeback_fields:xero_amount_due": "Xero_Amount_Due__c",
        },
    )


def test_settings_made_in_the_wizard_are_what_the_sync_sends(integration, owner):
    opportunity = _only_one_won()
    _walk_the_wizard(owner, integration)
    integration.refresh_from_db()
    # Everything but the review and the optional real-time push (which needs Salesforce set up).
    optional = ("review", "push")
    assert steps.done_steps(integration) >= {s.key for s in steps.STEPS if s.kind not in optional}

    review = owner.get(_step(integration, "review")).content.decode()
    assert "Everything checks out" in review, review
    response = owner.post(_url(integration, "setup_switch"), {"on": "1"})
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.is_enabled

    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    ledger = LedgerEntry.objects.get(integration=integration, salesforce_id=opportunity.sf_id)
    invoice = XeroInvoice.objects.get(invoice_id=ledger.xero_invoice_id)
    # Each choice made in the wizard, as Xero holds it (the defaults would be AUTHORISED, no
    # tax type (Xero's TAX001 from the account), no tracking, 30 days).
    assert invoice.status == "DRAFT"
    assert {line["TaxType"] for line in invoice.lines} == {"TAX002"}
    assert all(
        [(t["Name"], t["Option"]) for t in line.get("Tracking") or []] == [("Region", "South")]
        for line in invoice.lines
    )
    assert invoice.due_date == invoice.date + dt.timedelta(days=14)


def test_preview_shows_what_would_be_sent_and_writes_nothing(integration, owner):
    opportunity = _only_one_won()
    _walk_the_wizard(owner, integration)
    invoices_before = XeroInvoice.objects.count()
    query = opportunity.name.split()[0]

    matches = owner.get(
        _url(integration, "setup_preview"),
        {"q": query},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="preview-matches",
    ).content.decode()
    assert opportunity.name in matches
    assert "<html" not in matches  # the fragment only

    page = owner.get(
        _url(integration, "setup_preview"), {"q": query, "opportunity": opportunity.sf_id}
    ).content.decode()
    assert "New York City Sales Tax (8.875%)" in page
    assert "Region: South" in page
    assert "DRAFT" in page
    assert "Total" in page

    # A changed setting changes the document shown.
    _save(
        owner,
        _step(integration, "tax"),
        {"tax_mode": "single", "default_tax_type": "TAX001", "tax_field": ""},
    )
    page = owner.get(
        _url(integration, "setup_preview"),
        {"opportunity": opportunity.sf_id},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="preview-document",
    ).content.decode()
    assert "California Sales Tax (7.25%)" in page
    assert "New York City Sales Tax" not in page

    assert XeroInvoice.objects.count() == invoices_before
    assert not LedgerEntry.objects.filter(integration=integration).exists()
    assert not SyncRun.objects.filter(integration=integration).exists()


def test_a_failed_refresh_says_why_and_the_lists_stay(integration, owner):
    page = owner.get(_step(integration, "invoices")).content.decode()
    assert "200 — Sales" in page  # read from the simulated Xero, then cached
    XeroOrganisation.objects.filter(name=xero_seed.MAIN_ORG).update(
        faults={"error_every": 1, "error_status": 503}
    )
    response = owner.post(
        _url(integration, "setup_refresh"),
        {"provider": "xero", "step": "invoices"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "Could not read Xero:" in html
    assert "The lists show what was known before." in html
    assert "200 — Sales" in html
    # The review checks against the cached copy (a short outage does not block switching on)
    # and keeps saying why Xero could not be read.
    review = owner.get(_step(integration, "review")).content.decode()
    assert "Could not read Xero:" in review


def test_stored_config_of_the_wizard_parses(integration, owner):
    _walk_the_wizard(owner, integration)
    integration.refresh_from_db()
    config = SyncConfig.from_json(integration.config)
    assert (config.invoice_status, config.tax_mode, config.default_tax_type) == (
        "DRAFT",
        "single",
        "TAX002",
    )
    assert config.payment_terms_days == 14
