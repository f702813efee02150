"""Every panel page of the seeded demo, in one browser: no page is wider than a phone (390 px)
or a laptop (1280 px; the preview's invoice table included), the navigation folds behind
"Menu" on the phone, no CSP or console error, and axe-core finds no serious or critical
accessibility violation. One logged-in context (and one anonymous, for the public pages)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.models import User
from integrations.core.models import Integration
from integrations.setup.steps import STEPS
from integrations.sync.models import LedgerEntry
from integrations.sync.run import sync_integration
from sandbox.salesforce import seed as salesforce_seed
from sandbox.xero import seed as xero_seed
from support.services import support_request_open

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# Vendored, never served: evaluated into each page (DevTools evaluation is not subject to the
# page's CSP, so the pages are tested under their real policy).
AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text()
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ` +
      v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | "));
}"""
WIDEST = """(limit) => {
  const clipped = (e) => {
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") return true;
    }
    return false;
  };
  return [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > limit + 1 && !clipped(e))
    .slice(0, 4)
    .map((e) => `${e.tagName.toLowerCase()}.${[...e.classList].join(".")}`
      + ` "${(e.textContent || "").trim().slice(0, 40)}"`
      + ` (right edge ${Math.round(e.getBoundingClientRect().right)})`);
}"""


def _seed_demo(settings: Any, base: str) -> Integration:
    settings.SITE_URL = base
    settings.XERO_AUTHORIZE_URL = f"{base}/sandbox/xero/identity/connect/authorize"
    settings.XERO_TOKEN_URL = f"{base}/sandbox/xero/identity/connect/token"
    settings.XERO_CONNECTIONS_URL = f"{base}/sandbox/xero/connections"
    settings.XERO_API_URL = f"{base}/sandbox/xero/api.xro/2.0"
    settings.SALESFORCE_LOGIN_URL = base
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    xero_seed.reset(seed="demo")
    salesforce_seed.reset(seed="demo")
    call_command("seed_demo", "--connect-sandbox", stdout=io.StringIO())
    integration = Integration.objects.select_related("account").get()
    run = sync_integration(integration_id=integration.pk)
    assert run is not None
    assert run.status == "succeeded", run.error
    return integration


def _panel_paths(integration: Integration) -> list[str]:
    slug = integration.account.slug
    kw = {"account_slug": slug, "integration_id": integration.pk}
    ledger = LedgerEntry.objects.filter(integration=integration, state="synced").first()
    assert ledger is not None
    connection = integration.xero_connection
    assert connection is not None
    request = support_request_open(
        account=integration.account,
        integration=integration,
        user=integration.account.memberships.get(role="owner").user,
        subject="Why is this deal not in Xero?",
        message="It closed yesterday.",
    )
    return [
        reverse("accounts:dashboard", kwargs={"account_slug": slug}),
        reverse("integrations:list", kwargs={"account_slug": slug}),
        reverse("integrations:detail", kwargs=kw),
        *(reverse(f"integrations:{step.url_name}", kwargs=kw) for step in STEPS),
        reverse("integrations:setup_preview", kwargs=kw) + f"?opportunity={ledger.salesforce_id}",
        reverse("integrations:log", kwargs=kw) + "?show=all",
        reverse("integrations:record", kwargs={**kw, "ledger_id": ledger.pk}),
        reverse("integrations:disconnect", kwargs={**kw, "connection_id": connection.pk}),
        reverse("integrations:log", kwargs=kw) + f"?q={ledger.opportunity_name}",
        reverse("integrations:record_resync", kwargs={**kw, "ledger_id": ledger.pk}),
        reverse("support:new", kwargs=kw),
        reverse("support:list", kwargs={"account_slug": slug}),
        reverse("support:detail", kwargs={"account_slug": slug, "request_id": request.pk}),
        reverse("alerts:page", kwargs={"account_slug": slug}),
        reverse("accounts:audit", kwargs={"account_slug": slug}),
        reverse("accounts:members", kwargs={"account_slug": slug}),
        reverse("accounts:member_invite", kwargs={"account_slug": slug}),
        reverse("accounts:settings", kwargs={"account_slug": slug}),
        reverse("billing:page", kwargs={"account_slug": slug}),
        reverse("accounts:account_create"),
        "/no-such-page/",
    ]


PUBLIC_PATHS = [
    "/",
    "/login/",
    "/signup/",
    "/password/reset/",
    "/pricing/",
    "/how-it-works/",
    "/faq/",
]


def _check(page: Any, url: str, problems: list[str]) -> None:
    page.set_viewport_size(PHONE)
    page.goto(url)
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        widest = page.evaluate(WIDEST, PHONE["width"])
        problems.append(f"{url}: {width} px wide at 390 px ({', '.join(widest)})")
    page.set_viewport_size(LAPTOP)
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > LAPTOP["width"]:
        widest = page.evaluate(WIDEST, LAPTOP["width"])
        problems.append(f"{url}: {width} px wide at 1280 px ({', '.join(widest)})")
    page.evaluate(AXE)
    problems.extend(f"{url}: {v}" for v in page.evaluate(AXE_RUN))


def test_every_panel_page_fits_a_phone_and_passes_axe(sandbox_url, browser, settings):
    base = str(sandbox_url)
    integration = _seed_demo(settings, base)
    owner = User.objects.get(email="demo@carrytheone.test")
    client = Client()
    client.force_login(owner)
    problems: list[str] = []
    errors: list[str] = []

    anonymous = browser.new_context(viewport=PHONE)
    page = anonymous.new_page()
    page.on(
        "console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None
    )
    for path in PUBLIC_PATHS:
        _check(page, f"{base}{path}", problems)
    anonymous.close()

    context = browser.new_context(viewport=PHONE)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}]
    )
    page = context.new_page()
    page.on(
        "console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None
    )
    paths = _panel_paths(integration)
    for path in paths:
        _check(page, f"{base}{path}", problems)

    # On the laptop the preview's invoice table fits whole: amounts and totals on screen.
    page.set_viewport_size(LAPTOP)
    preview = next(p for p in paths if "/setup/preview/" in p)
    page.goto(f"{base}{preview}")
    box = page.locator(".preview-lines").locator("xpath=..")
    assert box.evaluate("(e) => e.scrollWidth <= e.clientWidth")
    total = page.locator(".preview-lines tfoot tr").last.locator("td")
    assert total.evaluate("(e) => e.getBoundingClientRect().right") <= LAPTOP["width"]

    # On the phone the navigation folds behind "Menu" and opens on a tap.
    page.set_viewport_size(PHONE)
    page.goto(f"{base}{paths[0]}")
    menu = page.get_by_role("button", name="Menu")
    integrations_link = page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Integrations"
    )
    assert menu.is_visible()
    assert not integrations_link.is_visible()
    menu.click()
    assert menu.get_attribute("aria-expanded") == "true"
    page.evaluate(AXE)
    problems.extend(f"{page.url} (menu open at 390 px): {v}" for v in page.evaluate(AXE_RUN))
    integrations_link.click()
    page.wait_for_url(f"{base}{paths[1]}")
    # On the laptop it is all there, without the button.
    page.set_viewport_size(LAPTOP)
    assert not page.get_by_role("button", name="Menu").is_visible()
    assert (
        page.get_by_role("navigation", name="Main")
        .get_by_role("link", name="Integrations")
        .is_visible()
    )
    context.close()

    # The 404 page's own request is the only expected console error.
    errors = [e for e in errors if "no-such-page" not in e]
    assert not problems, "\n".join(problems)
    assert not errors, "\n".join(errors)
