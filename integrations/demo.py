"""Connects the demo account to the sandbox the way a person would: over HTTP, through the
same login, OAuth and callback views, clicking the same consent forms.

Used by ``manage.py seed_demo --connect-sandbox`` so that ``make run`` starts with a working
integration, without writing any connection row around the real code paths.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
from django.urls import reverse

from accounts.models import Account
from integrations.core.models import Integration
from integrations.rules.models import PaymentMethod, TaxRule, TrackingRule
from integrations.setup import steps

logger = logging.getLogger(__name__)


class DemoConnectError(Exception):
    """The scripted walk through the connect flow did not end where it should."""


class _FormParser(HTMLParser):
    """The fields of the first POST form of a page (enough for our own and the sandbox's)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._in_form = False
        self._done = False
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if self._done:
            return
        if tag == "form" and a.get("method", "get").lower() == "post" and not self._in_form:
            self._in_form = True
            self.action = a.get("action") or ""
        elif self._in_form and tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in {"checkbox", "radio"}:
                if "checked" in a:
                    self.fields[a["name"]] = a.get("value", "on")
            elif kind not in {"submit", "button"}:
                self.fields[a["name"]] = a.get("value", "")
        elif self._in_form and tag == "select":
            self._select = a.get("name")
        elif self._in_form and tag == "option" and self._select:
            self.fields.setdefault(self._select, a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form" and self._in_form:
            self._in_form = False
            self._done = True


def _submit(
    session: requests.Session, page: requests.Response, values: dict[str, str]
) -> requests.Response:
    parser = _FormParser()
    parser.feed(page.text)
    if parser.action is None:
        raise DemoConnectError(f"no form on {page.url} (HTTP {page.status_code})")
    url = urljoin(page.url, parser.action or page.url)
    data = {**parser.fields, **values}
    response = session.post(url, data=data, headers={"Referer": page.url}, timeout=30)
    if response.status_code >= 400:
        raise DemoConnectError(f"POST {url} answered {response.status_code}")
    return response


@contextmanager
def _server_at(base_url: str) -> Iterator[None]:
    """Serves this site at ``base_url`` for the duration, unless something already does."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host, port)) == 0:
            yield
            return
    server = ThreadedWSGIServer((host, port), WSGIRequestHandler, allow_reuse_address=True)
    server.set_app(get_wsgi_application())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def connect_sandbox_integration(
    *,
    account: Account,
    email: str,
    password: str,
    xero_org_pk: int,
    salesforce_org_pk: int,
    base_url: str | None = None,
    name: str = "Salesforce → Xero (demo)",
) -> str:
    """Logs in as ``email`` and connects a new integration of ``account`` to the sandbox.

    Returns the integration page's path.
    """
    if not settings.SANDBOX_ENABLED:
        raise DemoConnectError("the sandbox is not enabled")
    base = (base_url or settings.SANDBOX_BASE_URL).rstrip("/")
    with _server_at(base), requests.Session() as session:
        session.trust_env = False
        login = session.get(f"{base}{reverse('account_login')}", timeout=30)
        after_login = _submit(session, login, {"login": email, "password": password})
        if "_auth" in after_login.url or after_login.url.endswith(reverse("account_login")):
            raise DemoConnectError("could not log in as the demo owner")
        create_url = reverse("integrations:create", kwargs={"account_slug": account.slug})
        page = session.get(f"{base}{create_url}", timeout=30)
        page = _submit(session, page, {"name": name})  # → the Xero connect page
        page = _submit(session, page, {})  # → Xero's consent page
        page = _submit(
            session, page, {"organisations": str(xero_org_pk), "action": "allow"}
        )  # → our callback → the Salesforce connect page
        page = _submit(session, page, {"environment": "simulator"})  # → Salesforce's consent
        page = _submit(
            session, page, {"org": str(salesforce_org_pk), "decision": "allow"}
        )  # → our callback → the integration page
    path = urlsplit(page.url).path
    if "/integrations/" not in path or not path.rstrip("/").split("/")[-1].isdigit():
        raise DemoConnectError(f"the connect flow ended at {page.url}")
    logger.info("demo integration connected through the sandbox: %s", path)
    return path


# The sandbox Salesforce org's Xero custom fields, for the demo's write-back.
DEMO_WRITEBACK_FIELDS: dict[str, str] = {
    "xero_invoice_number": "Xero_Invoice_Number__c",
    "xero_invoice_status": "Xero_Status__c",
    "xero_amount_due": "Xero_Amount_Due__c",
    "xero_amount_paid": "Xero_Amount_Paid__c",
    "xero_fully_paid_date": "Xero_Paid_Date__c",
    "xero_invoice_url": "Xero_Invoice_URL__c",
}
# What the demo integration does with the demo seeds' opportunities: a bit of everything the
# accounting rules can do, so the sandbox Xero pages show payments, credit notes, tax by place,
# several currencies and tracking.
DEMO_CONFIG: dict[str, object] = {
    "default_currency": "USD",
    "payment_method_field": "Payment_Method__c",
    "default_payment_method": "Bank Transfer",
    "tax_mode": "rules",
    "export_tax_type": "NONE",
    "credit_note_on_withdrawal": True,
    "void_unpaid_instead": True,
    "credit_note_on_amount_drop": True,
    "negative_lines": "credit_note",
    # Xero's news on the sandbox opportunities' custom fields, seconds after a payment.
    "writeback_enabled": True,
    "writeback_fields": DEMO_WRITEBACK_FIELDS,
}
DEMO_TAX_RULES = (
    ("US", "CA", "TAX001"),
    ("US", "NY", "TAX002"),
    ("US", "TX", "TAX003"),
    ("US", "WA", "TAX004"),
    ("US", "FL", "TAX005"),
    # Other states: no nexus in the demo's story, so exempt.
    ("US", "", "NONE"),
)


def configure_demo_rules(*, integration_id: int) -> None:
    """Gives the demo integration payment methods, tax rules and tracking (idempotent)."""
    integration = Integration.objects.get(pk=integration_id)
    integration.config = {**(integration.config or {}), **DEMO_CONFIG}
    integration.save(update_fields=["config"])
    currency_accounts = {"GBP": "091", "EUR": "092", "AUD": "093", "CAD": "094", "NZD": "095"}
    methods: tuple[tuple[str, bool, bool, str, dict[str, str], int, str], ...] = (
        ("Credit Card", True, True, "090", currency_accounts, 2, ""),
        ("PayPal", True, True, "615", {}, 3, ""),
        ("Bank Transfer", True, False, "", {}, 0, ""),
        ("Check", False, False, "", {}, 0, ""),
    )
    for name, invoice, pay, bank, per_currency, delay, status in methods:
        PaymentMethod.objects.update_or_create(
            integration=integration,
            name=name,
            defaults={
                "create_invoice": invoice,
                "apply_payment": pay,
                "bank_account_code": bank,
                "currency_accounts": per_currency,
                "clearing_delay_days": delay,
                "invoice_status": status,
            },
        )
    for country, region, tax_type in DEMO_TAX_RULES:
        TaxRule.objects.update_or_create(
            integration=integration,
            country=country,
            region=region,
            defaults={"tax_type": tax_type},
        )
    TrackingRule.objects.update_or_create(
        integration=integration,
        category_name="Region",
        defaults={
            "source": "field",
            "field": "Region__c",
            "mapping": {"North America": "North", "EMEA": "East", "APAC": "West"},
            "create_missing_options": True,
        },
    )
    TrackingRule.objects.update_or_create(
        integration=integration,
        category_name="Sales Rep",
        defaults={"source": "fixed", "fixed_option": "Alice Smith"},
    )
    # Configured as a person would through the wizard: its steps show ticked, also once the
    # demo is switched off.
    steps.mark_done(integration, steps.CONFIGURED_STEPS)


def add_demo_return(*, salesforce_org_pk: int) -> str:
    """A won demo deal gets a returned unit (a negative line), so the demo's first sync raises a
    credit note for it (the demo's ``negative_lines`` is "credit_note"). Returns its name."""
    from sandbox.salesforce import services as sandbox_salesforce
    from sandbox.salesforce.models import Opportunity

    deal = (
        Opportunity.objects.filter(
            org_id=salesforce_org_pk, is_won=True, is_deleted=False, payment_method="Bank Transfer"
        )
        .exclude(opportunitylineitem=None)
        .order_by("close_date", "pk")
        .first()
    )
    if deal is None:
        return ""
    line = deal.opportunitylineitem_set.filter(is_deleted=False).order_by("sort_order").first()
    if line is None or line.product is None:
        return ""
    sandbox_salesforce.line_item_add(
        opportunity=deal,
        product=line.product,
        quantity=-1,
        unit_price=line.unit_price,
        description=f"Returned: {line.product.name}",
    )
    return deal.name
