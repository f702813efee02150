"""The invoice page's "Record a payment": Xero's rules, and the webhook a person's payment sends."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from sandbox.xero import seed, webhooks
from sandbox.xero.models import Invoice, Payment, WebhookDelivery, XeroOrganisation


@pytest.fixture
def org(db) -> Iterator[XeroOrganisation]:
    seed.reset(seed="demo")
    organisation = XeroOrganisation.objects.get(name=seed.MAIN_ORG)
    # Nobody listens on port 9: the delivery is recorded (and fails), which is all we read.
    organisation.webhook_url = "http://127.0.0.1:9/webhooks/xero/"
    organisation.webhook_key = "key"
    organisation.save()
    webhooks.SYNCHRONOUS = True
    yield organisation
    webhooks.SYNCHRONOUS = False


def _open_invoice(org: XeroOrganisation) -> Invoice:
    invoices = Invoice.objects.filter(organisation=org, type="ACCREC", status="AUTHORISED")
    return next(i for i in invoices.order_by("pk") if i.amount_due > 0)


def _pay(org: XeroOrganisation, invoice: Invoice, **fields: str) -> Any:
    data = {"amount": "10.00", "date": "2026-06-01", "account": "090", "reference": "Bank feed"}
    data.update(fields)
    url = reverse("sandbox_xero:invoice_pay", args=[org.pk, invoice.invoice_id])
    return Client().post(url, data)


def test_page_offers_a_payment_of_the_amount_due(org):
    invoice = _open_invoice(org)
    page = Client().get(reverse("sandbox_xero:invoice", args=[org.pk, invoice.invoice_id]))
    assert page.status_code == 200
    assert b"Record a payment" in page.content
    assert f'value="{invoice.amount_due}"'.encode() in page.content


def test_a_payment_updates_the_invoice_and_sends_its_webhook(org, transactional_db):
    invoice = _open_invoice(org)
    before = invoice.amount_paid
    deliveries = WebhookDelivery.objects.count()
    answer = _pay(org, invoice)
    assert answer.status_code == 302
    invoice.refresh_from_db()
    assert invoice.amount_paid == before + Decimal("10.00")
    assert Payment.objects.filter(invoice=invoice, reference="Bank feed").count() == 1
    sent = WebhookDelivery.objects.order_by("pk")[deliveries:]
    assert [e["eventCategory"] for d in sent for e in d.payload["events"]] == ["INVOICE"]
    assert sent[0].payload["events"][0]["resourceId"] == str(invoice.invoice_id)


def test_xero_rules_apply_and_nothing_is_recorded(org):
    invoice = _open_invoice(org)
    too_much = str(invoice.amount_due + 1)
    answer = _pay(org, invoice, amount=too_much)
    assert answer.status_code == 400
    assert b"exceeds the amount outstanding" in answer.content
    assert not Payment.objects.filter(invoice=invoice, reference="Bank feed").exists()
    not_a_bank = _pay(org, invoice, account="200")
    assert not_a_bank.status_code == 400
    assert not Payment.objects.filter(invoice=invoice, reference="Bank feed").exists()
