"""From a new signup to invoices in Xero, in the browser, against `make run`'s sandbox.

A new owner signs up, adds an integration (the sandbox Xero's consent page, then Salesforce's),
walks the setup wizard choosing real options from what both systems hold (a start date, the
invoice status, payment methods read from a Salesforce picklist, a tax rule, a tracking rule
mapping a Salesforce field to Xero options), previews an opportunity, and switches syncing on.
One sync then runs (here, in the test process: the live server shares the database) and the
invoices appear in the sandbox Xero and the integration's sync log. No console error: the pages
run under a strict CSP.

With SCREENSHOTS_DIR set, the screenshots the README shows are saved along the way.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from django.core import mail
from django.utils import timezone

from integrations.core.models import Integration
from integrations.sync.models import LedgerEntry, SyncLogEntry, SyncRun
from integrations.sync.run import sync_integration
from integrations.tasks import check_configuration_task
from sandbox.salesforce import seed as salesforce_seed
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from sandbox.xero import seed as xero_seed
from sandbox.xero.models import Invoice as XeroInvoice
from sandbox.xero.models import TaxRate, XeroOrganisation
from tests.alerts.told import evaluate_and_send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PASSWORD = "a-long-browser-password-9"
# Only deals closed in the last few weeks: a real choice on the first step, and a quick sync.
START_DAYS_AGO = 21


def _wait_text(page, text: str) -> None:
    """Waits for ``text``; on a timeout, fails with what the page says instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_text(text).first.wait_for(timeout=20_000)
    except PlaywrightTimeout:
        raise AssertionError(
            f"{text!r} not shown; the page says:\n{page.locator('main').inner_text()[:3000]}"
        ) from None


def _redrawn(page, selector: str, change: Callable[[], object]) -> None:
    """Makes a change that htmx answers by drawing ``selector`` again; waits for the new one."""
    page.locator(selector).evaluate("el => { el.dataset.stale = '1'; }")
    change()
    page.locator(f"{selector}:not([data-stale])").wait_for()


def _show_rows(page, table: str, opened: str = "") -> None:
    """For the screenshot: folds the empty "Add" row away, unfolds the saved row ``opened``."""
    section = page.locator(f"#rules-{table}")
    section.locator(f"#rule-{table}-new > details > summary").click()
    if opened:
        section.locator("form > details > summary", has_text=opened).first.click()


def _save_and_continue(page, next_path: str) -> None:
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_url(re.compile(rf"/setup/{next_path}/$"))


def _sandbox_settings(settings, base: str) -> None:
    """What `make run` sets: every provider URL on this server's sandbox."""
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    settings.SITE_URL = base
    settings.SANDBOX_BASE_URL = base
    settings.XERO_AUTHORIZE_URL = f"{base}/sandbox/xero/identity/connect/authorize"
    settings.XERO_TOKEN_URL = f"{base}/sandbox/xero/identity/connect/token"
    settings.XERO_CONNECTIONS_URL = f"{base}/sandbox/xero/connections"
    settings.XERO_API_URL = f"{base}/sandbox/xero/api.xro/2.0"
    settings.SALESFORCE_LOGIN_URL = base


def test_signup_to_first_invoices_in_xero(live_server, page, shot, settings):
    base = live_server.url
    _sandbox_settings(settings, base)
    # `sandbox_reset --seed demo`.
    xero_seed.reset(seed="demo")
    salesforce_seed.reset(seed="demo")
    start = timezone.localdate() - dt.timedelta(days=START_DAYS_AGO)
    won = list(
        SandboxOpportunity.objects.filter(
            org__name=salesforce_seed.DEMO_ORG,
            is_won=True,
            is_deleted=False,
            close_date__gte=start,
        )
        .select_related("account")
        .order_by("close_date", "sf_id")
    )
    assert won, "the demo seed has deals won in the last weeks"
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # --- signup ----------------------------------------------------------------------------
    page.goto(f"{base}/signup/")
    page.get_by_label("Your name").fill("Nora Owner")
    page.get_by_label("Company name").fill("Northwind Traders")
    page.get_by_label("Work email").fill("nora@northwind.example")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url(re.compile(r"/a/northwind-traders-[0-9a-f]{6}/$"))

    # --- connect Xero, then Salesforce ------------------------------------------------------
    page.get_by_role("link", name="Integrations").first.click()
    page.get_by_role("button", name="Add integration").click()
    page.get_by_role("button", name="Continue to Xero").click()
    page.get_by_role("button", name=re.compile("Continue to Xero")).click()
    page.get_by_label(re.compile(xero_seed.MAIN_ORG)).check()
    page.get_by_role("button", name="Allow access").click()
    page.wait_for_url(re.compile(r"/salesforce/connect/$"))
    page.get_by_role("button", name=re.compile("Continue")).click()
    page.get_by_label("Log in to org").select_option(label=salesforce_seed.DEMO_ORG)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(re.compile(r"/integrations/\d+/$"))
    _wait_text(page, "Salesforce connected")
    integration = Integration.objects.get(account__name="Northwind Traders")

    # --- the wizard ---------------------------------------------------------------------------
    page.get_by_role("button", name="Set up").click()
    page.wait_for_url(re.compile(r"/setup/opportunities/$"))
    page.get_by_label("Start date").fill(start.isoformat())
    page.get_by_text("More about Start date").locator("xpath=..").click()
    shot("setup-opportunities")
    _save_and_continue(page, "customers")
    _save_and_continue(page, "invoices")

    page.get_by_role("radio", name="Approved (Authorised)").check()
    page.get_by_label("Payment terms (days)").fill("14")
    page.get_by_label("Sales account").select_option("200")
    shot("setup-invoices")
    _save_and_continue(page, "payments")

    # The payment method comes from a Salesforce picklist; the form follows the chosen field.
    page.get_by_label("Payment method field").select_option("Payment_Method__c")
    default = page.get_by_label("Default payment method")
    default.locator("option", has_text="Bank Transfer").wait_for(state="attached")
    default.select_option("Bank Transfer")
    _save_and_continue(page, "tax")
    page.get_by_role("link", name=re.compile("Payment methods")).click()
    page.wait_for_url(re.compile(r"/setup/payments/$"))
    # One row per picklist value, added in place (htmx); card payments are recorded in Xero.
    for name in ("Credit Card", "Bank Transfer", "Check", "PayPal"):
        row = page.locator("#rule-payment_methods-new")
        row.get_by_label("Payment method", exact=True).select_option(name)
        if name == "Credit Card":
            row.get_by_label("Record the payment").check()
            row.get_by_label("Bank account").select_option("090")
        row.get_by_role("button", name="Add", exact=True).click()
        _wait_text(page, f"Saved {name}.")
    # Drawn again: the default payment method now has its row, so nothing is left to check.
    page.reload()
    _show_rows(page, "payment_methods", "Credit Card")
    shot("setup-payments")
    _save_and_continue(page, "tax")

    # Tax by the customer's location: California's and New York's sales tax, none elsewhere.
    page.get_by_role("radio", name=re.compile("By the customer's location")).check()
    page.get_by_label("Tax rate", exact=True).first.select_option("NONE")
    page.get_by_label("Tax rate for customers abroad").select_option("NONE")
    _save_and_continue(page, "currencies")
    page.get_by_role("link", name=re.compile("^Tax")).click()
    page.wait_for_url(re.compile(r"/setup/tax/$"))
    for region, tax_type in (("CA", "TAX001"), ("NY", "TAX002")):
        row = page.locator("#rule-tax_rules-new")
        row.get_by_label("Country").fill("US")
        row.get_by_label("State / province").fill(region)
        row.get_by_label("Tax rate").select_option(tax_type)
        row.get_by_role("button", name="Add", exact=True).click()
        _wait_text(page, f"Saved US/{region}.")
    _show_rows(page, "tax_rules")
    shot("setup-tax")
    _save_and_continue(page, "currencies")
    _save_and_continue(page, "tracking")

    # Tracking: Xero's Region category, its option read from the opportunity's Region field.
    new_rule = "#rule-tracking_rules-new"
    row = page.locator(new_rule)
    _redrawn(page, new_rule, lambda: row.get_by_label("Tracking category").select_option("Region"))
    row.get_by_role("radio", name="From a Salesforce field").check()
    _redrawn(
        page,
        new_rule,
        lambda: row.get_by_label("Salesforce field", exact=True).select_option("Region__c"),
    )
    for value, option in (("North America", "North"), ("EMEA", "East"), ("APAC", "South")):
        row.get_by_label(f"Xero option for {value}").fill(option)
    row.get_by_role("button", name="Add", exact=True).click()
    _wait_text(page, "Saved Region.")
    _show_rows(page, "tracking_rules", "Region")
    shot("setup-tracking")
    _save_and_continue(page, "credit-notes")
    _save_and_continue(page, "push")
    # Optional steps: real-time push (set up in Salesforce later) and write-back (off).
    page.get_by_role("button", name="Skip for now").click()
    page.wait_for_url(re.compile(r"/setup/writeback/$"))
    _save_and_continue(page, "review")

    # --- review, preview, switch on -------------------------------------------------------------
    _wait_text(page, "Everything checks out")
    shot("setup-review")
    page.get_by_role("link", name="Preview an opportunity").click()
    # A deal a tax rule applies to, when there is one: the preview then shows that rule's rate.
    taxed = [o for o in won if o.account and o.account.billing_state in {"CA", "NY"}]
    example = (taxed or won)[-1]
    page.get_by_label("Opportunity name").fill(example.name)
    page.locator("#preview-matches a", has_text=example.name).first.click()
    page.get_by_role("heading", name="Invoice").wait_for()
    assert page.get_by_text("Subtotal").is_visible()
    # Wide enough for every column of the invoice lines (tax and totals on the right).
    page.set_viewport_size({"width": 1536, "height": 900})
    shot("setup-preview")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.goto(f"{base}/a/{integration.account.slug}/integrations/{integration.pk}/setup/review/")
    page.get_by_role("button", name="Switch on").click()
    _wait_text(page, "Syncing is on")
    integration.refresh_from_db()
    assert integration.is_enabled
    assert integration.config_required_summary == ""

    # --- the first sync (the worker's job under `make run`) -------------------------------------
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    created = LedgerEntry.objects.filter(integration=integration).exclude(xero_invoice_id=None)
    assert created.count() == len(won) == run.created_count
    logged = SyncLogEntry.objects.filter(
        integration=integration, outcome=SyncLogEntry.Outcome.CREATED
    )
    assert logged.filter(message__startswith="Invoice ").count() == len(won)
    # Card payments are recorded in Xero (that payment method row says so); no other is.
    cards = [o for o in won if o.payment_method == "Credit Card"]
    assert logged.filter(message__startswith="Payment ").count() == len(cards)

    page.get_by_role("link", name="Sync log").click()
    page.get_by_role("heading", name="Sync log").wait_for()
    page.get_by_role("link", name="Everything").click()
    page.wait_for_url(re.compile(r"/log/\?show="))
    created_badges = page.locator("tbody .badge", has_text=re.compile("^Created$"))
    assert created_badges.count() == len(won) + len(cards)
    shot("sync-log")

    organisation = XeroOrganisation.objects.get(name=xero_seed.MAIN_ORG)
    page.goto(f"{base}/sandbox/xero/orgs/{organisation.pk}/invoices/")
    page.get_by_role("heading", name="Invoices").wait_for()
    references = page.locator("tbody tr td:nth-child(5)").all_inner_texts()
    assert sorted(r for r in references if r in {o.name for o in won}) == sorted(
        o.name for o in won
    )
    assert XeroInvoice.objects.filter(
        organisation=organisation, reference__in=[o.name for o in won]
    ).count() == len(won)
    shot("sandbox-xero-invoices")

    # --- later, New York's tax rate is deleted in Xero ------------------------------------------
    # The periodic check finds it: tax is held back, "Configuration required" shows on the
    # dashboard, and the owner is emailed once (not again on the next check).
    TaxRate.objects.filter(organisation=organisation, tax_type="TAX002").update(status="DELETED")
    # Twice each, as beat runs them: the second check and evaluation send nothing more.
    for _ in range(2):
        found = check_configuration_task.apply(args=(integration.pk,), kwargs={"refresh": True})
        assert found.get() >= 1
        evaluate_and_send(integration_id=integration.pk)
    told = [m for m in mail.outbox if "Check the settings" in str(m.subject)]
    assert [m.to for m in told] == [["nora@northwind.example"]]
    page.goto(f"{base}/a/{integration.account.slug}/")
    notice = page.locator(".config-required")
    notice.get_by_text("Configuration required").wait_for()
    assert "Holding back tax" in notice.inner_text()
    shot("config-required")
    notice.get_by_role("link", name="Review the settings").click()
    page.wait_for_url(re.compile(r"/setup/review/$"))
    page.get_by_role("heading", name=re.compile("to fix")).wait_for()
    assert errors == []
