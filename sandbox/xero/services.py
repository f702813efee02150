"""Service functions other code (commands, tests, the demo) uses to drive the simulated Xero."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sandbox.db import atomic
from sandbox.xero import clock, oauth
from sandbox.xero.models import Connection, Grant, XeroApp, XeroOrganisation

DEMO_CLIENT_ID = "carrytheone-sandbox"
DEMO_CLIENT_SECRET = "sandbox-secret-xero"  # noqa: S105 - a public sandbox credential
DEMO_APP_NAME = "CarryTheOne (sandbox)"
DEFAULT_SCOPE = (
    "openid profile email offline_access accounting.transactions accounting.contacts "
    "accounting.settings accounting.invoices accounting.payments"
)


def demo_app() -> XeroApp:
    app, _ = XeroApp.objects.get_or_create(
        client_id=DEMO_CLIENT_ID,
        defaults={"name": DEMO_APP_NAME, "client_secret": DEMO_CLIENT_SECRET, "redirect_uris": []},
    )
    return app


@atomic()
def issue_token(*, org_name: str | None) -> dict[str, Any]:
    """Connect the demo app to ``org_name`` (or the first organisation) and return a token.

    Skips the consent page: for scripts and tests that need a working token at once.
    """
    orgs = XeroOrganisation.objects.order_by("pk")
    org = orgs.filter(name=org_name).first() if org_name else orgs.first()
    if org is None:
        if org_name:
            raise LookupError(f"No sandbox Xero organisation named {org_name!r}.")
        raise LookupError(
            "The sandbox Xero has no organisation: run `manage.py sandbox_reset --seed demo`."
        )
    now = clock.now()
    grant = Grant.objects.create(app=demo_app(), scope=DEFAULT_SCOPE, created_at=now)
    Connection.objects.create(grant=grant, organisation=org, created_at=now, updated_at=now)
    access, refresh = oauth.token_pair(grant, now)
    token = oauth.token_response(access, refresh)
    token["tenant_id"] = str(org.organisation_id)
    return token


def payment_record(
    *, invoice_pk: int, amount: Decimal | None = None, on: dt.date | None = None
) -> Any:
    """A payment entered by a person on the invoice's page (the whole amount due unless
    ``amount``), into the organisation's first bank account that takes it; sends its webhook
    like any payment. Raises ``writes.ElementError`` with Xero's reasons."""
    from sandbox.xero import webhooks, writes
    from sandbox.xero.models import Account, Invoice

    with atomic():
        invoice = Invoice.objects.select_related("organisation").get(pk=invoice_pk)
        org = invoice.organisation
        ctx = writes.Context(org=org)
        banks = Account.objects.filter(organisation=org, status="ACTIVE").order_by("code", "pk")
        account = next(
            (
                a
                for a in banks
                if a.accepts_payments
                and (a.currency_code or org.base_currency)
                in (invoice.currency_code, org.base_currency)
            ),
            None,
        )
        data: dict[str, Any] = {
            "Invoice": {"InvoiceID": str(invoice.invoice_id)},
            "Account": {"AccountID": str(account.account_id)} if account else {},
            "Amount": str(amount if amount is not None else invoice.amount_due),
            "Date": (on or clock.now().date()).isoformat(),
            "Reference": "Recorded on the sandbox page",
        }
        payment = writes.write_payment(ctx, data)
        webhooks.queue_events(org, ctx.events)
    return payment
