"""Reading won opportunities from the sandbox Salesforce through the product's client."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from integrations.connections.models import Connection
from integrations.connections.salesforce.client import salesforce_client
from integrations.connections.salesforce.reader import (
    ReadSpec,
    build_soql,
    org_has_currency,
    read_opportunities,
)
from sandbox.salesforce import seed as salesforce_seed
from sandbox.salesforce import services as sf_sandbox
from sandbox.salesforce.models import Opportunity as SandboxOpportunity
from tests.factories import AccountFactory


def test_query_shape():
    spec = ReadSpec(
        since=dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC),
        start_date=dt.date(2025, 7, 1),
        multi_currency=True,
        opportunity_fields=("Payment_Method__c",),
        account_fields=("Region__c",),
    )
    soql = build_soql(spec)
    assert "SystemModstamp >= 2026-01-01T11:55:00Z" in soql  # 5 minutes of overlap
    assert "CloseDate >= 2025-07-01" in soql
    assert "IsWon = true" in soql
    assert soql.endswith("ORDER BY SystemModstamp, Id")
    assert "CurrencyIsoCode" in soql
    assert "Payment_Method__c" in soql
    assert "Account.Region__c" in soql
    assert "FROM OpportunityLineItems ORDER BY Id" in soql
    assert "WHERE IsPrimary = true" in soql
    assert "CurrencyIsoCode" not in build_soql(ReadSpec())
    assert "StageName = 'Closed \\'Won\\''" in build_soql(ReadSpec(stage="Closed 'Won'"))


@pytest.mark.parametrize("bad", ["Name, (SELECT Id FROM User)", "Amount--", "x y", ""])
def test_field_names_are_checked_before_any_query(bad):
    with pytest.raises(ValueError, match="not a Salesforce field name"):
        ReadSpec(opportunity_fields=(bad,))


def test_naive_watermark_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        ReadSpec(since=dt.datetime(2026, 1, 1))


pytestmark_live = pytest.mark.django_db(transaction=True)


@pytest.fixture
def salesforce(sandbox_url, settings):
    settings.SALESFORCE_LOGIN_URL = sandbox_url
    salesforce_seed.reset(seed="demo")
    issued = sf_sandbox.issue_token(org_name=salesforce_seed.DEMO_ORG)
    connection = Connection.objects.create(
        account=AccountFactory.create(),
        provider="salesforce",
        external_id="00D-demo",
        display_name="Demo",
        credentials={
            **issued,
            "login_url": sandbox_url,
            "expires_at": (timezone.now() + dt.timedelta(hours=1)).isoformat(),
        },
    )
    with salesforce_client(connection) as client:
        yield client


@pytestmark_live
def test_reads_every_won_opportunity_with_lines_customer_and_contact(salesforce):
    spec = ReadSpec(
        multi_currency=org_has_currency(salesforce.describe("Opportunity")),
        opportunity_fields=("Payment_Method__c",),
    )
    records = list(read_opportunities(salesforce, spec))
    expected = SandboxOpportunity.objects.filter(
        org__name=salesforce_seed.DEMO_ORG, is_won=True, is_deleted=False
    )
    assert {r.salesforce_id for r in records} == set(expected.values_list("sf_id", flat=True))
    keys = [(r.system_modstamp, r.salesforce_id) for r in records]
    assert keys == sorted(keys)

    with_lines = [r for r in records if r.lines]
    assert with_lines
    sample = with_lines[0]
    assert sample.customer is not None
    assert sample.customer.name
    assert sample.currency in {"USD", "GBP", "EUR", "AUD", "CAD", "NZD"}
    assert all(isinstance(line.quantity, Decimal) for line in sample.lines)
    assert all(isinstance(line.unit_price, Decimal) for line in sample.lines)
    assert sample.lines[0].product_code
    assert sample.system_modstamp.tzinfo is not None
    assert any(r.primary_contact and r.primary_contact.email for r in records)
    assert "Payment_Method__c" in sample.fields


@pytestmark_live
def test_child_line_items_beyond_one_page_are_followed(salesforce):
    records = {r.name: r for r in read_opportunities(salesforce, ReadSpec(multi_currency=True))}
    bulk = records["Globex Ltd - Bulk widget rollout"]
    assert len(bulk.lines) == 205
    assert len({line.salesforce_id for line in bulk.lines}) == 205


@pytestmark_live
def test_paging_and_the_watermark(salesforce):
    everything = list(read_opportunities(salesforce, ReadSpec(), batch_size=200))
    assert len(everything) > 50
    newest = max(r.system_modstamp for r in everything)
    recent = list(read_opportunities(salesforce, ReadSpec(since=newest, overlap=dt.timedelta(0))))
    assert recent
    assert all(r.system_modstamp >= newest for r in recent)
    assert len(recent) < len(everything)


@pytestmark_live
def test_a_single_currency_org_has_no_currency_field(sandbox_url, settings):
    from integrations.connections.salesforce.client import SalesforceApiError

    settings.SALESFORCE_LOGIN_URL = sandbox_url
    salesforce_seed.reset(seed="demo")
    issued = sf_sandbox.issue_token(org_name=salesforce_seed.SINGLE_CURRENCY_ORG)
    connection = Connection.objects.create(
        account=AccountFactory.create(),
        provider="salesforce",
        external_id="00D-single",
        display_name="Single",
        credentials={
            **issued,
            "login_url": sandbox_url,
            "expires_at": (timezone.now() + dt.timedelta(hours=1)).isoformat(),
        },
    )
    with salesforce_client(connection) as client:
        assert not org_has_currency(client.describe("Opportunity"))
        records = list(read_opportunities(client, ReadSpec()))
        assert records
        assert all(r.currency is None for r in records)
        # Asking for the field anyway is Salesforce's INVALID_FIELD, a permanent error.
        with pytest.raises(SalesforceApiError) as caught:
            list(read_opportunities(client, ReadSpec(multi_currency=True)))
        assert caught.value.permanent
        assert "CurrencyIsoCode" in caught.value.message
