""" "Why isn't this deal in Xero?" answered in the browser, against the stack `make run` starts.

The demo is seeded and connected as `make run` does it, except that its Xero organisation has
GBP switched off first: the first sync invoices every other deal, and each GBP deal waits with
the reason. A support person finds one by the opportunity's name in the sync log, reads on its
page why it waits, follows the page's link to the setting that fixes it, lets CarryTheOne enable
missing currencies, retries the record and sees it reach Xero: all in the panel, with web, worker
and beat as separate processes. Then the dashboard's charts render with no console or CSP error.

With SCREENSHOTS_DIR set, the screenshots the README shows are saved along the way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_push_both_ways import DEMO_EMAIL, DEMO_PASSWORD, _within
from tests.stack import Stack

pytestmark = [pytest.mark.browser]

# Registered before any page script runs: a violation while loading is caught too.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""

_NO_GBP = """
from sandbox.xero.models import Currency
from sandbox.xero.seed import MAIN_ORG
print(Currency.objects.filter(organisation__name=MAIN_ORG, code="GBP").delete()[0])
"""

_SETTLED = """
import json
from integrations.sync.models import LedgerEntry
print(json.dumps({
    "synced": LedgerEntry.objects.filter(state="synced").count(),
    "gbp_waiting": LedgerEntry.objects.filter(last_error__contains="GBP").exclude(
        state="synced").count(),
}))
"""

_A_WAITING_GBP_DEAL = """
import json
from integrations.sync.models import LedgerEntry
row = LedgerEntry.objects.filter(last_error__contains="GBP").exclude(state="synced").order_by(
    "opportunity_name").first()
print(json.dumps([row.pk, row.opportunity_name, row.integration.account.slug,
    row.integration_id]))
"""

_ENABLES_CURRENCIES = """
import json
from integrations.core.models import Integration
print(json.dumps(Integration.objects.get().config.get("enable_missing_currencies")))
"""

_STATE_OF = """
import json
from integrations.sync.models import LedgerEntry
print(json.dumps(LedgerEntry.objects.get(pk=%d).state))
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path, env_overrides={"SYNC_POLL_INTERVAL": "3"})
    try:
        stack.manage("migrate_all")
        stack.manage("sandbox_reset", "--seed", "demo", "--if-empty")
        assert stack.query(_NO_GBP) == 1
        stack.manage("seed_demo", "--connect-sandbox")
        stack.start_web()
        stack.start_worker()
        stack.start_beat()
        stack.wait_for(
            lambda: (lambda s: s["synced"] >= 50 and s["gbp_waiting"] >= 2)(stack.query(_SETTLED)),
            timeout=240,
            what="the first sync, GBP deals waiting",
            every=2,
        )
        yield stack
    finally:
        stack.stop()


def test_a_waiting_deal_is_found_by_name_explained_fixed_retried_and_invoiced(
    stack: Stack, page: Any, shot: Callable[[str], None]
) -> None:
    page.context.add_init_script(WATCH_CSP)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    ledger_id, name, slug, integration_id = stack.query(_A_WAITING_GBP_DEAL)
    page.goto(f"{stack.url}/login/")
    page.fill("input[name=login]", DEMO_EMAIL)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_load_state()

    # Found by the opportunity's name in the sync log.
    page.goto(f"{stack.url}/a/{slug}/integrations/{integration_id}/log/")
    shot("console-log-grouped")  # the GBP deals: one cause, one fix link, one "Retry all"
    page.get_by_label("Find a record").first.fill(name)
    page.get_by_label("Find a record").first.press("Enter")
    page.wait_for_load_state()
    shot("console-log-search")
    page.locator("main").get_by_role("link", name=name).first.click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/records/{ledger_id}/"), page.url

    # Its page says why, and links to the setting that fixes it.
    main = page.locator("main")
    assert re.search(r"is in GBP, which is not enabled in", main.inner_text()), main.inner_text()
    shot("console-record-waiting")
    main.get_by_role("link", name=re.compile("^Fix it")).first.click()
    page.wait_for_load_state()
    assert "/setup/currencies/" in page.url, page.url

    # The configuration fixed: CarryTheOne may enable a currency Xero lacks. Saving it queues
    # a sync of its own; with the worker stopped (as during a deploy) that sync waits, so the
    # record still waits too and the support person's Retry is what the walk shows.
    stack.stop_process("worker")
    page.get_by_label("Enable missing currencies").check()
    page.get_by_role("button", name="Save and continue").click()
    page.wait_for_load_state()
    assert stack.query(_ENABLES_CURRENCIES) is True, "the setting was not saved"

    # Retried from its page: the audit row at once, and in Xero once a worker runs again.
    page.goto(f"{stack.url}/a/{slug}/integrations/{integration_id}/records/{ledger_id}/")
    assert stack.query(_STATE_OF % ledger_id) != "synced"
    page.get_by_role("button", name="Retry", exact=True).click()
    page.wait_for_load_state()
    assert "Sent again" in page.locator("main").inner_text()  # the audit row, on the record
    stack.start_worker()
    _within(
        "the retried record in Xero",
        lambda: (
            stack.query(_STATE_OF % ledger_id) == "synced"
            and "In Xero" in page.locator("main").inner_text()
        ),
        60,
        page,
    )
    shot("console-record-fixed")

    # The dashboard's charts render, with no console error and no CSP violation.
    for path in (f"/a/{slug}/", f"/a/{slug}/integrations/{integration_id}/"):
        page.goto(f"{stack.url}{path}")
        page.wait_for_selector("canvas", timeout=10_000)
        assert page.locator("canvas").count() >= 1, path
        assert page.evaluate("window.__csp") == [], path
    page.goto(f"{stack.url}/a/{slug}/")
    page.wait_for_selector("canvas", timeout=10_000)
    shot("console-dashboard")
    page.goto(f"{stack.url}/a/{slug}/alerts/")
    shot("console-alerts")
    page.goto(f"{stack.url}/a/{slug}/integrations/{integration_id}/support/")
    shot("console-contact-support")
    assert problems == [], problems
