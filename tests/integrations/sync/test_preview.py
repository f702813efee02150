"""The preview computes what the sync sends, exactly, and writes nothing."""

from __future__ import annotations

from collections import Counter

import pytest

from integrations.core.models import Integration
from integrations.rules.models import PaymentMethod
from integrations.sync.models import LedgerEntry, SyncRun
from integrations.sync.preview import preview_document, preview_opportunity
from integrations.sync.run import sync_integration
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from sandbox.xero.models import Invoice as XeroInvoice
from tests.integrations.sync.helpers import WRITES, won

pytestmark = pytest.mark.django_db(transaction=True)


def test_search_finds_opportunities_by_name_whatever_their_stage(integration: Integration):
    target = SandboxOpportunity.objects.filter(sf_id__in=won()).order_by("pk").first()
    assert target is not None
    word = target.name.split()[0]
    matches = preview_opportunity(integration_id=integration.pk, query=word)
    assert target.sf_id in {m.salesforce_id for m in matches}
    assert all(word.lower() in m.name.lower() for m in matches)
    # Wildcards and quotes are text, not SOQL.
    assert preview_opportunity(integration_id=integration.pk, query="%' OR Name != '") == []


def test_preview_equals_what_the_sync_then_sends_and_writes_nothing(
    integration: Integration, calls: Counter[str]
):
    integration.config = {
        **integration.config,
        "payment_method_field": "Payment_Method__c",
        "default_payment_method": "Card",
        "tax_mode": "single",
        "default_tax_type": "TAX003",
    }
    integration.save()
    PaymentMethod.objects.create(
        integration=integration, name="Card", apply_payment=True, bank_account_code="090"
    )
    target = (
        SandboxOpportunity.objects.filter(sf_id__in=won(), currency_iso_code="USD")
        .exclude(opportunitylineitem=None)
        .order_by("pk")
        .first()
    )
    assert target is not None
    SandboxOpportunity.objects.filter(pk=target.pk).update(payment_method="")

    preview = preview_document(integration_id=integration.pk, salesforce_id=target.sf_id)
    assert not (set(calls) & WRITES), calls
    assert not LedgerEntry.objects.exists()
    assert not SyncRun.objects.exists()
    assert preview.counts
    assert preview.problems == ()
    assert preview.invoice is not None
    assert preview.totals is not None
    assert {line.tax_type for line in preview.invoice.lines} == {"TAX003"}
    assert preview.payment is not None
    assert preview.payment.account_code == "090"
    assert preview.payment.amount == preview.totals.total

    sync_integration(integration_id=integration.pk)
    ledger = LedgerEntry.objects.get(salesforce_id=target.sf_id)
    sent = XeroInvoice.objects.get(invoice_id=ledger.xero_invoice_id)
    assert (sent.sub_total, sent.total_tax, sent.total) == (
        preview.totals.sub_total,
        preview.totals.total_tax,
        preview.totals.total,
    )
    again = preview_document(integration_id=integration.pk, salesforce_id=target.sf_id)
    assert again.existing_invoice == ledger.xero_invoice_number


def test_preview_says_why_an_opportunity_would_wait(integration: Integration):
    integration.config = {**integration.config, "tax_mode": "single", "default_tax_type": "INPUT"}
    integration.save()
    target = SandboxOpportunity.objects.filter(sf_id__in=won()).order_by("pk").first()
    assert target is not None
    preview = preview_document(integration_id=integration.pk, salesforce_id=target.sf_id)
    assert preview.invoice is None
    assert any("INPUT" in p for p in preview.problems)


def test_unknown_opportunity_is_a_lookup_error(integration: Integration):
    with pytest.raises(LookupError):
        preview_document(integration_id=integration.pk, salesforce_id="006000000000000AAA")
