"""The dashboard's charts in a real browser under the panel's strict CSP: drawn by the vendored
uPlot from static files (a canvas per chart, the tables folded away), with no console error and
no CSP violation; without JavaScript the same figures are tables, shown open."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from integrations.connections.models import Connection
from integrations.core.models import Integration
from integrations.sync.models import LedgerEntry, SyncLogEntry, XeroOperation
from tests.browser.conftest import SCREENSHOTS_DIR
from tests.factories import AccountFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# Registered before any page script: every CSP violation the page reports is kept.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


def _account_with_history() -> tuple[Integration, Client]:
    account = AccountFactory.create(name="Northwind Traders")
    connections = {
        provider: Connection.objects.create(
            account=account,
            provider=provider,
            external_id=f"{provider}-browser",
            display_name=f"Northwind {provider}",
            credentials={},
        )
        for provider in ("xero", "salesforce")
    }
    integration = Integration.objects.create(
        account=account,
        name="Northwind",
        is_enabled=True,
        xero_connection=connections["xero"],
        salesforce_connection=connections["salesforce"],
        last_success_at=timezone.now(),
    )
    now = timezone.now()
    for day in range(30):
        at = now - dt.timedelta(days=day)
        XeroOperation.objects.bulk_create(
            XeroOperation(
                integration=integration,
                kind=kind,
                state="done",
                subject=f"{kind}-{day}-{n}",
                finished_at=at,
            )
            for n in range(day % 7 + 1)
            for kind in ("invoice", "payment")
        )
        SyncLogEntry.objects.create(
            integration=integration, outcome="failed", step="invoice", message="m", created_at=at
        )
        LedgerEntry.objects.create(
            integration=integration,
            salesforce_id=f"006{day:015d}",
            state="synced",
            first_seen_won_at=at - dt.timedelta(minutes=3),
            invoiced_at=at,
        )
    user = UserFactory.create()
    MembershipFactory.create(account=account, user=user, role=Role.OWNER)
    client = Client()
    client.force_login(user)
    return integration, client


def _shot(page, name: str) -> None:
    if SCREENSHOTS_DIR:
        Path(SCREENSHOTS_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS_DIR) / f"{name}.png"), full_page=True)


def test_charts_render_without_console_or_csp_errors(live_server, browser):
    integration, client = _account_with_history()
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}]
    )
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    slug = integration.account.slug
    try:
        for url in (f"{base}/a/{slug}/", f"{base}/a/{slug}/integrations/{integration.pk}/"):
            page.goto(url)
            page.locator(".chart canvas").nth(1).wait_for(timeout=10_000)
            assert page.locator(".chart canvas").count() == 2
            # The tables are folded away behind their <details>, one click from view.
            assert page.locator("details.chart-table[open]").count() == 0
            assert page.locator(".u-legend").first.is_visible()
            assert page.evaluate("window.__csp") == []
            assert errors == []
        _shot(page, "dashboard-integration")
        page.goto(f"{base}/a/{slug}/")
        page.locator(".chart canvas").nth(1).wait_for(timeout=10_000)
        _shot(page, "dashboard")
    finally:
        context.close()

    # Without JavaScript: no chart, the tables open.
    bare = browser.new_context(java_script_enabled=False)
    bare.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}]
    )
    try:
        page = bare.new_page()
        page.goto(f"{base}/a/{slug}/integrations/{integration.pk}/")
        assert page.locator(".chart canvas").count() == 0
        assert page.locator("details.chart-table[open] table").count() == 2
        assert page.locator("details.chart-table table").first.is_visible()
    finally:
        bare.close()
